import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { createAttack } from '../../attacks/registry';
import { SQUARE_HALVING_ITERATIONS, squareFraction, squareFractionReference, squarePattern, squareWindow, squareLayout } from '../../attacks/square';
import { runnerUpClasses } from '../../attacks/apgd-t';
import { Attack, AttackStageLog, mergeStageLogs } from '../../attacks/types';
import { Classifier } from '../../contract/classifier';
import { Norm } from '../../contract/norms';
import { Rng } from '../../data/rng';
import { initBackend } from '../../backend/select';
import { smallModel, uniformRows } from './helpers';

test.before(async () => {
  await initBackend('wasm');
});

const bounds = { lo: 0, hi: 1 };

/** A small image-shaped batch labelled with the model's own predictions, so every row starts correctly classified. */
function batch(f: Classifier, n: number, seed: number): { x: tf.Tensor; xs: Float32Array; y: Int32Array } {
  const xs = uniformRows(n, 6 * 6 * 1, bounds, new Rng(seed));
  const x = tf.tensor(xs, [n, 6, 6, 1]);
  const y = tf.tidy(() => Int32Array.from(tf.argMax(f(x), -1).dataSync()));
  return { x, xs, y };
}

const SMALL: [string, Record<string, unknown>][] = [
  ['apgd-dlr', { steps: 10 }],
  ['apgd-t', { steps: 10, targetClasses: 3 }],
  ['square', { queries: 60 }],
  ['autoattack', { steps: 10, targetClasses: 3, queries: 60 }],
];

test('APGD-DLR, APGD-T, Square and AutoAttack are deterministic for a seed (Linf and L2)', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [16] }, [6, 6, 1], 5, 3);
  const { x, y } = batch(f, 12, 1);
  for (const [name, params] of SMALL) {
    for (const norm of ['linf', 'l2'] as Norm[]) {
      const eps = norm === 'linf' ? 0.2 : 1.5;
      const attack = createAttack({ name, params }, norm);
      const runs = [5, 5, 6].map((seed) => {
        const out = attack.run(f, x, y, bounds, eps, new Rng(seed));
        const adv = Array.from(out.xAdv.dataSync());
        out.xAdv.dispose();
        return { adv, pred: Array.from(out.pred), success: Array.from(out.success) };
      });
      t.deepEqual(runs[0], runs[1], `${name} ${norm}: same seed, same result`);
      // Random starts (and Square's random search) depend on the seed.
      t.notDeepEqual(runs[0].adv, runs[2].adv, `${name} ${norm}: another seed, another result`);
    }
  }
  x.dispose();
  model.dispose();
});

test('Square queries only the rows still unbroken: misclassified rows never after the clean pass, broken rows stop', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [16] }, [6, 6, 1], 4, 4);
  const { x, y } = batch(f, 10, 2);
  // Rows 0-2 labelled wrongly: misclassified from the start.
  const yWrong = y.slice();
  for (let i = 0; i < 3; i++) yWrong[i] = (y[i] + 1) % 4;
  const sizes: number[] = [];
  const counting: Classifier = (xb) => {
    sizes.push(xb.shape[0]);
    return f(xb);
  };
  for (const norm of ['linf', 'l2'] as Norm[]) {
    sizes.length = 0;
    const out = createAttack({ name: 'square', params: { queries: 200 } }, norm).run(counting, x, yWrong, bounds, norm === 'linf' ? 0.3 : 2, new Rng(0));
    // BaseAttack's own calls: a 1-row probe, then (Square) the clean pass, then queries, then the final scoring.
    const queries = sizes.slice(2, -1);
    t.is(sizes[1], 10);
    t.true(
      queries.every((s) => s <= 7),
      `${norm}: no query includes a clean-misclassified row (${Math.max(...queries)})`,
    );
    // Batches shrink as rows break and never grow back.
    for (let i = 1; i < queries.length; i++) t.true(queries[i] <= queries[i - 1]);
    t.true(queries.length <= 200);
    const broken = out.success.reduce((a, v) => a + v, 0);
    t.log(`${norm}: ${broken}/10 broken, ${queries.length} queries, last batch ${queries[queries.length - 1] ?? 0}`);
    if (queries.length < 199) t.true(broken === 10, 'stopped early only when every row was broken');
    for (let i = 0; i < 3; i++) t.is(out.success[i], 1);
    out.xAdv.dispose();
  }
  x.dispose();
  model.dispose();
});

