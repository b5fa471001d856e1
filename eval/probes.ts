/**
 * Gradient-norm probes. The seed note's argument is that mixup-style
 * training makes the loss depend on a neighbourhood of each training point,
 * which should show up as smaller input gradients (and a smaller local
 * Lipschitz constant of the loss) around the data. These probes measure
 * that directly, per example, at points the caller chooses (training, test,
 * vicinal), and summarise them as distributions (suite/results Distribution).
 *
 * Norm pairing: an L-infinity ball of radius eps changes the loss by at most
 * about eps * ||grad||_1 and an L2 ball by eps * ||grad||_2 (the dual norms),
 * so the Lipschitz, first-order and margin probes use the dual norm of the
 * threat model.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Bounds, Dataset, inputSize, takeLabels, takeRows } from '../data/types';
import { crossEntropyPerExample } from '../attacks/losses';
import { concatRows } from '../models/predict';
import { Classifier } from '../contract/classifier';
import { Distribution } from '../contract/results';
import { crossEntropyTwiceDifferentiable, logitJacobian, logitsLossAndGradient } from '../attacks/gradients';
import { distribution } from './distribution';
import { project, rowNorm, steepestDirection } from '../attacks/types';
import { Norm } from '../contract/norms';
import { ballKey, probeKey } from '../contract/keys';
import { EVAL_DEFAULTS } from './defaults';
import { engineModelOf } from '../backend/onnx/engine';
import { stepperFor } from '../backend/onnx/step-graph';

export type DualNorm = 'l1' | 'l2';

/** The dual norm of a threat model: l1 for linf, l2 for l2. */
export function dualNorm(norm: Norm): DualNorm {
  return norm === 'linf' ? 'l1' : 'l2';
}

/** Targets of probe points: class labels, or soft target rows (n * numClasses values, e.g. mixup's). */
export type ProbeTargets = Int32Array | Float32Array;

function targetTensor(targets: ProbeTargets, numClasses: number, s: number, e: number): tf.Tensor2D {
  if (targets instanceof Int32Array) return tf.oneHot(tf.tensor1d(targets.subarray(s, e), 'int32'), numClasses).toFloat() as tf.Tensor2D;
  return tf.tensor2d(targets.subarray(s * numClasses, e * numClasses), [e - s, numClasses]);
}

function checkTargets(targets: ProbeTargets, n: number, numClasses: number): void {
  const want = targets instanceof Int32Array ? n : n * numClasses;
  if (targets.length !== want) throw new Error(`probes: ${targets.length} target values for ${n} points and ${numClasses} classes (want ${want})`);
}

/**
 * Runs `fn` on consecutive batches of `n` rows; `fn` returns a [b, c] tensor
 * (c columns per row) that is read back once per batch. Returns c arrays of n values.
 */
function batched(n: number, batchSize: number, columns: number, fn: (s: number, e: number) => tf.Tensor2D): Float32Array[] {
  const out = Array.from({ length: columns }, () => new Float32Array(n));
  for (let s = 0; s < n; s += batchSize) {
    const e = Math.min(n, s + batchSize);
    const t = tf.tidy(() => fn(s, e));
    const v = t.dataSync();
    t.dispose();
    for (let i = 0; i < e - s; i++) for (let c = 0; c < columns; c++) out[c][s + i] = v[i * columns + c];
  }
  return out;
}

/**
 * On the onnx engine, the cross-entropy's step graph (backend/onnx/step-graph.ts, kind "eval": loss,
 * logits and input gradient in one engine call on typed arrays, soft targets included); null elsewhere.
 * The eval kind does not depend on the norm: "linf" names the one session every probe shares.
 */
function ceStepper(f: Classifier) {
  return stepperFor(engineModelOf(f), { norm: 'linf', loss: 'ce', targeted: false });
}

