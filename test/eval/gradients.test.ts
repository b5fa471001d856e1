import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { FgsmAttack } from '../../attacks/fgsm';
import { crossEntropyTwiceDifferentiable, logitsLossAndGradient } from '../../attacks/gradients';
import { gradientNorms, localLipschitz, margins } from '../../eval/probes';
import { Rng } from '../../data/rng';
import { ModelSpec } from '../../models/build';
import { crossEntropyPerExample } from '../../attacks/losses';
import { Classifier } from '../../contract/classifier';
import { initBackend } from '../../backend/select';
import { randomLabels, smallModel, uniformRows } from '../attacks/helpers';

test.before(async () => {
  await initBackend('wasm');
});

/** Per-example losses of many rows (float32 forward passes on the backend). */
function losses(f: Classifier, x: Float32Array, y: Int32Array, shape: number[], k: number): Float32Array {
  return tf
    .tidy(() => {
      const z = f(tf.tensor(x, [y.length, ...shape]));
      return crossEntropyPerExample(z as tf.Tensor2D, tf.oneHot(tf.tensor1d(y, 'int32'), k).toFloat() as tf.Tensor2D);
    })
    .dataSync() as Float32Array;
}

/** Central finite differences of each row's loss along every input coordinate, all rows in one batch. */
function finiteDifferenceGradient(f: Classifier, x: Float32Array, y: Int32Array, shape: number[], k: number, h: number): Float64Array {
  const d = shape.reduce((a, b) => a * b, 1);
  const n = y.length;
  const rows = new Float32Array(n * 2 * d * d);
  const labels = new Int32Array(n * 2 * d);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      for (const [s, sign] of [
        [0, 1],
        [1, -1],
      ] as const) {
        const row = (r * d + i) * 2 + s;
        rows.set(x.subarray(r * d, r * d + d), row * d);
        rows[row * d + i] += sign * h;
        labels[row] = y[r];
      }
    }
  }
  const l = losses(f, rows, labels, shape, k);
  const g = new Float64Array(n * d);
  for (let j = 0; j < n * d; j++) g[j] = (l[2 * j] - l[2 * j + 1]) / (2 * h);
  return g;
}

const GRAD_CASES: [string, ModelSpec, number[], number][] = [
  ['linear', { arch: 'linear' }, [5], 3],
  ['mlp', { arch: 'mlp', hidden: [12, 12] }, [2, 3, 1], 4],
];
for (const [name, spec, shape, k] of GRAD_CASES) {
  test(`gradient norms agree with central finite differences (${name})`, (t) => {
    const rng = new Rng(3);
    const n = 16;
    const d = shape.reduce((a, b) => a * b, 1);
    const { model, f } = smallModel(spec, [...shape], k, 5);
    const x = uniformRows(n, d, { lo: -1, hi: 1 }, rng);
    const y = randomLabels(n, k, rng);
    const rows = gradientNorms(f, x, [...shape], y, k, 5);
    // Two step sizes: where they disagree a ReLU kink lies within the
    // difference and the row is skipped (the gradient there is one-sided).
    const fd = finiteDifferenceGradient(f, x, y, [...shape], k, 2e-3);
    const fdHalf = finiteDifferenceGradient(f, x, y, [...shape], k, 1e-3);
    const cleanLoss = losses(f, x, y, [...shape], k);
    const grad = tf
      .tidy(() => {
        const r = logitsLossAndGradient(f, tf.tensor(x, [n, ...shape]), tf.oneHot(tf.tensor1d(y, 'int32'), k).toFloat() as tf.Tensor2D);
        return r.grad;
      })
      .dataSync();
    let checked = 0;
    for (let r = 0; r < n; r++) {
      let smooth = true;
      for (let i = 0; i < d; i++) if (Math.abs(fd[r * d + i] - fdHalf[r * d + i]) > 0.01 * Math.abs(fd[r * d + i]) + 2e-3) smooth = false;
      t.true(Math.abs(rows.loss[r] - cleanLoss[r]) < 1e-5);
      if (!smooth) continue;
      checked++;
      // The gradient itself (signs included), not only its norms.
      for (let i = 0; i < d; i++) t.true(Math.abs(grad[r * d + i] - fd[r * d + i]) <= 0.01 * Math.abs(fd[r * d + i]) + 2e-3, `row ${r} input ${i}`);
      let l1 = 0;
      let l2 = 0;
      let linf = 0;
      for (let i = 0; i < d; i++) {
        const v = Math.abs(fd[r * d + i]);
        l1 += v;
        l2 += v * v;
        linf = Math.max(linf, v);
      }
      l2 = Math.sqrt(l2);
      // float32 losses limit the agreement to about a percent.
      t.true(Math.abs(rows.l1[r] - l1) <= 0.01 * l1 + 2e-3 * d, `row ${r} l1 ${rows.l1[r]} vs ${l1}`);
      t.true(Math.abs(rows.l2[r] - l2) <= 0.01 * l2 + 2e-3 * Math.sqrt(d), `row ${r} l2 ${rows.l2[r]} vs ${l2}`);
      t.true(Math.abs(rows.linf[r] - linf) <= 0.01 * linf + 2e-3, `row ${r} linf ${rows.linf[r]} vs ${linf}`);
    }
    t.log(`${checked} of ${n} rows compared`);
    t.true(checked >= 0.75 * n, `only ${checked} of ${n} rows away from kinks`);
    model.dispose();
  });
}

