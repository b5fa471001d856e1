/** The PyTorch reference fixtures written by scripts/make-onnx-fixtures.py (shared by the tests that read them). */
import * as fs from 'fs';
import * as path from 'path';

export const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'backend', 'fixtures', 'onnx');
export const NAMES = ['resnet-block', 'batchnorm-node', 'depthwise-separable', 'activations', 'normalised-input', 'resnet-trained'];

/** One fixture's JSON: inputs, labels, PyTorch's logits, input gradient of the summed cross-entropy, FGSM predictions. */
export interface Fixture {
  model: string;
  torch: string;
  inputShape: number[];
  x: number[];
  labels: number[];
  logits: number[];
  gradient: number[];
  fgsm: { eps: number; predictions: number[] };
}

export const readFixture = (name: string, dir = FIXTURES): Fixture => JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'));
