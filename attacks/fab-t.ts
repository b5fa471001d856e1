import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Bounds } from '../data/types';
import { Classifier } from '../contract/classifier';
import { Norm } from '../contract/norms';
import { targetCount, targetedStart } from './apgd-t';
import { AttackContext, BaseAttack, requireInt, requirePositive } from './base';
import { logitsObjectiveAndGradient } from './gradients';
import { logitOf } from './losses';
import { AttackDescriptor, attackCost, RESTARTS_RULE, STEPS_RULE, TARGET_CLASSES_RULE } from './types';

export interface FabTargetedSettings {
  norm: Norm;
  /** Iterations per target class and run (one logit-difference gradient and one forward pass each). AutoAttack standard: 100. */
  steps: number;
  /** Target classes per example, the runner-up classes by clean logit in turn (capped at classes - 1). AutoAttack standard: 9. */
  targetClasses: number;
  /** Runs per target; runs after the first start from a random point at distance eps / 2. AutoAttack standard: 1. */
  restarts: number;
  /** Largest weight of the step from the clean point against the step from the iterate. Paper: 0.1. */
  alphaMax: number;
  /** Overshoot of each projection step, >= 1. Paper: 1.05. */
  eta: number;
  /** Pull-back towards the clean point after a step that crossed the boundary, in (0, 1]. Paper: 0.9. */
  beta: number;
}

/** AutoAttack's standard FAB-T (Croce & Hein 2020, "fab-t" of the standard version). */
export const FAB_T_STANDARD = { steps: 100, targetClasses: 9, restarts: 1, alphaMax: 0.1, eta: 1.05, beta: 0.9 } as const;

/** Scratch arrays of boxHyperplaneStep for inputs of d coordinates, reused across calls (FAB calls it twice per row and iteration). */
export interface BoxStepScratch {
  room: Float64Array;
  /** |w_i| room_i: what coordinate i gives when it saturates */
  cap: Float64Array;
  breakpoint: Float64Array;
  slope: Float64Array;
  undecided: Int32Array;
}

export function boxStepScratch(d: number): BoxStepScratch {
  return { room: new Float64Array(d), cap: new Float64Array(d), breakpoint: new Float64Array(d), slope: new Float64Array(d), undecided: new Int32Array(d) };
}

/**
 * The shortest step d (in `norm`, linf or l2) from the point t that reaches
 * the hyperplane {z : w.(z - t) = -v} while t + d stays in [lo, hi]; v is
 * the value of the linear function w.(z - t) + v at t. When no point of the
 * box reaches the hyperplane, the step to the box corner that comes closest
 * (every coordinate moved as far as the box allows in the helpful
 * direction). Written in float64 on the host.
 *
 * With r_i = |d_i|, a_i = |w_i| and u_i the room towards the hyperplane in
 * coordinate i, the step needs sum a_i r_i = |v|, 0 <= r_i <= u_i:
 * - linf: r_i = min(lambda, u_i), lambda the smallest level that suffices;
 * - l2: r_i = min(mu a_i, u_i) (the KKT conditions), mu likewise.
 * Both levels are found exactly in expected O(d) by a quickselect over the
 * breakpoints (u_i, or u_i / a_i): h(level) = sum a_i r_i is continuous,
 * piecewise linear and increasing, so each pivot's h tells on which side
 * of it the level lies. With `out` and `scratch` (boxStepScratch(d)) it
 * writes into `out` and allocates nothing.
 */
