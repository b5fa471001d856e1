import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { saveModel } from '../../models/io';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { parseArgs } from '../../suite/args';
import { command } from '../../suite/commands/attack';
import { UsageError } from '../../contract/errors';
import { initBackend } from '../../backend/select';

let dir: string;
let modelDir: string;
let bare: string;

test.before(async () => {
  await initBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-attack-'));
  const ds = loadDataset({ name: 'moons', nTrain: 300, nTest: 200, seed: 3 });
  const model = buildModel({ arch: 'mlp', hidden: [16] }, ds.inputShape, 2, 0);
  trainModel(model, ds, erm({}, ds, new Rng(0)), { epochs: 5, evalEveryEpoch: false, learningRate: 0.01 });
  modelDir = path.join(dir, 'model');
  await saveModel(model, modelDir, { jobId: 'x', identity: { dataset: ds.settings } });
  bare = path.join(dir, 'bare');
  await saveModel(model, bare, {});
  model.dispose();
});

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[]) => {
  const { flags, positional } = parseArgs(command.spec, [...argv, '--backend', 'wasm']);
  return command.main(flags, positional);
};

test('writes per-example rows, the summary and the flags (JSON), with the dataset settings stored in the model', async (t) => {
  const out = path.join(dir, 'res.json');
  const code = await run(['--model', modelDir, '--attack', 'fgsm,pgd', '--eps', '0.05,0.1', '--n', '50', '--out', out, '--params', 'pgd.steps=10']);
  t.is(code, 0);
  const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
  t.is(doc.kind, 'attack-results');
  t.is(doc.dataset.nTest, 200);
  t.is(doc.dataset.seed, 3);
  t.is(doc.examples.length, 50);
  t.is(doc.summary.attacks.length, 4);
  t.true(Array.isArray(doc.flags));
  t.is(doc.config.attacks[1].params.steps, 10);
  t.deepEqual(Object.keys(doc.examples[0]).slice(0, 7), ['index', 'label', 'cleanPred', 'cleanLoss', 'gradL1', 'gradL2', 'fgsm@linf:0.05.pred']);
  t.false(fs.readdirSync(dir).some((f) => f.includes('.tmp-')));
});

test('CSV output: rows in FILE, summary and flags in FILE.summary.json', async (t) => {
  const out = path.join(dir, 'res.csv');
  const code = await run(['--model', bare, '--data', 'moons', '--attack', 'noise', '--eps', '0.1', '--n', '20', '--out', out, '--sanity=false']);
  t.is(code, 0);
  const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
  t.is(lines.length, 21);
  t.true(lines[0].startsWith('index,label,cleanPred'));
  const summary = JSON.parse(fs.readFileSync(path.join(dir, 'res.summary.json'), 'utf8'));
  t.is(summary.summary.attacks[0].attack, 'noise');
  t.deepEqual(summary.flags, []);
});

test('bad input is a UsageError naming what is wrong', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /--model is required/],
    [['--model', path.join(dir, 'nope')], /cannot load model/],
    [['--model', bare], /does not record its dataset; pass --data/],
    [['--model', modelDir, '--data', 'mnist'], /trained on "moons", not "mnist"/],
    [['--model', modelDir, '--attack', 'cw'], /unknown attack "cw"/],
    [['--model', modelDir, '--eps', '-0.1'], /eps value -0.1/],
    [['--model', modelDir, '--norm', 'l1'], /invalid --norm "l1"; allowed: linf, l2/],
    [['--model', modelDir, '--attack', 'fgsm', '--norm', 'l2'], /supports norm linf only/],
    [['--model', modelDir, '--params', 'pgd.steps=0'], /steps = 0/],
    [['--model', modelDir, '--params', 'apgd.steps=3'], /not in --attack/],
    [['--model', modelDir, '--n', '0'], /--n must be an integer >= 1/],
    [['--model', modelDir, '--format', 'xml'], /--format "xml"/],
  ];
  for (const [argv, msg] of cases) {
    const e = await t.throwsAsync(run(argv), { instanceOf: UsageError }, argv.join(' '));
    t.regex(e?.message ?? '', msg);
  }
});

test.serial('--attack autoattack prints the staged log, AutoAttack style, ending at the robust accuracy of the summary', async (t) => {
  const out = path.join(dir, 'aa.json');
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    printed.push(args.map(String).join(' '));
  };
  let code: number;
  try {
    code = await run(['--model', modelDir, '--attack', 'autoattack', '--eps', '0.1', '--n', '40', '--sanity=false', '--out', out, '--params', 'autoattack.steps=10,autoattack.queries=50']);
  } finally {
    console.log = log;
  }
  t.is(code, 0);
  const text = printed.join('\n');
  t.log(text);
  const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
  const robust = doc.summary.attacks[0].robustAccuracy as number;
  t.regex(
    text,
    /autoattack@linf:0\.1:\n {2}clean: accuracy [\d.]+% \(40 examples\)\n {2}apgd-ce: robust accuracy [\d.]+%.*\n {2}apgd-t: robust accuracy [\d.]+%.*\n {2}fab-t: robust accuracy [\d.]+%.*\n {2}square: robust accuracy ([\d.]+)%/,
  );
  const last = /square: robust accuracy ([\d.]+)%/.exec(text);
  t.is(last?.[1], (100 * robust).toFixed(1));
  t.deepEqual(
    doc.summary.attacks[0].settings.stages.map((s: { name: string }) => s.name),
    ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
  );
});
