import test from 'ava';
import * as fs from 'fs';
import { loadRun, resultPath, writeJsonAtomic } from '../../contract/run-folder';
import { summarizeRun } from '../../reports/summary';
import { fmtCellParts, groupFacts } from '../../reports/format';
import { newcombePairedCI, wilsonCI } from '../../reports/stats';
import { cleanupFixtures, makeRun } from './fixture';

test.after.always(cleanupFixtures);

test('rows: erm first even when the study lists it later; columns: clean, robust per attack x eps, worst per eps, probes', (t) => {
  const s = summarizeRun(makeRun({ schemes: ['mixup', 'mixup-asym', 'erm'], seeds: [0, 1] }));
  const g = s.groups[0];
  t.deepEqual(
    g.rows.map((r) => r.scheme),
    ['erm', 'mixup', 'mixup-asym'],
  );
  t.deepEqual(
    g.columns.map((c) => c.key),
    [
      'clean',
      'robust:fgsm@linf:0.1',
      'robust:fgsm@linf:0.2',
      'robust:pgd@linf:0.1',
      'robust:pgd@linf:0.2',
      'worst@linf:0.1',
      'worst@linf:0.2',
      'probe:grad-l1/train',
      'probe:grad-l1/test',
      'probe:grad-l1/vicinal',
      'probe:grad-l2/train',
      'probe:grad-l2/test',
      'probe:grad-l2/vicinal',
      'probe:loss/train',
      'probe:loss/test',
      'probe:loss/vicinal',
      'probe:local-lipschitz@linf:0.1',
      'probe:local-lipschitz@linf:0.2',
      'probe:margin',
      'probe:margin-first-order',
      'probe:first-order/measured@linf:0.1',
      'probe:first-order/measured@linf:0.2',
      'probe:first-order/predicted@linf:0.1',
      'probe:first-order/predicted@linf:0.2',
      'probe:first-order/ratio@linf:0.1',
      'probe:first-order/ratio@linf:0.2',
    ],
  );
  t.is(g.baseline, 'erm');
  t.is(g.rows[0].cells.clean.diff, null, 'no difference of erm against itself');
  t.truthy(g.rows[1].cells.clean.diff);
});

test('cell values are the per-seed results, mean and t CI across seeds', (t) => {
  const run = makeRun({ seeds: [0, 1, 2] });
  const s = summarizeRun(run);
  const erm = s.groups[0].rows[0];
  const c = erm.cells['robust:pgd@linf:0.1'];
  t.is(c.values.length, 3);
  const mean = c.values.reduce((a, v) => a + v.value, 0) / 3;
  t.true(Math.abs((c.stat?.mean as number) - mean) < 1e-12);
  t.truthy(c.stat?.halfWidth);
  // Each value is the summary's robustAccuracy of that seed's eval result.
  for (const v of c.values) {
    const sj = erm.seeds.find((x) => x.seed === v.seed)!;
    const ev = run.results.get(sj.evalJobId as string);
    t.true(ev?.kind === 'eval');
    if (ev?.kind === 'eval') t.is(ev.attacks.find((a) => a.attack === 'pgd' && a.eps === 0.1)?.robustAccuracy, v.value);
  }
});

test('diverged runs are reported as diverged, never as numbers', (t) => {
  const s = summarizeRun(
    makeRun({
      seeds: [0, 1],
      diverged: [
        { scheme: 'mixup', seed: 0 },
        { scheme: 'mixup', seed: 1 },
        { scheme: 'mixup-asym', seed: 1 },
      ],
    }),
  );
  const [, mixup, asym] = s.groups[0].rows;
  t.is(mixup.status, 'diverged');
  for (const col of s.groups[0].columns) {
    const cell = mixup.cells[col.key];
    t.is(cell.status, 'diverged', col.key);
    t.is(cell.stat, null);
    t.is(cell.values.length, 0);
    t.is(cell.diff, null);
    t.false(cell.best);
  }
  t.is(asym.status, 'partial');
  t.is(asym.cells.clean.status, 'partial');
  t.regex(asym.cells.clean.note as string, /1\/2 seeds \(1 diverged\)/);
  t.deepEqual(
    asym.cells.clean.values.map((v) => v.seed),
    [0],
  );
  t.is(asym.seeds.find((x) => x.seed === 1)?.error, 'training diverged in epoch 2: mean loss is NaN');
});