test('Square internals: the p schedule halves from pInit on the published marks; windows fit the input; L2 patterns have unit norm and two opposite halves', (t) => {
  t.is(squareFraction(0, 10000, 0.8), 0.8);
  t.is(squareFraction(10, 10000, 0.8), 0.8);
  t.is(squareFraction(11, 10000, 0.8), 0.4);
  t.is(squareFraction(9999, 10000, 0.8), 0.8 / 512);
  t.is(squareFraction(500, 1000, 0.8), squareFraction(5000, 10000, 0.8));
  let last = Infinity;
  for (let q = 0; q < 1000; q++) {
    const p = squareFraction(q, 1000, 0.3);
    t.true(p <= last);
    last = p;
  }
  const img = squareLayout([28, 28, 1]);
  t.deepEqual(squareWindow(img, 0.8, 1, false), [25, 25]);
  t.deepEqual(squareWindow(img, 0.8 / 512, 1, false), [1, 1]);
  t.deepEqual(squareWindow(img, 0.8 / 512, 3, true), [3, 3]);
  t.deepEqual(squareWindow(img, 0.05, 3, true), [7, 7]);
  t.deepEqual(squareLayout([2]), { h: 1, w: 2, c: 1 });
  t.deepEqual(squareWindow(squareLayout([2]), 0.8, 1, false), [1, 2]);
  t.deepEqual(squareWindow(squareLayout([10]), 0.2, 3, true), [1, 3]);
  const rng = new Rng(1);
  for (const [a, b] of [
    [5, 5],
    [4, 7],
    [1, 2],
    [1, 1],
    [3, 1],
  ]) {
    const p = squarePattern(a, b, rng);
    t.true(Math.abs(p.reduce((s, v) => s + v * v, 0) - 1) < 1e-12, `${a}x${b} unit norm`);
    if (a * b > 1) {
      t.true(p.some((v) => v > 0) && p.some((v) => v < 0), `${a}x${b} both signs`);
    }
  }
});

test('Square reference schedule: p halves after iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 whatever the budget (AutoAttack p_selection, resc_schedule off)', (t) => {
  t.deepEqual([...SQUARE_HALVING_ITERATIONS], [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]);
  // (iteration, divisor of pInit): the reference's ranges, checked at both ends of each.
  const table: [number, number][] = [
    [0, 1],
    [10, 1],
    [11, 2],
    [50, 2],
    [51, 4],
    [200, 4],
    [201, 8],
    [500, 8],
    [501, 16],
    [1000, 16],
    [1001, 32],
    [2000, 32],
    [2001, 64],
    [4000, 64],
    [4001, 128],
    [4999, 128],
    [6000, 128],
    [6001, 256],
    [8000, 256],
    [8001, 512],
    [20000, 512],
  ];
  for (const [it, div] of table) t.is(squareFractionReference(it, 0.8), 0.8 / div, `iteration ${it}`);
  // The rescaled schedule of a 5000-query budget reaches the small windows twice as early.
  t.is(squareFraction(2501, 5000, 0.8), 0.8 / 128);
  t.is(squareFractionReference(2500, 0.8), 0.8 / 64);
  t.is(squareFractionReference(4500, 0.8), 0.8 / 128);
  t.is(squareFraction(4501, 5000, 0.8), 0.8 / 512);
});

test('Square with the reference schedule does not depend on the budget: a row broken within 40 queries is broken at the same point with 120; the settings say which schedule ran', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [16] }, [6, 6, 1], 5, 8);
  const { x, y } = batch(f, 16, 9);
  for (const norm of ['linf', 'l2'] as Norm[]) {
    const eps = norm === 'linf' ? 0.1 : 0.8;
    const run = (queries: number, schedule: string) => {
      const a = createAttack({ name: 'square', params: { queries, schedule } }, norm);
      t.is(a.settings.schedule, schedule);
      const out = a.run(f, x, y, bounds, eps, new Rng(4));
      const adv = Array.from(out.xAdv.dataSync());
      out.xAdv.dispose();
      return { adv, success: Array.from(out.success) };
    };
    const short = run(40, 'reference');
    const long = run(120, 'reference');
    let broken = 0;
    for (let r = 0; r < 16; r++) {
      if (!short.success[r]) continue;
      broken++;
      t.is(long.success[r], 1);
      t.deepEqual(long.adv.slice(r * 36, (r + 1) * 36), short.adv.slice(r * 36, (r + 1) * 36), `${norm} row ${r}: same point`);
    }
    t.log(`${norm}: ${broken}/16 broken within 40 queries`);
    t.true(broken > 0 && broken < 16, `${norm}: the test breaks some rows within 40 queries (${broken})`);
  }
  x.dispose();
  model.dispose();
});

test('AutoAttack is never weaker per example than its deterministic stages run alone: APGD-CE (same batch, same seed) and FAB-T', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [16] }, [6, 6, 1], 5, 12);
  const { x, y } = batch(f, 20, 13);
  const params = { steps: 10, targetClasses: 3, queries: 30 };
  for (const norm of ['linf', 'l2'] as Norm[]) {
    const eps = norm === 'linf' ? 0.15 : 0.6;
    const aa = createAttack({ name: 'autoattack', params }, norm).run(f, x, y, bounds, eps, new Rng(2));
    aa.xAdv.dispose();
    // AutoAttack's first stage sees the whole (correctly classified) batch with the first fork of its Rng.
    const apgd = createAttack({ name: 'apgd-ce', params: { steps: 10 } }, norm).run(f, x, y, bounds, eps, new Rng(2).fork('apgd-ce'));
    apgd.xAdv.dispose();
    // FAB-T with one run has no randomness and treats every row on its own.
    const fab = createAttack({ name: 'fab-t', params: { steps: 10, targetClasses: 3 } }, norm).run(f, x, y, bounds, eps, new Rng(0));
    fab.xAdv.dispose();
    for (let r = 0; r < 20; r++) {
      t.true(aa.success[r] >= apgd.success[r], `${norm} row ${r}: broken by APGD-CE alone, not by AutoAttack`);
      t.true(aa.success[r] >= fab.success[r], `${norm} row ${r}: broken by FAB-T alone, not by AutoAttack`);
    }
    const count = (s: Uint8Array) => s.reduce((a, v) => a + v, 0);
    t.log(`${norm}: broken by autoattack ${count(aa.success)}, apgd-ce ${count(apgd.success)}, fab-t ${count(fab.success)} of 20`);
    t.true(count(apgd.success) > 0 && count(fab.success) > 0, `${norm}: the test's eps lets both stages break rows`);
  }
  x.dispose();
  model.dispose();
});

