import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { loadOnnxFile, onnxGradientClassifier } from '../../backend/onnx/file-model';
import { parseModel } from '../../backend/onnx/graph';
import { maxRel } from '../../backend/onnx/check';
import { lossInputGradient } from '../../attacks/gradients';
import { RESNET20_ONNX } from '../../bench/imported-resnet';

/**
 * Correctness before speed: the benchmarked ResNet-20 export
 * (bench/models/resnet20.onnx) through the engine's gradient classifier gives
 * PyTorch 1.13's logits and input gradient of the summed cross-entropy
 * (bench/models/resnet20.json, written by `resnet20.py --reference` from the
 * same model) within 1e-4 of the largest value.
 */

interface Reference {
  shape: [number, number, number, number];
  labels: number[];
  x: string;
  logits: string;
  grad: string;
}

const floats = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

test.before(async () => {
  await initBackend('cpu');
});

test('the committed export is the CIFAR ResNet-20 the bench promises (ops, 21 convs, BN folded, 272,474 parameters)', (t) => {
  const ir = parseModel(fs.readFileSync(RESNET20_ONNX));
  // Identity: the exporter shares equal folded biases between convs through Identity nodes.
  t.deepEqual([...new Set(ir.nodes.map((n) => n.opType))].sort(), ['Add', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'Identity', 'Relu']);
  t.is(ir.nodes.filter((n) => n.opType === 'Conv').length, 21); // 19 3x3 convs + 2 projection shortcuts
  const alias = new Map(ir.nodes.filter((n) => n.opType === 'Identity').map((n) => [n.outputs[0], n.inputs[0]]));
  const size = (v: string) => (ir.initializers.get(alias.get(v) ?? v)?.dims ?? []).reduce((a, b) => a * Number(b), 1);
  let params = 0;
  for (const n of ir.nodes) if (n.opType === 'Conv' || n.opType === 'Gemm') for (const v of n.inputs.slice(1)) if (v) params += size(v);
  // Folding each BatchNorm's scale and shift (2 parameters per channel, 784 channels) into a conv bias (1 per channel).
  t.is(params, 272474 - (16 + 6 * 16 + 7 * 32 + 7 * 64));
});

test('engine input gradient and logits on resnet20.onnx equal PyTorch 1.13 within 1e-4 (batch 4)', (t) => {
  const ref = JSON.parse(fs.readFileSync(path.join(path.dirname(RESNET20_ONNX), 'resnet20.json'), 'utf8')) as Reference;
  const [n, c, h, w] = ref.shape;
  const model = loadOnnxFile(RESNET20_ONNX);
  try {
    const f = onnxGradientClassifier(model, [h, w, c], 10, 'cifar10');
    const x = tf.transpose(tf.tensor4d(floats(ref.x), [n, c, h, w]), [0, 2, 3, 1]);
    const y = tf.oneHot(tf.tensor1d(ref.labels, 'int32'), 10).toFloat() as tf.Tensor2D;
    const logits = f(x).dataSync();
    const g = tf.transpose(lossInputGradient(f, x, y), [0, 3, 1, 2]).dataSync();
    const want = floats(ref.grad);
    const eLogits = maxRel(logits, floats(ref.logits));
    const eGrad = maxRel(g, want);
    t.log(`relative error: logits ${eLogits.toExponential(2)}, input gradient ${eGrad.toExponential(2)}`);
    t.true(eLogits < 1e-4, `logits ${eLogits}`);
    t.true(eGrad < 1e-4, `input gradient ${eGrad}`);
    // not vacuous: the gradient is nonzero everywhere it matters and differs between examples
    t.true(Math.max(...want.map(Math.abs)) > 1e-4); // an untrained net: small but far above float32 noise
    const e01 = maxRel(want.slice(0, c * h * w), want.slice(c * h * w, 2 * c * h * w));
    t.true(e01 > 0.1, `examples 0 and 1 differ by ${e01}`);
  } finally {
    model.dispose();
  }
});