/** Logits, per-example cross-entropy and its input gradient: one step graph call on the engine, else one taped pass. */
function ceAndGradient(f: Classifier, x: tf.Tensor, targets: tf.Tensor2D): { logits: tf.Tensor2D; loss: tf.Tensor1D; grad: tf.Tensor } {
  const stepper = ceStepper(f);
  if (!stepper) return logitsLossAndGradient(f, x, targets);
  const r = stepper.evaluate(x.dataSync() as Float32Array, targets.dataSync() as Float32Array, 1);
  return { logits: tf.tensor2d(r.logits, targets.shape), loss: tf.tensor1d(r.loss), grad: tf.tensor(r.grad, x.shape) };
}

export interface GradientNormRows {
  /** Cross-entropy against the targets. */
  loss: Float32Array;
  /** ||grad_x loss||_1, ||.||_2 and ||.||_inf per example. */
  l1: Float32Array;
  l2: Float32Array;
  linf: Float32Array;
}

/**
 * Per example: loss and the L1 / L2 / L-infinity norms of its input
 * gradient, at the given points (row-major, `inputShape` per row).
 */
export function gradientNorms(f: Classifier, x: Float32Array, inputShape: number[], targets: ProbeTargets, numClasses: number, batchSize = EVAL_DEFAULTS.batchSize): GradientNormRows {
  const d = inputSize(inputShape);
  const n = x.length / d;
  checkTargets(targets, n, numClasses);
  const [loss, l1, l2, linf] = batched(n, batchSize, 4, (s, e) => {
    const xb = tf.tensor(x.subarray(s * d, e * d), [e - s, ...inputShape]);
    const { logits, loss: l, grad } = ceAndGradient(f, xb, targetTensor(targets, numClasses, s, e));
    logits.dispose();
    return tf.stack([l, rowNorm(grad, 'l1'), rowNorm(grad, 'l2'), rowNorm(grad, 'linf')], 1) as tf.Tensor2D;
  });
  return { loss, l1, l2, linf };
}

export type HessianMethod = 'double-backprop' | 'finite-difference';

/**
 * When a backward pass throws (e.g. "gradient function not found for
 * MaxPoolGrad" in a second-order pass), tfjs leaves the tape's saved tensors
 * alive: only a successful outermost tf.grad releases them. This releases
 * them the same way (tfjs-core 4.x engine state), so probing for double
 * backprop does not leak.
 */
function releaseAbandonedTape(): void {
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: number; activeTape?: { saved?: tf.Tensor[] }[] | null } }).state;
  if (state?.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null;
}

export interface LipschitzOptions {
  /** Ascent steps, integer >= 0. Default 10. */
  steps?: number;
  /** Step size as a fraction of eps. Default 2.5 / steps. */
  relStepSize?: number;
  /**
   * How the gradient of the gradient norm is computed. "double-backprop":
   * tf.grad of the norm of the input gradient (through the twice
   * differentiable cross-entropy). "finite-difference": a Hessian-vector
   * product from central differences of input gradients,
   * H u ~ (g(x + r u) - g(x - r u)) / 2r, needing only first derivatives.
   * "auto" (default): double backprop when it runs and agrees with the
   * finite difference on the first batch (median per-row cosine >= 0.9),
   * else the finite difference (e.g. max pooling has no second derivative
   * in tfjs).
   */
  method?: 'auto' | HessianMethod;
  /** L2 length of the finite-difference displacement. Default 1e-3 * (hi - lo) * sqrt(d). */
  fdRadius?: number;
  batchSize?: number;
}

export interface LipschitzResult {
  /** Dual norm of the loss gradient at each point. */
  atPoint: Float32Array;
  /** Largest dual norm found inside the eps-ball (and the bounds): a lower bound of the local Lipschitz constant of the loss. */
  max: Float32Array;
  method: HessianMethod;
  /** Median per-row cosine between the two methods' ascent gradients on the first batch (auto only; NaN when not compared). */
  agreement: number;
  settings: { steps: number; relStepSize: number; fdRadius: number; dualNorm: DualNorm };
}

/**
 * Per example, the largest dual norm of the loss's input gradient found in
 * the eps-ball around it by projected gradient ascent on that norm (start
 * at the point itself; the maximum over all iterates is kept). Labels `y`.
 */
