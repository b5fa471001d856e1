/**
 * Automatic checks of an evaluation (after Carlini et al. 2019, "On
 * evaluating adversarial robustness", and Athalye et al. 2018 on gradient
 * masking). Each returns SanityFlag[] (empty when the check passes);
 * severity "error" fails the job, "warning" is reported.
 *
 * Accuracy comparisons allow slack: differences count only when they exceed
 * both the tolerance and one example (1/n), since stochastic attacks (random
 * starts) differ by a few examples between runs.
 */
import * as tf from '@tensorflow/tfjs';
import { Bounds, inputSize } from '../data/types';
import { predictLogits } from '../models/predict';
import { Classifier } from '../contract/classifier';
import { AttackSummary, SanityFlag } from '../contract/results';
import { ITERATIVE_ATTACKS, SINGLE_STEP_ATTACKS } from '../attacks/registry';
import { ballTolerance, ballViolation } from '../attacks/types';
import { Norm } from '../contract/norms';
import { attackNormKey } from '../contract/keys';

export interface SanityTolerances {
  /** Accuracy slack of the monotonicity, iterative-vs-single-step, noise and large-eps checks. Default 0.01. */
  accuracy: number;
  /** Slack of the doubled-steps comparison (both runs are stochastic). Default 0.02. */
  steps: number;
  /** Largest share of examples with an exactly zero input gradient before flagging. Default 0.05. */
  zeroGradientShare: number;
  /** Relative logit difference allowed between batch sizes. Default 1e-4. */
  batchLogits: number;
  /** Share of FGSM outcomes allowed to change with the batch size. Default 0.01. */
  batchOutcomes: number;
}

export const DEFAULT_TOLERANCES: SanityTolerances = {
  accuracy: 0.01,
  steps: 0.02,
  zeroGradientShare: 0.05,
  batchLogits: 1e-4,
  batchOutcomes: 0.01,
};

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const slack = (tol: number, n: number): number => Math.max(tol, n > 0 ? 1 / n : 0) + 1e-12;

