import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { checkOnnxEngine } from '../../backend/onnx/check';
import { engineClassifier, engineTrainClassifier, liveOnnxSessions, onnxEngineEnabled, releaseOnnxModel } from '../../backend/onnx/engine';
import { compileModel, UnsupportedModelError } from '../../backend/onnx/compile';
import { SyncSession } from '../../backend/onnx/runtime';

import { createAttack } from '../../attacks/registry';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { saveModel } from '../../models/io';
import { cli } from '../../suite/cli';
import { requireOnnxEngine, like } from './engine-setup';

test.before(requireOnnxEngine);

test.serial('the engine agrees with the tfjs cpu backend (<= 1e-4) and finite differences on every layer type and the MNIST shapes', async (t) => {
  const r = await checkOnnxEngine();
  for (const row of r.rows) if (!row.ok) t.log(row);
  t.true(r.ok, r.failing.join('; '));
  // every layer type and every quantity is there
  t.true(r.rows.some((x) => x.model.includes('stride 2 valid') && x.quantity === 'd kernel'));
  t.true(r.rows.some((x) => x.model.includes('overlapping') && x.quantity === 'dx'));
  t.true(r.rows.some((x) => x.model.includes('MNIST CNN') && x.quantity === 'd kernel' && !Number.isNaN(x.maxRelErrVsFiniteDiff)));
  t.true(r.rows.some((x) => x.model.includes('subnormal') && x.quantity === 'dx'));
});

test.serial('asClassifier routes through the engine while it is selected, and the ladder names it', async (t) => {
  t.true(onnxEngineEnabled());
  const m = buildModel({ arch: 'mlp', hidden: [8] }, [4], 3, 1);
  const x = tf.randomNormal([5, 4]);
  const before = liveOnnxSessions();
  const a = asClassifier(m)(x).dataSync();
  t.true(liveOnnxSessions() > before, 'the classifier opened an ORT session');
  const b = (m.apply(x) as tf.Tensor).dataSync();
  for (let i = 0; i < a.length; i++) t.true(Math.abs(a[i] - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])));
  releaseOnnxModel(like(m));
  t.is(liveOnnxSessions(), before, 'releasing the model closes its sessions');
  m.dispose();
  x.dispose();
});

test.serial('weights follow the model: an optimizer step or setWeights changes the engine logits to the new weights', (t) => {
  const m = buildModel({ arch: 'mlp', hidden: [6] }, [3], 2, 2);
  const f = engineClassifier(like(m));
  const x = tf.randomNormal([4, 3]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 1, 0], 'int32'), 2).toFloat();
  const opt = tf.train.adam(0.1);
  const ft = engineTrainClassifier(like(m));
  for (let s = 0; s < 3; s++) opt.minimize(() => tf.losses.softmaxCrossEntropy(y, ft(x)) as tf.Scalar);
  const close = (a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array) => a.every((v, i) => Math.abs(v - b[i]) <= 1e-5 * Math.max(1, Math.abs(b[i])));
  t.true(close(f(x).dataSync(), (m.apply(x) as tf.Tensor).dataSync()), 'after Adam steps through the engine');
  m.setWeights(m.getWeights().map((w) => tf.mul(w, -0.5)));
  t.true(close(f(x).dataSync(), (m.apply(x) as tf.Tensor).dataSync()), 'after setWeights');
  opt.dispose();
  releaseOnnxModel(like(m));
  m.dispose();
});

test.serial('a model outside the family fails with one line naming the layer', (t) => {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [4], units: 3 }));
  m.add(tf.layers.layerNormalization({ name: 'ln_here' }));
  m.add(tf.layers.dense({ units: 2 }));
  const e = t.throws(() => compileModel(like(m)), { instanceOf: UnsupportedModelError });
  t.regex(e?.message ?? '', /layer "ln_here" \(LayerNormalization\) is not supported/);
  t.false((e?.message ?? '').includes('\n'));
  const s = tf.sequential();
  s.add(tf.layers.dense({ inputShape: [4], units: 3, activation: 'sigmoid', name: 'sig' }));
  t.throws(() => asClassifier(s), { message: /layer "sig".*activation "sigmoid"/ });
  // a Functional model that applies one layer twice (shared weights) is refused
  const inp = tf.input({ shape: [4] });
  const shared = tf.layers.dense({ units: 4, name: 'shared' });
  const twice = shared.apply(shared.apply(inp)) as tf.SymbolicTensor;
  const fm = tf.model({ inputs: inp, outputs: tf.layers.dense({ units: 2 }).apply(twice) as tf.SymbolicTensor });
  t.throws(() => compileModel(like(fm)), { message: /layer "shared" \(Dense\) is used 2 times/ });
  // the same family as a Functional chain compiles
  const ci = tf.input({ shape: [4] });
  const chain = tf.model({ inputs: ci, outputs: tf.layers.dense({ units: 2 }).apply(tf.layers.dense({ units: 3, activation: 'relu' }).apply(ci)) as tf.SymbolicTensor });
  t.notThrows(() => compileModel(like(chain)));
  fm.dispose();
  chain.dispose();
  m.dispose();
  s.dispose();
});

