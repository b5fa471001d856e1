import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { compileModel, LayersModelLike, Mode } from '../../backend/onnx/compile';
import { differentiateCompiled } from '../../backend/onnx/grad/own-model';
import { OrtData, SyncSession } from '../../backend/onnx/runtime';
import { buildModel, ModelSpec } from '../../models/build';

/**
 * vicinal's own models compiled to a forward graph and differentiated by the
 * graph differentiator give the same input and weight gradients as the
 * compiler's hand-written backward (save + backward graphs), and the same
 * logits as its forward.
 */

test.before(async () => {
  await initBackend('cpu');
});

const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let e = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return e / m;
};

const CASES: [string, ModelSpec, number[]][] = [
  ['mlp', { arch: 'mlp', hidden: [32, 16] }, [28, 28, 1]],
  ['cnn', { arch: 'cnn', filters: [8, 16], kernelSize: 3 }, [28, 28, 1]],
  ['cnn on rgb', { arch: 'cnn', filters: [4, 8], kernelSize: 5 }, [16, 16, 3]],
];

for (const [name, spec, shape] of CASES) {
  for (const mode of ['input', 'train'] as Mode[]) {
    test(`${name}, ${mode} mode: the differentiated forward graph equals the hand-written backward`, (t) => {
      const model = buildModel(spec, shape, 10, 7);
      const compiled = compileModel(model as unknown as LayersModelLike);
      const n = 5;
      const x = tf.tidy(() => tf.randomUniform([n, ...shape], 0, 1, 'float32', 3).dataSync() as Float32Array);
      const dy = tf.tidy(() => tf.randomNormal([n, 10], 0, 1, 'float32', 4).dataSync() as Float32Array);
      const weights: Record<string, [OrtData, number[]]> = {};
      compiled.weights.forEach((w) => {
        weights[w.name] = [model.layers[w.layerIndex].getWeights()[w.weightIndex].dataSync() as Float32Array, w.shape];
      });
      const save = new SyncSession(compiled.save(mode).encode());
      const back = new SyncSession(compiled.backward(mode).encode());
      const d = differentiateCompiled(compiled, mode);
      const both = new SyncSession(d.model);
      try {
        const s = save.run({ x: [x, [n, ...shape]], ...weights });
        const res: Record<string, [OrtData, number[]]> = {};
        for (const r of compiled.residuals(mode)) res[r.name] = [s[r.name].data, s[r.name].dims];
        const want = back.run({ ...res, ...weights, dlogits: [dy, [n, 10]] });
        const got = both.run({ x: [x, [n, ...shape]], ...weights, dy: [dy, [n, 10]] });
        t.true(rel(got.logits.data as Float32Array, s.logits.data as Float32Array) <= 1e-6, 'logits');
        // The split form (save graph, then backward graph) gives the same gradients as the combined graph.
        const splitSave = new SyncSession(d.split.save);
        const splitBack = new SyncSession(d.split.backward);
        const saved = splitSave.run({ x: [x, [n, ...shape]], ...weights });
        const residualFeeds: Record<string, [OrtData, number[]]> = {};
        for (const r of d.split.residuals) residualFeeds[r] = [saved[r].data, saved[r].dims];
        const splitOut = splitBack.run({ ...residualFeeds, x: [x, [n, ...shape]], ...weights, dy: [dy, [n, 10]] });
        splitSave.dispose();
        splitBack.dispose();
        t.deepEqual(Array.from(saved.logits.data as Float32Array), Array.from(got.logits.data as Float32Array));
        for (const g of Object.values(d.gradients)) t.true(rel(splitOut[g].data as Float32Array, got[g].data as Float32Array) <= 1e-6, `split ${g}`);
        if (mode === 'input') {
          // Weights baked in as initializers (the engine's attack mode): constant residuals are folded into the backward graph.
          const baked = differentiateCompiled(
            compiled,
            mode,
            compiled.weights.map((w) => weights[w.name][0] as Float32Array),
          );
          const bs = new SyncSession(baked.split.save);
          const bb = new SyncSession(baked.split.backward);
          const o = bs.run({ x: [x, [n, ...shape]] });
          const rf: Record<string, [OrtData, number[]]> = {};
          for (const r of baked.split.residuals) rf[r] = [o[r].data, o[r].dims];
          t.false(
            baked.split.residuals.some((r) => (o[r].data as Float32Array).length === compiled.weights.find((w) => w.shape.length === 4)?.shape.reduce((p, q) => p * q, 1)),
            'no kernel-sized residual',
          );
          const bo = bb.run({ ...rf, x: [x, [n, ...shape]], dy: [dy, [n, 10]] });
          bs.dispose();
          bb.dispose();
          t.true(rel(bo[baked.gradients.x].data as Float32Array, want.dx.data as Float32Array) <= 1e-5, 'baked split dx');
        }
        if (mode === 'input') t.true(rel(got[d.gradients.x].data as Float32Array, want.dx.data as Float32Array) <= 1e-5, 'dx');
        else
          compiled.weights.forEach((w, i) => {
            const e = rel(got[d.gradients[w.name]].data as Float32Array, want[compiled.weightGradNames[i]].data as Float32Array);
            t.true(e <= 1e-5, `${w.name} (${w.layer}): ${e.toExponential(2)}`);
          });
      } finally {
        save.dispose();
        back.dispose();
        both.dispose();
        model.dispose();
      }
    });
  }
}
