import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Bounds } from '../data/types';
import { Classifier } from '../contract/classifier';
import type { Norm } from '../contract/norms';
import { ATTACK_LOSSES, type AttackLoss } from './losses';

/**
 * The one call shape of every attack (after torchattacks: one attack per
 * file behind a common base; after Foolbox 3: explicit bounds, an epsilon per
 * call, results clipped into the ball and the bounds, a success mask).
 *
 * `run` attacks one batch. It never mutates its inputs (tensors are
 * immutable; `y` and `options.targets` are only read) and always returns
 * points inside the eps-ball around `x` (in `norm`) and inside `bounds`: the
 * result is projected and then checked, and a point outside throws
 * `AttackBoundsError` (a bug, never a silent result).
 */
export interface Attack {
  /** e.g. "fgsm", "pgd", "apgd-ce", "noise", "transfer:erm". */
  readonly name: string;
  readonly norm: Norm;
  /** Every resolved setting (steps, step size, restarts, ...), recorded in results. */
  readonly settings: Readonly<Record<string, unknown>>;
  run(f: Classifier, x: tf.Tensor, y: Int32Array, bounds: Bounds, eps: number, rng: Rng, options?: AttackRunOptions): AttackOutput;
}

/**
 * The name reports show for an attack: its name, followed by its recorded
 * `variant` setting when it has one ("autoattack (standard)",
 * "square (vicinal-rescaled)"). Result keys keep the plain name.
 */
export function attackLabel(name: string, settings: Readonly<Record<string, unknown>> | undefined): string {
  const variant = settings?.variant;
  return typeof variant === 'string' && variant ? `${name} (${variant})` : name;
}

/**
 * What kind of attack an entry is; the sanity checks compare families
 * (an iterative attack weaker than a single-step one, noise stronger than
 * a white-box one).
 * - single-step: one gradient step (fgsm, fgm).
 * - iterative: white-box, many gradient steps (pgd, the APGD variants, fab-t).
 * - score-based: black-box, queries the scores only (square).
 * - composite: runs other attacks and keeps the per-example worst case (autoattack).
 * - baseline: no model information (noise).
 */
export const ATTACK_FAMILIES = ['single-step', 'iterative', 'score-based', 'composite', 'baseline'] as const;
export type AttackFamily = (typeof ATTACK_FAMILIES)[number];

/** How one parameter of an attack is validated (attacks/registry.ts resolveAttackParams). */
export interface ParamRule {
  kind: 'int' | 'number' | 'boolean' | 'enum';
  /** Inclusive lower bound. */
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Allowed values of an enum. */
  values?: readonly string[];
}

/**
 * Network passes per example of one attack call at one epsilon: forward
 * passes (logits only) and gradient passes (forward + backward to the
 * input), every pass the attack's `run` makes, the final scoring of the
 * adversarial batch included (not the one-row probe that reads the number
 * of classes). Attacks that stop on a row once it is broken (square,
 * apgd-t, autoattack's later stages) give the count for rows that survive:
 * an upper bound.
 */
export interface AttackCost {
  forward: number;
  gradient: number;
}

/**
 * Everything the suite knows about one attack, stated once, in the
 * attack's own file; attacks/registry.ts lists the descriptors and holds the
 * generic code (name and parameter resolution, validation, creation). The
 * cost model (suite/shard.ts), the confidence checks (eval/confidence.ts),
 * the findings (reports/findings.ts) and the attack table of the docs
 * (attacks/registry.ts attackTableMarkdown) read these fields.
 *
 * Adding an attack: write its file (the class and its descriptor) and add
 * the descriptor to the list in attacks/registry.ts. test/attacks/descriptors
 * checks that every registered attack states every fact and that cost()
 * matches the passes it really makes.
 */
