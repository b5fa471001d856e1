import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import type { LayersModelLike } from '../../backend/onnx/compile';
import { engineClassifier, engineTrainClassifier, releaseOnnxModel } from '../../backend/onnx/engine';
import { maxRel } from '../../backend/onnx/check';
import { checkBatchIndependence } from '../../eval/sanity';
import { buildModel, ModelSpec } from '../../models/build';

/**
 * ResNets on the onnx engine against tfjs cpu: inference-mode logits and
 * input gradients (BatchNorm on its moving statistics), one training step's
 * weight gradients (BatchNorm on the batch's statistics, gamma and beta
 * included), the moving statistics after training steps, and logits that do
 * not depend on the rest of the batch.
 */

test.before(async () => {
  await initBackend('cpu');
});

const SHAPE = [8, 8, 3];
const K = 5;

const CASES: [string, ModelSpec][] = [
  ['resnet-8 width 4', { arch: 'resnet', depth: 8, width: 4 }],
  ['resnet-20 width 2', { arch: 'resnet', depth: 20, width: 2 }],
  ['preact-resnet-18 width 4', { arch: 'preact-resnet', depth: 18, width: 4 }],
];

/** A ResNet whose BatchNorm layers have random gamma, beta and moving statistics (fresh ones are 1, 0, 0, 1: too easy to match). */
function model(spec: ModelSpec, seed: number): tf.LayersModel {
  const m = buildModel(spec, SHAPE, K, seed);
  let s = seed * 100;
  for (const l of m.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const c = l.getWeights()[0].shape;
    l.setWeights([
      tf.randomUniform(c, 0.5, 1.5, 'float32', ++s),
      tf.randomNormal(c, 0, 0.2, 'float32', ++s),
      tf.randomNormal(c, 0, 0.2, 'float32', ++s),
      tf.randomUniform(c, 0.5, 1.5, 'float32', ++s),
    ]);
  }
  return m;
}

const movingStats = (m: tf.LayersModel): Float32Array[] =>
  m.layers
    .filter((l) => l.getClassName() === 'BatchNormalization')
    .flatMap((l) =>
      l
        .getWeights()
        .slice(2)
        .map((w) => w.dataSync() as Float32Array),
    );

for (const [name, spec] of CASES) {
  test.serial(`${name}: inference logits and input gradients equal tfjs cpu's, and do not depend on the batch`, (t) => {
    const m = model(spec, 3);
    const like = m as unknown as LayersModelLike;
    const f = engineClassifier(like);
    const x = tf.randomUniform([7, ...SHAPE], 0, 1, 'float32', 5);
    const dy = tf.randomNormal([7, K], 0, 1, 'float32', 6);
    const ref = m.predict(x) as tf.Tensor;
    const got = f(x);
    t.true(maxRel(got.dataSync(), ref.dataSync()) <= 1e-4, `logits ${maxRel(got.dataSync(), ref.dataSync())}`);
    const dxRef = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(m.apply(v) as tf.Tensor, dy)))(x);
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), dy)))(x);
    t.true(maxRel(dx.dataSync(), dxRef.dataSync()) <= 1e-4, `dx ${maxRel(dx.dataSync(), dxRef.dataSync())}`);
    // Example 2 alone and in its batch of 7: the same logits (moving statistics, not the batch's).
    const alone = f(tf.slice(x, [2], [1])).dataSync();
    const inBatch = got.dataSync().slice(2 * K, 3 * K);
    t.true(
      alone.every((v, i) => Math.abs(v - inBatch[i]) <= 1e-6 * Math.max(1, Math.abs(v))),
      `alone ${Array.from(alone)} vs in batch ${Array.from(inBatch)}`,
    );
    // The run's sanity check (logits in batches of n, n/3 and 1) flags nothing.
    t.deepEqual(checkBatchIndependence(f, x.dataSync() as Float32Array, SHAPE), []);
    tf.dispose([x, dy, ref, got, dxRef, dx]);
    releaseOnnxModel(like);
    m.dispose();
  });

  test.serial(`${name}: a training step's weight gradients (BatchNorm gamma and beta included) and moving statistics equal tfjs cpu's`, (t) => {
    const m = model(spec, 4);
    const like = m as unknown as LayersModelLike;
    const init = m.getWeights().map((w) => w.clone());
    const trainable = m.trainableWeights.map((w) => w.read() as tf.Variable);
    t.true(
      m.layers.some((l) => l.getClassName() === 'BatchNormalization' && l.trainableWeights.length === 2),
      'gamma and beta are trainable',
    );
    const batches = [0, 1, 2].map((i) => ({ x: tf.randomUniform([6, ...SHAPE], 0, 1, 'float32', 10 + i), y: tf.oneHot(tf.tensor1d([i, 1, 2, 3, 4, i + 1], 'int32'), K) }));
    const lossWith = (forward: (x: tf.Tensor) => tf.Tensor, b: { x: tf.Tensor; y: tf.Tensor }) => () => tf.losses.softmaxCrossEntropy(b.y, forward(b.x)) as tf.Scalar;
    /** k SGD steps from the initial weights; the first step's gradients, the moving statistics after each step */
    const run = (forward: (x: tf.Tensor) => tf.Tensor) => {
      m.setWeights(init);
      const opt = tf.train.sgd(0.1);
      const first = tf.variableGrads(lossWith(forward, batches[0]), trainable).grads;
      const firstGrads = trainable.map((v) => first[v.name].dataSync() as Float32Array);
      const afterFirst = movingStats(m);
      tf.dispose(first);
      m.setWeights(init);
      for (const b of batches) opt.minimize(lossWith(forward, b), false, trainable); // as models/train.ts: the frozen shortcut stays
      opt.dispose();
      return { firstGrads, afterFirst, afterAll: movingStats(m) };
    };
    const ref = run((x) => m.apply(x, { training: true }) as tf.Tensor);
    const got = run(engineTrainClassifier(like));
    t.is(got.firstGrads.length, trainable.length);
    got.firstGrads.forEach((g, i) => t.true(maxRel(g, ref.firstGrads[i]) <= 1e-4, `${trainable[i].name}: ${maxRel(g, ref.firstGrads[i])}`));
    const close = (a: Float32Array[], b: Float32Array[], what: string) =>
      a.forEach((v, i) =>
        t.true(
          v.every((e, j) => Math.abs(e - b[i][j]) <= 1e-5 * Math.max(1, Math.abs(b[i][j]))),
          `${what} ${i}: ${maxRel(v, b[i])}`,
        ),
      );
    close(got.afterFirst, ref.afterFirst, 'moving statistic after one step');
    close(got.afterAll, ref.afterAll, 'moving statistic after three steps');
    // The statistics moved (the check above compares updates, not two unchanged copies).
    t.true(maxRel(ref.afterAll[0], init[m.weights.findIndex((w) => w.originalName.endsWith('moving_mean'))].dataSync()) > 1e-3);
    tf.dispose([...init, ...batches.flatMap((b) => [b.x, b.y])]);
    releaseOnnxModel(like);
    m.dispose();
  });
}