test('failed eval: every column of that seed is failed, clean accuracy included', (t) => {
  const s = summarizeRun(makeRun({ seeds: [0], evalFailed: [{ scheme: 'mixup', seed: 0 }] }));
  const mixup = s.groups[0].rows[1];
  t.is(mixup.cells.clean.status, 'failed');
  t.is(mixup.cells.clean.stat, null);
  t.is(mixup.cells['robust:pgd@linf:0.1'].status, 'failed');
  t.is(mixup.cells['robust:pgd@linf:0.1'].stat, null);
});

test('a clean cell never mixes test-set sizes: a seed whose eval is missing or failed shows by status, not by the training accuracy', (t) => {
  // nTest 200 but 300 examples evaluated here; the training job's accuracy (on the whole test set) is set apart at 0.123.
  const run = makeRun({ seeds: [0, 1, 2], evalFailed: [{ scheme: 'mixup', seed: 1 }] });
  const seedJob = (scheme: string, seed: number, kind: 'train' | 'eval') => run.manifest.jobs.find((j) => j.schemeLabel === scheme && j.seed === seed && j.kind === kind)!;
  for (const j of run.manifest.jobs.filter((x) => x.kind === 'train')) {
    const file = resultPath(run.dir, j.id);
    writeJsonAtomic(file, { ...JSON.parse(fs.readFileSync(file, 'utf8')), cleanAccuracy: 0.123 });
  }
  fs.rmSync(resultPath(run.dir, seedJob('mixup-asym', 2, 'eval').id));
  const s = summarizeRun(loadRun(run.dir));
  const [erm, mixup, asym] = s.groups[0].rows;
  for (const row of s.groups[0].rows) for (const v of row.cells.clean.values) t.not(v.value, 0.123, `${row.scheme} seed ${v.seed}`);
  t.is(erm.cells.clean.status, 'ok');
  t.deepEqual(
    mixup.cells.clean.seedStatus.map((x) => x.status),
    ['ok', 'failed', 'ok'],
  );
  t.deepEqual(
    mixup.cells.clean.values.map((v) => v.seed),
    [0, 2],
  );
  t.regex(mixup.cells.clean.note as string, /2\/3 seeds \(1 failed\)/);
  t.deepEqual(
    asym.cells.clean.seedStatus.map((x) => x.status),
    ['ok', 'ok', 'missing'],
  );
  t.is(asym.cells.clean.status, 'partial');
  t.regex(asym.cells.clean.note as string, /2\/3 seeds \(1 missing\)/);
  // The clean cell has exactly the seeds of the attack cells: one test-set size, and the same seeds paired against erm.
  for (const row of [mixup, asym]) {
    t.deepEqual(row.cells.clean.seedStatus, row.cells['robust:pgd@linf:0.1'].seedStatus);
    t.deepEqual(row.cells.clean.diff?.seeds, row.cells['robust:pgd@linf:0.1'].diff?.seeds);
  }
});

test('one seed: means without CI ("n=1, no CI"), nothing significant, the test (exact McNemar there) still reported', (t) => {
  const s = summarizeRun(makeRun({ seeds: [0] }));
  const asym = s.groups[0].rows[2];
  const c = asym.cells['robust:pgd@linf:0.2'];
  t.is(c.stat?.note, 'n=1, no CI');
  t.is(c.stat?.halfWidth, null);
  t.truthy(c.diff?.test);
  const seedP = c.diff?.test?.perSeed[0].p as number;
  t.true(Math.abs((c.diff?.test?.p as number) - seedP) <= 1e-12 * seedP, 'with one seed the sign-flip test is exact McNemar');
  t.false(c.diff?.verdict.significant);
  t.is(c.diff?.verdict.label, 'n=1, no CI');
  // With nothing significant every complete scheme ties for best.
  for (const col of s.groups[0].columns.filter((x) => x.better)) t.is(col.best?.clear, false);
});

test('a large, consistent effect is significant and marked as the clear best; equal schemes tie', (t) => {
  const s = summarizeRun(
    makeRun({
      seeds: [0, 1, 2, 3],
      n: 1000,
      schemes: ['erm', 'strong', 'twin'],
      clean: (_g, scheme, seed) => (scheme === 'strong' ? 0.97 : 0.8) + 0.004 * seed,
      robust: (_g, scheme, _a, e, seed) => (scheme === 'strong' ? 0.9 : 0.5) - e + 0.004 * seed,
      // Correctness is a deterministic function of a shared per-example draw: twin == erm exactly.
      independence: 0,
    }),
  );
  const g = s.groups[0];
  const col = g.columns.find((c) => c.key === 'clean')!;
  t.is(col.best?.top, 'strong');
  t.true(col.best?.clear);
  const strong = g.rows.find((r) => r.scheme === 'strong')!;
  t.true(strong.cells.clean.diff?.verdict.significant);
  t.true((strong.cells.clean.diff?.lo as number) > 0);
  t.true((strong.cells.clean.diff?.test?.p as number) < 1e-6);
  t.is(strong.cells.clean.diff?.test?.direction, 1);
  t.is(strong.cells.clean.diff?.verdict.direction, 1);
  const twin = g.rows.find((r) => r.scheme === 'twin')!;
  // twin has the same per-example results as erm: no difference, not significant, tied with erm.
  t.is(twin.cells.clean.diff?.mean, 0);
  t.false(twin.cells.clean.diff?.verdict.significant);
  t.is(twin.cells.clean.diff?.test?.p, 1);
  t.is(twin.cells.clean.diff?.test?.statistic, 0);
});

