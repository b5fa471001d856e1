/**
 * Gradient doctor: verifies, at start-up, that the current tfjs backend
 * computes correct gradients for every layer type vicinal's models use.
 *
 * For each layer (dense, conv2d, maxPool, relu, softmax cross-entropy) and
 * each differentiable quantity (the layer input and, where present, its
 * weights), the gradient of a scalar loss is computed on the current backend
 * and checked two ways:
 *
 *  1. against the reference 'cpu' backend (same inputs, same loss);
 *  2. against central finite differences of the loss, evaluated with the
 *     current backend's forward pass (float32) and accumulated in float64.
 *
 * Shapes are deliberately awkward (batch > 1, channels > 1, H != W, stride 2,
 * 'same' and 'valid' padding, overlapping pooling windows), plus the layer
 * shapes of the MNIST CNN at a small batch, and values are chosen to reach
 * the corners where broken kernels hide: tfjs-backend-wasm 4.22.0's
 * MaxPoolGrad, for one, drops the gradient of every window whose maximum is
 * <= 0, so most pooling inputs here are negative and one case pools
 * relu-like data full of all-zero windows.
 *
 * Loss: a fixed random projection sum(out * R) of the layer output, so every
 * output element contributes; for the softmax cross-entropy "layer" the loss
 * itself, mean_b -sum_k t[b,k] * logSoftmax(z)[b,k] with soft (mixup-like)
 * targets. Everything is seeded: the report is reproducible.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { textTable } from './text-table';

export type GradientLayer = 'dense' | 'conv2d' | 'maxPool' | 'relu' | 'softmaxCrossEntropy';

export interface GradientCheckRow {
  layer: GradientLayer;
  /** tfjs kernel name(s) exercised by this gradient, '+'-joined when several. */
  kernel: string;
  quantity: 'input' | 'weight';
  /** what was differentiated, e.g. "x[3,7,6,2] w[3,3,2,4] stride 1 same -> dx". */
  shape: string;
  /** max |g - g_cpu| over all elements. */
  maxAbsErrVsCpu: number;
  /** maxAbsErrVsCpu / max |g_cpu|. */
  maxRelErrVsCpu: number;
  /** worst finite-difference disagreement, relative (see tolerance.description). */
  maxRelErrVsFiniteDiff: number;
  ok: boolean;
  /** Why the gradient could not be computed (missing kernel, thrown error); the errors are then Infinity. */
  error?: string;
}

export interface GradientCheckReport {
  backend: string;
  tolerance: { vsCpu: number; vsFiniteDiff: number; description: string };
  rows: GradientCheckRow[];
  ok: boolean;
  /** Kernel names (row.kernel) of the failing rows, without duplicates. */
  failing: string[];
}

/** Relative tolerance against the cpu backend (scaled by max |g_cpu|). */
export const TOL_VS_CPU = 1e-4;
/** Relative tolerance against central finite differences. */
export const TOL_VS_FINITE_DIFF = 1e-2;
/** Finite-difference step (inputs are O(1); kinks are kept > 3h away). */
const FD_STEP = 1e-2;
/** Coordinates probed per quantity: uniformly random ones + the largest |g|. */
const FD_RANDOM_COORDS = 6;
const FD_TOP_COORDS = 6;
const SEED = 20240611;

const TOLERANCE_DESCRIPTION =
  `vs cpu: max|g - g_cpu| / max|g_cpu| <= ${TOL_VS_CPU} (float32 accumulation-order noise is ~1e-6; ` +
  `a wrong kernel is off by O(1)). vs finite differences: central differences with h=${FD_STEP} ` +
  `(the exact float32 step is used) on ${FD_RANDOM_COORDS} random + ${FD_TOP_COORDS} largest-|g| ` +
  `coordinates and along one random direction d; coordinate error max|fd_i - g_i| / max(|fd_i|, |g_i|) ` +
  `(maxima over the probed coordinates), direction error |fd_d - <g,d>| / max(|fd_d|, sqrt(sum (g_i d_i)^2)); ` +
  `must be <= ${TOL_VS_FINITE_DIFF}. ` +
  `Inputs of relu keep |x| >= 0.1 and maxPool windows hold distinct values 0.05 apart (70% negative), so no ` +
  `step crosses a kink; the pooling case with zero ties is compared with cpu only (first maximum wins).`;

