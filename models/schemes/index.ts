/**
 * The training schemes, selected by name. Each lives in its own module with
 * a typed, documented parameter interface, its defaults and its descriptor;
 * adding a scheme means its own file plus one line in SCHEMES below. This
 * module validates names and parameters (bad input is a UsageError) and
 * derives every list the config, the CLI and the tests use.
 */
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { UsageError } from '../../contract/errors';
import { adversarialScheme } from './adversarial';
import { ermScheme } from './erm';
import { gaussianNoiseScheme } from './gaussian-noise';
import { labelSmoothingScheme } from './label-smoothing';
import { mixupScheme } from './mixup';
import { mixupAsymScheme } from './mixup-asym';
import { mixupKnnScheme } from './mixup-knn';
import { mixupSemiScheme } from './mixup-semi';
import { Scheme, SchemeDescriptor } from './types';

export type { BatchContext, BatchInfo, PartnerSource, Scheme, SchemeDescriptor, SchemeFactory, TrainingBatch } from './types';
export { sampleAsymLambda, sampleMixupLambda, asymLambdaMean } from './samplers';

/** The registry: one line per scheme, in display order (erm first: the reference). */
export const SCHEMES: readonly SchemeDescriptor[] = [ermScheme, mixupScheme, mixupAsymScheme, mixupSemiScheme, mixupKnnScheme, labelSmoothingScheme, gaussianNoiseScheme, adversarialScheme];

const BY_NAME = new Map(SCHEMES.map((s) => [s.name, s]));

export const SCHEME_NAMES: readonly string[] = SCHEMES.map((s) => s.name);

/** Every scheme's dataset-independent defaults, by name (README, help texts). */
export const SCHEME_DEFAULTS: Readonly<Record<string, Record<string, unknown>>> = Object.fromEntries(SCHEMES.map((s) => [s.name, s.documentedDefaults]));

export function isSchemeName(name: string): boolean {
  return BY_NAME.has(name);
}

/** The descriptor of a scheme, or a UsageError listing the allowed names. */
export function schemeDescriptor(name: string): SchemeDescriptor {
  const d = BY_NAME.get(name);
  if (!d) throw new UsageError(`unknown scheme "${name}"; allowed: ${SCHEME_NAMES.join(', ')}`);
  return d;
}

/**
 * A scheme's defaults resolved for one dataset name (e.g. gaussian-noise on
 * mnist: { sigma: 0.1 }). Defaults that depend on the training set itself
 * (mixup-semi's labelledPerClass) stay formulas; a scheme's `settings`
 * record the resolved values.
 */
export function schemeDefaults(name: string, datasetName: string): Record<string, unknown> {
  return schemeDescriptor(name).defaults(datasetName);
}

/**
 * Builds a scheme by name. Unknown names, unknown parameter keys and values
 * out of range are UsageErrors with a one-line message naming the field, the
 * value and what is allowed. `rng` seeds the scheme's own one-off choices
 * (mixup-semi's labelled subset); per-step randomness comes from the
 * training loop's BatchContext.
 */
export function createScheme(name: string, params: Record<string, unknown> | undefined, dataset: Dataset, rng: Rng): Scheme {
  const d = schemeDescriptor(name);
  const p = params ?? {};
  if (typeof p !== 'object' || p === null || Array.isArray(p)) {
    throw new UsageError(`scheme ${name}: parameters must be an object of name: value pairs, got ${JSON.stringify(p)}`);
  }
  return d.create(p, dataset, rng);
}