test('schemes within the noise of the top share the best mark', (t) => {
  const s = summarizeRun(
    makeRun({
      seeds: [0, 1, 2],
      schemes: ['erm', 'a', 'b'],
      clean: (_g, scheme, seed) => 0.85 + (scheme === 'a' ? 0.003 : 0) + [0.03, -0.02, 0.0][seed],
      independence: 0.3,
    }),
  );
  const col = s.groups[0].columns.find((c) => c.key === 'clean')!;
  t.false(col.best?.clear);
  const marked = s.groups[0].rows.filter((r) => r.cells.clean.best).map((r) => r.scheme);
  t.true(marked.length >= 2, `marked: ${marked.join(',')}`);
});

/** Seed 0's per-example survival of both fixture attacks (fgsm and pgd) at linf 0.2, read from the result files. */
function worstSurvivalsAt02(run: ReturnType<typeof makeRun>, s: ReturnType<typeof summarizeRun>, scheme: string): number[] {
  const row = s.groups[0].rows.find((r) => r.scheme === scheme)!;
  const ev = run.results.get(row.seeds[0].evalJobId as string);
  if (ev?.kind !== 'eval') throw new Error('no eval');
  const f = ev.robustCorrect['fgsm@linf:0.2'];
  const p = ev.robustCorrect['pgd@linf:0.2'];
  return f.map((x, i) => (x && p[i] ? 1 : 0));
}

test('worst case test uses per-example survival of every attack', (t) => {
  const run = makeRun({ seeds: [0] });
  const s = summarizeRun(run);
  const asym = s.groups[0].rows[2];
  const d = asym.cells['worst@linf:0.2'].diff!;
  t.truthy(d.test);
  // Reconstruct from the result files.
  const a = worstSurvivalsAt02(run, s, 'mixup-asym');
  const e = worstSurvivalsAt02(run, s, 'erm');
  let b = 0;
  let c = 0;
  a.forEach((x, i) => {
    if (x > e[i]) b++;
    if (x < e[i]) c++;
  });
  t.is(d.test!.favourA, b);
  t.is(d.test!.favourB, c);
  t.is(d.test!.statistic, b - c);
  t.deepEqual(
    d.test!.perSeed.map((x) => [x.seed, x.b, x.c]),
    [[0, b, c]],
  );
});

test("one seed: a worst-case cell carries the Wilson interval of its own survivals, its Δ the Newcombe paired interval of the two models' survivals on the same examples; two seeds: neither", (t) => {
  const run = makeRun({ seeds: [0] });
  const s = summarizeRun(run);
  const g = s.groups[0];
  const a = worstSurvivalsAt02(run, s, 'mixup-asym');
  const e = worstSurvivalsAt02(run, s, 'erm');
  const cell = g.rows.find((r) => r.scheme === 'mixup-asym')!.cells['worst@linf:0.2'];
  const k = a.filter((x) => x).length;
  t.deepEqual(cell.testCI, wilsonCI(k, a.length));
  t.true(cell.testCI!.lo < k / a.length && k / a.length < cell.testCI!.hi);
  const both = a.filter((x, i) => x && e[i]).length;
  const asymOnly = a.filter((x, i) => x && !e[i]).length;
  const ermOnly = a.filter((x, i) => !x && e[i]).length;
  t.deepEqual(cell.diff!.testCI, newcombePairedCI(both, asymOnly, ermOnly, a.length - both - asymOnly - ermOnly));
  t.is(cell.diff!.verdict.significant, false);
  // Probes have no per-example correctness: no interval.
  t.is(g.rows[0].cells['probe:grad-l1/test'].testCI, null);
  const two = summarizeRun(makeRun({ seeds: [0, 1] })).groups[0];
  for (const r of two.rows) for (const c of Object.values(r.cells)) t.true(c.testCI === null && (c.diff?.testCI ?? null) === null);
});