/** Error flag (instead of a throw) when adversarial examples leave the ball or the bounds. */
export function checkInBall(xAdv: tf.Tensor, x: tf.Tensor, eps: number, norm: Norm, bounds: Bounds, attack: string): SanityFlag[] {
  const v = ballViolation(xAdv, x, eps, norm, bounds);
  const tol = ballTolerance(eps, norm, bounds);
  const flags: SanityFlag[] = [];
  if (v.nonFinite || v.ball > tol || v.bounds > 0) {
    flags.push({
      check: 'out-of-ball',
      severity: 'error',
      norm,
      eps,
      message: `${attack} at ${norm} eps ${eps}: adversarial examples outside the ball (excess ${v.ball}) or the bounds (excess ${v.bounds})${v.nonFinite ? ' or not finite' : ''}`,
    });
  }
  return flags;
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

/**
 * Robust accuracy must not increase with eps for any attack (a larger ball
 * contains the smaller one), and must not exceed the clean accuracy.
 */
export function checkMonotone(summaries: AttackSummary[], cleanAccuracy: number, tol = DEFAULT_TOLERANCES.accuracy): SanityFlag[] {
  const flags: SanityFlag[] = [];
  for (const [key, list] of groupBy(summaries, (s) => attackNormKey(s.attack, s.norm))) {
    const sorted = [...list].sort((a, b) => a.eps - b.eps);
    let prev = { eps: 0, acc: cleanAccuracy, label: 'clean' };
    for (const s of sorted) {
      if (s.robustAccuracy > prev.acc + slack(tol, s.n)) {
        flags.push({
          check: 'non-monotone',
          severity: 'warning',
          norm: s.norm,
          eps: s.eps,
          message: `${key}: robust accuracy rises from ${pct(prev.acc)} (${prev.label}) to ${pct(s.robustAccuracy)} at eps ${s.eps}; a larger ball cannot make the model more robust, so the attack is failing to converge`,
        });
      }
      prev = { eps: s.eps, acc: Math.min(prev.acc, s.robustAccuracy), label: `eps ${s.eps}` };
    }
  }
  return flags;
}

/**
 * Iterative white-box attacks (pgd, apgd-ce) must be at least as strong as
 * single-step ones (fgsm, fgm) at the same norm and eps; otherwise the loss
 * surface is likely masking gradients (Athalye et al. 2018).
 */
export function checkIterativeVsSingleStep(summaries: AttackSummary[], tol = DEFAULT_TOLERANCES.accuracy): SanityFlag[] {
  const flags: SanityFlag[] = [];
  for (const [key, list] of groupBy(summaries, (s) => `${s.norm}:${s.eps}`)) {
    const single = list.filter((s) => SINGLE_STEP_ATTACKS.includes(s.attack));
    const iterative = list.filter((s) => ITERATIVE_ATTACKS.includes(s.attack));
    for (const it of iterative) {
      for (const one of single) {
        if (it.robustAccuracy > one.robustAccuracy + slack(tol, Math.min(it.n, one.n))) {
          flags.push({
            check: 'gradient-masking',
            severity: 'warning',
            norm: it.norm,
            eps: it.eps,
            message: `${key}: iterative ${it.attack} leaves ${pct(it.robustAccuracy)} robust accuracy, more than single-step ${one.attack} (${pct(one.robustAccuracy)}); possible gradient masking, or the iterative attack is too weak (step size too small to cross the ball from its random start, too few steps or restarts)`,
          });
        }
      }
    }
  }
  return flags;
}

/** Random noise must not beat a white-box attack at the same norm and eps (else gradients are likely masked). */
export function checkNoiseWeaker(summaries: AttackSummary[], tol = DEFAULT_TOLERANCES.accuracy): SanityFlag[] {
  const flags: SanityFlag[] = [];
  const whiteBox = [...SINGLE_STEP_ATTACKS, ...ITERATIVE_ATTACKS];
  for (const [key, list] of groupBy(summaries, (s) => `${s.norm}:${s.eps}`)) {
    const noise = list.find((s) => s.attack === 'noise');
    if (!noise) continue;
    for (const wb of list.filter((s) => whiteBox.includes(s.attack))) {
      if (noise.robustAccuracy + slack(tol, Math.min(wb.n, noise.n)) < wb.robustAccuracy) {
        flags.push({
          check: 'noise-stronger',
          severity: 'warning',
          norm: wb.norm,
          eps: wb.eps,
          message: `${key}: random noise leaves ${pct(noise.robustAccuracy)} robust accuracy, less than white-box ${wb.attack} (${pct(wb.robustAccuracy)}); gradients are likely masked or the attack is broken`,
        });
      }
    }
  }
  return flags;
}

/**
 * At an eps that lets the attacker reach the whole input space (the ball
 * holds the box), any input can be turned into any other: every example must
 * fall, so robust accuracy must be about 0%, not merely chance. Allowed:
 * at most `tol` of the examples (default 1%) and never fewer than one; the
 * flag names the survivors.
 */
export function checkLargeEps(accuracy: number, n: number, eps: number, norm: Norm, attack: string, tol = DEFAULT_TOLERANCES.accuracy): SanityFlag[] {
  const survivors = Math.round(accuracy * n);
  if (survivors <= Math.max(tol * n, 1)) return [];
  return [
    {
      check: 'large-eps-not-zero',
      severity: 'warning',
      norm,
      eps,
      message: `${attack} at ${norm} eps ${eps} (the ball holds the whole input box) leaves ${survivors} of ${n} examples (${pct(accuracy)}) correctly classified; it should break all of them, so the attack is not working (gradient masking, a saturated loss, or too few steps)`,
    },
  ];
}

/** Share of examples whose input gradient is exactly zero (warning above the tolerance) or not finite (error). */
export function checkGradients(gradL1: Float32Array, tol = DEFAULT_TOLERANCES.zeroGradientShare): SanityFlag[] {
  const n = gradL1.length;
  if (n === 0) return [];
  let zero = 0;
  let bad = 0;
  for (const v of gradL1) {
    if (!Number.isFinite(v)) bad++;
    else if (v === 0) zero++;
  }
  const flags: SanityFlag[] = [];
  if (bad > 0) {
    flags.push({ check: 'nan-gradients', severity: 'error', message: `${bad} of ${n} examples (${pct(bad / n)}) have NaN or infinite input gradients; gradient attacks are meaningless on them` });
  }
  if (zero / n > tol) {
    flags.push({
      check: 'zero-gradients',
      severity: 'warning',
      message: `${zero} of ${n} examples (${pct(zero / n)}) have an exactly zero input gradient (tolerance ${pct(tol)}); gradient attacks cannot move them (gradient masking, e.g. saturated softmax or a non-differentiable step)`,
    });
  }
  return flags;
}

/** Doubling PGD's steps (same step size) must not change robust accuracy beyond the tolerance. */
export function checkStepsDoubling(accuracy: number, doubledAccuracy: number, n: number, steps: number, eps: number, norm: Norm, tol = DEFAULT_TOLERANCES.steps): SanityFlag[] {
  const s = slack(tol, n);
  if (doubledAccuracy < accuracy - s) {
    return [
      {
        check: 'steps-not-converged',
        severity: 'warning',
        norm,
        eps,
        message: `pgd at ${norm} eps ${eps}: ${2 * steps} steps lower robust accuracy from ${pct(accuracy)} (${steps} steps) to ${pct(doubledAccuracy)} (tolerance ${pct(tol)}); the attack has not converged, robust accuracy is overestimated`,
      },
    ];
  }
  if (doubledAccuracy > accuracy + s) {
    return [
      {
        check: 'steps-unstable',
        severity: 'warning',
        norm,
        eps,
        message: `pgd at ${norm} eps ${eps}: ${2 * steps} steps raise robust accuracy from ${pct(accuracy)} (${steps} steps) to ${pct(doubledAccuracy)} (tolerance ${pct(tol)}); the attack's outcome depends on its random start more than the tolerance allows`,
      },
    ];
  }
  return [];
}

/**
 * The model must output logits: when every row lies in [0, 1] and sums to
 * 1, it outputs probabilities and the cross-entropy (which applies a
 * softmax) saturates, a classic source of masked gradients.
 */
export function checkOutputsAreLogits(logits: Float32Array, numClasses: number): SanityFlag[] {
  const n = logits.length / numClasses;
  if (n === 0) return [];
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < numClasses; j++) {
      const v = logits[i * numClasses + j];
      if (!(v >= 0 && v <= 1)) return [];
      sum += v;
    }
    if (Math.abs(sum - 1) > 1e-3) return [];
  }
  return [
    {
      check: 'outputs-probabilities',
      severity: 'warning',
      message: `every output row lies in [0, 1] and sums to 1: the model seems to output probabilities, but attacks and losses expect logits`,
    },
  ];
}

