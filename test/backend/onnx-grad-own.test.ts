import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { compileModel, LayersModelLike, Mode } from '../../backend/onnx/compile';
import { differentiateCompiled } from '../../backend/onnx/grad/own-model';
import { OrtData, SyncSession } from '../../backend/onnx/runtime';
import { maxRel } from '../../backend/onnx/check';
import { buildModel, ModelSpec } from '../../models/build';

/**
 * vicinal's own models compiled to a forward graph and differentiated by the
 * graph differentiator (what the onnx engine runs) give tfjs cpu's logits,
 * input gradient and weight gradients of sum(dy * logits), in the combined
 * graph, in its save + backward split, and (input mode) with the weights
 * baked in as initializers.
 */

test.before(async () => {
  await initBackend('cpu');
});

const CASES: [string, ModelSpec, number[]][] = [
  ['mlp', { arch: 'mlp', hidden: [32, 16] }, [28, 28, 1]],
  ['cnn', { arch: 'cnn', filters: [8, 16], kernelSize: 3 }, [28, 28, 1]],
  ['cnn on rgb', { arch: 'cnn', filters: [4, 8], kernelSize: 5 }, [16, 16, 3]],
];

type Feeds = Record<string, [OrtData, number[]]>;

for (const [name, spec, shape] of CASES) {
  for (const mode of ['input', 'train'] as Mode[]) {
    test(`${name}, ${mode} mode: the differentiated forward graph gives tfjs cpu's gradients`, (t) => {
      const model = buildModel(spec, shape, 10, 7);
      const compiled = compileModel(model as unknown as LayersModelLike);
      const n = 5;
      const xt = tf.randomUniform([n, ...shape], 0, 1, 'float32', 3);
      const dyt = tf.randomNormal([n, 10], 0, 1, 'float32', 4);
      const x = xt.dataSync() as Float32Array;
      const dy = dyt.dataSync() as Float32Array;
      const weights: Feeds = {};
      const weightData = compiled.weights.map((w) => model.layers[w.layerIndex].getWeights()[w.weightIndex].dataSync() as Float32Array);
      compiled.weights.forEach((w, i) => {
        weights[w.name] = [weightData[i], w.shape];
      });
      // tfjs cpu reference: logits, dx, and every weight gradient of sum(dy * logits)
      const logitsRef = tf.tidy(() => (model.predict(xt) as tf.Tensor).dataSync() as Float32Array);
      const dxRef = tf.tidy(
        () =>
          tf
            .grad((v: tf.Tensor) => tf.sum(tf.mul(model.apply(v) as tf.Tensor, dyt)))(xt)
            .dataSync() as Float32Array,
      );
      const dwRef = tf.tidy(() => {
        const vars = compiled.weights.map((w) => model.layers[w.layerIndex].weights[w.weightIndex].read() as tf.Variable);
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(model.apply(xt) as tf.Tensor, dyt)) as tf.Scalar, vars);
        return vars.map((v) => grads[v.name].dataSync() as Float32Array);
      });
      const want = (g: string): Float32Array => (mode === 'input' ? dxRef : dwRef[compiled.weights.findIndex((w) => w.name === g.replace(/^grad_/, ''))]);
      const d = differentiateCompiled(compiled, mode);
      const both = new SyncSession(d.model);
      const save = new SyncSession(d.split.save);
      const back = new SyncSession(d.split.backward);
      try {
        const got = both.run({ x: [x, [n, ...shape]], ...weights, dy: [dy, [n, 10]] });
        t.true(maxRel(got.logits.data as Float32Array, logitsRef) <= 1e-5, 'logits');
        const saved = save.run({ x: [x, [n, ...shape]], ...weights });
        const residuals: Feeds = {};
        for (const r of d.split.residuals) residuals[r] = [saved[r].data, saved[r].dims];
        const split = back.run({ ...residuals, x: [x, [n, ...shape]], ...weights, dy: [dy, [n, 10]] });
        t.deepEqual(Array.from(saved.logits.data as Float32Array), Array.from(got.logits.data as Float32Array));
        for (const g of Object.values(d.gradients)) {
          t.true(maxRel(got[g].data as Float32Array, want(g)) <= 1e-4, `${g}: combined vs tfjs ${maxRel(got[g].data as Float32Array, want(g)).toExponential(2)}`);
          t.true(maxRel(split[g].data as Float32Array, got[g].data as Float32Array) <= 1e-6, `${g}: split vs combined`);
        }
        if (mode === 'input') {
          const baked = differentiateCompiled(compiled, mode, weightData);
          const bs = new SyncSession(baked.split.save);
          const bb = new SyncSession(baked.split.backward);
          const o = bs.run({ x: [x, [n, ...shape]] });
          const rf: Feeds = {};
          for (const r of baked.split.residuals) rf[r] = [o[r].data, o[r].dims];
          const bo = bb.run({ ...rf, x: [x, [n, ...shape]], dy: [dy, [n, 10]] });
          bs.dispose();
          bb.dispose();
          t.true(maxRel(bo[baked.gradients.x].data as Float32Array, dxRef) <= 1e-4, 'baked split dx');
          // Baked kernels are folded into the backward graph, not passed as residuals.
          t.false(
            baked.split.residuals.some((r) => o[r].dims.length === 4 && !(o[r].data instanceof Uint8Array) && o[r].dims[0] !== n),
            'no kernel-shaped residual',
          );
        }
      } finally {
        both.dispose();
        save.dispose();
        back.dispose();
        tf.dispose([xt, dyt]);
        model.dispose();
      }
    });
  }
}