export interface AttackDescriptor {
  /** Registry name, e.g. "pgd". */
  name: string;
  /** One line for the docs' attack table. */
  summary: string;
  family: AttackFamily;
  /** Norms the attack supports; the first is its default. */
  norms: readonly Norm[];
  /** Every parameter besides `norm`, with its rule. */
  params: Record<string, ParamRule>;
  /**
   * Defaults at a norm, given the parameters the user set (PGD's step size
   * depends on its steps). A parameter without a default (pgd's stepSize,
   * the `loss` of fgsm/fgm/pgd) is left out: the attack's settings record
   * what it used.
   */
  defaults(norm: Norm, given: Record<string, unknown>): Record<string, unknown>;
  /**
   * Passes per example at one eps as a function of the resolved parameters
   * and the number of classes (targeted runs are capped at classes - 1).
   * `survivors` (default 1): the share of rows a composite attack's later
   * stages still attack (an estimate for the cost model; 1 is the upper bound).
   */
  cost(params: Record<string, unknown>, classes: number, survivors?: number): AttackCost;
  /** The loss the attack ascends with these parameters; null for none (noise) or a mix (autoattack's stages). */
  loss(params: Record<string, unknown>): AttackLoss | null;
  /**
   * Whether a loss that ignores the logits' scale (margin, DLR) drives the
   * attack or one of its stages, so that a model whose cross-entropy
   * saturates cannot hide from it.
   */
  scaleInvariant(params: Record<string, unknown>): boolean;
  /** Whether the outcome depends only on the predicted class (no loss, no gradient): it cannot change with the logits' scale. */
  argmaxOnly: boolean;
  /**
   * The same attack and budget with a scale-invariant loss (for the
   * ce-saturation check); null when the parameters already give one or the
   * attack has none.
   */
  invariantCounterpart(params: Record<string, unknown>): { name: string; params: Record<string, unknown> } | null;
  make(norm: Norm, params: Record<string, unknown>): Attack;
}

/** Rules shared by several attacks. */
export const STEPS_RULE: ParamRule = { kind: 'int', min: 1, max: 100000 };
export const RESTARTS_RULE: ParamRule = { kind: 'int', min: 1, max: 1000 };
export const TARGET_CLASSES_RULE: ParamRule = { kind: 'int', min: 1, max: 1000 };
export const LOSS_RULE: ParamRule = { kind: 'enum', values: ATTACK_LOSSES };

/** A cost of `gradient` gradient passes and `forward` forward passes. */
export function attackCost(gradient: number, forward: number): AttackCost {
  return { forward, gradient };
}

/** The loss of attacks with a `loss` parameter (fgsm, fgm, pgd, square): the parameter, else `fallback`. */
export function lossParam(params: Record<string, unknown>, fallback: AttackLoss): AttackLoss {
  return (params.loss as AttackLoss | undefined) ?? fallback;
}

/** The ce-saturation counterpart of an attack with a `loss` parameter: the same attack with the margin loss, when it runs on CE. */
export function marginCounterpart(name: string, fallback: AttackLoss) {
  return (params: Record<string, unknown>): { name: string; params: Record<string, unknown> } | null => (lossParam(params, fallback) === 'ce' ? { name, params: { ...params, loss: 'margin' } } : null);
}

export interface AttackRunOptions {
  /**
   * Targeted attack: the class each row should be pushed to (descend the
   * cross-entropy of the target instead of ascending that of the label).
   * Success then means "classified as the target". Omitted: untargeted.
   */
  targets?: Int32Array;
}

export interface AttackOutput {
  /** Adversarial inputs, same shape as x, inside the eps-ball and the bounds. The caller disposes it. */
  xAdv: tf.Tensor;
  /** Per row 1 when the attack succeeded: misclassified (untargeted) or classified as the target (targeted). */
  success: Uint8Array;
  /** Per row cross-entropy of the true label at xAdv. */
  loss: Float32Array;
  /** Per row predicted class at xAdv. */
  pred: Int32Array;
  /**
   * Composite attacks (autoattack) only: robust accuracy after each stage,
   * in order, the first entry being the clean batch ("clean").
   */
  log?: AttackStageLog[];
}

/** One stage of a composite attack on one batch (or, summed with mergeStageLogs, on several). */
export interface AttackStageLog {
  /** "clean", then the stage attack's name ("apgd-ce", "apgd-t", "square"). */
  stage: string;
  /** Share of the rows still correctly classified after this stage and every earlier one: robust / n. */
  robustAccuracy: number;
  /** Rows still correctly classified after this stage. */
  robust: number;
  /** Rows in the batch. */
  n: number;
  /** Rows this stage attacked: those that survived every earlier stage (for "clean": n). */
  attacked: number;
  /** Wall seconds of the stage. */
  seconds: number;
  /** Per row 1 while the row has survived every stage up to this one (one batch only; dropped by mergeStageLogs). */
  robustRows?: Uint8Array;
}

/**
 * Sums the stage logs of several batches of the same composite attack
 * (stage by stage, by position): counts and seconds add up, robust accuracy
 * is recomputed over all rows. `acc` undefined starts a new sum.
 */
export function mergeStageLogs(acc: AttackStageLog[] | undefined, batch: AttackStageLog[]): AttackStageLog[] {
  if (!acc) return batch.map(({ robustRows: _rows, ...s }) => ({ ...s }));
  if (acc.length !== batch.length || acc.some((s, i) => s.stage !== batch[i].stage)) {
    throw new Error(`stage logs differ: ${acc.map((s) => s.stage).join(',')} vs ${batch.map((s) => s.stage).join(',')}`);
  }
  return acc.map((s, i) => {
    const robust = s.robust + batch[i].robust;
    const n = s.n + batch[i].n;
    return { stage: s.stage, robustAccuracy: n ? robust / n : NaN, robust, n, attacked: s.attacked + batch[i].attacked, seconds: s.seconds + batch[i].seconds };
  });
}

