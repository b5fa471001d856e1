import type * as tf from '@tensorflow/tfjs';

/** A network as attacks and probes see it: a batch of inputs to a [b, classes] tensor of logits. */
export type Classifier = (x: tf.Tensor) => tf.Tensor2D;
