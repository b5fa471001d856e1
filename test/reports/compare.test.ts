import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { command as compare } from '../../suite/commands/compare';
import { UsageError } from '../../contract/errors';
import { resultPath } from '../../contract/run-folder';
import { thresholdsFromFlag, DEFAULT_THRESHOLDS } from '../../reports/compare';
import { FixtureOptions, cleanupFixtures, makeRun, tmpDir } from './fixture';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');

const tmp = () => tmpDir('vicinal-compare-');

test.after.always(cleanupFixtures);

/** Runs the compare command in-process, capturing stdout; returns exit code and output. */
async function runCompare(args: string[], flags: Record<string, unknown> = {}): Promise<{ code: number; out: string }> {
  const chunks: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  (process.stdout as unknown as { write: (s: string) => boolean }).write = (s: string) => {
    chunks.push(String(s));
    return true;
  };
  try {
    const code = await compare.main(flags as never, args);
    return { code, out: chunks.join('') };
  } finally {
    (process.stdout as unknown as { write: typeof orig }).write = orig;
  }
}

const base: FixtureOptions = { seeds: [0, 1, 2], n: 400 };

test('identical runs: no regressions, exit 0', async (t) => {
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a') });
  const b = makeRun({ ...base, dir: path.join(tmp(), 'b') });
  const md = path.join(tmp(), 'cmp.md');
  const r = await runCompare([a.dir, b.dir], { md });
  t.is(r.code, 0);
  t.regex(r.out, /## No regressions/);
  t.notRegex(r.out, /REGRESSION/);
  t.is(fs.readFileSync(md, 'utf8'), r.out);
});

test('injected robust regression (pgd accuracy down 10 points in every seed): flagged, exit 1', async (t) => {
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a') });
  const b = makeRun({
    ...base,
    dir: path.join(tmp(), 'b'),
    robust: (_g, s, atk, e, seed) => {
      const clean = (s === 'erm' ? 0.9 : 0.88) + 0.01 * ((seed % 3) - 1);
      const drop = (atk === 'pgd' ? 1.6 : 1.2) * e * (s === 'erm' ? 2.5 : 1.5);
      return Math.max(0.02, clean - drop - (atk === 'pgd' && s === 'mixup' ? 0.1 : 0));
    },
  });
  const r = await runCompare([a.dir, b.dir]);
  t.is(r.code, 1);
  t.regex(r.out, /## \d+ regression\(s\)/);
  t.regex(r.out, /moons\/mlp-16x16 mixup: pgd ε=0\.1 down [\d.]+ points, 95% CI of the difference \[-[\d.]+, -[\d.]+\] below 0/);
  // The regression row is marked in the table; erm's pgd row is not.
  const rows = r.out.split('\n').filter((l) => l.startsWith('| mixup | pgd'));
  t.true(rows.length === 2 && rows.every((l) => l.includes('**REGRESSION**')));
  t.false(r.out.split('\n').some((l) => l.startsWith('| erm | pgd') && l.includes('REGRESSION')));
});

test('clean accuracy down more than 1 point is a regression; less is not', async (t) => {
  const clean = (drop: number) => (_g: string, s: string, seed: number) => (s === 'erm' ? 0.9 - drop : 0.88) + 0.01 * ((seed % 3) - 1);
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a'), clean: clean(0), independence: 0 });
  const b = makeRun({ ...base, dir: path.join(tmp(), 'b'), clean: clean(0.05), independence: 0 });
  const r = await runCompare([a.dir, b.dir]);
  t.is(r.code, 1);
  t.regex(r.out, /erm: clean accuracy down [\d.]+ points \(threshold 1\.00\)/);
  // A drop of half a point is below the threshold.
  const small = makeRun({ ...base, dir: path.join(tmp(), 'small'), clean: clean(0.005), independence: 0 });
  t.notRegex((await runCompare([a.dir, small.dir])).out, /erm: clean accuracy down/);
  // A looser threshold from the flag clears the clean regression.
  const r2 = await runCompare([a.dir, b.dir], { thresholds: ['cleanAccuracyDrop=0.2'] });
  t.notRegex(r2.out, /erm: clean accuracy down/);
  t.regex(r2.out, /Thresholds \(defaults < --thresholds\): clean accuracy down more than 20\.00 points/);
});

test('wall time up more than 25% is a regression; RUN_B config thresholds can allow it', async (t) => {
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a'), wallSeconds: 100 });
  const b = makeRun({ ...base, dir: path.join(tmp(), 'b'), wallSeconds: 140 });
  const r = await runCompare([a.dir, b.dir]);
  t.is(r.code, 1);
  t.regex(r.out, /wall time up 40\.0% \(1 min 40 s -> 2 min 20 s; threshold 25%\)/);
  const c = makeRun({ ...base, dir: path.join(tmp(), 'c'), wallSeconds: 140, config: { thresholds: { cleanAccuracyDrop: 0.01, robustBeyondCI: true, wallTimeIncrease: 0.5 } } });
  const r2 = await runCompare([a.dir, c.dir]);
  t.is(r2.code, 0, r2.out);
  t.regex(r2.out, /Thresholds \(defaults < RUN_B's config\)/);
  // The flag wins over the config.
  const r3 = await runCompare([a.dir, c.dir], { thresholds: ['wallTimeIncrease=0.1'] });
  t.is(r3.code, 1);
});

test('a scheme that diverges in B but not in A is a regression', async (t) => {
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a') });
  const b = makeRun({ ...base, dir: path.join(tmp(), 'b'), diverged: [{ scheme: 'mixup-asym', seed: 2 }] });
  const r = await runCompare([a.dir, b.dir]);
  t.is(r.code, 1);
  t.regex(r.out, /mixup-asym: seed 2 diverged in B \(training diverged in epoch 2: mean loss is NaN\) \(ok in A\)/);
});

test('one seed: no CI; a robust drop is judged by exact McNemar between the runs', async (t) => {
  const one: FixtureOptions = { seeds: [0], n: 600, independence: 0 };
  const a = makeRun({ ...one, dir: path.join(tmp(), 'a') });
  const same = makeRun({ ...one, dir: path.join(tmp(), 'same') });
  t.is((await runCompare([a.dir, same.dir])).code, 0);
  const worse = makeRun({
    ...one,
    dir: path.join(tmp(), 'b'),
    robust: (_g, s, atk, e, seed) => {
      const clean = (s === 'erm' ? 0.9 : 0.88) + 0.01 * ((seed % 3) - 1);
      return Math.max(0.02, clean - (atk === 'pgd' ? 1.6 : 1.2) * e * (s === 'erm' ? 2.5 : 1.5) - (atk === 'fgsm' ? 0.08 : 0));
    },
  });
  const r = await runCompare([a.dir, worse.dir]);
  t.is(r.code, 1);
  t.regex(r.out, /fgsm ε=0\.1 down [\d.]+ points; one seed \(no CI\), McNemar p=/);
  t.regex(r.out, /n=1, no CI/);
});

test('thresholds flag: bad keys and values are usage errors', (t) => {
  t.throws(() => thresholdsFromFlag(['bogus=1'], DEFAULT_THRESHOLDS), { instanceOf: UsageError, message: /unknown threshold "bogus"/ });
  t.throws(() => thresholdsFromFlag(['cleanAccuracyDrop=-1'], DEFAULT_THRESHOLDS), { instanceOf: UsageError });
  t.throws(() => thresholdsFromFlag(['robustBeyondCI=maybe'], DEFAULT_THRESHOLDS), { instanceOf: UsageError });
  t.deepEqual(thresholdsFromFlag(['robustBeyondCI=false', 'wallTimeIncrease=1'], DEFAULT_THRESHOLDS), { cleanAccuracyDrop: 0.01, robustBeyondCI: false, wallTimeIncrease: 1 });
});

test('CLI: missing run folder exits 2 with a one-line message', (t) => {
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a') });
  const r = spawnSync(process.execPath, [CLI, 'compare', a.dir, path.join(tmp(), 'does-not-exist')], { encoding: 'utf8' });
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /^vicinal: run folder not found: .*does-not-exist\n$/);
});

test('CLI: corrupt result file exits 2', (t) => {
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a') });
  const b = makeRun({ ...base, dir: path.join(tmp(), 'b') });
  fs.writeFileSync(resultPath(b.dir, b.manifest.jobs[3].id), '{"kind": "eval", truncated');
  const r = spawnSync(process.execPath, [CLI, 'compare', a.dir, b.dir], { encoding: 'utf8' });
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /result file is corrupt/);
});

test('CLI: regression exits 1, identical exits 0, wrong arity exits 2', (t) => {
  const a = makeRun({ ...base, dir: path.join(tmp(), 'a'), wallSeconds: 100 });
  const b = makeRun({ ...base, dir: path.join(tmp(), 'b'), wallSeconds: 200 });
  t.is(spawnSync(process.execPath, [CLI, 'compare', a.dir, a.dir], { encoding: 'utf8' }).status, 0);
  t.is(spawnSync(process.execPath, [CLI, 'compare', a.dir, b.dir], { encoding: 'utf8' }).status, 1);
  t.is(spawnSync(process.execPath, [CLI, 'compare', a.dir], { encoding: 'utf8' }).status, 2);
});