test('the twice-differentiable cross-entropy equals the training loss, and its second derivative matches finite differences', (t) => {
  const rng = new Rng(8);
  const n = 6;
  const d = 4;
  const k = 3;
  const { model, f } = smallModel({ arch: 'linear' }, [d], k, 9);
  const x = uniformRows(n, d, { lo: -1, hi: 1 }, rng);
  const y = randomLabels(n, k, rng);
  const targets = tf.oneHot(tf.tensor1d(y, 'int32'), k).toFloat() as tf.Tensor2D;
  const xt = tf.tensor2d(x, [n, d]);
  const a = tf.tidy(() => crossEntropyPerExample(f(xt), targets)).dataSync();
  const b = tf.tidy(() => crossEntropyTwiceDifferentiable(f(xt), targets)).dataSync();
  for (let i = 0; i < n; i++) t.true(Math.abs(a[i] - b[i]) < 1e-5);
  // h(x) = sum_rows ||grad_x loss||_1; its gradient by double backprop vs central differences of h.
  const g = (z: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(crossEntropyTwiceDifferentiable(f(u), targets)))(z);
  const h = (z: tf.Tensor) => tf.sum(tf.abs(g(z)));
  const dbl = tf.tidy(() => tf.grad(h)(xt)).dataSync();
  const eps = 1e-2;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < n * d; i++) {
    const e = new Float32Array(n * d);
    e[i] = eps;
    const [hp, hm] = tf.tidy(() => [h(tf.add(xt, tf.tensor2d(e, [n, d]))).dataSync()[0], h(tf.sub(xt, tf.tensor2d(e, [n, d]))).dataSync()[0]]);
    const fd = (hp - hm) / (2 * eps);
    worst = Math.max(worst, Math.abs(fd - dbl[i]));
    scale = Math.max(scale, Math.abs(fd));
  }
  t.true(scale > 1e-3, 'the curvature term is not trivially zero');
  t.true(worst <= 0.02 * scale, `double backprop differs from finite differences by ${worst} (scale ${scale})`);
  tf.dispose([targets, xt]);
  model.dispose();
});

