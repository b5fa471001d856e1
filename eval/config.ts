/**
 * What an evaluation is asked to do: the config (attacks, radii, sizes,
 * probes, sanity checks), its defaults and their validation.
 */
import { AttackSpec, ResolvedAttack, resolveAttackParams, validateEpsList } from '../attacks/registry';
import { Classifier } from '../contract/classifier';
import { UsageError } from '../contract/errors';
import { attackNormKey } from '../contract/keys';
import { Norm, validateNorm } from '../contract/norms';
import { Dataset, inputSize } from '../data/types';
import { EVAL_DEFAULTS } from './defaults';
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
 * The evaluation's settings: threat model, radii and sizes. One type for the
 * `eval` block of a study experiment (suite/config.ts), of an eval job spec
 * (suite/job-spec.ts EvalSpec, whose id hashes it) and of EvalConfig below;
 * `withEvalDefaults` is the one place its defaults are applied.
 */
export interface EvalSettings {
  /** Threat model. Default "linf". An attack's params.norm overrides it. */
  norm: Norm;
  /** Radii, each >= 0. */
  eps: number[];
  /** Attack the first n test examples (capped at the test set). Default 500. */
  nExamples: number;
  /** Examples per attack batch. Default 250. */
  batchSize: number;
  /** Training / test / vicinal points probed for gradient norms. Default 200. */
  probePoints: number;
  /**
   * Keep the adversarial inputs of the first k evaluated examples, per attack
   * and eps (EvalDetails.adversarial; eval jobs write them to
   * RUN/adv/<evalJobId>.npz). Absent or 0: none kept. At most nExamples.
   */
  saveAdversarial?: number;
}

/** EvalSettings as given: every field but `eps` may be left to its default. */
export type EvalSettingsInput = Pick<EvalSettings, 'eps'> & Partial<Omit<EvalSettings, 'eps'>>;

/**
 * What to evaluate: the settings (an eval job passes its spec's `eval` block
 * as it is), the attacks, and what no job spec holds (transfer models by
 * name, probe and sanity options).
 */
export interface EvalConfig extends EvalSettingsInput {
  /** Attacks run at every eps (registry names and params, attacks/registry.ts). */
  attacks: AttackSpec[];
  /** Transfer attacks from other models. Default none. */
  transfer?: TransferSpec[];
  /** Gradient-norm probes: true/false, or options (probePoints sets their number). Default enabled. */
  probes?: boolean | Omit<ProbeConfig, 'nPoints'>;
  /** Automatic checks. Default enabled. */
  sanity?: SanityConfig;
}

export interface ResolvedEvalConfig {
  attacks: ResolvedAttack[];
  eps: number[];
  norm: Norm;
  nExamples: number;
  batchSize: number;
  /** Rows whose adversarial inputs are kept (0: none), at most nExamples. */
  saveAdversarial: number;
  transfer: { source: string; attack: ResolvedAttack }[];
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

/** The defaults (eval/defaults.ts), exported here for the study schema and the cost model. */
export { EVAL_DEFAULTS };

/** The settings with every default filled in: the one place EvalSettings defaults are applied (study configs and evaluateModel both call it). */
export function withEvalDefaults<T extends EvalSettingsInput>(s: T): T & EvalSettings {
  return {
    ...s,
    norm: s.norm ?? EVAL_DEFAULTS.norm,
    nExamples: s.nExamples ?? EVAL_DEFAULTS.nExamples,
    batchSize: s.batchSize ?? EVAL_DEFAULTS.batchSize,
    probePoints: s.probePoints ?? EVAL_DEFAULTS.probePoints,
  };
}

function positiveInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`invalid ${field} ${JSON.stringify(v)}; allowed: an integer >= 1`);
  return v;
}

/** Fills defaults and validates; bad values are UsageErrors naming the field, the value and what is allowed. */
export function resolveEvalConfig(input: EvalConfig, dataset: Dataset, options: EvalOptions = {}): ResolvedEvalConfig {
  const config = withEvalDefaults(input);
  const norm = validateNorm(config.norm);
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
  const nExamples = Math.min(positiveInt('nExamples', config.nExamples), dataset.test.n);
  const batchSize = positiveInt('batchSize', config.batchSize);
  const p = typeof config.probes === 'boolean' ? { enabled: config.probes } : (config.probes ?? {});
  const probes = { ...p, enabled: p.enabled ?? true, nPoints: positiveInt('probePoints', config.probePoints) };
  const saveAdversarial = config.saveAdversarial ?? 0;
  if (!Number.isInteger(saveAdversarial) || saveAdversarial < 0) throw new UsageError(`invalid saveAdversarial ${JSON.stringify(saveAdversarial)}; allowed: an integer >= 0`);
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
    saveAdversarial: Math.min(saveAdversarial, nExamples),
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
