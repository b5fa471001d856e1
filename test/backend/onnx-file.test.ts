import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { GraphBuilder } from '../../backend/onnx/proto';
import { loadOnnxFile, onnxClassifier, onnxInputLayout, OnnxGradientError } from '../../backend/onnx/file-model';
import { UsageError } from '../../contract/errors';

/**
 * .onnx classifiers written by hand with the graph builder, from the weights
 * of a TF.js MLP on [28, 28, 1] inputs: the same function in other input
 * layouts (NCHW, flattened, fixed batch size).
 */
let dir: string;
let model: tf.LayersModel;
const SHAPE = [28, 28, 1];

test.before(async () => {
  await initBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-onnx-file-'));
  model = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: SHAPE }), tf.layers.dense({ units: 16, activation: 'relu' }), tf.layers.dense({ units: 10 })],
  });
  // Non-zero biases, so a graph that drops them would disagree.
  model.layers[1].setWeights([model.layers[1].getWeights()[0], tf.randomNormal([16], 0, 0.1, 'float32', 2)]);
  model.layers[2].setWeights([model.layers[2].getWeights()[0], tf.randomNormal([10], 0, 0.1, 'float32', 3)]);
});

test.after.always(() => {
  model.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface GraphOptions {
  input: (number | string)[];
  layout: 'nhwc' | 'nchw' | 'flat';
  extraOutput?: boolean;
}

/** The MLP as an ONNX graph taking inputs in `layout`; returns the file. */
function writeGraph(name: string, o: GraphOptions): string {
  const g = new GraphBuilder('mlp');
  let h = g.input('x', 'float32', o.input);
  if (o.layout === 'nchw') h = g.op('Transpose', [h], { perm: [0, 2, 3, 1] });
  if (o.layout !== 'flat') h = g.op('Flatten', [h], { axis: 1 });
  const w = (l: number, i: number) => Float32Array.from(model.layers[l].getWeights()[i].dataSync() as Float32Array);
  h = g.op('Add', [g.op('MatMul', [h, g.float32(w(1, 0), [784, 16])]), g.float32(w(1, 1), [16])]);
  h = g.op('Relu', [h]);
  h = g.op('Add', [g.op('MatMul', [h, g.float32(w(2, 0), [16, 10])]), g.float32(w(2, 1), [10])]);
  g.output(h, 'y', 'float32', [o.input[0], 10]);
  if (o.extraOutput) g.output(h, 'y2', 'float32', [o.input[0], 10]);
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, g.encode());
  return file;
}

const x = () => tf.randomUniform([5, ...SHAPE], 0, 1, 'float32', 4);

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  const u = a.dataSync();
  const v = b.dataSync();
  let m = 0;
  for (let i = 0; i < u.length; i++) m = Math.max(m, Math.abs(u[i] - v[i]));
  return m;
}

for (const [layout, input, expected] of [
  ['nhwc', ['N', 28, 28, 1], 'same'],
  ['nchw', ['N', 1, 28, 28], 'nchw'],
  ['flat', ['N', 784], 'flatten'],
] as const) {
  test(`an input declared ${JSON.stringify(input)} is read as layout "${expected}" and gives the TF.js logits`, (t) => {
    const m = loadOnnxFile(writeGraph(`mlp-${layout}`, { input: [...input], layout }));
    try {
      t.deepEqual(m.inputDims, [null, ...input.slice(1)]);
      t.is(onnxInputLayout(m, SHAPE, 'mnist'), expected);
      const f = onnxClassifier(m, SHAPE, 10, 'mnist');
      const xs = x();
      const z = f(xs);
      const ref = model.predict(xs) as tf.Tensor;
      t.deepEqual(z.shape, [5, 10]);
      t.true(maxAbsDiff(z, ref) < 1e-5, `max |diff| ${maxAbsDiff(z, ref)}`);
      tf.dispose([xs, z, ref]);
    } finally {
      m.dispose();
    }
  });
}

test('a graph with a fixed batch size of 1 runs a batch of 5 row by row', (t) => {
  const m = loadOnnxFile(writeGraph('mlp-b1', { input: [1, 784], layout: 'flat' }));
  try {
    const f = onnxClassifier(m, SHAPE, 10, 'mnist');
    const xs = x();
    const z = f(xs);
    const ref = model.predict(xs) as tf.Tensor;
    t.true(maxAbsDiff(z, ref) < 1e-5);
    tf.dispose([xs, z, ref]);
  } finally {
    m.dispose();
  }
});

test('the classifier has no gradient: a backward pass throws OnnxGradientError naming the file', (t) => {
  const file = writeGraph('mlp-grad', { input: ['N', 28, 28, 1], layout: 'nhwc' });
  const m = loadOnnxFile(file);
  try {
    const f = onnxClassifier(m, SHAPE, 10, 'mnist');
    const xs = x();
    const e = t.throws(() => tf.grad((v: tf.Tensor) => f(v).sum())(xs));
    t.true(e instanceof OnnxGradientError);
    t.true(e?.message.includes(file) && /provides no input gradients/.test(e.message));
    xs.dispose();
  } finally {
    m.dispose();
  }
});

test('shapes that do not fit the dataset are one-line UsageErrors naming both', (t) => {
  const m = loadOnnxFile(writeGraph('mlp-32', { input: ['N', 1, 28, 28], layout: 'nchw' }));
  try {
    const e = t.throws(() => onnxClassifier(m, [32, 32, 1], 10, 'files'), { instanceOf: UsageError });
    t.regex(e?.message ?? '', /takes inputs of shape \[1, 28, 28\].*dataset files has \[32, 32, 1\]/);
    t.false(e?.message.includes('\n'));
    const c = t.throws(() => onnxClassifier(m, SHAPE, 3, 'moons3'), { instanceOf: UsageError });
    t.regex(c?.message ?? '', /has 10 outputs, dataset moons3 has 3 classes/);
  } finally {
    m.dispose();
  }
});

test('a graph with two outputs, or a file that is not ONNX, is refused with a UsageError', (t) => {
  const two = writeGraph('mlp-two', { input: ['N', 784], layout: 'flat', extraOutput: true });
  t.regex(t.throws(() => loadOnnxFile(two), { instanceOf: UsageError })?.message ?? '', /one output .* this one has 2 \(y, y2\)/);
  const junk = path.join(dir, 'junk.onnx');
  fs.writeFileSync(junk, 'not a model');
  t.regex(t.throws(() => loadOnnxFile(junk), { instanceOf: UsageError })?.message ?? '', /cannot load .*junk\.onnx as an ONNX model/);
  t.regex(t.throws(() => loadOnnxFile(path.join(dir, 'missing.onnx')), { instanceOf: UsageError })?.message ?? '', /cannot read/);
});