test('APGD-T targets the runner-up classes by clean logit; APGD-T and AutoAttack refuse explicit targets', (t) => {
  const order = runnerUpClasses([0.1, 3, 2, -1, 2, 0.5, 0.5, 0.5], [1, 0], 4);
  t.deepEqual(Array.from(order[0]), [2, 0, 3]);
  t.deepEqual(Array.from(order[1]), [1, 2, 3]);
  const { model, f } = smallModel({ arch: 'mlp', hidden: [8] }, [6, 6, 1], 4, 5);
  const { x, y } = batch(f, 4, 3);
  for (const [name, params] of [
    ['apgd-t', { steps: 2 }],
    ['autoattack', { steps: 2, queries: 2 }],
  ] as const) {
    t.throws(() => createAttack({ name, params }).run(f, x, y, bounds, 0.1, new Rng(0), { targets: Int32Array.from(y, (v) => (v + 1) % 4) }), { message: /targets/ });
  }
  x.dispose();
  model.dispose();
});

test('AutoAttack: robust accuracy after each stage never rises, each stage attacks exactly the survivors, the last entry is the per-example worst case', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [16, 16] }, [6, 6, 1], 5, 6);
  const { x, y } = batch(f, 30, 7);
  const attack: Attack = createAttack({ name: 'autoattack', params: { steps: 8, targetClasses: 2, queries: 40 } }, 'linf');
  for (const eps of [0, 0.05, 0.15, 0.3]) {
    const out = attack.run(f, x, y, bounds, eps, new Rng(1));
    const log = out.log as AttackStageLog[];
    t.deepEqual(
      log.map((s) => s.stage),
      ['clean', 'apgd-ce', 'apgd-t', 'fab-t', 'square'],
    );
    t.log(`eps ${eps}: ${log.map((s) => `${s.stage} ${s.robust}/${s.attacked}`).join(', ')}`);
    t.is(log[0].robust, 30);
    for (let s = 1; s < log.length; s++) {
      t.true(log[s].robustAccuracy <= log[s - 1].robustAccuracy);
      t.is(log[s].attacked, log[s - 1].robust);
      t.is(log[s].n, 30);
      t.is(log[s].robustAccuracy, log[s].robust / 30);
      // Survivors only shrink: a row robust after stage s was robust after stage s - 1.
      const prev = log[s - 1].robustRows as Uint8Array;
      const cur = log[s].robustRows as Uint8Array;
      for (let i = 0; i < 30; i++) t.true(cur[i] <= prev[i]);
    }
    // The output's per-example worst case: robust rows are the survivors of every stage and still predicted right.
    const last = log[log.length - 1];
    t.is(
      last.robust,
      out.success.reduce((a, v) => a + (v ? 0 : 1), 0),
    );
    for (let i = 0; i < 30; i++) {
      const robust = out.success[i] === 0;
      t.is(out.pred[i] === y[i], robust);
      if (robust) for (const s of log) t.is((s.robustRows as Uint8Array)[i], 1);
    }
    if (eps === 0) t.is(last.robust, 30);
    out.xAdv.dispose();
  }
  x.dispose();
  model.dispose();
});

test('stage logs of several batches add up stage by stage', (t) => {
  const a: AttackStageLog[] = [
    { stage: 'clean', robustAccuracy: 0.9, robust: 9, n: 10, attacked: 10, seconds: 1, robustRows: new Uint8Array(10) },
    { stage: 'apgd-ce', robustAccuracy: 0.2, robust: 2, n: 10, attacked: 9, seconds: 2 },
  ];
  const b: AttackStageLog[] = [
    { stage: 'clean', robustAccuracy: 1, robust: 5, n: 5, attacked: 5, seconds: 0.5 },
    { stage: 'apgd-ce', robustAccuracy: 0.4, robust: 2, n: 5, attacked: 5, seconds: 1 },
  ];
  const m = mergeStageLogs(mergeStageLogs(undefined, a), b);
  t.deepEqual(m, [
    { stage: 'clean', robustAccuracy: 14 / 15, robust: 14, n: 15, attacked: 15, seconds: 1.5 },
    { stage: 'apgd-ce', robustAccuracy: 4 / 15, robust: 4, n: 15, attacked: 14, seconds: 3 },
  ]);
  t.throws(() => mergeStageLogs(m, [b[0]]), { message: /stage logs differ/ });
});
