import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Dataset, inputSize } from '../data/types';
import { Classifier } from '../contract/classifier';
import { UsageError } from '../contract/errors';
import { AttackSummary, EvalJobResult, SanityFlag } from '../contract/results';
import { PerExampleAttack, PerExampleData } from './export';
import { FgmAttack } from '../attacks/fgm';
import { FgsmAttack } from '../attacks/fgsm';
import { PgdAttack } from '../attacks/pgd';
import { gradientNorms, ProbeConfig, ProbeOutput, runProbes, VicinalSource } from './probes';
import { AttackSpec, createAttack, createTransferAttack, resolveAttackParams, validateEpsList } from '../attacks/registry';
import { validateNorm } from '../contract/norms';
import {
  checkBatchIndependence,
  checkDeterministic,
  checkGradients,
  checkIterativeVsSingleStep,
  checkLargeEps,
  checkMonotone,
  checkNoiseWeaker,
  checkOutcomeBatchIndependence,
  checkOutputsAreLogits,
  checkStepsDoubling,
  DEFAULT_TOLERANCES,
  SanityTolerances,
} from './sanity';
import { mean } from './distribution';
import { Attack } from '../attacks/types';
import { Norm } from '../contract/norms';
import { worstCaseCorrect } from '../attacks/worst-case';
import { attackNormKey, robustKey, worstCaseKey } from '../contract/keys';

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

/** The evaluation part of an EvalJobResult (the runner adds identity, status, timing and environment). */
export type EvalCore = Omit<EvalJobResult, 'kind' | 'jobId' | 'trainJobId' | 'identity' | 'status' | 'error' | 'wallSeconds' | 'env'>;

export interface EvalDetails {
  result: EvalCore;
  perExample: PerExampleData;
  probes: ProbeOutput | null;
  config: ResolvedEvalConfig;
  /** Wall seconds per stage and per attack key. */
  seconds: Record<string, number>;
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

interface Planned {
  attack: Attack;
  key: string;
  eps: number;
}

/**
 * Attacks a classifier on the first n test examples at every eps, with
 * every configured attack (and transfer attack), then the worst case per
 * eps, gradient-norm probes and the sanity checks. Returns the
 * EvalJobResult fields it owns plus per-example data.
 *
 * Robust correctness of an example = correct on the clean input AND after
 * the attack (the usual convention; an attack cannot "fix" an example).
 * Cost: one clean forward/backward pass, then per batch, attack and eps the
 * attack's own cost (PGD-40: 40 forward/backward passes). Attack loops read
 * nothing back per step; each attack call reads back once per batch.
 */
export function evaluateModelDetailed(f: Classifier, dataset: Dataset, config: EvalConfig, rng: Rng, options: EvalOptions = {}): EvalDetails {
  const c = resolveEvalConfig(config, dataset, options);
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const k = dataset.numClasses;
  const n = c.nExamples;
  const bs = c.batchSize;
  const x = dataset.test.x.subarray(0, n * d);
  const y = dataset.test.y.subarray(0, n);
  const seconds: Record<string, number> = {};
  const progress = options.onProgress ?? (() => undefined);
  const tick = (name: string, t0: number) => {
    seconds[name] = (seconds[name] ?? 0) + (Date.now() - t0) / 1000;
  };

  // Clean predictions, loss and gradient norms.
  let t0 = Date.now();
  progress({ stage: 'clean', detail: 'clean predictions and gradients', done: 0, total: 1 });
  const cleanPred = new Int32Array(n);
  const cleanLogits = new Float32Array(n * k);
  for (let s = 0; s < n; s += bs) {
    const e = Math.min(n, s + bs);
    const z = tf.tidy(() => f(tf.tensor(x.subarray(s * d, e * d), [e - s, ...shape])));
    cleanLogits.set(z.dataSync() as Float32Array, s * k);
    z.dispose();
  }
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (cleanLogits[i * k + j] > cleanLogits[i * k + best]) best = j;
    cleanPred[i] = best;
  }
  const cleanGrads = gradientNorms(f, x, shape, y, k, bs);
  const cleanCorrect = new Uint8Array(n);
  for (let i = 0; i < n; i++) cleanCorrect[i] = cleanPred[i] === y[i] ? 1 : 0;
  const cleanAccuracy = n ? mean(cleanCorrect) : NaN;
  tick('clean', t0);