interface Param {
  name: string;
  shape: number[];
  data: Float32Array;
  quantity: 'input' | 'weight';
  kernel: string;
  what: string;
}

interface Case {
  layer: GradientLayer;
  shape: string;
  params: Param[];
  /** Layer output (projected with R), or the scalar loss when `scalar`. */
  forward: (ts: tf.Tensor[]) => tf.Tensor;
  scalar: boolean;
  /** false where the input sits on kinks (ties) by design: compared with cpu only. */
  finiteDiff?: boolean;
}

// ---------------------------------------------------------------------------
// deterministic data

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function normal(rng: Rng, shape: number[], scale = 1): Float32Array {
  const out = new Float32Array(size(shape));
  for (let i = 0; i < out.length; i++) out[i] = rng.normal() * scale;
  return out;
}

/** Values with |v| >= 0.1: relu's kink at 0 is out of a finite-difference step's reach. */
function awayFromZero(rng: Rng, shape: number[]): Float32Array {
  const out = new Float32Array(size(shape));
  for (let i = 0; i < out.length; i++) {
    const v = rng.normal();
    out[i] = (v < 0 ? -1 : 1) * (0.1 + Math.abs(v));
  }
  return out;
}

/**
 * All values distinct and 0.05 apart (random order): no ties or argmax flips
 * in any pooling window. 70% are negative, so many windows have a negative
 * maximum (the stock wasm MaxPoolGrad drops those windows' gradient).
 */
function distinct(rng: Rng, shape: number[]): Float32Array {
  const n = size(shape);
  const perm = rng.permutation(n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (perm[i] - 0.7 * n) * 0.05;
  return out;
}

/** relu-like values: ~70% exact zeros (all-zero windows, ties), the rest positive. */
function reluTies(rng: Rng, shape: number[]): Float32Array {
  const out = new Float32Array(size(shape));
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, rng.normal() - 0.5);
  return out;
}

function shp(s: number[]): string {
  return `[${s.join(',')}]`;
}

// ---------------------------------------------------------------------------
// cases

function denseCase(rng: Rng, batch: number, inF: number, outF: number, tag: string): Case {
  const x = normal(rng, [batch, inF]);
  const w = normal(rng, [inF, outF], 1 / Math.sqrt(inF));
  const b = normal(rng, [outF]);
  const label = `${tag}x${shp([batch, inF])} w${shp([inF, outF])} b${shp([outF])}`;
  return {
    layer: 'dense',
    shape: label,
    scalar: false,
    params: [
      { name: 'x', shape: [batch, inF], data: x, quantity: 'input', kernel: 'BatchMatMul', what: 'dx' },
      { name: 'w', shape: [inF, outF], data: w, quantity: 'weight', kernel: 'BatchMatMul', what: 'dw' },
      { name: 'b', shape: [outF], data: b, quantity: 'weight', kernel: 'Sum', what: 'db' },
    ],
    forward: ([x, w, b]) => tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
  };
}

function convCase(rng: Rng, xShape: [number, number, number, number], wShape: [number, number, number, number], stride: number, pad: 'same' | 'valid', tag: string): Case {
  const fanIn = wShape[0] * wShape[1] * wShape[2];
  const label = `${tag}x${shp(xShape)} w${shp(wShape)} stride ${stride} ${pad}`;
  return {
    layer: 'conv2d',
    shape: label,
    scalar: false,
    params: [
      { name: 'x', shape: xShape, data: normal(rng, xShape), quantity: 'input', kernel: 'Conv2DBackpropInput', what: 'dx' },
      {
        name: 'w',
        shape: wShape,
        data: normal(rng, wShape, 1 / Math.sqrt(fanIn)),
        quantity: 'weight',
        kernel: 'Conv2DBackpropFilter',
        what: 'dw',
      },
    ],
    forward: ([x, w]) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
  };
}

