import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { loadOnnxFile, onnxClassifier, onnxGradientClassifier, OnnxGradientError } from '../../backend/onnx/file-model';
import { parseModel } from '../../backend/onnx/graph';
import { differentiate } from '../../backend/onnx/grad/differentiate';
import { SyncSession } from '../../backend/onnx/runtime';
import { maxRel } from '../../backend/onnx/check';
import { UsageError } from '../../contract/errors';
import { GraphBuilder } from '../../backend/onnx/proto';
import { FIXTURES, NAMES, readFixture } from './pytorch-fixtures';

/**
 * PyTorch reference models (scripts/make-onnx-fixtures.py, torch 1.13,
 * committed under fixtures/onnx): their exported .onnx files run through the
 * graph differentiator give PyTorch's logits and input gradients of the
 * summed cross-entropy within 1e-4 (relative to the largest value), and FGSM
 * from those gradients gives the same adversarial inputs and the same
 * predictions on them as PyTorch's FGSM.
 */

const read = (name: string) => readFixture(name);

test.before(async () => {
  await initBackend('cpu');
});

test('the fixtures cover the ops the issue names (BN folded and as a node, depthwise, GELU as Erf, shape-computed reshape)', (t) => {
  const ops = new Set(NAMES.flatMap((n) => parseModel(fs.readFileSync(path.join(FIXTURES, `${n}.onnx`))).nodes.map((x) => x.opType)));
  for (const op of [
    'Conv',
    'BatchNormalization',
    'GlobalAveragePool',
    'MaxPool',
    'AveragePool',
    'Clip',
    'Erf',
    'Sigmoid',
    'Tanh',
    'Softplus',
    'LeakyRelu',
    'Gemm',
    'Sub',
    'Div',
    'Shape',
    'Reshape',
    'Flatten',
  ])
    t.true(ops.has(op), op);
  for (const n of NAMES) t.true(fs.statSync(path.join(FIXTURES, `${n}.onnx`)).size < 200_000);
});

for (const name of NAMES) {
  test(`${name}: logits and input gradients equal PyTorch's within 1e-4, FGSM equal per example`, (t) => {
    const f = read(name);
    const n = f.labels.length;
    const model = loadOnnxFile(path.join(FIXTURES, `${name}.onnx`));
    const classes = f.logits.length / n;
    try {
      const classify = onnxGradientClassifier(model, f.inputShape, classes, 'pytorch');
      const x = tf.tensor(f.x, [n, ...f.inputShape]);
      const onehot = tf.oneHot(f.labels, classes);
      const logits = classify(x);
      const el = maxRel(logits.dataSync(), f.logits);
      t.true(el <= 1e-4, `logits: ${el.toExponential(2)}`);
      // The gradient as attacks take it: tfjs's summed cross-entropy on top of the classifier.
      const g = tf.grad((v: tf.Tensor) => tf.losses.softmaxCrossEntropy(onehot, classify(v), undefined, undefined, tf.Reduction.SUM))(x);
      const gd = g.dataSync() as Float32Array;
      const eg = maxRel(gd, f.gradient);
      t.true(eg <= 1e-4, `gradient: ${eg.toExponential(2)}`);
      // FGSM: the same adversarial input per example as PyTorch's clamp(x + eps sign(grad), 0, 1), and the same predictions on it.
      const sign = (v: number) => (v > 0 ? 1 : v < 0 ? -1 : 0);
      const advTorch = Float32Array.from(f.x, (v, i) => Math.min(1, Math.max(0, Math.fround(v + Math.fround(f.fgsm.eps) * sign(f.gradient[i])))));
      const adv = tf.tidy(() => tf.clipByValue(tf.add(x, tf.mul(tf.sign(g), f.fgsm.eps)), 0, 1));
      const advData = adv.dataSync() as Float32Array;
      const per = f.x.length / n;
      let sameExamples = 0;
      const diffs: string[] = [];
      for (let i = 0; i < n; i++) {
        let same = true;
        for (let j = i * per; j < (i + 1) * per; j++)
          if (advData[j] !== advTorch[j]) {
            same = false;
            diffs.push(`${j}: g ${gd[j]} vs ${f.gradient[j]}`);
          }
        if (same) sameExamples++;
      }
      t.is(sameExamples, n, `FGSM examples equal to PyTorch (${diffs.join('; ')})`);
      const pred = Array.from(tf.tidy(() => tf.argMax(classify(adv), 1)).dataSync());
      t.deepEqual(pred, f.fgsm.predictions);
      // The same gradient from the differentiator's own cross-entropy seed, without tfjs.
      const d = differentiate(parseModel(model.bytes), { wrt: ['x'], seed: 'ce' });
      const s = new SyncSession(d.model);
      const out = s.run({ x: [Float32Array.from(f.x), [n, ...f.inputShape]], labels: [BigInt64Array.from(f.labels.map(BigInt)), [n]] });
      s.dispose();
      t.true(maxRel(out[d.gradients.x].data as Float32Array, f.gradient) <= 1e-4);
      tf.dispose([x, onehot, logits, g, adv]);
    } finally {
      model.dispose();
    }
  });
}

test('the gradient classifier refuses a file with an op outside the registry, naming file, node and op; the forward-only one still throws OnnxGradientError', (t) => {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'vicinal-onnx-grad-'));
  try {
    const b = new GraphBuilder('sin');
    const x = b.input('x', 'float32', ['batch', 4]);
    const w = b.float32(
      Float32Array.from({ length: 12 }, (_, i) => i / 10),
      [4, 3],
    );
    b.output(b.op('MatMul', [b.op('Sin', [x]), w]), 'y', 'float32', ['batch', 3]);
    const file = path.join(dir, 'sin.onnx');
    fs.writeFileSync(file, b.encode());
    const m = loadOnnxFile(file);
    try {
      const e = t.throws(() => onnxGradientClassifier(m, [4], 3, 'toy'), { instanceOf: UsageError });
      t.regex(e?.message ?? '', /sin\.onnx: no input gradients: node "[^"]+" \(Sin\): no gradient rule for op Sin/);
      const f = onnxClassifier(m, [4], 3, 'toy');
      t.throws(() => tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(f(v)))(tf.ones([2, 4]))), { instanceOf: OnnxGradientError });
    } finally {
      m.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
