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
