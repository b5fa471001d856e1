import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../contract/classifier';
import { inputSize } from '../data/types';
import { engineClassifier, onnxEngineEnabled } from '../backend/onnx/engine';
import type { LayersModelLike } from '../backend/onnx/compile';

/**
 * Any function from an input batch to logits: a LayersModel or a wrapped one.
 * With the onnx engine selected (--backend onnx, or auto where it loads), the
 * network's forward pass and input gradient run in onnxruntime
 * (backend/onnx/engine.ts); a model outside the engine's layer family throws
 * a one-line error naming the layer.
 */
export function asClassifier(model: tf.LayersModel): Classifier {
  if (onnxEngineEnabled()) return engineClassifier(model as unknown as LayersModelLike);
  return (x) => model.apply(x, { training: false }) as tf.Tensor2D;
}

/** Builds a batch tensor of `n` rows from a row-major array. */
export function batchTensor(x: Float32Array, inputShape: number[], start = 0, end?: number): tf.Tensor {
  const d = inputSize(inputShape);
  const stop = end ?? x.length / d;
  return tf.tensor(x.subarray(start * d, stop * d), [stop - start, ...inputShape]);
}

/** Logits for every row, computed in batches; returns n * numClasses values. */
export function predictLogits(f: Classifier, x: Float32Array, inputShape: number[], batchSize = 1000): Float32Array {
  const d = inputSize(inputShape);
  const n = x.length / d;
  const parts: Float32Array[] = [];
  for (let s = 0; s < n; s += batchSize) {
    const e = Math.min(n, s + batchSize);
    // Read back outside tidy: tidy walks whatever it returns, and walking a
    // typed array element by element costs far more than the batch itself.
    const logits = tf.tidy(() => f(batchTensor(x, inputShape, s, e)));
    parts.push(logits.dataSync() as Float32Array);
    logits.dispose();
  }
  return concatRows(parts);
}

/** Concatenates row blocks (batches) into one array. */
export function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function argmaxRows(logits: Float32Array, k: number): Int32Array {
  const n = logits.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

export function accuracy(pred: Int32Array, y: Int32Array): number {
  let c = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) c++;
  return y.length === 0 ? NaN : c / y.length;
}

export function evaluateAccuracy(f: Classifier, x: Float32Array, y: Int32Array, inputShape: number[], numClasses: number): number {
  return accuracy(argmaxRows(predictLogits(f, x, inputShape), numClasses), y);
}