  // The attacks.
  const attacks: Attack[] = c.attacks.map((a) => createAttack({ name: a.name, params: { ...a.params, norm: a.norm } }, c.norm));
  for (const t of c.transfer) {
    attacks.push(createTransferAttack(t.source, (options.sources as Record<string, Classifier>)[t.source], { name: t.attack.name, params: { ...t.attack.params, norm: t.attack.norm } }, c.norm));
  }
  const planned: Planned[] = [];
  for (const a of attacks) for (const eps of c.eps) planned.push({ attack: a, eps, key: robustKey(a.name, a.norm, eps) });
  const perAttack: PerExampleAttack[] = planned.map((p) => ({
    key: p.key,
    attack: p.attack.name,
    norm: p.attack.norm,
    eps: p.eps,
    pred: new Int32Array(n),
    loss: new Float32Array(n),
    correct: new Uint8Array(n),
  }));
  const attackRng = rng.fork('attacks');
  const totalRuns = planned.length * Math.ceil(n / bs);
  let runs = 0;
  for (let s = 0; s < n; s += bs) {
    const e = Math.min(n, s + bs);
    const xb = tf.tensor(x.subarray(s * d, e * d), [e - s, ...shape]);
    const yb = y.slice(s, e);
    try {
      planned.forEach((p, i) => {
        const ta = Date.now();
        progress({ stage: 'attack', detail: p.key, done: runs, total: totalRuns });
        const out = p.attack.run(f, xb, yb, dataset.bounds, p.eps, attackRng.fork(`${p.key}#${s}`));
        out.xAdv.dispose();
        const rec = perAttack[i];
        rec.pred.set(out.pred, s);
        rec.loss.set(out.loss, s);
        for (let r = 0; r < e - s; r++) rec.correct[s + r] = cleanCorrect[s + r] && out.pred[r] === yb[r] ? 1 : 0;
        runs++;
        tick(p.key, ta);
      });
    } finally {
      xb.dispose();
    }
  }
  const summaries: AttackSummary[] = planned.map((p, i) => ({
    attack: p.attack.name,
    norm: p.attack.norm,
    eps: p.eps,
    settings: { ...p.attack.settings },
    n,
    robustAccuracy: mean(perAttack[i].correct),
    meanLoss: mean(perAttack[i].loss),
  }));
  const robustCorrect: Record<string, number[]> = {};
  for (const r of perAttack) robustCorrect[r.key] = Array.from(r.correct);

  // Worst case per (norm, eps) over every attack.
  const worstCase: EvalCore['worstCase'] = [];
  const worstRows: PerExampleData['worstCase'] = [];
  const groups = new Map<string, PerExampleAttack[]>();
  for (const r of perAttack) {
    const g = `${r.norm}:${r.eps}`;
    groups.set(g, [...(groups.get(g) ?? []), r]);
  }
  for (const list of groups.values()) {
    const correct = worstCaseCorrect(list.map((r) => r.correct));
    const { norm, eps } = list[0];
    worstCase.push({ norm, eps, robustAccuracy: mean(correct), attacks: list.map((r) => r.attack) });
    worstRows.push({ key: worstCaseKey(norm, eps), norm, eps, correct });
  }

  // Probes.
  let probes: ProbeOutput | null = null;
  if (c.probes.enabled && n > 0) {
    t0 = Date.now();
    progress({ stage: 'probes', detail: 'gradient-norm probes', done: 0, total: 1 });
    probes = runProbes(f, dataset, { x, y }, c.norm, c.eps, c.probes, rng.fork('probes'), options.vicinal, bs);
    tick('probes', t0);
  }

  // Sanity checks.
  const flags: SanityFlag[] = [];
  if (c.sanity.enabled && n > 0) {
    t0 = Date.now();
    progress({ stage: 'sanity', detail: 'sanity checks', done: 0, total: 1 });
    flags.push(...runSanity(f, dataset, c, summaries, perAttack, cleanAccuracy, cleanLogits, cleanGrads.l1, rng.fork('sanity')));
    tick('sanity', t0);
  }