test('two planned seeds, one diverged: the surviving seed gets a test-set CI and the cell still says it is partial', (t) => {
  const g = summarizeRun(makeRun({ seeds: [0, 1], diverged: [{ scheme: 'mixup', seed: 1 }] })).groups[0];
  const cell = g.rows.find((r) => r.scheme === 'mixup')!.cells.clean;
  const col = g.columns.find((c) => c.key === 'clean')!;
  t.is(cell.status, 'partial');
  t.truthy(cell.testCI);
  const parts = fmtCellParts(cell, col);
  t.regex(parts.value, /\(n=1; test CI [\d.]+–[\d.]+\)/);
  t.is(parts.note, `[${cell.note}]`);
  t.regex(parts.note ?? '', /1\/2 seeds \(1 diverged\)/);
});

test('header: backend, gpu, tfjs, seeds, attack settings, sizes, wall time, flags', (t) => {
  const s = summarizeRun(
    makeRun({
      seeds: [3, 1],
      wallSeconds: 321,
      flags: [{ scheme: 'mixup', seed: 1, flag: { check: 'gradient-masking', severity: 'warning', norm: 'linf', eps: 0.1, message: 'FGSM stronger than PGD at eps 0.1' } }],
    }),
  );
  t.is(s.header.backend, 'wasm');
  t.false(s.header.gpu);
  t.is(s.header.tfjsVersion, '4.22.0');
  t.deepEqual(s.header.seeds, [1, 3]);
  t.is(s.header.wallSeconds, 321);
  t.is(s.flags.length, 1);
  t.is(s.flags[0].check, 'gradient-masking');
  t.is(s.flags[0].scheme, 'mixup');
  const g = s.groups[0];
  t.deepEqual(g.sizes, { train: 200, test: 200, evaluated: 300 });
  const pgd = g.attacks.find((a) => a.attack === 'pgd')!;
  t.deepEqual(pgd.eps, [0.1, 0.2]);
  t.deepEqual(pgd.settings, { steps: 40, randomStart: true });
  t.deepEqual(
    pgd.perEps.map((p) => p.settings.stepSize),
    [0.1 / 16, 0.2 / 16],
  );
});

test('an attack recorded with a variant is labelled with it (autoattack (standard)); its keys keep the plain name', (t) => {
  const g = summarizeRun(makeRun({ attacks: ['fgsm', 'autoattack'], seeds: [0] })).groups[0];
  const aa = g.columns.find((c) => c.kind === 'robust' && c.attack === 'autoattack' && c.eps === 0.1)!;
  t.is(aa.label, 'autoattack (standard) ε=0.1');
  t.is(aa.key, 'robust:autoattack@linf:0.1');
  t.is(g.columns.find((c) => c.kind === 'robust' && c.attack === 'fgsm' && c.eps === 0.1)!.label, 'fgsm ε=0.1');
  t.true(groupFacts(g).some(([k]) => k === 'attack autoattack (standard)'));
});

test('a probe with a NaN median (e.g. an undefined ratio) is n/a, not a failure', (t) => {
  const s = summarizeRun(makeRun({ seeds: [0], probe: (_g, _s, p) => (p.startsWith('first-order/ratio') ? NaN : 1) }));
  const cell = s.groups[0].rows[0].cells['probe:first-order/ratio@linf:0.1'];
  t.is(cell.status, 'n/a');
  t.is(s.groups[0].rows[0].cells['probe:margin'].status, 'ok');
});

test('probe distributions are averaged over seeds for box plots', (t) => {
  const s = summarizeRun(makeRun({ seeds: [0, 1] }));
  const d = s.groups[0].rows[0].probeDistributions['grad-l1/test'];
  t.is(d.seeds, 2);
  // medians 2 * (1 + 0.02 seed): mean over seeds 0, 1 = 2.02
  t.true(Math.abs(d.median - 2.02) < 1e-12);
  t.true(d.q05 < d.q25 && d.q25 < d.median && d.median < d.q75 && d.q75 < d.q95);
});

test('unfinished jobs are "missing", not zeros', (t) => {
  const s = summarizeRun(makeRun({ seeds: [0, 1], missing: [{ scheme: 'mixup', seed: 1 }] }));
  const mixup = s.groups[0].rows[1];
  t.is(mixup.cells.clean.status, 'partial');
  t.regex(mixup.cells.clean.note as string, /1 missing/);
  t.is(s.header.jobs.missing, 2);
});
