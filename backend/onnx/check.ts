/**
 * Verifies the onnx engine like every backend: for small TF.js Layers models
 * covering every layer type the engine compiles (dense, dense+relu, conv2d
 * stride 1 "same" and stride 2 "valid", an 8-channel conv with an even kernel
 * (the flipped-kernel dx path) whose relu feeds a pool, non-overlapping and overlapping
 * maxPool over mostly negative values, a ReLU layer) plus the exact MNIST MLP
 * and CNN, the engine's logits, input gradient and every weight gradient are
 * compared with the tfjs cpu backend running the same model
 * (max|g - g_cpu| / max|g_cpu| <= 1e-4) and with central finite differences
 * of the engine's own forward pass (float64 accumulation, max|fd - g| over the
 * probed coordinates relative to the largest probed |fd| or |g| <= 1e-2,
 * h = 1e-3; as backend/gradient-check.ts; the MNIST CNN's first
 * conv weights are compared with cpu only, see fdSkipLayers). The loss is a fixed random
 * projection sum(logits * R). A second table runs the MNIST MLP on inputs made
 * of +-0, tiny, subnormal and huge values (backend/conformance.ts's SPECIAL),
 * logits and input gradients vs cpu.
 *
 * With a StepReference (the attacks' losses, steepestDirection and project:
 * attacks/step-reference.ts, passed in because this layer cannot import the
 * attacks), every attack step graph (backend/onnx/step-graph.ts) is checked
 * too: each kind (pgd, eval, apgd) x norm (linf, l2) x loss (ce, margin, dlr,
 * dlr-targeted), both directions, its outputs (x_next, loss, logits, grad)
 * vs the same iteration computed by that reference on the tfjs cpu backend
 * (<= 1e-4 relative), on ordinary inputs (a dense 4-class model and a conv
 * 3-class model) and on +-0, tiny, subnormal and huge inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../data/rng';
import { SPECIAL } from '../conformance';
import { engineClassifier, engineModelOf, engineTrainClassifier, releaseOnnxModel } from './engine';
import { LayersModelLike } from './compile';
import { loadOrt, ortExecutionProvider, ortThreads } from './runtime';
import { STEP_LOSSES, StepKind, StepLoss, Stepper } from './step-graph';
import type { Bounds } from '../../data/types';
import type { Norm } from '../../contract/norms';

export interface EngineCheckRow {
  model: string;
  /** "logits", "dx", or the weight's name */
  quantity: string;
  shape: string;
  maxRelErrVsCpu: number;
  /** NaN where not applicable (logits, special inputs) */
  maxRelErrVsFiniteDiff: number;
  ok: boolean;
  error?: string;
}

export interface EngineCheckReport {
  engine: string;
  tolerance: { vsCpu: number; vsFiniteDiff: number };
  rows: EngineCheckRow[];
  ok: boolean;
  failing: string[];
}

export const ENGINE_TOL_VS_CPU = 1e-4;
export const ENGINE_TOL_VS_FD = 1e-2;
const FD_STEP = 1e-3;
const FD_COORDS = 6;
const SEED = 20261201;

interface EngineCase {
  name: string;
  build: () => tf.LayersModel;
  batch: number;
  /** input values: 'normal' or the conformance specials */
  input: 'normal' | 'special';
  finiteDiff: boolean;
  /**
   * Layers whose weight gradients are compared with cpu only: a weight of the
   * MNIST CNN's first conv moves 1,568 relu and pooling kinks per example, and
   * no step both avoids them and stays above float32 noise.
   */
  fdSkipLayers?: number[];
}

const seq = (name: string, layers: tf.layers.Layer[]): tf.LayersModel => {
  const m = tf.sequential({ name });
  for (const l of layers) m.add(l);
  return m;
};
const init = (seed: number) => tf.initializers.glorotUniform({ seed });
const biasInit = (seed: number) => tf.initializers.randomNormal({ seed, stddev: 0.3 });