export function localLipschitz(
  f: Classifier,
  x: Float32Array,
  y: Int32Array,
  inputShape: number[],
  numClasses: number,
  bounds: Bounds,
  eps: number,
  norm: Norm,
  options: LipschitzOptions = {},
): LipschitzResult {
  const d = inputSize(inputShape);
  const n = y.length;
  if (x.length !== n * d) throw new Error(`probes: ${x.length} input values for ${n} labels of size ${d}`);
  const steps = options.steps ?? 10;
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`probes: lipschitz steps must be an integer >= 0, got ${steps}`);
  const relStepSize = options.relStepSize ?? 2.5 / Math.max(1, steps);
  const fdRadius = options.fdRadius ?? 1e-3 * (bounds.hi - bounds.lo) * Math.sqrt(d);
  const batchSize = options.batchSize ?? EVAL_DEFAULTS.batchSize;
  const dual = dualNorm(norm);
  let method: HessianMethod = options.method === 'finite-difference' ? 'finite-difference' : 'double-backprop';
  let agreement = NaN;
  const settings = { steps, relStepSize, fdRadius, dualNorm: dual };
  if (n === 0) return { atPoint: new Float32Array(0), max: new Float32Array(0), method, agreement, settings };

  // Objective per row: ||g||_1 (linf) or ||g||_2^2 / 2 (l2; same ascent direction as ||g||_2, no sqrt at g = 0).
  const objective = (g: tf.Tensor): tf.Tensor => (dual === 'l1' ? tf.sum(tf.abs(g)) : tf.mul(tf.sum(tf.square(g)), 0.5));
  const tapeGrad = (xb: tf.Tensor, t: tf.Tensor2D): tf.Tensor => tf.grad((z: tf.Tensor) => tf.sum(crossEntropyTwiceDifferentiable(f(z), t)))(xb);
  // On the onnx engine an input gradient is one call of the cross-entropy's step graph (backend/onnx/step-graph.ts,
  // kind "eval") on typed arrays instead of a taped forward and a backward run; the finite difference's two
  // displaced points go through it as one batch. Double backprop cannot pass the engine (it throws, as before).
  const stepper = ceStepper(f);
  const engineGrad = (xb: tf.Tensor, t: tf.Tensor2D): tf.Tensor =>
    tf.tensor((stepper as NonNullable<typeof stepper>).evaluate(xb.dataSync() as Float32Array, t.dataSync() as Float32Array, 1).grad, xb.shape);
  const inputGrad = stepper ? engineGrad : tapeGrad;
  const gradPair = (a: tf.Tensor, b: tf.Tensor, t: tf.Tensor2D): [tf.Tensor, tf.Tensor] => {
    if (!stepper) return [tapeGrad(a, t), tapeGrad(b, t)];
    const both = engineGrad(tf.concat([a, b], 0), tf.concat([t, t], 0) as tf.Tensor2D);
    const n = a.shape[0];
    // tf.slice, an op the conformance suite covers (tf.split is not)
    return [tf.slice(both, 0, n), tf.slice(both, n, n)];
  };
  const ascentDoubleBackprop = (xb: tf.Tensor, t: tf.Tensor2D): tf.Tensor => tf.grad((z: tf.Tensor) => objective(tapeGrad(z, t)))(xb);
  const ascentFiniteDifference = (xb: tf.Tensor, t: tf.Tensor2D, g: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      // d objective / d g: sign(g) for the L1 norm, g for ||g||^2 / 2.
      const u = dual === 'l1' ? tf.sign(g) : g;
      const un = rowNorm(u, 'l2');
      const dir = tf.div(u, tf.reshape(tf.maximum(un, 1e-30), [xb.shape[0], ...xb.shape.slice(1).map(() => 1)]));
      const [plus, minus] = gradPair(tf.add(xb, tf.mul(dir, fdRadius)), tf.sub(xb, tf.mul(dir, fdRadius)), t);
      // H dir; scaled by ||u|| to estimate H u (only the direction is used for the step).
      return tf.mul(tf.div(tf.sub(plus, minus), 2 * fdRadius), tf.reshape(un, [xb.shape[0], ...xb.shape.slice(1).map(() => 1)]));
    });

  if (options.method === undefined || options.method === 'auto') {
    // Decide on the first batch.
    const e = Math.min(n, batchSize);
    const check = (() => {
      try {
        return tf.tidy(() => {
          const xb = tf.tensor(x.subarray(0, e * d), [e, ...inputShape]);
          const t = tf.oneHot(tf.tensor1d(y.subarray(0, e), 'int32'), numClasses).toFloat() as tf.Tensor2D;
          const db = tf.reshape(ascentDoubleBackprop(xb, t), [e, -1]);
          const fd = tf.reshape(ascentFiniteDifference(xb, t, inputGrad(xb, t)), [e, -1]);
          // Per row: dot product and both norms.
          return tf.stack([tf.sum(tf.mul(db, fd), 1), tf.norm(db, 'euclidean', 1), tf.norm(fd, 'euclidean', 1)], 1);
        });
      } catch {
        releaseAbandonedTape();
        return null;
      }
    })();
    if (check === null) {
      method = 'finite-difference';
    } else {
      const v = check.dataSync();
      check.dispose();
      // Median per-row cosine: a row whose finite difference straddles a
      // ReLU kink is wrong (the difference quotient jumps), double backprop
      // dropping terms is wrong on most rows.
      const cos: number[] = [];
      for (let i = 0; i < e; i++) {
        const [dot, a, b] = [v[3 * i], v[3 * i + 1], v[3 * i + 2]];
        if (a < 1e-20 && b < 1e-20) cos.push(1);
        else cos.push(a > 0 && b > 0 ? dot / (a * b) : 0);
      }
      cos.sort((p, q) => p - q);
      agreement = cos.length ? cos[Math.floor((cos.length - 1) / 2)] : NaN;
      method = Number.isFinite(agreement) && agreement >= 0.9 ? 'double-backprop' : 'finite-difference';
    }
  }

  const [atPoint, max] = batched(n, batchSize, 2, (s, e) => {
    const x0 = tf.tensor(x.subarray(s * d, e * d), [e - s, ...inputShape]);
    const t = tf.oneHot(tf.tensor1d(y.subarray(s, e), 'int32'), numClasses).toFloat() as tf.Tensor2D;
    const stepSize = relStepSize * eps;
    let xk = x0.clone();
    let first: tf.Tensor1D | null = null;
    let best: tf.Tensor1D | null = null;
    for (let k = 0; k <= steps; k++) {
      const next = tf.tidy(() => {
        const g = inputGrad(xk, t);
        const h = rowNorm(g, dual);
        const nb = best ? tf.maximum(best, h) : h.clone();
        if (k === steps) return { x: xk.clone(), best: nb, h };
        const a = method === 'double-backprop' ? ascentDoubleBackprop(xk, t) : ascentFiniteDifference(xk, t, g);
        return { x: project(tf.add(xk, tf.mul(steepestDirection(a, norm), stepSize)), x0, eps, norm, bounds), best: nb, h };
      });
      xk.dispose();
      xk = next.x;
      best?.dispose();
      best = next.best as tf.Tensor1D;
      if (first === null) first = next.h as tf.Tensor1D;
      else next.h.dispose();
    }
    xk.dispose();
    return tf.stack([first as tf.Tensor1D, best as tf.Tensor1D], 1) as tf.Tensor2D;
  });
  return { atPoint, max, method, agreement, settings };
}