function poolCase(rng: Rng, xShape: [number, number, number, number], filter: number, stride: number, pad: 'same' | 'valid', tag: string, ties = false): Case {
  return {
    layer: 'maxPool',
    shape: `${tag}x${shp(xShape)}${ties ? ' relu-like, zero ties (vs cpu only)' : ''} ${filter}x${filter} stride ${stride} ${pad}`,
    scalar: false,
    finiteDiff: !ties,
    params: [
      {
        name: 'x',
        shape: xShape,
        data: ties ? reluTies(rng, xShape) : distinct(rng, xShape),
        quantity: 'input',
        kernel: 'MaxPoolGrad',
        what: 'dx',
      },
    ],
    forward: ([x]) => tf.maxPool(x as tf.Tensor4D, filter, stride, pad),
  };
}

function reluCase(rng: Rng, xShape: number[], tag: string): Case {
  return {
    layer: 'relu',
    shape: `${tag}x${shp(xShape)}`,
    scalar: false,
    // tfjs differentiates relu as dy * step(x): there is no ReluGrad kernel
    params: [{ name: 'x', shape: xShape, data: awayFromZero(rng, xShape), quantity: 'input', kernel: 'Step+Multiply', what: 'dx' }],
    forward: ([x]) => tf.relu(x),
  };
}

/** mean over the batch of -sum(t * logSoftmax(z)); targets are soft (mixup-like) rows. */
export function softmaxCrossEntropy(targets: tf.Tensor, logits: tf.Tensor): tf.Scalar {
  return tf.mean(tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1)));
}

function sceCase(rng: Rng, batch: number, classes: number, tag: string): Case {
  const logits = normal(rng, [batch, classes], 2);
  const t = new Float32Array(batch * classes);
  for (let b = 0; b < batch; b++) {
    // mix of two one-hot labels, as mixup produces
    const i = rng.int(classes);
    const j = rng.int(classes);
    const lam = 0.2 + 0.6 * rng.uniform();
    t[b * classes + i] += lam;
    t[b * classes + j] += 1 - lam;
  }
  return {
    layer: 'softmaxCrossEntropy',
    shape: `${tag}logits${shp([batch, classes])} soft targets`,
    scalar: true,
    params: [
      {
        name: 'z',
        shape: [batch, classes],
        data: logits,
        quantity: 'input',
        // logSoftmax's custom gradient: dy - sum(dy) * exp(logSoftmax)
        kernel: 'Exp+Sum+Sub+Multiply',
        what: 'dz',
      },
    ],
    // targets are created per run, inside the caller's tidy scope
    forward: ([z]) => softmaxCrossEntropy(tf.tensor2d(t, [batch, classes]), z),
  };
}

function buildCases(): Case[] {
  const rng = new Rng(SEED);
  return [
    // awkward shapes
    denseCase(rng.fork('dense'), 5, 7, 3, ''),
    convCase(rng.fork('conv-same'), [3, 7, 6, 2], [3, 3, 2, 4], 1, 'same', ''),
    convCase(rng.fork('conv-valid2'), [3, 7, 6, 2], [3, 3, 2, 4], 2, 'valid', ''),
    poolCase(rng.fork('pool'), [3, 6, 4, 3], 2, 2, 'valid', ''),
    poolCase(rng.fork('pool-overlap'), [2, 5, 7, 3], 3, 1, 'same', ''),
    poolCase(rng.fork('pool-ties'), [3, 6, 4, 3], 2, 2, 'valid', '', true),
    reluCase(rng.fork('relu'), [3, 7, 6, 2], ''),
    sceCase(rng.fork('sce'), 3, 10, ''),
    // the MNIST CNN's layers at batch 2 (conv2 at batch 1: the cpu reference's
    // conv gradients are naive loops and would dominate the start-up time)
    convCase(rng.fork('mnist-conv1'), [2, 28, 28, 1], [5, 5, 1, 16], 1, 'same', 'mnist '),
    reluCase(rng.fork('mnist-relu1'), [2, 28, 28, 16], 'mnist '),
    poolCase(rng.fork('mnist-pool1'), [2, 28, 28, 16], 2, 2, 'valid', 'mnist '),
    convCase(rng.fork('mnist-conv2'), [1, 14, 14, 16], [5, 5, 16, 32], 1, 'same', 'mnist '),
    poolCase(rng.fork('mnist-pool2'), [2, 14, 14, 32], 2, 2, 'valid', 'mnist '),
    denseCase(rng.fork('mnist-dense'), 2, 7 * 7 * 32, 10, 'mnist '),
    sceCase(rng.fork('mnist-sce'), 2, 10, 'mnist '),
  ];
}

