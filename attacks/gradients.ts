import * as tf from '@tensorflow/tfjs';
import { crossEntropyPerExample } from '../models/loss';
import { Classifier } from '../models/predict';

/**
 * Per-example input gradient of the cross-entropy: the gradient of the SUM of
 * per-example losses, so row i is d loss_i / d x_i, not divided by batch size.
 */
export function lossInputGradient(f: Classifier, x: tf.Tensor, targets: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(crossEntropyPerExample(f(xi), targets)))(x));
}

/** Per-example loss and its input gradient from one forward/backward pass. */
export function lossAndInputGradient(f: Classifier, x: tf.Tensor, targets: tf.Tensor2D): { loss: tf.Tensor1D; grad: tf.Tensor } {
  return tf.tidy(() => {
    let loss: tf.Tensor1D | null = null;
    const grad = tf.grad((xi: tf.Tensor) => {
      const l = crossEntropyPerExample(f(xi), targets);
      loss = tf.keep(l);
      return tf.sum(l);
    })(x);
    return { loss: loss as unknown as tf.Tensor1D, grad };
  });
}
