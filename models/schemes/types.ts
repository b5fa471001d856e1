import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../data/rng';
import { Dataset, LabelledSet } from '../../data/types';
import { Classifier } from '../../contract/classifier';

/** Where a mixing partner was taken from (`BatchInfo.partner` indexes rows of it). */
export type PartnerSource = 'batch' | 'trainingSet' | 'pool';

/**
 * How each row of a batch was made. Optional and plain arrays (no tensors):
 * the training loop ignores it; `vicinal sample`, plots and tests read it.
 */
export interface BatchInfo {
  /** Weight of the row's own example in its input: x~ = lambda x + (1 - lambda) x'. */
  lambda?: Float32Array;
  /** Row of the partner x' in `partnerSource`. */
  partner?: Int32Array;
  partnerSource?: PartnerSource;
  /** adversarial: 1 where the row was replaced by its PGD perturbation, else 0. */
  perturbed?: Uint8Array;
}

/** What one training step minimises: soft-target cross-entropy of model(x) against targets. */
export interface TrainingBatch {
  x: tf.Tensor;
  targets: tf.Tensor2D;
  info?: BatchInfo;
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
  /**
   * `n` independent draws of the scheme's vicinal distribution around row
   * `point` of `trainingSet` (for mixup: partners uniform over the training
   * set; mixup-semi: over the unlabelled pool; mixup-knn: over the point's k
   * neighbours; erm: the point itself, repeated). Used by `vicinal sample`,
   * plots and gradient probes. `model` matters only to schemes whose vicinity
   * depends on the model (adversarial); see each scheme's documentation.
   * Call inside tf.tidy or dispose the returned tensors.
   */
  vicinity(point: number, n: number, rng: Rng, model?: Classifier): TrainingBatch;
}

export type SchemeFactory = (params: Record<string, unknown>, dataset: Dataset, rng: Rng) => Scheme;

/**
 * One training scheme as the registry knows it: everything the config
 * schema, the CLI, the README and the tests need, in the scheme's own file.
 */
export interface SchemeDescriptor {
  name: string;
  /** One line for help texts and the README. */
  summary: string;
  /** Parameter names the scheme accepts. */
  keys: readonly string[];
  /** Defaults resolved for a dataset name (e.g. gaussian-noise's sigma per dataset). */
  defaults(datasetName: string): Record<string, unknown>;
  /** Dataset-independent view of the defaults: per-dataset values as { dataset: value, "*": fallback }, derived ones as formulas. */
  documentedDefaults: Record<string, unknown>;
  create: SchemeFactory;
}