/** The cases: every layer type on awkward shapes, and the exact MNIST models. */
export function engineCases(): EngineCase[] {
  return [
    {
      name: 'dense',
      batch: 3,
      input: 'normal',
      finiteDiff: true,
      build: () => seq('dense', [tf.layers.dense({ inputShape: [7], units: 5, kernelInitializer: init(1), biasInitializer: biasInit(2) })]),
    },
    {
      name: 'dense relu + dense (no bias)',
      batch: 4,
      input: 'normal',
      finiteDiff: true,
      build: () =>
        seq('dense-relu', [
          tf.layers.dense({ inputShape: [9], units: 6, activation: 'relu', kernelInitializer: init(3), biasInitializer: biasInit(4) }),
          tf.layers.dense({ units: 4, useBias: false, kernelInitializer: init(5) }),
        ]),
    },
    {
      name: 'conv2d 3x3 stride 1 same, relu',
      batch: 3,
      input: 'normal',
      finiteDiff: true,
      build: () =>
        seq('conv-same', [
          tf.layers.conv2d({ inputShape: [7, 6, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(6), biasInitializer: biasInit(7) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, kernelInitializer: init(8) }),
        ]),
    },
    {
      name: 'conv2d 3x3 stride 2 valid',
      batch: 2,
      input: 'normal',
      finiteDiff: true,
      build: () =>
        seq('conv-valid-s2', [
          tf.layers.conv2d({ inputShape: [9, 8, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'valid', kernelInitializer: init(9), biasInitializer: biasInit(10) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, kernelInitializer: init(11) }),
        ]),
    },
    {
      name: 'conv2d 4x4 stride 3 same + maxPool 2x2 (negative windows)',
      batch: 2,
      input: 'normal',
      finiteDiff: true,
      build: () =>
        seq('conv-s3-pool', [
          tf.layers.conv2d({ inputShape: [11, 10, 2], filters: 3, kernelSize: 4, strides: 3, padding: 'same', kernelInitializer: init(12), biasInitializer: tf.initializers.constant({ value: -1 }) }),
          tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, kernelInitializer: init(13) }),
        ]),
    },
    {
      name: 'maxPool 3x3 stride 2 valid (overlapping) + ReLU layer',
      batch: 2,
      input: 'normal',
      finiteDiff: true,
      build: () =>
        seq('pool-overlap', [
          tf.layers.conv2d({ inputShape: [9, 7, 2], filters: 3, kernelSize: 2, padding: 'same', kernelInitializer: init(14), biasInitializer: tf.initializers.constant({ value: -0.5 }) }),
          tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'valid' }),
          tf.layers.reLU(),
          tf.layers.flatten(),
          tf.layers.dropout({ rate: 0 }),
          tf.layers.dense({ units: 3, kernelInitializer: init(15), biasInitializer: biasInit(16) }),
        ]),
    },
    { name: 'MNIST MLP 784-256-256-10', batch: 3, input: 'normal', finiteDiff: true, build: () => mnistMlp() },
    { name: 'MNIST CNN conv16-pool-conv32-pool-dense', batch: 2, input: 'normal', finiteDiff: true, fdSkipLayers: [0], build: () => mnistCnn() },
    { name: 'MNIST MLP on +-0, tiny, subnormal, huge inputs', batch: 2, input: 'special', finiteDiff: false, build: () => mnistMlp() },
    {
      // dx of the 8-channel conv is a flipped-kernel Conv with asymmetric pads (even kernel, same);
      // its relu mask is applied at the pooled size (the pool follows it).
      name: 'conv2d 4x4 stride 1 same on 8 channels, relu into maxPool 2x2 same',
      batch: 2,
      input: 'normal',
      finiteDiff: true,
      build: () =>
        seq('conv8-pool', [
          tf.layers.conv2d({ inputShape: [7, 9, 2], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(17), biasInitializer: biasInit(18) }),
          tf.layers.conv2d({ filters: 5, kernelSize: 4, padding: 'same', activation: 'relu', kernelInitializer: init(19), biasInitializer: biasInit(20) }),
          tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, kernelInitializer: init(26) }),
        ]),
    },
  ];
}

function mnistMlp(): tf.LayersModel {
  return seq('mnist-mlp', [
    tf.layers.flatten({ inputShape: [28, 28, 1] }),
    tf.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(21), biasInitializer: biasInit(22) }),
    tf.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(23), biasInitializer: biasInit(24) }),
    tf.layers.dense({ units: 10, kernelInitializer: init(25) }),
  ]);
}

function mnistCnn(): tf.LayersModel {
  return seq('mnist-cnn', [
    tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: init(31), biasInitializer: biasInit(32) }),
    tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
    tf.layers.conv2d({ filters: 32, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: init(33), biasInitializer: biasInit(34) }),
    tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 10, kernelInitializer: init(35) }),
  ]);
}