/** An adversarial point left the eps-ball or the bounds: always a bug, never a result. */
export class AttackBoundsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttackBoundsError';
  }
}

/** Axes 1..rank-1: everything but the batch axis. */
export function rowAxes(t: tf.Tensor): number[] {
  return t.shape.slice(1).map((_, i) => i + 1);
}

/** Per-row norm as a [b] tensor: max |v| (linf), sqrt(sum v^2) (l2) or sum |v| (l1). */
export function rowNorm(v: tf.Tensor, norm: Norm | 'l1'): tf.Tensor1D {
  return tf.tidy(() => {
    const flat = tf.reshape(v, [v.shape[0], -1]);
    if (norm === 'linf') return tf.max(tf.abs(flat), 1) as tf.Tensor1D;
    if (norm === 'l1') return tf.sum(tf.abs(flat), 1) as tf.Tensor1D;
    return tf.sqrt(tf.sum(tf.square(flat), 1)) as tf.Tensor1D;
  });
}

/** Reshapes a [b] tensor to [b, 1, ..., 1] so it broadcasts against rows shaped like `like`. */
export function perRow(v: tf.Tensor, like: tf.Tensor): tf.Tensor {
  return tf.reshape(v, [like.shape[0], ...like.shape.slice(1).map(() => 1)]);
}

/**
 * Per row `ifTrue` where `mask` ([b], bool or 0/1) is set, else `ifFalse`.
 * Written as ifTrue * m + ifFalse * (1 - m) with m shaped [b, 1, ..., 1]:
 * exact for finite values (x * 1 + y * 0 == x) and much faster on wasm than
 * tf.where with a broadcast mask (tf.broadcastTo is slow there).
 */
export function selectRows(mask: tf.Tensor, ifTrue: tf.Tensor, ifFalse: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const m = perRow(tf.cast(mask, 'float32'), ifTrue);
    return tf.add(tf.mul(ifTrue, m), tf.mul(ifFalse, tf.sub(1, m)));
  });
}

/**
 * The steepest-ascent direction of a gradient under `norm` with unit
 * `norm`-size: sign(g) (linf), g / ||g||_2 (l2). A zero gradient gives a zero step.
 */
export function steepestDirection(g: tf.Tensor, norm: Norm): tf.Tensor {
  return tf.tidy(() => {
    if (norm === 'linf') return tf.sign(g);
    const n = tf.sqrt(tf.sum(tf.square(g), rowAxes(g), true));
    return tf.div(g, tf.maximum(n, 1e-12));
  });
}

/**
 * A uniform random point of the eps-ball around each row of x (before the
 * bounds): a uniform box for linf; for l2 a Gaussian direction with radius
 * eps * U^(1/d), uniform in the ball's volume. Seeded from `rng`.
 */
export function randomInBall(x: tf.Tensor, eps: number, norm: Norm, rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    const seed = rng.nextUint32();
    if (norm === 'linf') return tf.add(x, tf.randomUniform(x.shape, -eps, eps, 'float32', seed));
    const d = x.size / Math.max(1, x.shape[0]);
    const g = tf.randomNormal(x.shape, 0, 1, 'float32', seed);
    const dir = tf.div(g, tf.maximum(tf.sqrt(tf.sum(tf.square(g), rowAxes(x), true)), 1e-12));
    const u = tf.randomUniform([x.shape[0], ...x.shape.slice(1).map(() => 1)], 0, 1, 'float32', rng.nextUint32());
    return tf.add(x, tf.mul(dir, tf.mul(eps, tf.pow(u, 1 / d))));
  });
}

/** Projects `xAdv` onto the eps-ball around `x` (in `norm`) and then into the input bounds. */
export function project(xAdv: tf.Tensor, x: tf.Tensor, eps: number, norm: Norm, bounds: Bounds): tf.Tensor {
  // Limits are rounded to float32 first: the wasm backend's ClipByValue
  // (XNNPACK clamp) rejects limits that are distinct doubles but equal floats
  // (e.g. +-1e-300) and then returns garbage.
  const e = Math.fround(eps);
  return tf.tidy(() => {
    let delta = tf.sub(xAdv, x);
    if (norm === 'linf') {
      delta = tf.clipByValue(delta, -e, e);
    } else {
      const axes = delta.shape.slice(1).map((_, i) => i + 1);
      const n = tf.sqrt(tf.sum(tf.square(delta), axes, true));
      delta = tf.mul(delta, tf.minimum(1, tf.div(eps, tf.maximum(n, 1e-12))));
    }
    // Clipping into the bounds only shrinks each |delta_i| (x itself is inside
    // the bounds), so the point stays in the ball.
    return tf.clipByValue(tf.add(x, delta), Math.fround(bounds.lo), Math.fround(bounds.hi));
  });
}