// ---------------------------------------------------------------------------
// evaluation

function toTensors(c: Case, values: Float32Array[]): tf.Tensor[] {
  return c.params.map((p, i) => tf.tensor(values[i], p.shape, 'float32'));
}

/** Layer output (flattened) for the given parameter values, on the current backend. */
function forwardValues(c: Case, values: Float32Array[]): Float32Array {
  let out: Float32Array | undefined;
  tf.tidy(() => {
    out = c.forward(toTensors(c, values)).dataSync() as Float32Array;
  });
  return out as Float32Array;
}

/** Gradients of the loss w.r.t. every parameter, on the current backend. */
function gradients(c: Case, R: Float32Array, outShape: number[], only?: number): Float32Array[] {
  let out: Float32Array[] = [];
  tf.tidy(() => {
    const ts = toTensors(
      c,
      c.params.map((p) => p.data),
    );
    const r = c.scalar ? null : tf.tensor(R, outShape, 'float32');
    const wrt = only === undefined ? ts.map((_, i) => i) : [only];
    const loss = (...args: tf.Tensor[]): tf.Scalar => {
      const all = ts.slice();
      wrt.forEach((k, j) => (all[k] = args[j]));
      const y = c.forward(all);
      return r ? tf.sum(tf.mul(y, r)) : (y as tf.Scalar);
    };
    out = tf
      .grads(loss)(wrt.map((k) => ts[k]))
      .map((g) => Float32Array.from(g.dataSync()));
  });
  return out;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A kernel the gradient needs that the backend does not have, if any. */
function missingKernel(p: Param, backend: string): string | null {
  for (const name of p.kernel.split('+')) {
    if (tf.getKernel(name, backend) == null) return `kernel '${name}' is not registered for backend '${backend}'`;
  }
  return null;
}

function project(out: Float32Array, R: Float32Array): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * R[i];
  return s;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** |a - b| / scale; 0 when the difference is 0, Infinity for non-finite input. */
function relTo(a: number, b: number, scale: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Number.POSITIVE_INFINITY;
  const d = Math.abs(a - b);
  if (d === 0) return 0;
  return scale > 0 ? d / scale : Number.POSITIVE_INFINITY;
}

function probeCoordinates(rng: Rng, g: Float32Array): number[] {
  const n = g.length;
  const picked = new Set<number>();
  // the largest |g| entries (catch wrong magnitudes where the gradient lives) ...
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a]));
  for (let i = 0; i < n && picked.size < Math.min(n, FD_TOP_COORDS); i++) picked.add(order[i]);
  // ... and uniformly random ones (catch gradient that went to the wrong place)
  const target = Math.min(n, FD_TOP_COORDS + FD_RANDOM_COORDS);
  while (picked.size < target) picked.add(rng.int(n));
  return [...picked];
}

