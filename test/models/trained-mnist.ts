import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { Classifier } from '../../contract/classifier';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';

/**
 * The tests' ERM MNIST MLP: 784-256-256-10 (or `hidden`), seed 0, Adam at the
 * defaults, trained for `epochs` on the default 8,000-digit split.
 */
export function trainedMnistMlp(epochs: number, hidden?: number[]): { dataset: Dataset; model: tf.LayersModel } {
  const dataset = loadDataset({ name: 'mnist' });
  const model = buildModel({ arch: 'mlp', ...(hidden ? { hidden } : {}) }, dataset.inputShape, dataset.numClasses, 0);
  trainModel(model, dataset, erm({}, dataset, new Rng(0)), { epochs, seed: 0, evalEveryEpoch: false });
  return { dataset, model };
}

/** trainedMnistMlp(epochs) on the wasm backend (initialised here), with the model as a Classifier. */
export async function trainedMnistMlpOnWasm(epochs: number): Promise<{ dataset: Dataset; model: tf.LayersModel; f: Classifier }> {
  await initBackend('wasm');
  const { dataset, model } = trainedMnistMlp(epochs);
  return { dataset, model, f: asClassifier(model) };
}