/**
 * Slack of the ball check for float32 rounding: x + delta is rounded once
 * (half an ulp of the largest magnitude involved), the L2 rescaling a few
 * ulps of eps. Violations beyond it are real bugs.
 */
export function ballTolerance(eps: number, norm: Norm, bounds: Bounds): number {
  const scale = Math.max(1, Math.abs(bounds.lo), Math.abs(bounds.hi), eps);
  return norm === 'linf' ? 4e-7 * scale : 1e-5 * eps + 4e-7 * scale;
}

/** Largest ball and bounds violations of a batch, computed on the device (two numbers read back). */
export function ballViolation(xAdv: tf.Tensor, x: tf.Tensor, eps: number, norm: Norm, bounds: Bounds): { ball: number; bounds: number; nonFinite: boolean } {
  const [ball, outside, bad] = tf.tidy(() => {
    const dist = rowNorm(tf.sub(xAdv, x), norm);
    const over = tf.max(tf.sub(dist, eps));
    const outsideLo = tf.max(tf.sub(bounds.lo, xAdv));
    const outsideHi = tf.max(tf.sub(xAdv, bounds.hi));
    const nonFinite = tf.logicalNot(tf.all(tf.isFinite(xAdv)));
    return [over, tf.maximum(outsideLo, outsideHi), nonFinite];
  });
  const out = { ball: ball.dataSync()[0], bounds: outside.dataSync()[0], nonFinite: bad.dataSync()[0] === 1 };
  ball.dispose();
  outside.dispose();
  bad.dispose();
  return out;
}

/**
 * Throws AttackBoundsError unless every row of `xAdv` lies inside the
 * eps-ball around `x` (up to `ballTolerance`) and inside `bounds` (exactly,
 * as float32) and is finite.
 */
export function assertInBall(xAdv: tf.Tensor, x: tf.Tensor, eps: number, norm: Norm, bounds: Bounds, who = 'attack'): void {
  if (xAdv.shape.join(',') !== x.shape.join(',')) {
    throw new AttackBoundsError(`${who}: adversarial batch has shape [${xAdv.shape}], inputs [${x.shape}]`);
  }
  if (x.shape[0] === 0) return;
  const v = ballViolation(xAdv, x, eps, norm, bounds);
  if (v.nonFinite) throw new AttackBoundsError(`${who}: adversarial batch holds NaN or infinite values`);
  const tol = ballTolerance(eps, norm, bounds);
  if (v.ball > tol) {
    throw new AttackBoundsError(`${who}: adversarial example outside the ${norm} ball of radius ${eps} (by ${v.ball}, tolerance ${tol})`);
  }
  if (v.bounds > 0) {
    throw new AttackBoundsError(`${who}: adversarial example outside the bounds [${bounds.lo}, ${bounds.hi}] (by ${v.bounds})`);
  }
}

/** Host-side version of the check for plain arrays (row-major, `d` values per row). */
export function assertInBallArrays(xAdv: Float32Array, x: Float32Array, d: number, eps: number, norm: Norm, bounds: Bounds, who = 'attack'): void {
  if (xAdv.length !== x.length) throw new AttackBoundsError(`${who}: ${xAdv.length} adversarial values for ${x.length} inputs`);
  const tol = ballTolerance(eps, norm, bounds);
  const lo = Math.fround(bounds.lo);
  const hi = Math.fround(bounds.hi);
  for (let r = 0; r < x.length / d; r++) {
    let dist = 0;
    for (let i = r * d; i < r * d + d; i++) {
      const v = xAdv[i];
      if (!Number.isFinite(v) || v < lo || v > hi) throw new AttackBoundsError(`${who}: row ${r} value ${v} outside the bounds [${bounds.lo}, ${bounds.hi}]`);
      const a = Math.abs(v - x[i]);
      dist = norm === 'linf' ? Math.max(dist, a) : dist + a * a;
    }
    if (norm === 'l2') dist = Math.sqrt(dist);
    if (dist > eps + tol) throw new AttackBoundsError(`${who}: row ${r} is ${dist} from its input in ${norm}, outside the ball of radius ${eps}`);
  }
}