test.serial('a gradient of a gradient through the engine throws instead of returning zero curvature', (t) => {
  const m = buildModel({ arch: 'mlp', hidden: [5] }, [3], 2, 3);
  const f = engineClassifier(like(m));
  const x = tf.randomNormal([2, 3]);
  const inner = (v: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(tf.square(f(u))))(v);
  t.notThrows(() => inner(x).dataSync());
  t.throws(() => tf.grad((v: tf.Tensor) => tf.sum(inner(v)))(x), { message: /double backprop/ });
  releaseOnnxModel(like(m));
  m.dispose();
});

test.serial('export writes a standard .onnx file that onnxruntime loads and that gives the tfjs logits', async (t) => {
  const m = buildModel({ arch: 'cnn', filters: [4, 6], kernelSize: 3 }, [28, 28, 1], 10, 4);
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-export-'));
  try {
    await saveModel(m, path.join(dir, 'model'));
    const code = await cli(['export', '--onnx', path.join(dir, 'onnx'), path.join(dir, 'model')]);
    t.is(code, 0);
    const bytes = fs.readFileSync(path.join(dir, 'onnx', 'model.onnx'));
    const s = new SyncSession(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    t.deepEqual(s.inputNames, ['x'], 'weights are initializers, x is the only input');
    const out = s.run({ x: [x.dataSync() as Float32Array, x.shape] }).logits;
    const ref = (m.apply(x) as tf.Tensor).dataSync();
    t.deepEqual(out.dims, [3, 10]);
    for (let i = 0; i < ref.length; i++) t.true(Math.abs((out.data as Float32Array)[i] - ref[i]) <= 1e-5 * Math.max(1, Math.abs(ref[i])));
    s.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    m.dispose();
  }
});

test.serial('FGSM and PGD on a trained MNIST MLP: the engine agrees with the tfjs cpu path (>= 99.5% of FGSM predictions, PGD robust accuracy within 1 point)', async (t) => {
  const dataset = loadDataset({ name: 'mnist' });
  const model = buildModel({ arch: 'mlp', hidden: [128, 128] }, dataset.inputShape, dataset.numClasses, 0);
  trainModel(model, dataset, erm({}, dataset, new Rng(0)), { epochs: 2, seed: 0, evalEveryEpoch: false });
  const N = 400;
  const xs = dataset.test.x.subarray(0, N * 784);
  const y = dataset.test.y.slice(0, N);
  const run = (engine: boolean, name: 'fgsm' | 'pgd', eps: number, params: Record<string, unknown>) => {
    const f = engine ? engineClassifier(like(model)) : (v: tf.Tensor) => model.apply(v, { training: false }) as tf.Tensor2D;
    const x = tf.tensor(xs, [N, 28, 28, 1]);
    const out = createAttack({ name, params }, 'linf').run(f, x, y, dataset.bounds, eps, new Rng(7));
    const pred = Int32Array.from(out.pred);
    out.xAdv.dispose();
    x.dispose();
    return pred;
  };
  const host = tf.getBackend();
  const onEngine = { fgsm: run(true, 'fgsm', 0.1, {}), pgd: run(true, 'pgd', 0.1, { steps: 10 }) };
  await tf.setBackend('cpu');
  const onCpu = { fgsm: run(false, 'fgsm', 0.1, {}), pgd: run(false, 'pgd', 0.1, { steps: 10 }) };
  await tf.setBackend(host);
  const agree = onEngine.fgsm.filter((p, i) => p === onCpu.fgsm[i]).length / N;
  const robust = (p: Int32Array) => p.filter((v, i) => v === y[i]).length / N;
  t.log(`FGSM prediction agreement ${agree}; PGD-10 robust accuracy engine ${robust(onEngine.pgd)}, cpu ${robust(onCpu.pgd)}`);
  t.true(agree >= 0.995, `FGSM agreement ${agree}`);
  t.true(Math.abs(robust(onEngine.pgd) - robust(onCpu.pgd)) <= 0.01);
  // the attacks actually did something: a check that passes on a no-op attack proves nothing
  t.true(robust(onCpu.pgd) < robust(onCpu.fgsm) + 1e-9 && robust(onCpu.fgsm) < 0.9);
  releaseOnnxModel(like(model));
  model.dispose();
});