export function boxHyperplaneStep(t: ArrayLike<number>, w: ArrayLike<number>, v: number, lo: number, hi: number, norm: Norm, out?: Float64Array, scratch?: BoxStepScratch): Float64Array {
  const d = t.length;
  const step = out ?? new Float64Array(d);
  if (out) step.fill(0);
  if (v === 0) return step;
  const { room, cap, breakpoint, slope, undecided } = scratch ?? boxStepScratch(d);
  const linf = norm === 'linf';
  // Moving coordinate i by -sign(v w_i) lowers |value| by a_i per unit.
  const s = v > 0 ? 1 : -1;
  const need = Math.abs(v);
  let n = 0;
  for (let i = 0; i < d; i++) {
    const wi = s * w[i];
    if (wi === 0) {
      slope[i] = 0; // scratch is reused: mark the coordinate as never moving
      continue;
    }
    const a = Math.abs(wi);
    const u = wi > 0 ? Math.max(0, t[i] - lo) : Math.max(0, hi - t[i]);
    room[i] = u;
    cap[i] = a * u;
    breakpoint[i] = linf ? u : u / a;
    slope[i] = linf ? a : a * a;
    undecided[n++] = i;
  }
  // Coordinates known to saturate below the level (their full a_i u_i), and the slope of those known not to.
  let saturated = 0;
  let freeSlope = 0;
  let begin = 0;
  let end = n;
  let pick = 0x9e3779b9;
  while (begin < end) {
    pick = (Math.imul(pick, 1664525) + 1013904223) >>> 0;
    const p = breakpoint[undecided[begin + (pick % (end - begin))]];
    // Partition [begin, end) into breakpoints < p | >= p, summing both sides.
    let lowSat = 0;
    let highSlope = 0;
    let mid = begin;
    for (let k = begin; k < end; k++) {
      const i = undecided[k];
      if (breakpoint[i] < p) {
        lowSat += cap[i];
        undecided[k] = undecided[mid];
        undecided[mid++] = i;
      } else highSlope += slope[i];
    }
    if (saturated + lowSat + p * (freeSlope + highSlope) >= need) {
      // The level is at most p: every breakpoint >= p stays free.
      freeSlope += highSlope;
      end = mid;
    } else {
      // The level is above p: every breakpoint <= p saturates (those equal to p are moved now).
      saturated += lowSat;
      let k = mid;
      for (let j = mid; j < end; j++) {
        const i = undecided[j];
        if (breakpoint[i] === p) saturated += cap[i];
        else undecided[k++] = i;
      }
      begin = mid;
      end = k;
    }
  }
  const level = freeSlope > 0 ? (need - saturated) / freeSlope : Infinity;
  for (let i = 0; i < d; i++) {
    if (slope[i] === 0) continue;
    const free = linf ? level : level * Math.abs(w[i]);
    step[i] = (s * w[i] > 0 ? -1 : 1) * Math.min(free, room[i]);
  }
  return step;
}

function normOf(v: ArrayLike<number>, norm: Norm): number {
  let r = 0;
  if (norm === 'linf') {
    for (let i = 0; i < v.length; i++) r = Math.max(r, Math.abs(v[i]));
    return r;
  }
  for (let i = 0; i < v.length; i++) r += v[i] * v[i];
  return Math.sqrt(r);
}

/** One FAB-T run on a batch of rows: the problem (host arrays) and where to start. */
interface FabRunProblem {
  f: Classifier;
  /** Clean rows, m x d, row-major. */
  x0: Float32Array;
  shape: number[];
  y: Int32Array;
  targets: Int32Array;
  bounds: Bounds;
  eps: number;
  rng: Rng;
  randomStart: boolean;
}

/**
 * One run of targeted FAB (Croce & Hein 2020, "Minimally distorted
 * adversarial examples with a fast adaptive boundary attack") as
 * AutoAttack's FAB-T runs it. Per iteration, at the iterate x1: linearise
 * g = f_target - f_label (one backward pass), take the shortest box-feasible
 * steps d1 from x1 and d2 from the clean x0 onto the hyperplane g = 0
 * (boxHyperplaneStep), and move to
 * (x1 + eta d1)(1 - alpha) + (x0 + eta d2) alpha, alpha = min(|d1| / (|d1| + |d2|), alphaMax),
 * clipped to the bounds. When that point is misclassified (any class other
 * than the label, as the reference counts it) it is kept if it is the
 * closest to x0 so far, and the iterate is pulled back to x0 + beta (x1 - x0).
 * Returns per row the closest misclassified point and its distance
 * (Infinity when none was found).
 */
