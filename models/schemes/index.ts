/**
 * The training schemes, selected by name. Each lives in its own module with
 * a typed, documented parameter interface and its defaults; this module
 * validates names and parameters (bad input is a UsageError) and exports
 * every scheme's defaults for the README and the CLI.
 */
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { UsageError } from '../../contract/errors';
import { adversarial, ADVERSARIAL_EPS_DEFAULTS, ADVERSARIAL_EPS_FALLBACK, ADVERSARIAL_KEYS, ADVERSARIAL_MIX_RATIO_DEFAULT, ADVERSARIAL_STEPS_DEFAULT, adversarialDefaults } from './adversarial';
import { ERM_DEFAULTS, erm } from './erm';
import { GAUSSIAN_NOISE_KEYS, GAUSSIAN_NOISE_SIGMA_DEFAULTS, GAUSSIAN_NOISE_SIGMA_FALLBACK, gaussianNoise, gaussianNoiseDefaults } from './gaussian-noise';
import { LABEL_SMOOTHING_DEFAULTS, LABEL_SMOOTHING_KEYS, labelSmoothing } from './label-smoothing';
import { MIXUP_DEFAULTS, MIXUP_KEYS, mixup } from './mixup';
import { MIXUP_ASYM_DEFAULTS, MIXUP_ASYM_KEYS, mixupAsym } from './mixup-asym';
import { MIXUP_KNN_DEFAULTS, MIXUP_KNN_KEYS, mixupKnn } from './mixup-knn';
import { MIXUP_SEMI_ALPHA_DEFAULT, MIXUP_SEMI_KEYS, MIXUP_SEMI_LABELLED_DEFAULT_TEXT, MIXUP_SEMI_LAMBDA_PER_DEFAULT, mixupSemi } from './mixup-semi';
import { Scheme, SchemeFactory } from './types';

export type { BatchContext, BatchInfo, PartnerSource, Scheme, SchemeFactory, TrainingBatch } from './types';
export { sampleAsymLambda, sampleMixupLambda, asymLambdaMean } from './samplers';

export const SCHEME_NAMES = [
  'erm',
  'mixup',
  'mixup-asym',
  'mixup-semi',
  'mixup-knn',
  'label-smoothing',
  'gaussian-noise',
  'adversarial',
] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

const FACTORIES: Record<SchemeName, SchemeFactory> = {
  erm,
  mixup,
  'mixup-asym': mixupAsym,
  'mixup-semi': mixupSemi,
  'mixup-knn': mixupKnn,
  'label-smoothing': labelSmoothing,
  'gaussian-noise': gaussianNoise,
  adversarial,
};

/** Parameter names each scheme accepts. */
export const SCHEME_PARAM_KEYS: Record<SchemeName, readonly string[]> = {
  erm: [],
  mixup: MIXUP_KEYS,
  'mixup-asym': MIXUP_ASYM_KEYS,
  'mixup-semi': MIXUP_SEMI_KEYS,
  'mixup-knn': MIXUP_KNN_KEYS,
  'label-smoothing': LABEL_SMOOTHING_KEYS,
  'gaussian-noise': GAUSSIAN_NOISE_KEYS,
  adversarial: ADVERSARIAL_KEYS,
};

/** One line per scheme (README, help texts). */
export const SCHEME_SUMMARIES: Record<SchemeName, string> = {
  erm: 'empirical risk minimisation: clean inputs, one-hot targets',
  mixup: 'mixup (Zhang et al. 2018): inputs and one-hot labels mixed, lambda ~ Beta(alpha, alpha), partner from a permutation of the batch',
  'mixup-asym': 'inputs mixed, label of x kept, lambda ~ Beta(alpha+1, alpha) (numpy convention); same objective as mixup in expectation',
  'mixup-semi': 'mixup-asym with x from a labelled subset (labelledPerClass per class) and x\' from the unlabelled rest',
  'mixup-knn': 'mixup-asym with x\' uniform among the k nearest training neighbours of x; optional distance-dependent alpha',
  'label-smoothing': 'clean inputs, targets (1 - eps) onehot + eps / K',
  'gaussian-noise': 'inputs + N(0, sigma^2) clipped to the dataset bounds, one-hot targets',
  adversarial: 'PGD (L-inf, random start) adversarial training, Madry et al. 2018',
};

/**
 * Every scheme's defaults, dataset-independent view: a value given per
 * dataset is a record { dataset: value, "*": fallback }; a derived value is a
 * string formula.
 */
export const SCHEME_DEFAULTS: Record<SchemeName, Record<string, unknown>> = {
  erm: { ...ERM_DEFAULTS },
  mixup: { ...MIXUP_DEFAULTS },
  'mixup-asym': { ...MIXUP_ASYM_DEFAULTS },
  'mixup-semi': {
    alpha: MIXUP_SEMI_ALPHA_DEFAULT,
    lambdaPer: MIXUP_SEMI_LAMBDA_PER_DEFAULT,
    labelledPerClass: MIXUP_SEMI_LABELLED_DEFAULT_TEXT,
  },
  'mixup-knn': { ...MIXUP_KNN_DEFAULTS },
  'label-smoothing': { ...LABEL_SMOOTHING_DEFAULTS },
  'gaussian-noise': { sigma: { ...GAUSSIAN_NOISE_SIGMA_DEFAULTS, '*': GAUSSIAN_NOISE_SIGMA_FALLBACK } },
  adversarial: {
    eps: { ...ADVERSARIAL_EPS_DEFAULTS, '*': ADVERSARIAL_EPS_FALLBACK },
    steps: ADVERSARIAL_STEPS_DEFAULT,
    stepSize: '2.5 * eps / steps',
    mixRatio: ADVERSARIAL_MIX_RATIO_DEFAULT,
  },
};

export function isSchemeName(name: string): name is SchemeName {
  return (SCHEME_NAMES as readonly string[]).includes(name);
}

function unknownScheme(name: string): UsageError {
  return new UsageError(`unknown scheme "${name}"; allowed: ${SCHEME_NAMES.join(', ')}`);
}

/**
 * A scheme's defaults resolved for one dataset name (e.g. gaussian-noise on
 * mnist: { sigma: 0.1 }). Defaults that depend on the training set itself
 * (mixup-semi's labelledPerClass) stay formulas; a scheme's `settings`
 * record the resolved values.
 */
export function schemeDefaults(name: string, datasetName: string): Record<string, unknown> {
  if (!isSchemeName(name)) throw unknownScheme(name);
  if (name === 'gaussian-noise') return { ...gaussianNoiseDefaults(datasetName) };
  if (name === 'adversarial') return { ...adversarialDefaults(datasetName) };
  return { ...SCHEME_DEFAULTS[name] };
}

/**
 * Builds a scheme by name. Unknown names, unknown parameter keys and values
 * out of range are UsageErrors with a one-line message naming the field, the
 * value and what is allowed. `rng` seeds the scheme's own one-off choices
 * (mixup-semi's labelled subset); per-step randomness comes from the
 * training loop's BatchContext.
 */
export function createScheme(name: string, params: Record<string, unknown> | undefined, dataset: Dataset, rng: Rng): Scheme {
  if (!isSchemeName(name)) throw unknownScheme(name);
  const p = params ?? {};
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    throw new UsageError(`scheme ${name}: parameters must be an object of name: value pairs, got ${JSON.stringify(p)}`);
  }
  return FACTORIES[name](p, dataset, rng);
}
