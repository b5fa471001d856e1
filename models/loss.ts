import * as tf from '@tensorflow/tfjs';
import { crossEntropyPerExample } from '../attacks/losses';

/** Mean soft-target cross-entropy over the batch: the one training loss. */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(crossEntropyPerExample(logits, targets)) as tf.Scalar);
}

export function oneHot(labels: Int32Array | tf.Tensor1D, numClasses: number): tf.Tensor2D {
  return tf.tidy(() => {
    const t = labels instanceof tf.Tensor ? labels : tf.tensor1d(labels, 'int32');
    return tf.oneHot(t, numClasses).toFloat() as tf.Tensor2D;
  });
}
