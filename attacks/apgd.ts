import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Bounds } from '../data/types';
import { Classifier } from '../contract/classifier';
import { allSucceeded, AttackContext, BaseAttack, Candidate, requireInt, worstOfCandidates } from './base';
import { logitsObjectiveAndGradient } from './gradients';
import { AttackLoss } from './losses';
import { runsOf } from './pgd';
import { AttackDescriptor, attackCost, ParamRule, perRow, project, randomInBall, RESTARTS_RULE, selectRows, steepestDirection, STEPS_RULE } from './types';
import { Norm } from '../contract/norms';
import { engineModelOf } from '../backend/onnx/engine';
import { Stepper, stepperFor } from '../backend/onnx/step-graph';

export interface ApgdSettings {
  norm: Norm;
  /** Iterations (gradient evaluations) per restart, integer >= 1. Croce & Hein use 100. */
  steps: number;
  /** Independent runs from random starts; per row the first success, else the highest loss, is kept. */
  restarts: number;
  /** Weight alpha of the new step against the previous one (momentum 1 - alpha in the paper's notation is 0.25). Paper: 0.75. */
  alpha: number;
  /** Share rho of improving steps below which a checkpoint halves the step size. Paper: 0.75. */
  rho: number;
  /** Start from a uniform point of the ball (AutoAttack's APGD does); else from x. */
  randomStart: boolean;
  /** Loss ascended: "ce" (APGD-CE), "dlr" (APGD-DLR) or "margin". Names the attack "apgd-<loss>". */
  loss: AttackLoss;
}

/** The step-size schedule's settings of one APGD run (everything but the loss and the restarts). */
export type ApgdRunSettings = Pick<ApgdSettings, 'norm' | 'steps' | 'alpha' | 'rho' | 'randomStart'>;

/** What one APGD run needs: the batch, the threat model and the scoring of logits (higher objective is better for the attacker). */
export interface ApgdProblem {
  f: Classifier;
  x: tf.Tensor;
  eps: number;
  bounds: Bounds;
  rng: Rng;
  objective(logits: tf.Tensor2D): tf.Tensor1D;
  succeeded(logits: tf.Tensor2D): tf.Tensor1D;
}

export function validateApgdSettings(who: string, s: ApgdRunSettings): void {
  requireInt(who, 'steps', s.steps, 1);
  if (!(s.alpha > 0 && s.alpha <= 1)) throw new Error(`${who}: alpha must be in (0, 1], got ${s.alpha}`);
  if (!(s.rho > 0 && s.rho <= 1)) throw new Error(`${who}: rho must be in (0, 1], got ${s.rho}`);
}

/**
 * The checkpoints w_j of APGD (Croce & Hein 2020, sec. 3.2): p_0 = 0,
 * p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), w_j = ceil(p_j N),
 * every w_j <= N. For N = 100: 0, 22, 41, 57, 70, 80, 87, 93, 99.
 */
export function apgdCheckpoints(steps: number): number[] {
  const p = [0, 0.22];
  while (p[p.length - 1] < 1) {
    const j = p.length - 1;
    p.push(p[j] + Math.max(p[j] - p[j - 1] - 0.03, 0.06));
  }
  const w: number[] = [];
  for (const pj of p) {
    // The small slack keeps float error (0.22 * 100 = 22.000000000000004) from rounding up.
    const wj = Math.max(0, Math.ceil(pj * steps - 1e-9));
    if (wj <= steps && (w.length === 0 || wj > w[w.length - 1])) w.push(wj);
  }
  return w;
}

