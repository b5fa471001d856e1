import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { FgmAttack } from '../../attacks/fgm';
import { FgsmAttack } from '../../attacks/fgsm';
import { Rng } from '../../data/rng';
import { initBackend } from '../../backend/select';
import { linearClosedForm, linearWeights, randomLabels, smallModel, uniformRows } from './helpers';

test.before(async () => {
  await initBackend('wasm');
});

const bounds = { lo: 0, hi: 1 };
const d = 6;
const k = 4;
const n = 32;

function setup(seed: number) {
  const rng = new Rng(seed);
  const { model, f } = smallModel({ arch: 'linear' }, [d], k, seed);
  // Scale the weights up so gradients are far from zero and signs are unambiguous.
  model.setWeights(model.getWeights().map((w) => tf.mul(w, 3)));
  const x = uniformRows(n, d, bounds, rng);
  const y = randomLabels(n, k, rng);
  return { model, f, x, y, ...linearWeights(model) };
}

test('FGSM on a linear model equals x + eps * sign(W (softmax - y)) clipped, and raises every loss', (t) => {
  const { model, f, x, y, W, b } = setup(1);
  const eps = 0.15;
  const xt = tf.tensor2d(x, [n, d]);
  const out = new FgsmAttack().run(f, xt, y, bounds, eps, new Rng(0));
  const adv = out.xAdv.dataSync();
  let checked = 0;
  for (let r = 0; r < n; r++) {
    const row = x.subarray(r * d, r * d + d);
    const { loss, grad } = linearClosedForm(W, b, d, k, row, y[r]);
    for (let i = 0; i < d; i++) {
      if (Math.abs(grad[i]) < 1e-4) continue; // sign of a float32 near-zero is not defined by the closed form
      const expected = Math.min(bounds.hi, Math.max(bounds.lo, row[i] + eps * Math.sign(grad[i])));
      t.true(Math.abs(adv[r * d + i] - expected) < 1e-6, `row ${r} input ${i}: ${adv[r * d + i]} vs ${expected}`);
      checked++;
    }
    // A sign flip would lower the loss; the attack must raise it (linear model: CE convex in x).
    t.true(out.loss[r] > loss, `row ${r}: loss ${out.loss[r]} not above clean ${loss}`);
    const advRow = adv.subarray(r * d, r * d + d);
    t.true(Math.abs(linearClosedForm(W, b, d, k, advRow, y[r]).loss - out.loss[r]) < 1e-4);
  }
  t.true(checked > n * d * 0.9);
  out.xAdv.dispose();
  xt.dispose();
  model.dispose();
});

test('FGM (L2) on a linear model equals x + eps * g / ||g||_2 before clipping and raises the loss', (t) => {
  const { model, f, x, y, W, b } = setup(2);
  const eps = 0.2;
  // Inputs away from the bounds so that no coordinate is clipped.
  const inner = x.map((v) => 0.3 + 0.4 * v);
  const xt = tf.tensor2d(inner, [n, d]);
  const out = new FgmAttack().run(f, xt, y, bounds, eps, new Rng(0));
  const adv = out.xAdv.dataSync();
  for (let r = 0; r < n; r++) {
    const row = inner.subarray(r * d, r * d + d);
    const { loss, grad } = linearClosedForm(W, b, d, k, row, y[r]);
    const norm = Math.sqrt(grad.reduce((a, v) => a + v * v, 0));
    for (let i = 0; i < d; i++) t.true(Math.abs(adv[r * d + i] - (row[i] + (eps * grad[i]) / norm)) < 1e-5);
    t.true(out.loss[r] > loss);
  }
  out.xAdv.dispose();
  xt.dispose();
  model.dispose();
});

test('targeted FGSM lowers the loss of the target class and reports success against the target', (t) => {
  const { model, f, x, y, W, b } = setup(3);
  const targets = Int32Array.from(y, (v) => (v + 1) % k);
  const xt = tf.tensor2d(x, [n, d]);
  const out = new FgsmAttack().run(f, xt, y, bounds, 0.3, new Rng(0), { targets });
  const adv = out.xAdv.dataSync();
  let lowered = 0;
  for (let r = 0; r < n; r++) {
    const before = linearClosedForm(W, b, d, k, x.subarray(r * d, r * d + d), targets[r]).loss;
    const after = linearClosedForm(W, b, d, k, adv.subarray(r * d, r * d + d), targets[r]).loss;
    if (after < before) lowered++;
    t.is(out.success[r], out.pred[r] === targets[r] ? 1 : 0);
  }
  t.is(lowered, n);
  out.xAdv.dispose();
  xt.dispose();
  model.dispose();
});

test('eps = 0 returns the inputs unchanged', (t) => {
  const { model, f, x, y } = setup(4);
  const xt = tf.tensor2d(x, [n, d]);
  const out = new FgsmAttack().run(f, xt, y, bounds, 0, new Rng(0));
  t.deepEqual(Array.from(out.xAdv.dataSync()), Array.from(x));
  out.xAdv.dispose();
  xt.dispose();
  model.dispose();
});
