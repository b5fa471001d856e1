import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../data/rng';
import { Dataset, LabelledSet } from '../../data/types';
import { Classifier } from '../predict';

/** What one training step minimises: soft-target cross-entropy of model(x) against targets. */
export interface TrainingBatch {
  x: tf.Tensor;
  targets: tf.Tensor2D;
}

export interface BatchContext {
  /** Inputs of the labelled examples in this batch, shape [b, ...inputShape]. */
  x: tf.Tensor;
  /** Their labels. */
  y: Int32Array;
  /** Their row positions in the scheme's `trainingSet`. */
  index: Int32Array;
  /** Stream for this step's random choices (mixing weights, partners, noise). */
  rng: Rng;
  /** The model being trained, as it is now (adversarial training attacks it). */
  model: Classifier;
}

/**
 * A training scheme has one job: given a batch of labelled examples, produce
 * the inputs and targets the step trains on. It is always called inside tf.tidy.
 */
export interface Scheme {
  name: string;
  /** Every resolved parameter, defaults filled in (recorded in results). */
  settings: Record<string, unknown>;
  /** The labelled examples the training loop draws batches from. */
  trainingSet: LabelledSet;
  makeBatch(ctx: BatchContext): TrainingBatch;
}

export type SchemeFactory = (params: Record<string, unknown>, dataset: Dataset, rng: Rng) => Scheme;