  return {
    result: {
      cleanAccuracy,
      n,
      attacks: summaries,
      worstCase,
      probes: probes?.distributions ?? {},
      flags,
      cleanCorrect: Array.from(cleanCorrect),
      robustCorrect,
    },
    perExample: {
      index: Int32Array.from({ length: n }, (_, i) => i),
      label: Int32Array.from(y),
      cleanPred,
      cleanLoss: cleanGrads.loss,
      gradL1: cleanGrads.l1,
      gradL2: cleanGrads.l2,
      attacks: perAttack,
      worstCase: worstRows,
    },
    probes,
    config: c,
    seconds,
  };
}

/** evaluateModelDetailed without the per-example extras: the EvalJobResult fields. */
export function evaluateModel(f: Classifier, dataset: Dataset, config: EvalConfig, rng: Rng, options: EvalOptions = {}): EvalCore {
  return evaluateModelDetailed(f, dataset, config, rng, options).result;
}

/**
 * Random restarts of the large-eps check. A ball that holds the whole box
 * contains examples of every class, but PGD is local: in low dimensions it
 * stalls in a box corner the model still classifies correctly (measured on
 * two-moons: one start leaves about half the points). Each restart runs on
 * the survivors only, so the cost stays near one run when the attack works.
 */
const LARGE_EPS_RESTARTS = 10;

/** Examples among the first m that are clean-correct and survive every restart of `attack` at `eps`. */
function largeEpsSurvivors(f: Classifier, attack: Attack, dataset: Dataset, m: number, bs: number, eps: number, cleanCorrect: ArrayLike<number>, rng: Rng): number {
  const d = inputSize(dataset.inputShape);
  let alive: number[] = [];
  for (let i = 0; i < m; i++) if (cleanCorrect[i]) alive.push(i);
  for (let r = 0; r < LARGE_EPS_RESTARTS && alive.length > 0; r++) {
    const next: number[] = [];
    for (let s = 0; s < alive.length; s += bs) {
      const rows = alive.slice(s, s + bs);
      const xs = new Float32Array(rows.length * d);
      rows.forEach((row, k) => xs.set(dataset.test.x.subarray(row * d, (row + 1) * d), k * d));
      const xb = tf.tensor(xs, [rows.length, ...dataset.inputShape]);
      try {
        const out = attack.run(f, xb, Int32Array.from(rows, (row) => dataset.test.y[row]), dataset.bounds, eps, rng.fork(`${r}:${s}`));
        out.xAdv.dispose();
        rows.forEach((row, k) => {
          if (!out.success[k]) next.push(row);
        });
      } finally {
        xb.dispose();
      }
    }
    alive = next;
  }
  return alive.length;
}

/** Robust-correct share of an attack run on the first m examples (clean-correct and still correct). */
function runAccuracy(f: Classifier, attack: Attack, dataset: Dataset, m: number, bs: number, eps: number, cleanCorrect: ArrayLike<number>, rng: Rng): { accuracy: number; success: Uint8Array } {
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const success = new Uint8Array(m);
  let correct = 0;
  for (let s = 0; s < m; s += bs) {
    const e = Math.min(m, s + bs);
    const xb = tf.tensor(dataset.test.x.subarray(s * d, e * d), [e - s, ...shape]);
    try {
      const out = attack.run(f, xb, dataset.test.y.slice(s, e), dataset.bounds, eps, rng.fork(`${s}`));
      out.xAdv.dispose();
      for (let r = 0; r < e - s; r++) {
        success[s + r] = out.success[r];
        if (cleanCorrect[s + r] && !out.success[r]) correct++;
      }
    } finally {
      xb.dispose();
    }
  }
  return { accuracy: m ? correct / m : NaN, success };
}

