import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../data/rng';
import { Bounds } from '../../data/types';
import { buildModel, ModelSpec } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { Classifier } from '../../contract/classifier';

/** A small untrained model with seeded weights (logits out). */
export function smallModel(spec: ModelSpec, inputShape: number[], numClasses: number, seed: number): { model: tf.LayersModel; f: Classifier } {
  const model = buildModel(spec, inputShape, numClasses, seed);
  return { model, f: asClassifier(model) };
}

/** n rows uniform in [lo + margin, hi - margin]. */
export function uniformRows(n: number, d: number, bounds: Bounds, rng: Rng, margin = 0): Float32Array {
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = bounds.lo + margin + (bounds.hi - bounds.lo - 2 * margin) * rng.uniform();
  return x;
}

export function randomLabels(n: number, k: number, rng: Rng): Int32Array {
  return Int32Array.from({ length: n }, () => rng.int(k));
}

/** Dense-layer weights of a linear model: W [d, k] row-major and b [k]. */
export function linearWeights(model: tf.LayersModel): { W: Float32Array; b: Float32Array; d: number; k: number } {
  const [w, b] = model.getWeights();
  return { W: w.dataSync() as Float32Array, b: b.dataSync() as Float32Array, d: w.shape[0], k: w.shape[1] as number };
}

/** Host-side (float64) logits, softmax, CE and input gradient (p - y) W^T of a linear model at one row. */
export function linearClosedForm(W: Float32Array, b: Float32Array, d: number, k: number, x: ArrayLike<number>, target: number): { loss: number; grad: Float64Array } {
  const z = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s = b[j];
    for (let i = 0; i < d; i++) s += x[i] * W[i * k + j];
    z[j] = s;
  }
  const m = Math.max(...z);
  let se = 0;
  for (let j = 0; j < k; j++) se += Math.exp(z[j] - m);
  const lse = m + Math.log(se);
  const p = Array.from(z, (v) => Math.exp(v - lse));
  const grad = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += (p[j] - (j === target ? 1 : 0)) * W[i * k + j];
    grad[i] = s;
  }
  return { loss: lse - z[target], grad };
}