/** max |a - ref| / max |ref| (non-finite values must match exactly): the measure of every engine check and test. */
export function maxRel(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ref[i]) || !Number.isFinite(a[i])) {
      if (!Object.is(ref[i], a[i]) && !(Number.isNaN(ref[i]) && Number.isNaN(a[i]))) return Infinity;
      continue;
    }
    err = Math.max(err, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale === 0 ? (err === 0 ? 0 : Infinity) : err / scale;
}

interface Computed {
  logits: Float32Array;
  grads: Map<string, Float32Array>;
}

/** Logits and the gradients of sum(logits * R) w.r.t. x and every weight, through `apply` (tfjs) or the engine. */
function compute(model: tf.LayersModel, x: Float32Array, xShape: number[], r: Float32Array, engine: boolean): Computed {
  // Typed arrays are assigned out of tidy, never returned through it (tidy walks what it returns).
  const out: Computed = { logits: new Float32Array(0), grads: new Map() };
  tf.tidy(() => {
    const xt = tf.tensor(x, xShape);
    const rt = tf.tensor(r, [xShape[0], r.length / xShape[0]]);
    const fx = engine ? engineClassifier(model as unknown as LayersModelLike) : (v: tf.Tensor) => model.apply(v) as tf.Tensor2D;
    const ft = engine ? engineTrainClassifier(model as unknown as LayersModelLike) : fx;
    out.logits = fx(xt).dataSync() as Float32Array;
    const grads = out.grads;
    grads.set(
      'dx',
      tf
        .grad((v: tf.Tensor) => tf.sum(tf.mul(fx(v), rt)))(xt)
        .dataSync() as Float32Array,
    );
    const vg = tf.variableGrads(() => tf.sum(tf.mul(ft(xt), rt)) as tf.Scalar);
    for (const w of model.trainableWeights) grads.set(w.originalName, vg.grads[(w.read() as tf.Variable).name].dataSync() as Float32Array);
  });
  return out;
}

/** Relative finite-difference error of the engine's dx / dW at a few coordinates (float64 sums). */
function finiteDiffError(model: tf.LayersModel, x: Float32Array, xShape: number[], r: Float32Array, quantity: string, g: Float32Array, rng: Rng, h: number): number {
  const f = engineClassifier(model as unknown as LayersModelLike);
  const loss = (xv: Float32Array): number => {
    const z = tf.tidy(() => f(tf.tensor(xv, xShape)).dataSync() as Float32Array);
    let s = 0;
    for (let i = 0; i < z.length; i++) s += z[i] * r[i];
    return s;
  };
  const weight = quantity === 'dx' ? null : model.trainableWeights.find((w) => w.originalName === quantity);
  const base = weight ? (weight.read().dataSync() as Float32Array).slice() : x;
  const evalAt = (v: Float32Array): number => {
    if (!weight) return loss(v);
    weight.write(tf.tensor(v, weight.shape as number[]));
    return loss(x);
  };
  const coords = new Set<number>();
  const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
  for (let i = 0; i < FD_COORDS / 2 && i < order.length; i++) coords.add(order[i]);
  while (coords.size < Math.min(FD_COORDS, g.length)) coords.add(Math.floor(rng.uniform() * g.length));
  // Errors relative to the largest probed |fd| or |g| (the probe includes the largest-|g| coordinates),
  // as backend/gradient-check.ts: a coordinate whose gradient is ~0 would otherwise compare the float32
  // rounding noise of the loss (~1e-7 relative, divided by 2h) with itself.
  const v = base.slice();
  const probes: [number, number][] = [];
  for (const c of coords) {
    v[c] = base[c] + h;
    const hp = v[c] - base[c];
    const lp = evalAt(v);
    v[c] = base[c] - h;
    const hm = base[c] - v[c];
    const lm = evalAt(v);
    v[c] = base[c];
    probes.push([(lp - lm) / (hp + hm), g[c]]);
  }
  const scale = Math.max(1e-6, ...probes.map(([fd, gc]) => Math.max(Math.abs(fd), Math.abs(gc))));
  const worst = Math.max(0, ...probes.map(([fd, gc]) => Math.abs(fd - gc) / scale));
  if (weight) weight.write(tf.tensor(base, weight.shape as number[]));
  return worst;
}