function fabRun(p: FabRunProblem, s: FabTargetedSettings): { adv: Float32Array; dist: Float64Array } {
  const { x0, y, targets, bounds, shape } = p;
  const norm = s.norm;
  const m = y.length;
  const d = x0.length / m;
  const lo = bounds.lo;
  const hi = bounds.hi;
  const clip = (v: number) => (v < lo ? lo : Math.min(v, hi));
  const x1 = x0.slice();
  if (p.randomStart) {
    // The reference's restart point: a random direction at distance min(best, eps) / 2 (no success yet: eps / 2).
    for (let r = 0; r < m; r++) {
      const dir = new Float64Array(d);
      for (let i = 0; i < d; i++) dir[i] = norm === 'linf' ? 2 * p.rng.uniform() - 1 : p.rng.normal();
      const n = normOf(dir, norm);
      for (let i = 0; i < d; i++) x1[r * d + i] = clip(x0[r * d + i] + (n > 0 ? (p.eps / 2) * (dir[i] / n) : 0));
    }
  }
  const adv = x0.slice();
  const dist = new Float64Array(m).fill(Infinity);
  // Per-row scratch, reused by every row and iteration (the host work is most of FAB's time on small networks).
  const step1 = new Float64Array(d);
  const step2 = new Float64Array(d);
  const delta = new Float64Array(d);
  const scratch = boxStepScratch(d);
  const yT = tf.tensor1d(y, 'int32');
  const tT = tf.tensor1d(targets, 'int32');
  try {
    for (let it = 0; it < s.steps; it++) {
      const [diffT, gradT] = tf.tidy(() => {
        const r = logitsObjectiveAndGradient(p.f, tf.tensor(x1, [m, ...shape]), (z) => tf.sub(logitOf(z, tT), logitOf(z, yT)) as tf.Tensor1D);
        return [r.objective, r.grad];
      });
      const diff = diffT.dataSync() as Float32Array;
      const grad = gradT.dataSync() as Float32Array;
      diffT.dispose();
      gradT.dispose();
      for (let r = 0; r < m; r++) {
        const o = r * d;
        const w = grad.subarray(o, o + d);
        const from1 = x1.subarray(o, o + d);
        const from0 = x0.subarray(o, o + d);
        // The linearisation's value at x0: diff + w.(x0 - x1).
        let v0 = diff[r];
        for (let i = 0; i < d; i++) v0 += w[i] * (from0[i] - from1[i]);
        const d1 = boxHyperplaneStep(from1, w, diff[r], lo, hi, norm, step1, scratch);
        const d2 = boxHyperplaneStep(from0, w, v0, lo, hi, norm, step2, scratch);
        const a1 = Math.max(normOf(d1, norm), 1e-8);
        const a2 = Math.max(normOf(d2, norm), 1e-8);
        const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), s.alphaMax);
        for (let i = 0; i < d; i++) {
          const z = (from1[i] + s.eta * d1[i]) * (1 - alpha) + (from0[i] + s.eta * d2[i]) * alpha;
          x1[o + i] = z < lo ? lo : Math.min(z, hi);
        }
      }
      const predT = tf.tidy(() => tf.argMax(p.f(tf.tensor(x1, [m, ...shape])), -1));
      const pred = predT.dataSync() as Int32Array;
      predT.dispose();
      for (let r = 0; r < m; r++) {
        if (pred[r] === y[r]) continue;
        const o = r * d;
        for (let i = 0; i < d; i++) delta[i] = x1[o + i] - x0[o + i];
        const t = normOf(delta, norm);
        if (t < dist[r]) {
          dist[r] = t;
          adv.set(x1.subarray(o, o + d), o);
        }
        for (let i = 0; i < d; i++) x1[o + i] = x0[o + i] + delta[i] * s.beta;
      }
    }
  } finally {
    yT.dispose();
    tT.dispose();
  }
  return { adv, dist };
}

/**
 * FAB-T, targeted FAB as AutoAttack's standard version runs it (Croce &
 * Hein 2020): for each of the `targetClasses` runner-up classes by clean
 * logit in turn, `restarts` runs of `steps` iterations (fabRun) on the rows
 * no earlier run has broken. FAB searches for the smallest perturbation;
 * a row counts as broken, and takes the point found, only when that
 * point's distance is at most eps (the reference's success criterion).
 * Other rows, and rows misclassified on the clean input, are returned
 * unchanged. Success is untargeted (misclassified). Linf and L2; bounds
 * are respected by every step (the projection works in the box).
 *
 * eps enters only there and in the random starts of runs after the first
 * (distance eps / 2); the standard version's single run starts at x.
 * Cost per example (fabTDescriptor.cost): the clean forward pass, up to
 * targetClasses x restarts x steps x (one gradient pass of the logit
 * difference + one forward pass), the final scoring; plus host work per
 * iteration: two box projections over the input's d coordinates per row.
 */
export class FabTargetedAttack extends BaseAttack {
  readonly name = 'fab-t';
  readonly norm: Norm;
  readonly settings: Readonly<FabTargetedSettings>;