/**
 * Auto-PGD (Croce & Hein 2020, Algorithm 1) on the cross-entropy (APGD-CE),
 * the DLR loss (APGD-DLR: invariant to the logits' scale, so an
 * over-confident model cannot hide behind a saturated softmax) or the
 * margin (attacks/losses.ts); named "apgd-<loss>". No step size to tune.
 * Initial step 2 eps; the update is a projected gradient step
 * z = P(x_k + eta_k dir(grad)) blended with momentum,
 * x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1})), alpha 0.75
 * (plain step on the first iteration). At each checkpoint w_j a row halves
 * its step size and restarts from its best point (highest loss so far, with
 * that point's gradient) when (1) fewer than rho (w_j - w_{j-1}) of the steps
 * since the last checkpoint raised the loss, or (2) its step size was not
 * halved at the last checkpoint and its best loss has not improved since.
 *
 * Per row the output is the first misclassified iterate found (for targeted
 * runs: the first one classified as the target), otherwise the iterate with
 * the highest loss; across restarts the worst case is kept. Cost: `steps`
 * forward/backward passes per restart plus one forward pass, like PGD with
 * the same number of steps, plus elementwise bookkeeping that stays on the
 * device; a run (and the restarts) stops once every row is misclassified,
 * which needs one scalar read-back every APGD_STOP_CHECK_EVERY iterations
 * and changes no output. Measured (before that stop) (wasm backend, 2 shared cores, MNIST MLP
 * 256-256, batch 250): the default 100 iterations take ~6 s per 1000
 * examples and eps, ~1.25x PGD-100 and ~2.6x PGD-40 (2.4 s).
 *
 * Departures from the reference implementation, chosen for clarity: the
 * momentum is reset when a row restarts from its best point, and improving
 * steps are counted as loss increases between consecutive iterates.
 */
export class ApgdAttack extends BaseAttack {
  readonly name: string;
  readonly norm: Norm;
  readonly settings: Readonly<ApgdSettings>;

  constructor(settings: ApgdSettings) {
    super();
    const name = `apgd-${settings.loss}`;
    validateApgdSettings(name, settings);
    requireInt(name, 'restarts', settings.restarts, 1);
    this.name = name;
    this.norm = settings.norm;
    // Record what runs: without a random start every restart is the same run, so one runs.
    this.settings = { ...settings, restarts: settings.randomStart ? settings.restarts : 1 };
  }

  protected perturb(ctx: AttackContext): tf.Tensor {
    const restarts = this.settings.randomStart ? this.settings.restarts : 1;
    const stepper = stepperFor(engineModelOf(ctx.f), { norm: this.norm, loss: ctx.loss, targeted: ctx.targetClasses !== null });
    return worstOfCandidates(restarts, () => (stepper ? apgdRunStepGraph(apgdStepProblem(ctx), this.settings, stepper) : apgdRun(ctx, this.settings)));
  }
}

/** Iterations between the checks whether every row has succeeded (one scalar read-back each). */
export const APGD_STOP_CHECK_EVERY = 4;

/**
 * One APGD run (Algorithm 1 of Croce & Hein 2020, see ApgdAttack); returns
 * per row its worst point with objective and success. Pure tensor work,
 * except that every APGD_STOP_CHECK_EVERY iterations one scalar is read
 * back: once every row has succeeded the run stops, since a row's output is
 * its first successful iterate and no later iterate can change it (the
 * returned objective of such a run is the best one reached so far, which
 * callers use only for rows that did not succeed). `stopWhenAllFound` false
 * runs every iteration (tests compare the two).
 */