function inputData(c: EngineCase, shape: number[], rng: Rng): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = c.input === 'special' ? SPECIAL[i % SPECIAL.length] : rng.normal();
  return out;
}

/** The tensor code a step graph reproduces (attacks/step-reference.ts): the tfjs reference of checkStepGraphs. */
export interface StepReference {
  /** Per row dir * L(logits, t); `u` the labels' one-hot rows of "dlr-targeted" (t its targets). */
  objective(loss: StepLoss, logits: tf.Tensor2D, t: tf.Tensor2D, dir: number, u?: tf.Tensor2D): tf.Tensor1D;
  steepest(g: tf.Tensor, norm: Norm): tf.Tensor;
  project(v: tf.Tensor, x0: tf.Tensor, eps: number, norm: Norm, bounds: Bounds): tf.Tensor;
}

export const STEP_KINDS: readonly StepKind[] = ['pgd', 'eval', 'apgd'];

interface StepCase {
  name: string;
  build: () => tf.LayersModel;
  batch: number;
  input: 'normal' | 'special';
}

/** The step graph cases: 4 classes (DLR-T's four largest), 3 classes on a conv (rank-4 rows, pi4 = pi3), and the special values. */
export function stepCases(): StepCase[] {
  const cases = engineCases();
  const pick = (name: string) => (cases.find((c) => c.name === name) as EngineCase).build;
  return [
    { name: 'dense relu + dense, 4 classes', batch: 4, input: 'normal', build: pick('dense relu + dense (no bias)') },
    { name: 'conv2d 3x3 same relu, 3 classes', batch: 3, input: 'normal', build: pick('conv2d 3x3 stride 1 same, relu') },
    // 4 rows of 9: each of the 36 special values once
    { name: 'dense relu + dense on +-0, tiny, subnormal, huge', batch: 4, input: 'special', build: pick('dense relu + dense (no bias)') },
  ];
}

interface StepData {
  x: Float32Array;
  x0: Float32Array;
  xPrev: Float32Array;
  g: Float32Array;
  t: Float32Array;
  u: Float32Array;
  step: Float32Array;
  a: number;
  eps: number;
  bounds: Bounds;
}