export interface FirstOrderRows {
  /** eps * ||grad||_dual: the loss increase a locally linear loss would allow. */
  predicted: Float32Array;
  /** grad . (x_fgsm - x): the linear prediction along the step actually taken (after clipping to the bounds). */
  predictedStep: Float32Array;
  /** loss(x_fgsm) - loss(x), measured. */
  measured: Float32Array;
}

/**
 * First-order check: compares the loss increase predicted by the gradient
 * with the one FGSM (linf) / FGM (l2) at radius eps actually achieves.
 * measured << predicted means the loss is far from linear on the scale eps.
 */
export function firstOrderCheck(
  f: Classifier,
  x: Float32Array,
  y: Int32Array,
  inputShape: number[],
  numClasses: number,
  bounds: Bounds,
  eps: number,
  norm: Norm,
  batchSize = EVAL_DEFAULTS.batchSize,
): FirstOrderRows {
  const d = inputSize(inputShape);
  const dual = dualNorm(norm);
  const [predicted, predictedStep, measured] = batched(y.length, batchSize, 3, (s, e) => {
    const xb = tf.tensor(x.subarray(s * d, e * d), [e - s, ...inputShape]);
    const t = tf.oneHot(tf.tensor1d(y.subarray(s, e), 'int32'), numClasses).toFloat() as tf.Tensor2D;
    const { logits, loss, grad } = ceAndGradient(f, xb, t);
    logits.dispose();
    const xAdv = project(tf.add(xb, tf.mul(steepestDirection(grad, norm), eps)), xb, eps, norm, bounds);
    const lossAdv = crossEntropyPerExample(f(xAdv), t);
    const flatG = tf.reshape(grad, [e - s, -1]);
    const step = tf.sum(tf.mul(flatG, tf.reshape(tf.sub(xAdv, xb), [e - s, -1])), 1);
    return tf.stack([tf.mul(rowNorm(grad, dual), eps), step, tf.sub(lossAdv, loss)], 1) as tf.Tensor2D;
  });
  return { predicted, predictedStep, measured };
}

