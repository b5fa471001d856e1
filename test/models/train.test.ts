import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { crossEntropy } from '../../models/loss';
import { crossEntropyPerExample } from '../../attacks/losses';
import { erm } from '../../models/schemes/erm';
import { DivergedError, trainModel } from '../../models/train';
import { initBackend } from '../../backend/select';

test.before(async () => {
  await initBackend('wasm');
});

test('soft-target cross-entropy matches its closed form and its gradient is softmax - target', (t) => {
  const z = tf.tensor2d([
    [1, 2, 0.5],
    [-1, 0, 3],
  ]);
  const y = tf.tensor2d([
    [0.2, 0.8, 0],
    [0, 0, 1],
  ]);
  const p = tf.softmax(z).arraySync() as number[][];
  const expected = [-(0.2 * Math.log(p[0][0]) + 0.8 * Math.log(p[0][1])), -Math.log(p[1][2])];
  const got = crossEntropyPerExample(z, y).arraySync();
  expected.forEach((e, i) => t.true(Math.abs(got[i] - e) < 1e-5));
  const g = tf
    .grad((zz: tf.Tensor) => crossEntropy(zz as tf.Tensor2D, y))(z)
    .arraySync() as number[][];
  const want = tf.div(tf.sub(tf.softmax(z), y), 2).arraySync() as number[][];
  g.forEach((row, i) => row.forEach((v, j) => t.true(Math.abs(v - want[i][j]) < 1e-6)));
});

test('ERM MLP on two-moons (noise 0.1) reaches >= 97% test accuracy', (t) => {
  const ds = loadDataset({ name: 'moons', nTrain: 1000, nTest: 1000, noise: 0.1 });
  const m = buildModel({ arch: 'mlp', hidden: [64, 64] }, ds.inputShape, 2, 0);
  const h = trainModel(m, ds, erm({}, ds, new Rng(0)), { learningRate: 0.01, batchSize: 64, epochs: 30, seed: 0, evalEveryEpoch: false });
  t.log(`moons test accuracy ${h[h.length - 1].testAccuracy}`);
  t.true(h[h.length - 1].testAccuracy >= 0.97);
});

test('training is seeded: same seed, same weights; another seed, other weights', (t) => {
  const ds = loadDataset({ name: 'moons', nTrain: 200, nTest: 50 });
  const run = (seed: number, optimizer: 'adam' | 'sgd') => {
    const m = buildModel({ arch: 'mlp', hidden: [16] }, ds.inputShape, 2, seed);
    const h = trainModel(m, ds, erm({}, ds, new Rng(seed)), { optimizer, epochs: 3, batchSize: 32, seed });
    return { w: m.getWeights().map((w) => Array.from(w.dataSync())), h };
  };
  for (const opt of ['adam', 'sgd'] as const) {
    const a = run(1, opt);
    const b = run(1, opt);
    t.deepEqual(a.w, b.w);
    t.deepEqual(
      a.h.map((r) => r.loss),
      b.h.map((r) => r.loss),
    );
    t.notDeepEqual(a.w, run(2, opt).w);
  }
});

test('a diverging run stops with an error naming the epoch', (t) => {
  const ds = loadDataset({ name: 'moons', nTrain: 200, nTest: 50 });
  const m = buildModel({ arch: 'mlp', hidden: [32, 32] }, ds.inputShape, 2, 0);
  const e = t.throws(() => trainModel(m, ds, erm({}, ds, new Rng(0)), { optimizer: 'sgd', learningRate: 1e6, momentum: 0.9, epochs: 20, seed: 0 }), {
    instanceOf: DivergedError,
  });
  t.regex(e?.message ?? '', /training diverged in epoch \d+: mean loss is (NaN|Infinity)/);
});

test('no tensor leaks: tensor count is the same after 1 and after 10 epochs', (t) => {
  const ds = loadDataset({ name: 'moons', nTrain: 256, nTest: 64 });
  const m = buildModel({ arch: 'mlp', hidden: [16] }, ds.inputShape, 2, 0);
  const before = tf.memory().numTensors;
  trainModel(m, ds, erm({}, ds, new Rng(0)), { epochs: 1, seed: 0 });
  const after1 = tf.memory().numTensors;
  trainModel(m, ds, erm({}, ds, new Rng(0)), { epochs: 10, seed: 0 });
  t.is(tf.memory().numTensors, after1);
  t.is(after1, before);
});

test('bad training settings are rejected with the field named', (t) => {
  const ds = loadDataset({ name: 'moons', nTrain: 20, nTest: 10 });
  const m = buildModel({ arch: 'linear' }, ds.inputShape, 2, 0);
  const s = erm({}, ds, new Rng(0));
  t.throws(() => trainModel(m, ds, s, { learningRate: 0 }), { message: /learningRate must be > 0/ });
  t.throws(() => trainModel(m, ds, s, { batchSize: 1.5 }), { message: /batchSize must be an integer/ });
  t.throws(() => trainModel(m, ds, s, { optimizer: 'rmsprop' as 'adam' }), { message: /unknown optimizer "rmsprop"; allowed: adam, sgd/ });
});