test('local Lipschitz probe: double backprop on dense/relu models, finite differences where second derivatives are missing (max pooling)', (t) => {
  const rng = new Rng(4);
  const bounds = { lo: 0, hi: 1 };
  const mlp = smallModel({ arch: 'mlp', hidden: [16] }, [6], 3, 2);
  const x = uniformRows(20, 6, bounds, rng, 0.1);
  const y = randomLabels(20, 3, rng);
  const r = localLipschitz(mlp.f, x, y, [6], 3, bounds, 0.1, 'linf', { steps: 5 });
  t.log(`agreement ${r.agreement}`);
  t.is(r.method, 'double-backprop');
  t.true(r.agreement >= 0.9);
  for (let i = 0; i < 20; i++) t.true(r.max[i] >= r.atPoint[i] - 1e-6);
  t.true(
    r.max.some((v, i) => v > r.atPoint[i] * 1.001),
    'the ascent finds larger gradient norms somewhere',
  );
  const zero = localLipschitz(mlp.f, x, y, [6], 3, bounds, 0, 'linf', { steps: 3 });
  for (let i = 0; i < 20; i++) t.true(Math.abs(zero.max[i] - zero.atPoint[i]) <= 1e-6 * (1 + zero.atPoint[i]));
  const forced = localLipschitz(mlp.f, x, y, [6], 3, bounds, 0.1, 'linf', { steps: 5, method: 'finite-difference' });
  t.is(forced.method, 'finite-difference');
  // Both ascents climb; they need not find identical points.
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  t.true(Math.abs(mean(forced.max) - mean(r.max)) <= 0.1 * mean(r.max));

  const cnn = smallModel({ arch: 'cnn', filters: [2, 3], kernelSize: 3 }, [8, 8, 1], 3, 3);
  const xi = uniformRows(6, 64, bounds, rng, 0.1);
  const yi = randomLabels(6, 3, rng);
  const rc = localLipschitz(cnn.f, xi, yi, [8, 8, 1], 3, bounds, 0.1, 'l2', { steps: 3 });
  t.is(rc.method, 'finite-difference');
  for (let i = 0; i < 6; i++) t.true(rc.max[i] >= rc.atPoint[i] - 1e-6);
  mlp.model.dispose();
  cnn.model.dispose();
});

test('first-order margins are exact for a linear model: FGSM just beyond the margin flips the prediction, just inside it does not', (t) => {
  const rng = new Rng(6);
  const d = 5;
  const n = 40;
  const bounds = { lo: -100, hi: 100 };
  const { model, f } = smallModel({ arch: 'linear' }, [d], 2, 4);
  const x = uniformRows(n, d, { lo: -1, hi: 1 }, rng);
  const logits = tf.tidy(() => f(tf.tensor2d(x, [n, d]))).dataSync();
  // Label every point with the model's own prediction: all correctly classified.
  const y = Int32Array.from({ length: n }, (_, i) => (logits[2 * i + 1] > logits[2 * i] ? 1 : 0));
  const m = margins(f, x, y, [d], 2, 'linf');
  const fgsm = new FgsmAttack();
  const xt = tf.tensor2d(x, [n, d]);
  let checked = 0;
  for (let i = 0; i < n; i++) {
    t.true(m.logit[i] >= 0);
    t.is(m.closestClass[i], 1 - y[i]);
  }
  for (const [scale, flips] of [
    [0.98, false],
    [1.02, true],
  ] as const) {
    for (let i = 0; i < n; i++) {
      if (m.firstOrder[i] < 1e-3) continue;
      const row = tf.tensor2d(x.subarray(i * d, i * d + d), [1, d]);
      const out = fgsm.run(f, row, y.subarray(i, i + 1), bounds, m.firstOrder[i] * scale, new Rng(0));
      t.is(out.success[0] === 1, flips, `row ${i} at ${scale} x margin`);
      out.xAdv.dispose();
      row.dispose();
      checked++;
    }
  }
  t.true(checked > n);
  xt.dispose();
  model.dispose();
});

test('logits, loss and gradient come from one pass and match separate computations', (t) => {
  const rng = new Rng(1);
  const { model, f } = smallModel({ arch: 'mlp', hidden: [7] }, [3], 2, 1);
  const x = tf.tensor2d(uniformRows(5, 3, { lo: 0, hi: 1 }, rng), [5, 3]);
  const tg = tf.oneHot(tf.tensor1d([0, 1, 1, 0, 1], 'int32'), 2).toFloat() as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const r = logitsLossAndGradient(f, x, tg);
  t.is(tf.memory().numTensors, before + 3);
  const z = tf.tidy(() => f(x));
  t.deepEqual(Array.from(r.logits.dataSync()), Array.from(z.dataSync()));
  tf.dispose([r.logits, r.loss, r.grad, z, x, tg]);
  model.dispose();
});