export interface MarginRows {
  /** f_y - max_{j != y} f_j (negative when misclassified). */
  logit: Float32Array;
  /**
   * min over j != y of (f_y - f_j) / ||grad f_y - grad f_j||_dual: the
   * distance to the nearest decision boundary if the logits were linear
   * (DeepFool's estimate), in the threat model's norm.
   */
  firstOrder: Float32Array;
  /** The class j attaining the first-order minimum. */
  closestClass: Int32Array;
}

/** Logit margins and first-order margins (one backward pass per class). */
export function margins(f: Classifier, x: Float32Array, y: Int32Array, inputShape: number[], numClasses: number, norm: Norm, batchSize = EVAL_DEFAULTS.batchSize): MarginRows {
  const d = inputSize(inputShape);
  const dual = dualNorm(norm);
  const [logit, firstOrder, closest] = batched(y.length, batchSize, 3, (s, e) => {
    const b = e - s;
    const xb = tf.tensor(x.subarray(s * d, e * d), [b, ...inputShape]);
    const labels = tf.tensor1d(y.subarray(s, e), 'int32');
    const onehot = tf.oneHot(labels, numClasses).toFloat();
    const z = f(xb);
    const zy = tf.sum(tf.mul(z, onehot), 1, true);
    const others = tf.add(z, tf.mul(onehot, -1e30));
    const logitMargin = tf.sub(tf.squeeze(zy, [1]), tf.max(others, 1));
    const jac = logitJacobian(f, xb, numClasses).map((g) => tf.reshape(g, [b, -1]));
    const jacStack = tf.stack(jac, 1); // [b, k, d]
    const gy = tf.sum(tf.mul(jacStack, tf.reshape(onehot, [b, numClasses, 1])), 1, true); // [b, 1, d]
    const diff = tf.sub(gy, jacStack); // [b, k, d]
    const dn = dual === 'l1' ? tf.sum(tf.abs(diff), 2) : tf.sqrt(tf.sum(tf.square(diff), 2)); // [b, k]
    const ratio = tf.div(tf.sub(zy, z), tf.maximum(dn, 1e-30));
    const masked = tf.add(ratio, tf.mul(onehot, 1e30)); // exclude j = y
    return tf.stack([logitMargin, tf.min(masked, 1), tf.argMin(masked, 1).toFloat()], 1) as tf.Tensor2D;
  });
  return { logit, firstOrder, closestClass: Int32Array.from(closest) };
}

