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
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../data/rng';
import { SPECIAL } from '../conformance';
import { engineClassifier, engineTrainClassifier, releaseOnnxModel } from './engine';
import { LayersModelLike } from './compile';
import { loadOrt, ortExecutionProvider, ortThreads } from './runtime';

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

/** Runs every case; the host tfjs backend is restored afterwards. */
export async function checkOnnxEngine(cases: EngineCase[] = engineCases()): Promise<EngineCheckReport> {
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
    `onnx engine ${r.engine}: logits, input and weight gradients vs the tfjs cpu backend (<= ${r.tolerance.vsCpu} relative) and finite differences (<= ${r.tolerance.vsFiniteDiff})`,
    ...r.rows.map(
      (row) =>
        `  ${row.ok ? 'ok  ' : 'FAIL'} ${row.model.padEnd(58)} ${row.quantity.padEnd(9)} vs cpu ${fmt(row.maxRelErrVsCpu).padStart(7)}  vs fd ${fmt(row.maxRelErrVsFiniteDiff).padStart(7)}  ${row.shape}${row.error ? `  ${row.error}` : ''}`,
    ),
  ];
  return lines.join('\n');
}
