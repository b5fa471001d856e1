import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { Classifier } from '../../contract/classifier';
import { BatchContext, Scheme } from '../../models/schemes';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';

export function moons(nTrain = 1000, nTest = 200): Dataset {
  return loadDataset({ name: 'moons', nTrain, nTest, noise: 0.1 });
}

/** A small MLP trained briefly on the dataset with ERM (deterministic). */
export function trainedMlp(ds: Dataset, hidden = [32, 32], epochs = 20): { model: tf.LayersModel; f: Classifier } {
  const model = buildModel({ arch: 'mlp', hidden }, ds.inputShape, ds.numClasses, 1);
  trainModel(model, ds, erm({}, ds, new Rng(0)), { learningRate: 0.01, batchSize: 64, epochs, seed: 1, evalEveryEpoch: false });
  return { model, f: asClassifier(model) };
}

/** A batch context over rows `index` of the scheme's training set (tensors inside: call within tf.tidy). */
export function contextFor(scheme: Scheme, ds: Dataset, index: Int32Array, rng: Rng, f: Classifier): BatchContext {
  const d = ds.inputShape.reduce((a, b) => a * b, 1);
  const set = scheme.trainingSet;
  const x = new Float32Array(index.length * d);
  const y = new Int32Array(index.length);
  index.forEach((r, i) => {
    x.set(set.x.subarray(r * d, r * d + d), i * d);
    y[i] = set.y[r];
  });
  return { x: tf.tensor(x, [index.length, ...ds.inputShape]), y, index, rng, model: f };
}

export function range(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

export function weightsOf(model: tf.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

export function meanAndSe(v: number[]): { mean: number; se: number } {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  const varr = v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1);
  return { mean: m, se: Math.sqrt(varr / v.length) };
}
