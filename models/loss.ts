import * as tf from '@tensorflow/tfjs';

/**
 * Cross-entropy of logits against (possibly soft) target distributions, per
 * example: -sum_k t_k log softmax(z)_k. Written out rather than through
 * tf.losses.softmaxCrossEntropy, whose positional arguments make it easy to
 * pass a reduction as label smoothing and flip the gradient's sign.
 */
export function crossEntropyPerExample(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1)) as tf.Tensor1D);
}

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