/** Worst relative finite-difference error for parameter `k`, on the current backend. */
function finiteDiffError(c: Case, k: number, g: Float32Array, R: Float32Array, rng: Rng): number {
  const base = c.params.map((p) => p.data);
  const x = base[k];
  const lossAt = (xk: Float32Array): number => {
    const vals = base.slice();
    vals[k] = xk;
    return project(forwardValues(c, vals), R);
  };
  // coordinates: |fd_i - g_i| relative to the largest probed |fd| or |g|
  // (the probe includes the largest |g| entries, so this is ~ max |g|)
  const probes: Array<[number, number]> = [];
  for (const i of probeCoordinates(rng, g)) {
    const xp = Math.fround(x[i] + FD_STEP);
    const xm = Math.fround(x[i] - FD_STEP);
    const v = x.slice();
    v[i] = xp;
    const lp = lossAt(v);
    v[i] = xm;
    const lm = lossAt(v);
    probes.push([(lp - lm) / (xp - xm), g[i]]);
  }
  const scale = Math.max(...probes.map(([fd, gi]) => Math.max(Math.abs(fd), Math.abs(gi))));
  let worst = Math.max(...probes.map(([fd, gi]) => relTo(fd, gi, scale)));
  // one random direction through all coordinates
  const plus = new Float32Array(x.length);
  const minus = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const d = FD_STEP * (2 * rng.uniform() - 1);
    plus[i] = Math.fround(x[i] + d);
    minus[i] = Math.fround(x[i] - d);
  }
  // scale: the typical size of <g,d> for a random d, sqrt(sum (g_i d_i)^2)
  let predicted = 0;
  let magnitude = 0;
  for (let i = 0; i < x.length; i++) {
    const gd = g[i] * (plus[i] - minus[i]);
    predicted += gd;
    magnitude += gd * gd;
  }
  const measured = lossAt(plus) - lossAt(minus);
  worst = Math.max(worst, relTo(measured, predicted, Math.max(Math.abs(measured), Math.sqrt(magnitude))));
  return worst;
}

interface CaseResult {
  /** null where the gradient could not be computed (see errors). */
  grads: Array<Float32Array | null>;
  fdErr: number[];
  errors: Array<string | undefined>;
}

function evaluateCase(c: Case, R: Float32Array, outShape: number[] | null, withFiniteDiff: boolean, rng: Rng): CaseResult {
  const backend = tf.getBackend();
  const n = c.params.length;
  const errors: Array<string | undefined> = c.params.map((p) => missingKernel(p, backend) ?? undefined);
  if (outShape == null) errors.fill(`the forward pass failed on backend '${backend}'`);
  let grads: Array<Float32Array | null> = new Array<Float32Array | null>(n).fill(null);
  const oneByOne = (shape: number[]): Array<Float32Array | null> =>
    c.params.map((_, k) => {
      if (errors[k] !== undefined) return null;
      try {
        return gradients(c, R, shape, k)[0];
      } catch (e) {
        errors[k] = message(e);
        return null;
      }
    });
  if (outShape != null) {
    const allKernelsPresent = !errors.some((e) => e !== undefined);
    if (allKernelsPresent) {
      try {
        grads = gradients(c, R, outShape);
      } catch {
        grads = oneByOne(outShape); // find out which quantity fails
      }
    } else {
      grads = oneByOne(outShape);
    }
  }
  const fdErr = c.params.map((_, k) => {
    const g = grads[k];
    if (!withFiniteDiff || c.finiteDiff === false) return 0;
    if (g == null) return Number.POSITIVE_INFINITY;
    try {
      return finiteDiffError(c, k, g, R, rng.fork(k));
    } catch (e) {
      errors[k] = errors[k] ?? `finite differences: ${message(e)}`;
      return Number.POSITIVE_INFINITY;
    }
  });
  return { grads, fdErr, errors };
}

function evaluateCases(cases: Case[], Rs: Float32Array[], outShapes: Array<number[] | null>, withFiniteDiff: boolean): CaseResult[] {
  const rng = new Rng(SEED).fork('probe');
  return cases.map((c, ci) => evaluateCase(c, Rs[ci], outShapes[ci], withFiniteDiff, rng.fork(ci)));
}

/**
 * Checks the gradients of the current backend (tf.getBackend()) against the
 * cpu backend and against finite differences. The current backend is
 * restored before returning, also on error.
 */