function runSanity(
  f: Classifier,
  dataset: Dataset,
  c: ResolvedEvalConfig,
  summaries: AttackSummary[],
  perAttack: PerExampleAttack[],
  cleanAccuracy: number,
  cleanLogits: Float32Array,
  gradL1: Float32Array,
  rng: Rng,
): SanityFlag[] {
  const tol = c.sanity.tolerances;
  const m = c.sanity.nExamples;
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const k = dataset.numClasses;
  const bs = c.batchSize;
  const cleanCorrect = new Uint8Array(m);
  for (let i = 0; i < m; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (cleanLogits[i * k + j] > cleanLogits[i * k + best]) best = j;
    cleanCorrect[i] = best === dataset.test.y[i] ? 1 : 0;
  }
  const flags: SanityFlag[] = [];
  flags.push(...checkGradients(gradL1, tol.zeroGradientShare));
  flags.push(...checkOutputsAreLogits(cleanLogits, k));
  const xs = dataset.test.x.subarray(0, m * d);
  const xFirst = tf.tensor(dataset.test.x.subarray(0, Math.min(m, bs) * d), [Math.min(m, bs), ...shape]);
  try {
    flags.push(...checkDeterministic(f, xFirst));
  } finally {
    xFirst.dispose();
  }
  flags.push(...checkBatchIndependence(f, xs, shape, tol.batchLogits));
  // A deterministic attack's outcomes at two batch sizes.
  const single: Attack = c.norm === 'linf' ? new FgsmAttack() : new FgmAttack();
  const midEps = [...c.eps].sort((a, b) => a - b)[Math.floor(c.eps.length / 2)];
  if (midEps > 0 && m > 1) {
    const whole = runAccuracy(f, single, dataset, m, Math.min(bs, m), midEps, cleanCorrect, rng.fork('batch-a'));
    const small = runAccuracy(f, single, dataset, m, Math.max(1, Math.ceil(Math.min(bs, m) / 3)), midEps, cleanCorrect, rng.fork('batch-b'));
    flags.push(...checkOutcomeBatchIndependence(whole.success, small.success, `${single.name} at eps ${midEps}`, tol.batchOutcomes));
  }

  flags.push(...checkMonotone(summaries, cleanAccuracy, tol.accuracy));
  flags.push(...checkIterativeVsSingleStep(summaries, tol.accuracy));
  flags.push(...checkNoiseWeaker(summaries, tol.accuracy));

  // PGD as configured (else the registry default) for the large-eps and doubled-steps runs.
  const pgdSpec = c.attacks.find((a) => a.name === 'pgd' && a.norm === c.norm);
  const pgd = createAttack({ name: 'pgd', params: pgdSpec ? { ...pgdSpec.params, norm: c.norm } : { norm: c.norm } }, c.norm) as PgdAttack;
  // The large-eps run scales its step with eps whatever absolute step the user set: a step
  // tuned for eps 0.1 cannot cross a ball of radius 1 in 40 steps.
  const { stepSize: _absolute, ...relative } = pgd.settings;
  const pgdLarge = new PgdAttack({ ...relative, randomStart: true, restarts: 1 });
  const survivors = largeEpsSurvivors(f, pgdLarge, dataset, m, bs, c.sanity.largeEps, cleanCorrect, rng.fork('large-eps'));
  flags.push(...checkLargeEps(survivors / m, m, c.sanity.largeEps, c.norm, `pgd-${pgd.settings.steps} (up to ${LARGE_EPS_RESTARTS} random restarts)`, tol.accuracy));

  if (c.sanity.stepsDoubling) {
    // The eps whose PGD robust accuracy is nearest half the clean accuracy: where more steps would show most.
    const pgdRuns = perAttack.filter((r) => r.attack === 'pgd' && r.norm === c.norm && r.eps > 0);
    const accOn = (r: PerExampleAttack) => mean(r.correct.subarray(0, m));
    const cleanM = mean(cleanCorrect);
    let eps: number;
    let baseAcc: number;
    if (pgdRuns.length) {
      const pick = pgdRuns.reduce((a, b) => (Math.abs(accOn(b) - cleanM / 2) < Math.abs(accOn(a) - cleanM / 2) ? b : a));
      eps = pick.eps;
      baseAcc = accOn(pick);
    } else {
      eps = midEps;
      baseAcc = runAccuracy(f, pgd, dataset, m, bs, eps, cleanCorrect, rng.fork('steps-base')).accuracy;
    }
    if (eps > 0) {
      const doubled = new PgdAttack({ ...pgd.settings, steps: 2 * pgd.settings.steps, stepSize: pgd.stepSizeAt(eps) });
      const acc2 = runAccuracy(f, doubled, dataset, m, bs, eps, cleanCorrect, rng.fork('steps-doubled')).accuracy;
      flags.push(...checkStepsDoubling(baseAcc, acc2, m, pgd.settings.steps, eps, c.norm, tol.steps));
    }
  }
  return flags;
}