/** One iteration of `kind` by the reference (on the current tfjs backend): what the step graph outputs. */
function referenceStep(ref: StepReference, model: tf.LayersModel, kind: StepKind, norm: Norm, loss: StepLoss, dir: 1 | -1, d: StepData, xShape: number[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  tf.tidy(() => {
    const n = xShape[0];
    const x = tf.tensor(d.x, xShape);
    const x0 = tf.tensor(d.x0, xShape);
    const t = tf.tensor2d(d.t, [n, d.t.length / n]);
    const u = tf.tensor2d(d.u, [n, d.u.length / n]);
    const step = tf.tensor(d.step, [n, ...xShape.slice(1).map(() => 1)]);
    const objective = (v: tf.Tensor) => ref.objective(loss, model.apply(v) as tf.Tensor2D, t, dir, u);
    const at = (v: tf.Tensor) => {
      out.loss = objective(v).dataSync() as Float32Array;
      out.logits = (model.apply(v) as tf.Tensor).dataSync() as Float32Array;
      return tf.grad((w: tf.Tensor) => tf.sum(objective(w)))(v);
    };
    const proj = (v: tf.Tensor) => ref.project(v, x0, d.eps, norm, d.bounds);
    if (kind === 'eval') out.grad = at(x).dataSync() as Float32Array;
    else if (kind === 'pgd') {
      const g = at(x);
      out.grad = g.dataSync() as Float32Array; // not an output of the graph: masks linf's sign of float noise
      out.x_next = proj(tf.add(x, tf.mul(ref.steepest(g, norm), step))).dataSync() as Float32Array;
    } else {
      const z = proj(tf.add(x, tf.mul(ref.steepest(tf.tensor(d.g, xShape), norm), step)));
      const xn = proj(tf.add(x, tf.add(tf.mul(tf.sub(z, x), d.a), tf.mul(tf.sub(x, tf.tensor(d.xPrev, xShape)), 1 - d.a))));
      out.x_next = xn.dataSync() as Float32Array;
      out.grad = at(xn).dataSync() as Float32Array;
    }
  });
  return out;
}

/**
 * linf PGD's x_next steps by sign(grad): where the reference gradient is float noise around zero
 * (|g| <= 1e-5 of its row's largest, or the row is zero) the engine's sign may differ; those
 * coordinates are left out (taken from the engine), every other one compared.
 */
function maskSignNoise(engine: Float32Array, ref: Float32Array, g: Float32Array, n: number): Float32Array {
  const d = g.length / n;
  const masked = ref.slice();
  for (let r = 0; r < n; r++) {
    let rowMax = 0;
    for (let i = r * d; i < (r + 1) * d; i++) rowMax = Math.max(rowMax, Math.abs(g[i]));
    for (let i = r * d; i < (r + 1) * d; i++) if (!(Math.abs(g[i]) > 1e-5 * rowMax)) masked[i] = engine[i];
  }
  return masked;
}

/**
 * Rows where the untargeted DLR is constant: the label's logit ranks third, so the margin equals the
 * denominator and the objective is +-1. The exact gradient is zero there (the engine's quotient rule
 * cancels exactly); the reference's is float noise, and a step along it (l2: normalised) is noise too.
 */
function constantDlrRows(loss: StepLoss, logits: Float32Array, t: Float32Array, n: number): boolean[] {
  const k = logits.length / n;
  return Array.from({ length: n }, (_, r) => {
    if (loss !== 'dlr' || k < 3) return false;
    const y = t.subarray(r * k, (r + 1) * k).indexOf(1);
    const zy = logits[r * k + y];
    let above = 0;
    for (let j = 0; j < k; j++) if (logits[r * k + j] > zy) above++;
    return above === 2;
  });
}

/**
 * On constant-DLR rows a gradient is accepted where it is no larger than the reference's noise, and
 * x_next (a step along noise: linf its sign, l2 it normalised) where it is one step at most from x
 * in the norm, inside the bounds.
 */
function maskConstantRows(engine: Float32Array, ref: Float32Array, rows: boolean[], step?: { x: Float32Array; size: Float32Array; norm: Norm; bounds: Bounds }): Float32Array {
  const d = ref.length / rows.length;
  const masked = ref.slice();
  rows.forEach((constant, r) => {
    if (!constant) return;
    let noise = 0;
    let moved = 0;
    let inBounds = true;
    for (let i = r * d; i < (r + 1) * d; i++) {
      noise = Math.max(noise, Math.abs(ref[i]));
      if (step) {
        const dx = Math.abs(engine[i] - step.x[i]);
        moved = step.norm === 'linf' ? Math.max(moved, dx) : moved + dx * dx;
        inBounds &&= engine[i] >= step.bounds.lo && engine[i] <= step.bounds.hi;
      }
    }
    if (step) {
      const length = step.norm === 'linf' ? moved : Math.sqrt(moved);
      if (inBounds && length <= step.size[r] * (1 + 1e-5) + 1e-6) masked.set(engine.subarray(r * d, (r + 1) * d), r * d);
      return;
    }
    for (let i = r * d; i < (r + 1) * d; i++) if (Math.abs(engine[i]) <= noise) masked[i] = engine[i];
  });
  return masked;
}

/** checkOnnxEngine's step graph rows: one per case, kind, norm and loss (both directions; the worst output). */
export async function checkStepGraphs(ref: StepReference, cases: StepCase[] = stepCases()): Promise<EngineCheckRow[]> {
  const host = tf.getBackend();
  const rows: EngineCheckRow[] = [];
  const rng = new Rng(SEED + 1);
  for (const c of cases) {
    const model = c.build();
    const inShape = (model.inputs[0].shape as number[]).slice(1);
    const xShape = [c.batch, ...inShape];
    const k = (model.outputs[0].shape as number[])[1];
    const size = xShape.reduce((a, b) => a * b, 1);
    const special = c.input === 'special';
    // ordinary: x0 in the bounds [-2, 2] (some clipped), x inside the ball; special: x = x0, the bounds the float range
    const bounds = special ? { lo: -3.4e38, hi: 3.4e38 } : { lo: -2, hi: 2 };
    const clip = (v: number) => Math.min(bounds.hi, Math.max(bounds.lo, v));
    const x0 = Float32Array.from({ length: size }, (_, i) => (special ? SPECIAL[i % SPECIAL.length] : clip(rng.normal())));
    const near = (scale: number) => (special ? x0.slice() : x0.map((v) => clip(v + scale * (rng.uniform() - 0.5))));
    const oneHot = (cls: (r: number) => number) => Float32Array.from({ length: c.batch * k }, (_, i) => (i % k === cls(Math.floor(i / k)) ? 1 : 0));
    const base = { x0, t: oneHot((r) => r % k), u: oneHot((r) => (r + 1) % k), g: Float32Array.from({ length: size }, () => rng.normal()), a: 0.75 };
    const m = engineModelOf(engineClassifier(model as unknown as LayersModelLike));
    try {
      if (!m) throw new Error('no engine model');
      for (const norm of ['linf', 'l2'] as Norm[]) {
        const eps = norm === 'linf' ? 0.1 : 1.5;
        // special: steps of 1e-3 of the ordinary ones, so the rows stay special values (a longer step moved a tiny row
        // to a point where this model has a single active ReLU: the scale-invariant DLR's gradient is then exactly zero
        // and both sides return float noise)
        const stepScale = (norm === 'linf' ? 0.02 : 0.4) * (special ? 1e-3 : 1);
        const data: StepData = { ...base, x: near(eps / 2), xPrev: near(eps / 2), step: Float32Array.from({ length: c.batch }, (_, r) => stepScale * (r + 1)), eps, bounds };
        for (const loss of STEP_LOSSES) {
          const stepper = new Stepper(m, norm, loss);
          const u = loss === 'dlr-targeted' ? data.u : undefined;
          for (const kind of STEP_KINDS) {
            let worst = 0;
            const quantities = kind === 'eval' ? ['loss', 'logits', 'grad'] : kind === 'pgd' ? ['x_next', 'loss', 'logits'] : ['x_next', 'loss', 'logits', 'grad'];
            try {
              for (const dir of [1, -1] as const) {
                const inp = { x: data.x, x0, t: data.t, u, step: data.step, dir, eps, lo: bounds.lo, hi: bounds.hi };
                const got: Record<string, Float32Array> =
                  kind === 'eval'
                    ? { ...stepper.evaluate(data.x, data.t, dir, u) }
                    : kind === 'pgd'
                      ? { ...stepper.step(inp) }
                      : { ...stepper.momentum({ ...inp, xPrev: data.xPrev, g: data.g, a: data.a }) };
                got.x_next = got.xNext;
                await tf.setBackend('cpu');
                const want = referenceStep(ref, model, kind, norm, loss, dir, data, xShape);
                await tf.setBackend(host);
                if (kind === 'pgd' && norm === 'linf') want.x_next = maskSignNoise(got.x_next, want.x_next, want.grad, c.batch);
                const constant = constantDlrRows(loss, want.logits, data.t, c.batch);
                if (kind === 'pgd') want.x_next = maskConstantRows(got.x_next, want.x_next, constant, { x: data.x, size: data.step, norm, bounds });
                else want.grad = maskConstantRows(got.grad, want.grad, constant);
                for (const q of quantities) worst = Math.max(worst, maxRel(got[q], want[q]));
              }
              rows.push({
                model: `step ${kind} ${norm} ${loss} on ${c.name}`,
                quantity: quantities.join(','),
                shape: `x[${xShape.join(',')}]`,
                maxRelErrVsCpu: worst,
                maxRelErrVsFiniteDiff: NaN,
                ok: false,
              });
            } catch (e) {
              rows.push({
                model: `step ${kind} ${norm} ${loss} on ${c.name}`,
                quantity: '-',
                shape: `x[${xShape.join(',')}]`,
                maxRelErrVsCpu: Infinity,
                maxRelErrVsFiniteDiff: Infinity,
                ok: false,
                error: e instanceof Error ? e.message.split('\n')[0] : String(e),
              });
            } finally {
              if (tf.getBackend() !== host) await tf.setBackend(host);
            }
          }
        }
      }
    } finally {
      releaseOnnxModel(model as unknown as LayersModelLike);
      model.dispose();
    }
  }
  return rows;
}

/** Runs every case (and, given the attacks' reference, every step graph); the host tfjs backend is restored afterwards. */
export async function checkOnnxEngine(cases: EngineCase[] = engineCases(), stepReference?: StepReference): Promise<EngineCheckReport> {
  const ort = loadOrt();
  const host = tf.getBackend();
  const rows: EngineCheckRow[] = [];
  // One stream through the cases in order (new cases go last, so earlier cases keep their inputs).
  const rng = new Rng(SEED);
  for (const c of cases) {
    const model = c.build();
    const inShape = (model.inputs[0].shape as number[]).slice(1);
    const xShape = [c.batch, ...inShape];
    const x = inputData(c, xShape, rng);
    const classes = (model.outputs[0].shape as number[])[1];
    const r = new Float32Array(c.batch * classes);
    for (let i = 0; i < r.length; i++) r[i] = rng.normal();
    const shape = `x[${xShape.join(',')}]`;
    try {
      await tf.setBackend('cpu');
      const ref = compute(model, x, xShape, r, false);
      await tf.setBackend(host);
      const got = compute(model, x, xShape, r, true);
      rows.push({ model: c.name, quantity: 'logits', shape, maxRelErrVsCpu: maxRel(got.logits, ref.logits), maxRelErrVsFiniteDiff: NaN, ok: false });
      for (const [q, g] of got.grads) {
        const skip = (c.fdSkipLayers ?? []).some((li) => model.layers[li].weights.some((w) => w.originalName === q));
        const vsFd = c.finiteDiff && !skip ? finiteDiffError(model, x, xShape, r, q, g, rng, FD_STEP) : NaN;
        const wShape = q === 'dx' ? shape : `${q} [${model.trainableWeights.find((w) => w.originalName === q)?.shape.join(',')}]`;
        rows.push({
          model: c.name,
          quantity: q === 'dx' ? 'dx' : `d ${q.split('/').pop()}`,
          shape: wShape,
          maxRelErrVsCpu: maxRel(g, ref.grads.get(q) as Float32Array),
          maxRelErrVsFiniteDiff: vsFd,
          ok: false,
        });
      }
    } catch (e) {
      rows.push({ model: c.name, quantity: '-', shape, maxRelErrVsCpu: Infinity, maxRelErrVsFiniteDiff: Infinity, ok: false, error: e instanceof Error ? e.message.split('\n')[0] : String(e) });
    } finally {
      if (tf.getBackend() !== host) await tf.setBackend(host);
      releaseOnnxModel(model as unknown as LayersModelLike);
      model.dispose();
    }
  }
  if (stepReference) rows.push(...(await checkStepGraphs(stepReference)));
  for (const row of rows) {
    row.ok = !row.error && row.maxRelErrVsCpu <= ENGINE_TOL_VS_CPU && (Number.isNaN(row.maxRelErrVsFiniteDiff) || row.maxRelErrVsFiniteDiff <= ENGINE_TOL_VS_FD);
  }
  const failing = [...new Set(rows.filter((r) => !r.ok).map((r) => `${r.model} ${r.quantity}`))];
  return {
    engine: ort ? `onnxruntime-node ${ort.version} (${ortExecutionProvider()}, ${ortThreads()} thread)` : 'onnxruntime-node (not loaded)',
    tolerance: { vsCpu: ENGINE_TOL_VS_CPU, vsFiniteDiff: ENGINE_TOL_VS_FD },
    rows,
    ok: rows.every((r) => r.ok),
    failing,
  };
}

export function formatEngineReport(r: EngineCheckReport): string {
  const fmt = (v: number) => (Number.isNaN(v) ? '-' : v === Infinity ? 'inf' : v.toExponential(1));
  const lines = [
    `onnx engine ${r.engine}: logits, input and weight gradients vs the tfjs cpu backend (<= ${r.tolerance.vsCpu} relative) and finite differences (<= ${r.tolerance.vsFiniteDiff})${r.rows.some((row) => row.model.startsWith('step ')) ? "; every attack step graph's outputs vs the attacks' own tfjs code on cpu" : ''}`,
    ...r.rows.map(
      (row) =>
        `  ${row.ok ? 'ok  ' : 'FAIL'} ${row.model.padEnd(58)} ${row.quantity.padEnd(9)} vs cpu ${fmt(row.maxRelErrVsCpu).padStart(7)}  vs fd ${fmt(row.maxRelErrVsFiniteDiff).padStart(7)}  ${row.shape}${row.error ? `  ${row.error}` : ''}`,
    ),
  ];
  return lines.join('\n');
}