  constructor(settings: FabTargetedSettings) {
    super();
    requireInt('fab-t', 'steps', settings.steps, 1);
    requireInt('fab-t', 'targetClasses', settings.targetClasses, 1);
    requireInt('fab-t', 'restarts', settings.restarts, 1);
    if (!(settings.alphaMax >= 0 && settings.alphaMax <= 1)) throw new Error(`fab-t: alphaMax must be in [0, 1], got ${settings.alphaMax}`);
    requirePositive('fab-t', 'eta', settings.eta);
    if (!(settings.beta > 0 && settings.beta <= 1)) throw new Error(`fab-t: beta must be in (0, 1], got ${settings.beta}`);
    this.norm = settings.norm;
    this.settings = { ...settings };
  }

  protected perturb(ctx: AttackContext): tf.Tensor {
    if (ctx.targetClasses) throw new Error('fab-t: picks its own target classes (the runner-up logits); call it without targets');
    const { x, y, numClasses: k, eps } = ctx;
    // Nothing but x lies within distance 0: every row comes back unchanged, as the full search would return it.
    if (eps === 0) return x.clone();
    const b = x.shape[0];
    const shape = x.shape.slice(1);
    const d = x.size / b;
    const { order, xHost, wrong: done } = targetedStart(ctx);
    const out = xHost.slice();
    const nTargets = Math.min(this.settings.targetClasses, k - 1);
    for (let r = 0; r < nTargets; r++) {
      for (let rep = 0; rep < this.settings.restarts; rep++) {
        const rows: number[] = [];
        for (let i = 0; i < b; i++) if (!done[i]) rows.push(i);
        if (rows.length === 0) return tf.tensor(out, x.shape);
        const x0 = new Float32Array(rows.length * d);
        rows.forEach((row, i) => x0.set(xHost.subarray(row * d, (row + 1) * d), i * d));
        const res = fabRun(
          {
            f: ctx.f,
            x0,
            shape,
            y: Int32Array.from(rows, (row) => y[row]),
            targets: Int32Array.from(rows, (row) => order[row][r]),
            bounds: ctx.bounds,
            eps,
            rng: ctx.rng,
            randomStart: rep > 0,
          },
          this.settings,
        );
        rows.forEach((row, i) => {
          if (res.dist[i] <= eps) {
            out.set(res.adv.subarray(i * d, (i + 1) * d), row * d);
            done[row] = 1;
          }
        });
      }
    }
    return tf.tensor(out, x.shape);
  }
}

/** FAB-T's gradient passes per example: every target (capped at classes - 1) x restarts x steps. */
function fabIterations(p: Record<string, unknown>, classes: number): number {
  return targetCount(p.targetClasses as number, classes) * (p.restarts as number) * (p.steps as number);
}

/** The `fab-t` entry of the attack registry. */
export const fabTDescriptor: AttackDescriptor = {
  name: 'fab-t',
  summary: 'targeted FAB (Croce & Hein 2020) towards each runner-up class: steps to the linearised decision boundary, kept within eps',
  family: 'iterative',
  norms: ['linf', 'l2'],
  params: {
    steps: STEPS_RULE,
    targetClasses: TARGET_CLASSES_RULE,
    restarts: RESTARTS_RULE,
    alphaMax: { kind: 'number', min: 0, max: 1 },
    eta: { kind: 'number', min: 1 },
    beta: { kind: 'number', above: 0, max: 1 },
  },
  // AutoAttack's standard version: 9 targets, 100 iterations, 1 run, alpha_max 0.1, eta 1.05, beta 0.9.
  defaults: () => ({ ...FAB_T_STANDARD }),
  // The clean forward pass ordering the targets, per iteration one logit-difference gradient and one forward pass (the prediction), the final scoring.
  cost: (p, classes) => {
    const iterations = fabIterations(p, classes);
    return attackCost(iterations, iterations + 2);
  },
  // It steps to the linearised boundary of the logit difference f_t - f_y: a margin, scale-free like it.
  loss: () => 'margin',
  scaleInvariant: () => true,
  argmaxOnly: false,
  invariantCounterpart: () => null,
  make: (norm, p) =>
    new FabTargetedAttack({
      norm,
      steps: p.steps as number,
      targetClasses: p.targetClasses as number,
      restarts: p.restarts as number,
      alphaMax: p.alphaMax as number,
      eta: p.eta as number,
      beta: p.beta as number,
    }),
};
