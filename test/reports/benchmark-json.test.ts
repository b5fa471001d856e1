/**
 * `vicinal report RUN --format benchmark-json`: the arrays
 * github-action-benchmark reads (customBiggerIsBetter /
 * customSmallerIsBetter), checked for shape (what the action requires of an
 * entry) and for values against the run summary and the fixture's known
 * job times.
 */
import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { BenchmarkEntry, benchmarkEntries } from '../../reports/benchmark-json';
import { summarizeRun } from '../../reports/summary';
import { command as report } from '../../suite/commands/report';
import { cleanupFixtures, makeRun, tmpDir } from './fixture';

test.after.always(cleanupFixtures);

const MNIST = [{ group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } }];

/** What github-action-benchmark accepts of a custom entry: name, unit and a finite number; range and extra strings. */
function assertEntryShape(t: import('ava').ExecutionContext, e: BenchmarkEntry): void {
  t.is(typeof e.name, 'string');
  t.is(typeof e.unit, 'string');
  t.true(typeof e.value === 'number' && Number.isFinite(e.value), e.name);
  if (e.range !== undefined) t.is(typeof e.range, 'string');
  if (e.extra !== undefined) t.is(typeof e.extra, 'string');
  t.deepEqual(
    Object.keys(e).filter((k) => !['name', 'unit', 'value', 'range', 'extra'].includes(k)),
    [],
  );
}

test('report --format benchmark-json writes report.benchmark.json: accuracies (bigger is better) equal the summary means and CIs', async (t) => {
  const run = makeRun({ groups: MNIST, seeds: [0, 1, 2], wallSeconds: 123.5 });
  const out = path.join(tmpDir('vicinal-bench-json-'), 'rep');
  t.is(await report.main({ format: 'benchmark-json', out, metric: [] }, [run.dir]), 0);
  t.deepEqual(fs.readdirSync(out), ['report.benchmark.json']);
  const doc = JSON.parse(fs.readFileSync(path.join(out, 'report.benchmark.json'), 'utf8'));
  t.deepEqual(Object.keys(doc), ['customBiggerIsBetter', 'customSmallerIsBetter']);
  const bigger = doc.customBiggerIsBetter as BenchmarkEntry[];
  const smaller = doc.customSmallerIsBetter as BenchmarkEntry[];
  for (const e of [...bigger, ...smaller]) assertEntryShape(t, e);
  t.is(new Set([...bigger, ...smaller].map((e) => e.name)).size, bigger.length + smaller.length, 'names are unique series');

  const s = summarizeRun(run);
  const g = s.groups[0];
  // 3 schemes x (clean + 2 attacks x 2 ε + worst x 2 ε).
  t.is(bigger.length, 3 * 7);
  for (const row of g.rows) {
    const stat = (key: string) => row.cells[key].stat;
    const find = (what: string) => bigger.find((e) => e.name === `fixture mnist/mlp-32 ${row.scheme} ${what}`);
    for (const [what, key] of [
      ['clean accuracy', 'clean'],
      ['robust accuracy pgd linf ε=0.2', 'robust:pgd@linf:0.2'],
      ['robust accuracy fgsm linf ε=0.1', 'robust:fgsm@linf:0.1'],
      ['worst-case robust accuracy linf ε=0.1', 'worst@linf:0.1'],
    ] as const) {
      const e = find(what);
      const st = stat(key);
      if (!e || !st || st.halfWidth === null) return t.fail(`no entry or no CI for ${row.scheme} ${what}`);
      t.is(e.unit, '%');
      t.true(Math.abs(e.value - st.mean * 100) < 1e-4, `${row.scheme} ${what}`);
      t.is(e.range, `± ${Number((st.halfWidth * 100).toFixed(4))}`);
      t.regex(e.extra ?? '', /^3 seed\(s\)/);
    }
  }
  // Every robust value is at most its clean value (the fixture's robust-implies-clean construction).
  for (const row of g.rows) {
    const clean = bigger.find((e) => e.name === `fixture mnist/mlp-32 ${row.scheme} clean accuracy`)?.value ?? -1;
    for (const e of bigger.filter((x) => x.name.startsWith(`fixture mnist/mlp-32 ${row.scheme} `) && x.name.includes('robust'))) t.true(e.value <= clean + 1e-9, e.name);
  }

  // Times (smaller is better): the fixture's known wall time and job times (train 10 s, eval 5 s per seed).
  const byName = Object.fromEntries(smaller.map((e) => [e.name, e]));
  t.is(byName['fixture wall time'].value, 123.5);
  t.is(byName['fixture job time summed'].value, 9 * 15);
  t.is(byName['fixture job time summed'].value, s.header.jobSeconds);
  for (const row of g.rows) {
    t.is(byName[`fixture mnist/mlp-32 ${row.scheme} train job time per seed`].value, 10);
    t.is(byName[`fixture mnist/mlp-32 ${row.scheme} eval job time per seed`].value, 5);
  }
  t.true(smaller.every((e) => e.unit === 's'));
  t.is(smaller.length, 2 + 3 * 2);
});

test('benchmark-json: a scheme whose every seed diverged has no accuracy entries; one diverged seed leaves the others; one seed has no range', (t) => {
  const run = makeRun({
    groups: MNIST,
    seeds: [0, 1],
    diverged: [
      { scheme: 'mixup', seed: 0 },
      { scheme: 'mixup', seed: 1 },
      { scheme: 'mixup-asym', seed: 1 },
    ],
  });
  const { customBiggerIsBetter: bigger, customSmallerIsBetter: smaller } = benchmarkEntries(summarizeRun(run));
  t.false(
    bigger.some((e) => e.name.includes(' mixup ')),
    'no number is made up for a scheme without a finished seed',
  );
  const asym = bigger.filter((e) => e.name.includes(' mixup-asym '));
  t.is(asym.length, 7);
  for (const e of asym) {
    t.is(e.range, undefined, 'one finished seed: no CI, so no range');
    t.regex(e.extra ?? '', /^1 seed\(s\); n=1/);
  }
  t.is(bigger.filter((e) => e.name.includes(' erm ')).length, 7);
  // Diverged training still took time: the train job time is tracked, the eval (never run) is not.
  t.truthy(smaller.find((e) => e.name === 'fixture mnist/mlp-32 mixup train job time per seed'));
  t.falsy(smaller.find((e) => e.name === 'fixture mnist/mlp-32 mixup eval job time per seed'));
});
