/**
 * eval.saveAdversarial end to end: a small MNIST study keeps the first k
 * examples' adversarial inputs per attack and eps in RUN/adv/<evalJobId>.npz,
 * the file agrees with the results it belongs to, and the HTML report draws
 * the grid of clean and adversarial images (decoded by a real browser when
 * Debian's chromium is there).
 */
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { chromium } from 'playwright-core';
import { parseRobustKey } from '../../contract/keys';
import { adversarialFile, readManifest, readResult } from '../../contract/run-folder';
import { EvalJobResult } from '../../contract/results';
import { loadDataset } from '../../data/registry';
import { readAdversarialExamples } from '../../eval/adversarial-examples';
import { GRID_EXAMPLES } from '../../reports/adversarial-grid';
import { validateStudy } from '../../suite/config';
import { planStudy } from '../../suite/plan';
import { needsSystemPackage } from '../system-deps';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const CHROMIUM = needsSystemPackage('chromium', __filename);
const KEEP = 8;
const N = 30;

function study(saveAdversarial?: number) {
  return {
    name: 'save-adv-test',
    backend: 'wasm',
    seeds: [0],
    schemes: [{ name: 'erm' }, { name: 'mixup' }],
    attacks: [{ name: 'fgsm' }, { name: 'pgd', params: { steps: 5 } }],
    probes: false,
    experiments: [
      {
        dataset: { name: 'mnist', nTrain: 400, nTest: 100 },
        models: [{ arch: 'mlp', hidden: [16] }],
        train: { learningRate: 0.01, batchSize: 64, epochs: 2 },
        // Batches of 5: the 8 kept rows span a whole batch and part of the next.
        eval: { eps: [0.05, 0.2], nExamples: N, batchSize: 5, ...(saveAdversarial === undefined ? {} : { saveAdversarial }) },
      },
    ],
  };
}

let dir = '';
let runDir = '';
let exit: ReturnType<typeof spawnSync> | null = null;
test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-save-adv-'));
  const cfg = path.join(dir, 'study.json');
  fs.writeFileSync(cfg, JSON.stringify(study(KEEP)));
  runDir = path.join(dir, 'run');
  exit = spawnSync(process.execPath, [CLI, 'run', cfg, '--out', runDir, '--quiet', '--no-cache'], { encoding: 'utf8' });
});
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test.serial('each eval job keeps its first k examples per attack and eps, inside the eps ball and the bounds, with the predictions its results count', (t) => {
  t.is(exit?.status, 0, String(exit?.stderr));
  const evals = readManifest(runDir).jobs.filter((j) => j.kind === 'eval');
  t.is(evals.length, 2);
  const ds = loadDataset({ name: 'mnist', nTrain: 400, nTest: 100 });
  for (const job of evals) {
    const r = readResult(runDir, job.id) as EvalJobResult;
    const set = readAdversarialExamples(adversarialFile(runDir, job.id));
    t.deepEqual(
      Array.from(set.index),
      Array.from({ length: KEEP }, (_, i) => i),
    );
    t.deepEqual(Array.from(set.label), Array.from(ds.test.y.subarray(0, KEEP)));
    t.deepEqual(Array.from(set.clean), Array.from(ds.test.x.subarray(0, KEEP * 784)));
    t.deepEqual(Object.keys(set.adversarial).sort(), Object.keys(r.robustCorrect).sort());
    for (const [key, x] of Object.entries(set.adversarial)) {
      const { eps } = parseRobustKey(key) as { eps: number };
      let dev = 0;
      let outside = 0;
      for (let i = 0; i < x.length; i++) {
        dev = Math.max(dev, Math.abs(x[i] - set.clean[i]));
        if (x[i] < 0 || x[i] > 1) outside++;
      }
      t.true(dev <= eps + 1e-6, `${key}: max |x_adv - x| = ${dev}`);
      t.true(dev > eps / 2, `${key}: perturbed (${dev})`);
      t.is(outside, 0, key);
      // The kept predictions are the ones behind the recorded outcomes.
      for (let i = 0; i < KEEP; i++) {
        const expected = r.cleanCorrect[i] === 1 && set.pred[key][i] === set.label[i] ? 1 : 0;
        t.is(r.robustCorrect[key][i], expected, `${key} example ${i}`);
        t.is(r.cleanCorrect[i], set.cleanPred[i] === set.label[i] ? 1 : 0);
      }
    }
  }
});

test.serial('the HTML report draws a row of clean and adversarial images per scheme', async (t) => {
  const html = fs.readFileSync(path.join(runDir, 'report', 'report.html'), 'utf8');
  const part = html.slice(html.indexOf('data-part="adversarial-examples"'));
  t.true(html.includes('data-part="adversarial-examples"'));
  const section = part.slice(0, part.indexOf('</table>'));
  t.is((section.match(/<tr data-scheme=/g) ?? []).length, 2);
  t.is((section.match(/<img src="data:image\/png;base64,/g) ?? []).length, 2 * 2 * Math.min(GRID_EXAMPLES, KEEP));
  t.is((section.match(/data-verdict=/g) ?? []).length, 2 * Math.min(GRID_EXAMPLES, KEEP));
});

CHROMIUM.serial('the grid images decode in a browser at the input size', async (t) => {
  const browser = await chromium.launch({ executablePath: CHROMIUM.file, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(path.join(runDir, 'report', 'report.html')).href, { waitUntil: 'load' });
    const sizes = await page.$$eval('img.example', (imgs) => imgs.map((i) => [(i as HTMLImageElement).complete, (i as HTMLImageElement).naturalWidth, (i as HTMLImageElement).naturalHeight]));
    t.is(sizes.length, 2 * 2 * Math.min(GRID_EXAMPLES, KEEP));
    for (const s of sizes) t.deepEqual(s, [true, 28, 28]);
  } finally {
    await browser.close();
  }
});

test('saveAdversarial 0 plans the same jobs as leaving it out; more than nExamples is refused naming the field', (t) => {
  const ids = (cfg: unknown) => planStudy(validateStudy(cfg, 'study.json'), 'wasm').map((j) => j.id);
  t.deepEqual(ids(study(0)), ids(study()));
  t.notDeepEqual(ids(study(KEEP)), ids(study()));
  t.throws(() => validateStudy(study(N + 1), 'study.json'), {
    message: /^study\.json: invalid field experiments\[0\]\.eval\.saveAdversarial = 31: keeps at most the 30 evaluated examples \(nExamples\); allowed: 0 to 30$/,
  });
});
