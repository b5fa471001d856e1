import test from 'ava';
import { perExampleColumns, perExampleCsv, perExampleRows, PerExampleData, toCsv } from '../../eval/export';
import { checkGradients, checkIterativeVsSingleStep, checkLargeEps, checkMonotone, checkNoiseWeaker, checkOutputsAreLogits, checkStepsDoubling } from '../../eval/sanity';
import { distribution } from '../../eval/distribution';
import { mergeWorst, worstCaseCorrect } from '../../attacks/worst-case';
import { AttackSummary } from '../../contract/results';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import type { Norm } from '../../contract/norms';

test.before(async () => {
  await initBackend('wasm');
});

const s = (attack: string, eps: number, robustAccuracy: number, norm: Norm = 'linf'): AttackSummary => ({ attack, norm, eps, settings: {}, n: 500, robustAccuracy, meanLoss: 0 });
const checks = (flags: { check: string }[]) => flags.map((f) => f.check);

test('monotonicity: robust accuracy may not rise with eps or above clean accuracy', (t) => {
  t.deepEqual(checkMonotone([s('pgd', 0.1, 0.5), s('pgd', 0.2, 0.3), s('pgd', 0.3, 0.1)], 0.9), []);
  t.deepEqual(checks(checkMonotone([s('pgd', 0.1, 0.5), s('pgd', 0.3, 0.4), s('pgd', 0.2, 0.3)], 0.9)), ['non-monotone']);
  t.deepEqual(checks(checkMonotone([s('noise', 0.1, 0.95)], 0.9)), ['non-monotone']);
  // Within the tolerance (one percent) nothing is flagged.
  t.deepEqual(checkMonotone([s('pgd', 0.1, 0.5), s('pgd', 0.2, 0.505)], 0.9), []);
});

test('gradient masking: iterative weaker than single-step, noise stronger than white-box', (t) => {
  t.deepEqual(checks(checkIterativeVsSingleStep([s('fgsm', 0.3, 0.2), s('pgd', 0.3, 0.4)])), ['gradient-masking']);
  t.deepEqual(checkIterativeVsSingleStep([s('fgsm', 0.3, 0.4), s('pgd', 0.3, 0.2), s('pgd', 0.1, 0.9)]), []);
  t.deepEqual(checks(checkIterativeVsSingleStep([s('fgm', 1, 0.2, 'l2'), s('apgd-ce', 1, 0.4, 'l2')])), ['gradient-masking']);
  t.deepEqual(checks(checkNoiseWeaker([s('noise', 0.3, 0.2), s('pgd', 0.3, 0.4)])), ['noise-stronger']);
  t.deepEqual(checkNoiseWeaker([s('noise', 0.3, 0.8), s('pgd', 0.3, 0.4)]), []);
});

test('large eps, gradients, doubled steps and probability outputs', (t) => {
  // about 0% is demanded, not chance: 2 of 200 survivors pass (1%), 3 do not; 1 survivor of 50 is allowed (never fewer than one)
  t.deepEqual(checkLargeEps(0.01, 200, 1, 'linf', 'pgd'), []);
  t.deepEqual(checks(checkLargeEps(0.015, 200, 1, 'linf', 'pgd')), ['large-eps-not-zero']);
  t.deepEqual(checks(checkLargeEps(0.05, 200, 1, 'linf', 'pgd')), ['large-eps-not-zero'], 'chance-level 5% on 10 classes is flagged now');
  t.deepEqual(checkLargeEps(0.02, 50, 1, 'linf', 'pgd'), []);
  t.regex(checkLargeEps(0.3, 200, 1, 'linf', 'pgd')[0].message, /leaves 60 of 200 examples/);
  t.deepEqual(checkGradients(Float32Array.from([0.1, 0.2, 0.3])), []);
  t.deepEqual(checks(checkGradients(Float32Array.from([0, 0, 0.3]))), ['zero-gradients']);
  t.deepEqual(checks(checkGradients(Float32Array.from([NaN, 1, 1]))), ['nan-gradients']);
  t.is(checkGradients(Float32Array.from([NaN, 1, 1]))[0].severity, 'error');
  t.deepEqual(checks(checkStepsDoubling(0.5, 0.4, 200, 40, 0.1, 'linf')), ['steps-not-converged']);
  t.deepEqual(checks(checkStepsDoubling(0.4, 0.5, 200, 40, 0.1, 'linf')), ['steps-unstable']);
  t.deepEqual(checkStepsDoubling(0.5, 0.49, 200, 40, 0.1, 'linf'), []);
  t.deepEqual(checks(checkOutputsAreLogits(Float32Array.from([0.2, 0.8, 0.5, 0.5]), 2)), ['outputs-probabilities']);
  t.deepEqual(checkOutputsAreLogits(Float32Array.from([2, -1, 0.5, 0.5]), 2), []);
});