/** Points whose vicinity a training scheme defines; structurally what `scheme.vicinity(point, n, rng)` returns. */
export interface VicinalDraw {
  x: tf.Tensor;
  /** Soft (or one-hot) targets [n, k]: the loss at a vicinal point is taken against these. */
  targets: tf.Tensor2D;
}

/**
 * Vicinal probe points, supplied by the caller (the schemes own the
 * vicinal distributions; this module does not depend on them):
 * - arrays: ready points with labels or soft targets;
 * - draw: called as draw(point, n, rng) for `anchors` training rows chosen
 *   at random from [0, size), e.g. (p, n, r) => scheme.vicinity(p, n, r, model)
 *   with size = scheme.trainingSet.n. Returned tensors are disposed here.
 */
export type VicinalSource = { x: Float32Array; targets: ProbeTargets } | { draw: (point: number, n: number, rng: Rng) => VicinalDraw; size: number };

export interface ProbeConfig {
  /** Default true. */
  enabled?: boolean;
  /** Points per set (train, test, vicinal). Default EVAL_DEFAULTS.probePoints (200). */
  nPoints?: number;
  /** Vicinal draws per anchor training point when a `draw` source is given. Default 4 (nPoints / 4 anchors). */
  vicinalPerPoint?: number;
  /** Radii of the Lipschitz and first-order probes. Default: every eps of the evaluation. */
  eps?: number[];
  /** Local-Lipschitz ascent settings. */
  lipschitz?: LipschitzOptions;
  /** Compute the margins (k backward passes per point). Default true. */
  margins?: boolean;
}

export interface ProbePerExample {
  /** Row numbers (in dataset.train / the evaluated test examples) of the probed points. */
  trainIndex: Int32Array;
  testIndex: Int32Array;
  train: GradientNormRows;
  test: GradientNormRows;
  vicinal: GradientNormRows | null;
  /** Keyed "norm:eps" (e.g. "linf:0.3"). */
  lipschitz: Record<string, LipschitzResult>;
  firstOrder: Record<string, FirstOrderRows>;
  margins: MarginRows | null;
}

export interface ProbeOutput {
  /** Name -> distribution: grad-l1/train, grad-l2/test, grad-l1/vicinal, loss/..., local-lipschitz@linf:0.3, first-order/..., margin, margin-first-order. */
  distributions: Record<string, Distribution>;
  perExample: ProbePerExample;
  settings: Record<string, unknown>;
}

/**
 * Runs every probe. Training points: nPoints rows of dataset.train chosen
 * with `rng`; test points: the first nPoints of the test rows given
 * (`testX`, `testY`, normally the evaluated examples); vicinal points from
 * `vicinal` when given.
 */
