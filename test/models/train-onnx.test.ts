/**
 * Training through the onnx engine (models/train.ts's gradient step): its
 * weight gradients against the tfjs cpu backend, its trained accuracy against
 * wasm training, and its determinism. No timings are asserted.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { onnxModelFor, releaseOnnxModel } from '../../backend/onnx/engine';
import { LayersModelLike } from '../../backend/onnx/compile';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { buildModel, ModelSpec } from '../../models/build';
import { crossEntropy } from '../../models/loss';
import { erm } from '../../models/schemes/erm';
import { mixup } from '../../models/schemes/mixup';
import { trainingForward, trainModel } from '../../models/train';
import { onCpu } from '../backend/on-cpu';
import { maxRel } from '../../backend/onnx/check';

const like = (m: tf.LayersModel) => m as unknown as LayersModelLike;
const MLP: ModelSpec = { arch: 'mlp', hidden: [256, 256] };
const CNN: ModelSpec = { arch: 'cnn', filters: [16, 32] };

let mnist: Dataset;

test.before(async () => {
  const info = await initBackend('onnx');
  if (info.name !== 'onnx') throw new Error(`expected the onnx engine, got ${info.name}`);
  mnist = loadDataset({ name: 'mnist' });
});

/** n MNIST training digits with soft (mixed) targets, as a mixup batch has. */
function softBatch(n: number): { x: tf.Tensor; targets: tf.Tensor2D } {
  const x = tf.tensor(mnist.train.x.slice(0, n * 784), [n, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(Array.from(mnist.train.y.slice(0, n)), 'int32'), 10).toFloat();
  const yRolled = tf.concat([y.slice([1, 0], [n - 1, 10]), y.slice([0, 0], [1, 10])]);
  const targets = tf.add(tf.mul(y, 0.7), tf.mul(yRolled, 0.3)) as tf.Tensor2D;
  y.dispose();
  yRolled.dispose();
  return { x, targets };
}

/** The gradient step's weight gradients: trainModel's forward, soft-target CE on the logits. */
function stepGrads(model: tf.LayersModel, x: tf.Tensor, targets: tf.Tensor2D): Map<string, Float32Array> {
  const forward = trainingForward(model);
  const { grads, value } = tf.variableGrads(
    () => crossEntropy(forward(x), targets),
    model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) {
    out.set(k, g.dataSync() as Float32Array);
    g.dispose();
  }
  value.dispose();
  return out;
}

// The CNN's batch is small because the cpu backend's conv gradients take over 1 s per digit on a busy 2-core machine.
for (const [name, spec, n] of [
  ['MLP 784-256-256-10', MLP, 64],
  ['CNN conv16-pool-conv32-pool-dense', CNN, 4],
] as const) {
  test.serial(`MNIST ${name}, batch ${n}: one gradient step's weight gradients on the engine equal the tfjs cpu path's (<= 1e-4 relative), and so does the SGD step trainModel takes`, async (t) => {
    const model = buildModel(spec, [28, 28, 1], 10, 3);
    const { x, targets } = softBatch(n);
    const runsBefore = onnxModelFor(like(model)).runs;
    const engine = stepGrads(model, x, targets);
    t.is(onnxModelFor(like(model)).runs - runsBefore, 2, 'one save-forward and one backward run in ORT');
    const cpu = await onCpu(() => stepGrads(model, x, targets));
    t.is(engine.size, model.trainableWeights.length);
    t.deepEqual([...engine.keys()].sort(), [...cpu.keys()].sort());
    for (const [k, ref] of cpu) {
      const e = maxRel(engine.get(k) as Float32Array, ref);
      t.log(`${k}: max rel err ${e.toExponential(2)}`);
      t.true(e <= 1e-4, `${k}: ${e}`);
      t.true(
        ref.some((v) => v !== 0),
        `${k}: the reference gradient is not all zero`,
      );
    }
    // trainModel itself: one SGD step (momentum 0) from the same weights; the update is -lr * gradient
    const start = model.getWeights().map((w) => w.clone());
    const ds: Dataset = { ...mnist, train: { x: mnist.train.x.slice(0, n * 784), y: mnist.train.y.slice(0, n), n }, test: { x: mnist.test.x.slice(0, 10 * 784), y: mnist.test.y.slice(0, 10), n: 10 } };
    const cfg = { optimizer: 'sgd' as const, learningRate: 0.1, momentum: 0, batchSize: n, epochs: 1, seed: 0 };
    const step = (): Float32Array[] => {
      model.setWeights(start);
      trainModel(model, ds, erm({}, ds, new Rng(0)), cfg);
      return model.getWeights().map((w, i) => tf.sub(w, start[i]).dataSync() as Float32Array);
    };
    const r0 = onnxModelFor(like(model)).runs;
    const dEngine = step();
    t.true(onnxModelFor(like(model)).runs - r0 >= 2, 'trainModel ran its step in ORT');
    const dCpu = await onCpu(step);
    dCpu.forEach((ref, i) => {
      const e = maxRel(dEngine[i], ref);
      t.true(e <= 1e-4, `update of weight ${i}: ${e}`);
      t.true(ref.some((v) => v !== 0));
    });
    tf.dispose(start);
    x.dispose();
    targets.dispose();
    releaseOnnxModel(like(model));
    model.dispose();
  });
}

/** Trains a fresh seeded model; returns its final test accuracy and weights. */
function train(spec: ModelSpec, ds: Dataset, epochs: number, scheme: 'erm' | 'mixup') {
  const model = buildModel(spec, ds.inputShape, ds.numClasses, 0);
  const s = scheme === 'erm' ? erm({}, ds, new Rng(0)) : mixup({ alpha: 1 }, ds, new Rng(0));
  const h = trainModel(model, ds, s, { optimizer: 'adam', learningRate: 1e-3, batchSize: 64, epochs, seed: 0, evalEveryEpoch: false });
  const weights = model.getWeights().map((w) => Array.from(w.dataSync()));
  const runs = onnxModelFor(like(model)).runs;
  releaseOnnxModel(like(model));
  model.dispose();
  return { acc: h[h.length - 1].testAccuracy, loss: h[h.length - 1].loss, weights, runs };
}

test.serial('seeded ERM training on the engine reaches the test accuracy of wasm training within 0.5 points (MNIST MLP, 8000 digits, 3 epochs)', async (t) => {
  const engine = train(MLP, mnist, 3, 'erm');
  t.true(engine.runs > 3 * 125, 'the steps ran in ORT');
  const info = await initBackend('wasm');
  t.is(info.name, 'wasm');
  let wasm: ReturnType<typeof train>;
  try {
    wasm = train(MLP, mnist, 3, 'erm');
  } finally {
    await initBackend('onnx');
  }
  t.log(`test accuracy: engine ${engine.acc}, wasm ${wasm.acc}; last-epoch loss: engine ${engine.loss}, wasm ${wasm.loss}`);
  t.true(engine.acc > 0.9, 'it learned');
  t.true(Math.abs(engine.acc - wasm.acc) <= 0.005);
});

test.serial('same seed, same result: two seeded mixup runs on the engine give identical weights (MNIST CNN, 1000 digits, 1 epoch)', (t) => {
  const ds: Dataset = {
    ...mnist,
    train: { x: mnist.train.x.slice(0, 1000 * 784), y: mnist.train.y.slice(0, 1000), n: 1000 },
    test: { x: mnist.test.x.slice(0, 200 * 784), y: mnist.test.y.slice(0, 200), n: 200 },
  };
  const a = train(CNN, ds, 1, 'mixup');
  const b = train(CNN, ds, 1, 'mixup');
  t.true(a.runs > 0, 'the steps ran in ORT');
  t.deepEqual(a.weights, b.weights);
  t.is(a.loss, b.loss);
  const fresh = buildModel(CNN, ds.inputShape, ds.numClasses, 0);
  t.notDeepEqual(
    a.weights,
    fresh.getWeights().map((w) => Array.from(w.dataSync())),
    'training moved the weights',
  );
  fresh.dispose();
});