export async function checkGradients(): Promise<GradientCheckReport> {
  await tf.ready();
  const backend = tf.getBackend();
  const cases = buildCases();
  // output shapes and projections R (deterministic, backend independent)
  const outShapes: Array<number[] | null> = [];
  const Rs: Float32Array[] = [];
  const rRng = new Rng(SEED).fork('projection');
  for (const c of cases) {
    let shape: number[] | null = null;
    try {
      tf.tidy(() => {
        shape = c.forward(
          toTensors(
            c,
            c.params.map((p) => p.data),
          ),
        ).shape;
      });
    } catch {
      shape = null;
    }
    outShapes.push(shape);
    const r = rRng.fork(outShapes.length);
    Rs.push(c.scalar || shape == null ? new Float32Array([1]) : normal(r, shape));
  }

  const here = evaluateCases(cases, Rs, outShapes, true);
  let cpu: CaseResult[] | null = null;
  if (backend !== 'cpu') {
    try {
      if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to start');
      cpu = evaluateCases(cases, Rs, outShapes, false);
    } finally {
      await tf.setBackend(backend);
    }
  }

  const rows: GradientCheckRow[] = [];
  cases.forEach((c, ci) => {
    c.params.forEach((p, k) => {
      const g = here[ci].grads[k];
      const ref = cpu ? cpu[ci].grads[k] : g;
      if (cpu && ref == null) {
        throw new Error(`gradient doctor: the cpu reference failed for ${c.layer} ${p.what}: ${cpu[ci].errors[k]}`);
      }
      let absErr = Number.POSITIVE_INFINITY;
      let relErr = Number.POSITIVE_INFINITY;
      if (g != null && ref != null) {
        absErr = 0;
        for (let i = 0; i < g.length; i++) {
          const d = Math.abs(g[i] - ref[i]);
          absErr = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(absErr, d);
        }
        const refScale = maxAbs(ref);
        relErr = absErr === 0 ? 0 : refScale > 0 ? absErr / refScale : Number.POSITIVE_INFINITY;
      }
      const fdErr = here[ci].fdErr[k];
      const error = here[ci].errors[k];
      rows.push({
        layer: c.layer,
        kernel: p.kernel,
        quantity: p.quantity,
        shape: `${c.shape} -> ${p.what}`,
        maxAbsErrVsCpu: absErr,
        maxRelErrVsCpu: relErr,
        maxRelErrVsFiniteDiff: fdErr,
        ok: error === undefined && relErr <= TOL_VS_CPU && fdErr <= TOL_VS_FINITE_DIFF,
        ...(error !== undefined ? { error } : {}),
      });
    });
  });
  const failing = [...new Set(rows.filter((r) => !r.ok).map((r) => r.kernel))];
  return {
    backend,
    tolerance: { vsCpu: TOL_VS_CPU, vsFiniteDiff: TOL_VS_FINITE_DIFF, description: TOLERANCE_DESCRIPTION },
    rows,
    ok: failing.length === 0,
    failing,
  };
}

function fmt(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return String(x);
  return x.toExponential(1);
}

/** Human-readable table of a gradient check. */
export function formatGradientReport(r: GradientCheckReport): string {
  const header = ['layer', 'quantity', 'kernel', 'shape', 'abs vs cpu', 'rel vs cpu', 'rel vs fd', 'ok'];
  const body = r.rows.map((row) => [row.layer, row.quantity, row.kernel, row.shape, fmt(row.maxAbsErrVsCpu), fmt(row.maxRelErrVsCpu), fmt(row.maxRelErrVsFiniteDiff), row.ok ? 'ok' : 'FAIL']);
  const out = [
    `gradient check on backend "${r.backend}"${r.backend === 'cpu' ? ' (the cpu reference itself: finite differences only)' : ' vs cpu and finite differences'}`,
    `tolerance: rel vs cpu <= ${r.tolerance.vsCpu}, rel vs finite differences <= ${r.tolerance.vsFiniteDiff}`,
    '',
    ...textTable(header, body),
    '',
    ...r.rows.filter((row) => row.error !== undefined).map((row) => `error (${row.kernel}, ${row.shape}): ${row.error}`),
    r.ok ? `all ${r.rows.length} gradients ok` : `FAILING kernels: ${r.failing.join(', ')}`,
  ];
  return out.join('\n');
}