export function apgdRun(p: ApgdProblem, settings: ApgdRunSettings, stopWhenAllFound = true): Candidate {
  const { x, eps, bounds } = p;
  const norm = settings.norm;
  const steps = settings.steps;
  const alpha = settings.alpha;
  const checkpoints = new Set(apgdCheckpoints(steps).filter((w) => w > 0));
  const b = x.shape[0];
  // Every piece of state is a tensor owned here and replaced (old one
  // disposed) each iteration, so the tensor count stays flat.
  const state: Record<string, tf.Tensor> = {};
  const set = (k: string, t: tf.Tensor): void => {
    const old = state[k];
    state[k] = tf.keep(t);
    if (old && old !== t) old.dispose();
  };
  const evaluate = (xk: tf.Tensor) => {
    const { logits, objective, grad } = logitsObjectiveAndGradient(p.f, xk, (z) => p.objective(z));
    const success = p.succeeded(logits);
    logits.dispose();
    return { grad, objective, success };
  };
  try {
    tf.tidy(() => {
      const x0 = settings.randomStart ? project(randomInBall(x, eps, norm, p.rng), x, eps, norm, bounds) : x.clone();
      const e0 = evaluate(x0);
      set('x', x0);
      set('xPrev', x0.clone());
      set('grad', e0.grad);
      set('obj', e0.objective);
      set('xBest', x0.clone());
      set('gradBest', e0.grad.clone());
      set('objBest', e0.objective.clone());
      set('xFound', x0.clone());
      set('found', e0.success);
      set('eta', tf.fill([b], 2 * eps));
      set('improved', tf.zeros([b]));
      set('objBestLastCheck', e0.objective.clone());
      set('reducedLastCheck', tf.zeros([b], 'bool'));
    });
    let lastCheck = 0;
    for (let k = 0; k < steps; k++) {
      // Step from x_k to x_{k+1}.
      tf.tidy(() => {
        const xk = state.x;
        const z = project(tf.add(xk, tf.mul(steepestDirection(state.grad, norm), perRow(state.eta, xk))), x, eps, norm, bounds);
        const a = k === 0 ? 1 : alpha;
        const xNext = project(tf.add(xk, tf.add(tf.mul(tf.sub(z, xk), a), tf.mul(tf.sub(xk, state.xPrev), 1 - a))), x, eps, norm, bounds);
        set('xPrev', xk.clone());
        set('x', xNext);
      });
      const iter = k + 1;
      if (iter === steps) break;
      // Evaluate x_{k+1}: loss, gradient, success; update the bests.
      tf.tidy(() => {
        const e = evaluate(state.x);
        set('improved', tf.add(state.improved, tf.cast(tf.greater(e.objective, state.obj), 'float32')));
        set('obj', e.objective);
        set('grad', e.grad);
        const better = tf.greater(e.objective, state.objBest);
        set('xBest', selectRows(better, state.x, state.xBest));
        set('gradBest', selectRows(better, e.grad, state.gradBest));
        set('objBest', tf.where(better, e.objective, state.objBest));
        const firstFound = tf.logicalAnd(e.success, tf.logicalNot(state.found));
        set('xFound', selectRows(firstFound, state.x, state.xFound));
        set('found', tf.logicalOr(state.found, e.success));
        if (checkpoints.has(iter)) {
          const fewImprovements = tf.less(state.improved, settings.rho * (iter - lastCheck));
          const stalled = tf.logicalAnd(tf.logicalNot(state.reducedLastCheck), tf.lessEqual(state.objBest, state.objBestLastCheck));
          const reduce = tf.logicalOr(fewImprovements, stalled);
          set('eta', tf.where(reduce, tf.div(state.eta, 2), state.eta));
          set('x', selectRows(reduce, state.xBest, state.x));
          set('xPrev', selectRows(reduce, state.xBest, state.xPrev));
          set('grad', selectRows(reduce, state.gradBest, state.grad));
          set('obj', tf.where(reduce, state.objBest, state.obj));
          set('reducedLastCheck', reduce);
          set('objBestLastCheck', state.objBest.clone());
          set('improved', tf.zerosLike(state.improved));
          lastCheck = iter;
        }
      });
      if (stopWhenAllFound && iter % APGD_STOP_CHECK_EVERY === 0 && allSucceeded(state.found as tf.Tensor1D)) break;
    }
    // The last iterate is scored (forward only) and can still be the best.
    return tf.tidy(() => {
      const logits = p.f(state.x);
      const s = { objective: p.objective(logits), success: p.succeeded(logits) };
      const better = tf.greater(s.objective, state.objBest);
      const xBest = selectRows(better, state.x, state.xBest);
      const objBest = tf.where(better, s.objective, state.objBest) as tf.Tensor1D;
      const firstFound = tf.logicalAnd(s.success, tf.logicalNot(state.found));
      const xFound = selectRows(firstFound, state.x, state.xFound);
      const found = tf.logicalOr(state.found, s.success) as tf.Tensor1D;
      return { x: selectRows(found, xFound, xBest), objective: objBest, success: found };
    });
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
}

/**
 * apgdRun on the cross-entropy through the engine's step graph: the same
 * algorithm, draws and float32 comparisons, with each iteration one engine
 * call (APGD's momentum step, then loss, logits and gradient at the new
 * point) and the checkpoint, step-size and per-row bookkeeping on typed
 * arrays instead of tfjs ops. The last call's evaluation doubles as the
 * scoring of the last iterate.
 */
export interface ApgdStepProblem {
  x: tf.Tensor;
  eps: number;
  bounds: Bounds;
  rng: Rng;
  numClasses: number;
  /** the loss's one-hot rows (step-graph.ts: the label, or the target) */
  t: Float32Array;
  /** the label's one-hot rows, for the targeted DLR */
  u?: Float32Array;
  dir: 1 | -1;
  /** per row the class whose prediction is success (`targeted`) or whose loss is (otherwise) */
  goal: Int32Array;
  targeted: boolean;
}

/** An attack's batch as an ApgdStepProblem (its loss's rows and success rule). */
export function apgdStepProblem(ctx: AttackContext): ApgdStepProblem {
  return {
    x: ctx.x,
    eps: ctx.eps,
    bounds: ctx.bounds,
    rng: ctx.rng,
    numClasses: ctx.numClasses,
    t: ctx.lossTargets.dataSync() as Float32Array,
    dir: ctx.direction,
    goal: ctx.targetClasses ? (ctx.targetClasses.dataSync() as Int32Array) : ctx.y,
    targeted: ctx.targetClasses !== null,
  };
}

export function apgdRunStepGraph(p: ApgdStepProblem, settings: ApgdRunSettings, stepper: Stepper, stopWhenAllFound = true): Candidate {
  const { x, eps, bounds, t, u, dir, goal, targeted } = p;
  const { norm, steps, alpha } = settings;
  const checkpoints = new Set(apgdCheckpoints(steps).filter((w) => w > 0));
  const n = x.shape[0];
  const d = x.size / n;
  const k = p.numClasses;
  const start = settings.randomStart ? tf.tidy(() => project(randomInBall(x, eps, norm, p.rng), x, eps, norm, bounds)) : x.clone();
  let xk: Float32Array = (start.dataSync() as Float32Array).slice();
  start.dispose();
  const x0 = x.dataSync() as Float32Array;
  // the attack's succeeded on a row of logits: argMax (first of equal maxima, as tf.argMax) is the target / is not the label
  const succeeded = (logits: Float32Array, i: number): boolean => {
    let best = 0;
    for (let c = 1; c < k; c++) if (logits[i * k + c] > logits[i * k + best]) best = c;
    return targeted ? best === goal[i] : best !== goal[i];
  };
  const copyRow = (from: Float32Array, to: Float32Array, i: number) => to.set(from.subarray(i * d, (i + 1) * d), i * d);
  const e0 = stepper.evaluate(xk, t, dir, u);
  let xPrev: Float32Array = xk.slice();
  let grad: Float32Array = e0.grad;
  let obj: Float32Array = e0.loss;
  const xBest = xk.slice();
  const gradBest = grad.slice();
  const objBest = obj.slice();
  const xFound = xk.slice();
  const found = Uint8Array.from({ length: n }, (_, i) => (succeeded(e0.logits, i) ? 1 : 0));
  const eta = new Float32Array(n).fill(2 * eps);
  const improved = new Float32Array(n);
  let objBestLastCheck = obj.slice();
  const reducedLastCheck = new Uint8Array(n);
  let last: { loss: Float32Array; logits: Float32Array } | null = null;
  let lastCheck = 0;
  for (let s = 0; s < steps; s++) {
    const r = stepper.momentum({ x: xk, xPrev, g: grad, step: eta, a: s === 0 ? 1 : alpha, x0, t, u, dir, eps, lo: bounds.lo, hi: bounds.hi });
    xPrev = xk;
    xk = r.xNext;
    last = r;
    const iter = s + 1;
    if (iter === steps) break;
    for (let i = 0; i < n; i++) {
      if (r.loss[i] > obj[i]) improved[i]++;
      if (r.loss[i] > objBest[i]) {
        copyRow(xk, xBest, i);
        copyRow(r.grad, gradBest, i);
        objBest[i] = r.loss[i];
      }
      if (succeeded(r.logits, i) && !found[i]) {
        copyRow(xk, xFound, i);
        found[i] = 1;
      }
    }
    obj = r.loss;
    grad = r.grad;
    if (checkpoints.has(iter)) {
      const enough = Math.fround(settings.rho * (iter - lastCheck));
      for (let i = 0; i < n; i++) {
        const reduce = improved[i] < enough || (!reducedLastCheck[i] && objBest[i] <= objBestLastCheck[i]);
        reducedLastCheck[i] = reduce ? 1 : 0;
        if (!reduce) continue;
        eta[i] = eta[i] / 2;
        copyRow(xBest, xk, i);
        copyRow(xBest, xPrev, i);
        copyRow(gradBest, grad, i);
        obj[i] = objBest[i];
        last = null; // x_k changed: it needs scoring of its own
      }
      objBestLastCheck = objBest.slice();
      improved.fill(0);
      lastCheck = iter;
    }
    if (stopWhenAllFound && iter % APGD_STOP_CHECK_EVERY === 0 && found.every((v) => v === 1)) break;
  }
  // The last iterate is scored and can still be the best.
  const score = last ?? stepper.evaluate(xk, t, dir, u);
  const xOut = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    if (score.loss[i] > objBest[i]) {
      copyRow(xk, xBest, i);
      objBest[i] = score.loss[i];
    }
    if (succeeded(score.logits, i) && !found[i]) {
      copyRow(xk, xFound, i);
      found[i] = 1;
    }
    copyRow(found[i] ? xFound : xBest, xOut, i);
  }
  return { x: tf.tensor(xOut, x.shape), objective: tf.tensor1d(objBest), success: tf.tensor1d(found, 'bool') };
}

