/**
 * Attack-mode sessions with the weights baked in (backend/onnx/engine.ts):
 * after BAKE_AFTER calls with unchanged weights the engine switches to graphs
 * holding the weights as initializers; their logits and input gradients must
 * still equal the tfjs cpu backend's, and any weight change must drop them.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { BAKE_AFTER, engineClassifier, onnxModelFor, releaseOnnxModel } from '../../backend/onnx/engine';
import { buildModel, ModelSpec } from '../../models/build';
import { onCpu } from './on-cpu';
import { maxRel } from '../../backend/onnx/check';
import { requireOnnxEngine, like } from './engine-setup';

test.before(requireOnnxEngine);

/** Logits and the input gradient of sum(logits * r). */
function logitsAndDx(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, r: tf.Tensor) {
  const logits = tf.tidy(() => f(x)).dataSync() as Float32Array;
  const dx = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(f(v), r)))(x)).dataSync() as Float32Array;
  return { logits, dx };
}

const SPECS: [string, ModelSpec][] = [
  ['MNIST CNN', { arch: 'cnn', filters: [16, 32] }],
  ['MNIST MLP', { arch: 'mlp', hidden: [256, 256] }],
];
for (const [name, spec] of SPECS) {
  test.serial(`${name}: baked attack-mode sessions give the cpu logits and input gradient (<= 1e-4), and a weight change drops them`, async (t) => {
    const model = buildModel(spec, [28, 28, 1], 10, 5);
    const m = onnxModelFor(like(model));
    const f = engineClassifier(like(model));
    const x = tf.randomUniform([6, 28, 28, 1], 0, 1, 'float32', 1);
    const r = tf.randomNormal([6, 10], 0, 1, 'float32', 2);
    const check = async (what: string) => {
      const ref = await onCpu(() => logitsAndDx((v) => model.apply(v, { training: false }) as tf.Tensor, x, r));
      const got = logitsAndDx(f, x, r);
      const el = maxRel(got.logits, ref.logits);
      const ed = maxRel(got.dx, ref.dx);
      t.log(`${what}: logits ${el.toExponential(2)}, dx ${ed.toExponential(2)}`);
      t.true(el <= 1e-4 && ed <= 1e-4, `${what}: logits ${el}, dx ${ed}`);
    };
    // weights as inputs first; once stable for BAKE_AFTER calls, baked
    for (let i = 0; i < BAKE_AFTER; i++) logitsAndDx(f, x, r);
    t.true(m.bakedRuns > 0, 'the stable weights were baked in');
    const sessionsBaked = m.sessionCount;
    const b0 = m.bakedRuns;
    await check('baked');
    t.true(m.bakedRuns > b0, 'the compared call ran on the baked sessions');
    // a weight change: the baked sessions go and the result follows the new weights at once
    model.setWeights(model.getWeights().map((w) => tf.mul(w, -0.5)));
    const b1 = m.bakedRuns;
    await check('after setWeights');
    t.is(m.bakedRuns, b1, 'the first calls after a change use the weights-as-inputs graphs');
    t.true(m.sessionCount < sessionsBaked, 'the baked sessions were released');
    for (let i = 0; i < BAKE_AFTER; i++) logitsAndDx(f, x, r);
    const b2 = m.bakedRuns;
    await check('baked again after the change');
    t.true(m.bakedRuns > b2);
    x.dispose();
    r.dispose();
    releaseOnnxModel(like(model));
    model.dispose();
  });
}