test('worst case: an example is robust only if it survives every attack; merge keeps the first success, else the higher loss', (t) => {
  t.deepEqual(
    Array.from(
      worstCaseCorrect([
        [1, 1, 0, 1],
        [1, 0, 0, 1],
        [1, 1, 1, 0],
      ]),
    ),
    [1, 0, 0, 0],
  );
  const a = { xAdv: tf.tensor2d([[0], [1], [2]]), success: Uint8Array.from([1, 0, 0]), loss: Float32Array.from([5, 1, 3]), pred: Int32Array.from([1, 0, 0]) };
  const b = { xAdv: tf.tensor2d([[10], [11], [12]]), success: Uint8Array.from([1, 1, 0]), loss: Float32Array.from([9, 0.5, 2]), pred: Int32Array.from([2, 2, 0]) };
  const m = mergeWorst(a, b);
  t.deepEqual(Array.from(m.xAdv.dataSync()), [0, 11, 2]);
  t.deepEqual(Array.from(m.success), [1, 1, 0]);
  t.deepEqual(Array.from(m.pred), [1, 2, 0]);
  m.xAdv.dispose();
});

test('per-example export: rows, CSV header and quoting', (t) => {
  const d: PerExampleData = {
    index: Int32Array.from([0, 1]),
    label: Int32Array.from([3, 4]),
    cleanPred: Int32Array.from([3, 1]),
    cleanLoss: Float32Array.from([0.5, 2]),
    gradL1: Float32Array.from([1, NaN]),
    gradL2: Float32Array.from([0.5, 0.25]),
    attacks: [{ key: 'pgd@linf:0.3', attack: 'pgd', norm: 'linf', eps: 0.3, pred: Int32Array.from([1, 1]), loss: Float32Array.from([4, 5]), correct: Uint8Array.from([0, 0]) }],
    worstCase: [{ key: 'worst-case@linf:0.3', norm: 'linf', eps: 0.3, correct: Uint8Array.from([0, 0]) }],
  };
  const rows = perExampleRows(d);
  t.is(rows.length, 2);
  t.is(rows[1]['pgd@linf:0.3.pred'], 1);
  t.deepEqual(perExampleColumns(d), ['index', 'label', 'cleanPred', 'cleanLoss', 'gradL1', 'gradL2', 'pgd@linf:0.3.pred', 'pgd@linf:0.3.loss', 'pgd@linf:0.3.correct', 'worst-case@linf:0.3.correct']);
  const csv = perExampleCsv(d).trim().split('\n');
  t.is(csv.length, 3);
  t.is(csv[2], '1,4,1,2,NaN,0.25,1,5,0,0');
  t.is(toCsv([{ a: 'x,y', b: 'say "hi"' }]), 'a,b\n"x,y","say ""hi"""\n');
});

test('distribution: quantiles with linear interpolation over finite values', (t) => {
  const dist = distribution([4, 1, 3, 2, 5, NaN]);
  t.is(dist.n, 5);
  t.is(dist.mean, 3);
  t.is(dist.median, 3);
  t.is(dist.q25, 2);
  t.is(dist.q75, 4);
  t.true(Math.abs(dist.q05 - 1.2) < 1e-12);
  t.true(Math.abs(dist.q95 - 4.8) < 1e-12);
  t.true(Number.isNaN(distribution([]).mean));
});
