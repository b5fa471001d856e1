/**
 * Issue 23's "done when", in small: `vicinal run cifar-quick` with its dataset
 * swapped for the Fashion-MNIST stand-in (NOT CIFAR: Fashion-MNIST padded to
 * 32x32 and replicated to 3 channels) runs end to end through the CLI and its
 * report compares erm, mixup and mixup-asym with confidence intervals. The
 * profile has one seed, so the intervals are over the test examples (Wilson;
 * Newcombe's paired interval for Δ), never across seeds. Shrunk by --set to
 * 1,000 training images, two epochs and 50 attacked images so it runs in about a
 * minute; the full-size run is measured in docs/profiles.md.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { needsSystemPackage } from '../system-deps';

const fmnist = needsSystemPackage('dataset-fashion-mnist', __filename);
const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');

fmnist.serial('vicinal run cifar-quick on a small Fashion-MNIST stand-in (NOT CIFAR): 6 jobs ok, the recipe in the header, erm vs mixup and mixup-asym with test-set CIs in every format', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-cq-'));
  try {
    const sets = [
      'experiments[0].dataset={"name":"fashion-mnist-32","nTrain":1000,"nTest":100}',
      'experiments[0].train.epochs=2',
      'experiments[0].eval.nExamples=50',
      'experiments[0].eval.probePoints=10',
    ].flatMap((s) => ['--set', s]);
    const run = path.join(out, 'run');
    const r = spawnSync(process.execPath, [CLI, 'run', 'cifar-quick', ...sets, '--out', run, '--workers', '2', '--no-cache'], {
      encoding: 'utf8',
      // The stand-in needs no CIFAR files: a folder that does not exist proves it.
      env: { ...process.env, VICINAL_CIFAR10_DIR: path.join(out, 'no-cifar-here') },
    });
    t.is(r.status, 0, r.stderr.slice(-2000));
    const summary = JSON.parse(fs.readFileSync(path.join(run, 'report', 'report.json'), 'utf8'));
    t.is(summary.header.study, 'cifar-quick');
    t.deepEqual(summary.header.jobs, { planned: 6, finished: 6, ok: 6, diverged: 0, failed: 0, missing: 0 });
    t.is(summary.groups.length, 1);
    const g = summary.groups[0];
    t.regex(g.recipe, /SGD, momentum 0\.9, learning rate 0\.1, cosine schedule.*weight decay 0\.0005, batch 128, 2 epochs.*crop\+flip/);
    t.deepEqual(
      g.rows.map((x: { scheme: string }) => x.scheme),
      ['erm', 'mixup(alpha=1)', 'mixup-asym(alpha=1)'],
    );
    // Every accuracy cell has its test-set CI around its value; every scheme's Δ against erm has one around Δ.
    const accuracyKeys = g.columns.filter((c: { unit: string }) => c.unit === 'accuracy').map((c: { key: string }) => c.key);
    t.true(accuracyKeys.includes('clean') && accuracyKeys.includes('worst@linf:0.03137254901960784'), accuracyKeys.join(' '));
    for (const row of g.rows) {
      for (const k of accuracyKeys) {
        const cell = row.cells[k];
        t.is(cell.stat.n, 1);
        t.true(cell.testCI.lo <= cell.stat.mean && cell.stat.mean <= cell.testCI.hi && cell.testCI.examples === 50, `${row.scheme} ${k}`);
        if (row.scheme === 'erm') continue;
        t.true(cell.diff.testCI.lo <= cell.diff.mean && cell.diff.mean <= cell.diff.testCI.hi, `${row.scheme} ${k} Δ`);
        t.false(cell.diff.verdict.significant);
      }
    }
    t.log(
      `clean / worst at 8/255 on 50 stand-in images: ${g.rows.map((x: { scheme: string; cells: Record<string, { stat: { mean: number } }> }) => `${x.scheme} ${x.cells.clean.stat.mean} / ${x.cells['worst@linf:0.03137254901960784'].stat.mean}`).join(', ')}`,
    );
    // Sixteen SGD steps already put erm above chance (0.1) by its own test-set CI (measured 0.42 on 50 images).
    t.true(g.rows[0].cells.clean.testCI.lo > 0.1, `erm clean accuracy CI ${JSON.stringify(g.rows[0].cells.clean.testCI)}`);
    const md = fs.readFileSync(path.join(run, 'report', 'report.md'), 'utf8');
    t.regex(md, /\| mixup\(alpha=1\) \| (\*\*)?[\d.]+ \(n=1; test CI [\d.]+–[\d.]+\)/);
    t.regex(md, /Δ [+−]?[\d.]+ \(n=1; test CI \[[+−]?[\d.]+, [+−]?[\d.]+\]\)/);
    t.regex(md, /training recipe: SGD/);
    const html = fs.readFileSync(path.join(run, 'report', 'report.html'), 'utf8');
    t.regex(html, /n=1; test CI/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