/** Two forward passes over the same batch must agree exactly. */
export function checkDeterministic(f: Classifier, x: tf.Tensor): SanityFlag[] {
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(f(x), f(x)))));
  const v = diff.dataSync()[0];
  diff.dispose();
  if (v === 0) return [];
  return [{ check: 'nondeterministic', severity: 'warning', message: `two forward passes over the same batch differ by up to ${v}; attack results are not reproducible` }];
}

/**
 * Logits must not depend on the batch size: the batch in one pass, in
 * chunks of about a third, and the first rows one at a time are compared.
 */
export function checkBatchIndependence(f: Classifier, x: Float32Array, inputShape: number[], tol = DEFAULT_TOLERANCES.batchLogits): SanityFlag[] {
  const d = inputSize(inputShape);
  const n = x.length / d;
  if (n < 2) return [];
  const logitsIn = (size: number, rows: number): Float32Array => predictLogits(f, x.subarray(0, rows * d), inputShape, size);
  const full = logitsIn(n, n);
  const third = logitsIn(Math.max(1, Math.ceil(n / 3)), n);
  const singles = Math.min(n, 8);
  const one = logitsIn(1, singles);
  let scale = 0;
  for (const v of full) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < full.length; i++) worst = Math.max(worst, Math.abs(full[i] - third[i]));
  for (let i = 0; i < one.length; i++) worst = Math.max(worst, Math.abs(full[i] - one[i]));
  if (worst <= tol * (1 + scale)) return [];
  return [
    {
      check: 'batch-dependence',
      severity: 'warning',
      message: `logits change with the batch size by up to ${worst} (largest logit ${scale}, tolerance ${tol} relative); results depend on how examples are batched`,
    },
  ];
}

/** Attack outcomes (per-example success) at `at` must not depend on the batch size beyond a small share. */
export function checkOutcomeBatchIndependence(a: Uint8Array, b: Uint8Array, attack: string, at: { norm: Norm; eps: number }, tol = DEFAULT_TOLERANCES.batchOutcomes): SanityFlag[] {
  let diff = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
  if (a.length === 0 || diff / a.length <= tol) return [];
  return [
    {
      check: 'batch-dependence',
      severity: 'warning',
      norm: at.norm,
      eps: at.eps,
      message: `${attack}: ${diff} of ${a.length} outcomes (${pct(diff / a.length)}) change with the batch size (tolerance ${pct(tol)})`,
    },
  ];
}