export function runProbes(
  f: Classifier,
  dataset: Dataset,
  test: { x: Float32Array; y: Int32Array },
  norm: Norm,
  evalEps: number[],
  config: ProbeConfig,
  rng: Rng,
  vicinal?: VicinalSource,
  batchSize = EVAL_DEFAULTS.batchSize,
): ProbeOutput {
  const nPoints = config.nPoints ?? EVAL_DEFAULTS.probePoints;
  if (!Number.isInteger(nPoints) || nPoints < 1) throw new Error(`probes: nPoints must be an integer >= 1, got ${nPoints}`);
  const k = dataset.numClasses;
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const dist: Record<string, Distribution> = {};

  const nTrain = Math.min(nPoints, dataset.train.n);
  const trainIndex = rng.fork('train-points').permutation(dataset.train.n).slice(0, nTrain);
  const trainX = takeRows(dataset.train.x, d, trainIndex);
  const trainY = takeLabels(dataset.train.y, trainIndex);
  const train = gradientNorms(f, trainX, shape, trainY, k, batchSize);

  const nTest = Math.min(nPoints, test.y.length);
  const testIndex = Int32Array.from({ length: nTest }, (_, i) => i);
  const testX = test.x.subarray(0, nTest * d);
  const testY = test.y.subarray(0, nTest);
  const testRows = gradientNorms(f, testX, shape, testY, k, batchSize);

  let vic: GradientNormRows | null = null;
  const perPoint = config.vicinalPerPoint ?? 4;
  if (vicinal) {
    if ('draw' in vicinal) {
      if (!Number.isInteger(perPoint) || perPoint < 1) throw new Error(`probes: vicinalPerPoint must be an integer >= 1, got ${perPoint}`);
      const anchors = Math.max(1, Math.ceil(nPoints / perPoint));
      const vr = rng.fork('vicinal');
      const xs: Float32Array[] = [];
      const ts: Float32Array[] = [];
      for (let a = 0; a < anchors; a++) {
        const p = vr.int(vicinal.size);
        const drawn = vicinal.draw(p, perPoint, vr.fork(a));
        xs.push(drawn.x.dataSync() as Float32Array);
        ts.push(drawn.targets.dataSync() as Float32Array);
        drawn.x.dispose();
        drawn.targets.dispose();
      }
      const vx = concatRows(xs);
      const vt = concatRows(ts);
      vic = gradientNorms(f, vx, shape, vt, k, batchSize);
    } else {
      vic = gradientNorms(f, vicinal.x, shape, vicinal.targets, k, batchSize);
    }
  }

  for (const [name, rows] of [
    ['train', train],
    ['test', testRows],
    ['vicinal', vic],
  ] as const) {
    if (!rows) continue;
    dist[probeKey('grad-l1', name)] = distribution(rows.l1);
    dist[probeKey('grad-l2', name)] = distribution(rows.l2);
    dist[probeKey('loss', name)] = distribution(rows.loss);
  }

  const probeEps = config.eps ?? evalEps;
  const lipschitz: Record<string, LipschitzResult> = {};
  const firstOrder: Record<string, FirstOrderRows> = {};
  for (const eps of probeEps) {
    const key = ballKey(norm, eps);
    const lip = localLipschitz(f, testX, testY, shape, k, dataset.bounds, eps, norm, { batchSize, ...config.lipschitz });
    lipschitz[key] = lip;
    const ball = { norm, eps };
    dist[probeKey('local-lipschitz', ball)] = distribution(lip.max);
    const fo = firstOrderCheck(f, testX, testY, shape, k, dataset.bounds, eps, norm, batchSize);
    firstOrder[key] = fo;
    dist[probeKey('first-order/predicted', ball)] = distribution(fo.predicted);
    dist[probeKey('first-order/measured', ball)] = distribution(fo.measured);
    const ratio = new Float32Array(fo.measured.length);
    for (let i = 0; i < ratio.length; i++) ratio[i] = fo.predicted[i] > 0 ? fo.measured[i] / fo.predicted[i] : NaN;
    dist[probeKey('first-order/ratio', ball)] = distribution(ratio);
  }

  let m: MarginRows | null = null;
  if (config.margins !== false) {
    m = margins(f, testX, testY, shape, k, norm, batchSize);
    dist.margin = distribution(m.logit);
    dist['margin-first-order'] = distribution(m.firstOrder);
  }

  const lipMethods = [...new Set(Object.values(lipschitz).map((l) => l.method))];
  return {
    distributions: dist,
    perExample: { trainIndex, testIndex, train, test: testRows, vicinal: vic, lipschitz, firstOrder, margins: m },
    settings: {
      nPoints,
      nTrain,
      nTest,
      nVicinal: vic ? vic.loss.length : 0,
      vicinalPerPoint: vicinal && 'draw' in vicinal ? perPoint : null,
      eps: probeEps,
      norm,
      dualNorm: dualNorm(norm),
      lipschitz: Object.values(lipschitz)[0]?.settings ?? null,
      lipschitzMethod: lipMethods.join(','),
      margins: config.margins !== false,
    },
  };
}
