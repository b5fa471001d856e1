/**
 * What an evaluation is asked to do: the config (attacks, radii, sizes,
 * probes, sanity checks), its defaults and their validation.
 */
import { AttackSpec, resolveAttackParams, validateEpsList } from '../attacks/registry';
import { Classifier } from '../contract/classifier';
import { UsageError } from '../contract/errors';
import { attackNormKey } from '../contract/keys';
import { Norm, validateNorm } from '../contract/norms';
import { Dataset, inputSize } from '../data/types';
import { ProbeConfig, VicinalSource } from './probes';
import { DEFAULT_TOLERANCES, SanityTolerances } from './sanity';

/** A transfer attack: examples crafted on the model named `source` (supplied in EvalOptions.sources) with `attack`. */
export interface TransferSpec {
  source: string;
  attack: AttackSpec;
}

export interface SanityConfig {
  /** Default true. */
  enabled?: boolean;
  /** Examples used by the extra sanity runs (large eps, doubled steps, batch-size checks): the first ones evaluated. Default 200. */
  nExamples?: number;
  /**
   * Radius of the large-eps check. Default: the whole input range, hi - lo
   * (linf) or (hi - lo) * sqrt(d) (l2), so any input in the bounds is reachable.
   */
  largeEps?: number;
  /** Run PGD with twice the steps (same step size) at the most informative eps. Default true. */
  stepsDoubling?: boolean;
  /** Tolerances; see attacks/sanity.ts DEFAULT_TOLERANCES. */
  tolerances?: Partial<SanityTolerances>;
}

/**
 * What to evaluate. Every field but `attacks` and `eps` has a default.
 */
export interface EvalConfig {
  /** Attacks run at every eps (registry names and params, attacks/registry.ts). */
  attacks: AttackSpec[];
  /** Radii, each >= 0. */
  eps: number[];
  /** Threat model. Default "linf". An attack's params.norm overrides it. */
  norm?: Norm;
  /** Attack the first n test examples (capped at the test set). Default 500. */
  nExamples?: number;
  /** Examples per attack batch. Default 250. */
  batchSize?: number;
  /** Transfer attacks from other models. Default none. */
  transfer?: TransferSpec[];
  /** Gradient-norm probes. Default enabled with 200 points. */
  probes?: ProbeConfig;
  /** Automatic checks. Default enabled. */
  sanity?: SanityConfig;
}

export interface ResolvedEvalConfig {
  attacks: { name: string; norm: Norm; params: Record<string, unknown> }[];
  eps: number[];
  norm: Norm;
  nExamples: number;
  batchSize: number;
  transfer: { source: string; attack: { name: string; norm: Norm; params: Record<string, unknown> } }[];
  probes: ProbeConfig & { enabled: boolean };
  sanity: { enabled: boolean; nExamples: number; largeEps: number; stepsDoubling: boolean; tolerances: SanityTolerances };
}

export interface EvalProgress {
  stage: 'clean' | 'attack' | 'probes' | 'sanity';
  detail: string;
  done: number;
  total: number;
}

/** What cannot live in a config file: other models and callbacks. */
export interface EvalOptions {
  /** Source models of transfer attacks, by name. */
  sources?: Record<string, Classifier>;
  /** Vicinal probe points (e.g. from scheme.vicinity). */
  vicinal?: VicinalSource;
  onProgress?: (p: EvalProgress) => void;
}

/**
 * Defaults. 500 examples (as suite/config.ts) give a standard error of at
 * most 2.2 points on a robust accuracy; batches of 250 keep the wasm backend
 * near its throughput (500 is ~15% faster, 100 ~35% slower, for PGD on the
 * MNIST MLP). 200 probe and sanity points bound the extra cost of the
 * probes and checks to a few PGD-40 runs.
 */
export const EVAL_DEFAULTS = { norm: 'linf' as Norm, nExamples: 500, batchSize: 250, probePoints: 200, sanityExamples: 200 };

function positiveInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`invalid ${field} ${JSON.stringify(v)}; allowed: an integer >= 1`);
  return v;
}

/** Fills defaults and validates; bad values are UsageErrors naming the field, the value and what is allowed. */
export function resolveEvalConfig(config: EvalConfig, dataset: Dataset, options: EvalOptions = {}): ResolvedEvalConfig {
  const norm = validateNorm(config.norm ?? EVAL_DEFAULTS.norm);
  const eps = [...validateEpsList(config.eps)];
  if (!Array.isArray(config.attacks) || config.attacks.length === 0) {
    throw new UsageError(`attacks must be a non-empty list of {name, params}, got ${JSON.stringify(config.attacks)}`);
  }
  const attacks = config.attacks.map((a) => resolveAttackParams(a, norm));
  const keys = new Set<string>();
  for (const a of attacks) {
    const k = attackNormKey(a.name, a.norm);
    if (keys.has(k)) throw new UsageError(`attack "${a.name}" (${a.norm}) is listed twice; each attack may appear once per norm`);
    keys.add(k);
  }
  const transfer = (config.transfer ?? []).map((t) => {
    if (!t || typeof t.source !== 'string' || !t.source) throw new UsageError(`transfer entries need a source name, got ${JSON.stringify(t)}`);
    if (!options.sources?.[t.source]) {
      throw new UsageError(`transfer source "${t.source}" has no model; available: ${Object.keys(options.sources ?? {}).join(', ') || 'none'}`);
    }
    return { source: t.source, attack: resolveAttackParams(t.attack, norm) };
  });
  const nExamples = Math.min(positiveInt('nExamples', config.nExamples ?? EVAL_DEFAULTS.nExamples), dataset.test.n);
  const batchSize = positiveInt('batchSize', config.batchSize ?? EVAL_DEFAULTS.batchSize);
  const p = config.probes ?? {};
  const probes = { ...p, enabled: p.enabled ?? true, nPoints: positiveInt('probes.nPoints', p.nPoints ?? EVAL_DEFAULTS.probePoints) };
  if (p.eps) validateEpsList(p.eps, 'probes.eps');
  const s = config.sanity ?? {};
  const d = inputSize(dataset.inputShape);
  const range = dataset.bounds.hi - dataset.bounds.lo;
  const largeEps = s.largeEps ?? (norm === 'linf' ? range : range * Math.sqrt(d));
  if (!(largeEps > 0) || !Number.isFinite(largeEps)) throw new UsageError(`invalid sanity.largeEps ${largeEps}; allowed: a finite number > 0`);
  const tolerances = { ...DEFAULT_TOLERANCES, ...(s.tolerances ?? {}) };
  for (const [k, v] of Object.entries(tolerances)) {
    if (typeof v !== 'number' || !(v >= 0)) throw new UsageError(`invalid sanity.tolerances.${k} ${JSON.stringify(v)}; allowed: a number >= 0`);
  }
  return {
    attacks,
    eps,
    norm,
    nExamples,
    batchSize,
    transfer,
    probes,
    sanity: {
      enabled: s.enabled ?? true,
      nExamples: Math.min(positiveInt('sanity.nExamples', s.nExamples ?? EVAL_DEFAULTS.sanityExamples), nExamples),
      largeEps,
      stepsDoubling: s.stepsDoubling ?? true,
      tolerances,
    },
  };
}