/** Parameters of the APGD attacks (apgd-ce, apgd-dlr; apgd-t adds targetClasses). */
export const APGD_PARAMS: Record<string, ParamRule> = {
  steps: STEPS_RULE,
  restarts: RESTARTS_RULE,
  alpha: { kind: 'number', above: 0, max: 1 },
  rho: { kind: 'number', above: 0, max: 1 },
  randomStart: { kind: 'boolean' },
};
// Croce & Hein 2020: 100 iterations, alpha 0.75, rho 0.75; AutoAttack's
// standard version runs APGD-CE (and each APGD-T target) once from a random start.
export const APGD_DEFAULTS = { steps: 100, restarts: 1, alpha: 0.75, rho: 0.75, randomStart: true } as const;

/** Per run `steps` gradients (the start point's included) and one forward pass scoring the last iterate; then the final scoring. */
export function apgdCost(p: Record<string, unknown>) {
  const runs = runsOf(p);
  return attackCost((p.steps as number) * runs, runs + 1);
}

function apgdDescriptor(loss: 'ce' | 'dlr'): AttackDescriptor {
  return {
    name: `apgd-${loss}`,
    summary: `Auto-PGD (Croce & Hein 2020) on the ${loss === 'ce' ? 'cross-entropy' : 'DLR loss'}: no step size to tune`,
    family: 'iterative',
    norms: ['linf', 'l2'],
    params: APGD_PARAMS,
    defaults: () => ({ ...APGD_DEFAULTS }),
    cost: apgdCost,
    loss: () => loss,
    scaleInvariant: () => loss === 'dlr',
    argmaxOnly: false,
    // The DLR version of APGD-CE is APGD-DLR, same parameters.
    invariantCounterpart: (p) => (loss === 'ce' ? { name: 'apgd-dlr', params: { ...p } } : null),
    make: (norm, p) =>
      new ApgdAttack({
        norm,
        steps: p.steps as number,
        restarts: p.restarts as number,
        alpha: p.alpha as number,
        rho: p.rho as number,
        randomStart: p.randomStart as boolean,
        loss,
      }),
  };
}

/** The `apgd-ce` entry of the attack registry. */
export const apgdCeDescriptor = apgdDescriptor('ce');
/** The `apgd-dlr` entry of the attack registry. */
export const apgdDlrDescriptor = apgdDescriptor('dlr');
