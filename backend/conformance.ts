/**
 * Op conformance: every tfjs op that training, the schemes, the attacks and
 * the probes call, run on the selected backend and on the reference cpu
 * backend, on inputs chosen to reach the corners where kernels cut corners:
 * tiny values (1e-7 down to 1e-38), subnormals (down to 1.4e-45), +-0, huge
 * magnitudes (1e20, 3e38) and ordinary values.
 *
 * Why: tfjs-backend-wasm 4.22's Sign returned 0 for |x| < ~1e-7. Gradients
 * were right, so the gradient check could not see it, yet FGSM and PGD left
 * every confidently classified point unperturbed. Gradients of the same ops
 * are run here on the same inputs, since a backward kernel can carry the same
 * defect (ReluGrad, Abs's step, Maximum's mask).
 *
 * Agreement: `exact` for ops whose answer is discrete (sign, comparisons,
 * logical ops, argmax/argmin, where, min/max, clip, relu, gather, casts);
 * `relative` for arithmetic: |a - b| <= rtol * max(|a|, |b|, scale), where
 * scale is 0 for elementwise ops (so a tiny result must be right to rtol of
 * itself) and the input magnitude for ops that cancel (log-softmax, sums,
 * products), where float32 rounding is relative to the operands.
 */
import * as tf from '@tensorflow/tfjs';
import { textTable } from './text-table';

export type Agreement = 'exact' | 'relative';

export interface OpCase {
  /** What is computed, e.g. "sign", "grad relu". */
  op: string;
  /** tfjs kernel(s) exercised. */
  kernels: string;
  agreement: Agreement;
  /** Builds the output from fresh inputs (a = SPECIAL, b = SPECIAL_PARTNER). */
  run: (a: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor;
  /** For `relative`: the magnitude rounding is relative to, per output element. */
  scale?: (a: Float32Array, b: Float32Array, out: Float32Array) => Float32Array | number;
}

export interface OpConformanceRow {
  op: string;
  kernels: string;
  agreement: Agreement;
  /** elements compared */
  n: number;
  /** elements that disagree beyond the tolerance */
  mismatches: number;
  /** the first disagreement, "x=1e-8: cpu 1, wasm 0" */
  example?: string;
  /** max |a - b| / max(|a|, |b|, scale) over elements (0 for exact agreement) */
  maxRelErr: number;
  ok: boolean;
  error?: string;
}

export interface OpConformanceReport {
  backend: string;
  rtol: number;
  rows: OpConformanceRow[];
  ok: boolean;
  /** the ops that failed, without duplicates */
  failing: string[];
}

/** Relative tolerance for arithmetic (float32 evaluation-order noise is ~1e-7). */
export const CONFORMANCE_RTOL = 1e-5;

const TINY = [1e-7, 5e-8, 1e-8, 1e-10, 1e-20, 1e-30, 1e-38];
const SUBNORMAL = [1e-40, 1e-44, 1.4e-45];
const HUGE = [1e20, 3e38];
const ORDINARY = [0.5, 1, 2.5, 7.25, 1e-3];

/** The probe inputs: +-0, tiny, subnormal, huge, ordinary, each with both signs (36 values: a 6 x 6 grid). */
export const SPECIAL: readonly number[] = [0, -0, ...[...TINY, ...SUBNORMAL, ...HUGE, ...ORDINARY].flatMap((v) => [v, -v])];
/**
 * The second operand: a fixed permutation of SPECIAL with some positions equal
 * to SPECIAL (ties, for comparisons, maximum/minimum and where).
 */
export const SPECIAL_PARTNER: readonly number[] = SPECIAL.map((v, i) => (i % 5 === 0 ? v : SPECIAL[(i * 7 + 3) % SPECIAL.length]));

const ROWS = 6;
const COLS = SPECIAL.length / ROWS;

const rows = (a: tf.Tensor) => a.reshape([ROWS, COLS]);
/** Per element: the largest |input| of either operand at that position (for products and sums that cancel). */
const rowScale =
  (factor = 1) =>
  (a: Float32Array, b: Float32Array, out: Float32Array): Float32Array => {
    const per = out.length / ROWS;
    const s = new Float32Array(out.length);
    for (let r = 0; r < ROWS; r++) {
      let m = 0;
      for (let c = 0; c < COLS; c++) m = Math.max(m, Math.abs(a[r * COLS + c]), Math.abs(b[r * COLS + c]));
      for (let k = 0; k < per; k++) s[r * per + k] = m * factor;
    }
    return s;
  };
/** keeps exp and friends finite on the huge inputs */
const bounded = (a: tf.Tensor, limit = 80) => tf.clipByValue(a, -limit, limit);
const grad1 = (f: (x: tf.Tensor) => tf.Tensor) => (a: tf.Tensor1D) => tf.grad((x: tf.Tensor) => tf.sum(f(x)))(a);

/**
 * Every op vicinal calls, with the kernel names it reaches. Forward ops first,
 * then the gradients that attacks and training take through them.
 */
export const OP_CASES: readonly OpCase[] = [
  // discrete answers: exact
  { op: 'sign', kernels: 'Sign', agreement: 'exact', run: (a) => tf.sign(a) },
  { op: 'sign * eps (FGSM step)', kernels: 'Sign+Multiply', agreement: 'exact', run: (a) => tf.mul(tf.sign(a), 0.3) },
  { op: 'abs', kernels: 'Abs', agreement: 'exact', run: (a) => tf.abs(a) },
  { op: 'neg', kernels: 'Neg', agreement: 'exact', run: (a) => tf.neg(a) },
  { op: 'relu', kernels: 'Relu', agreement: 'exact', run: (a) => tf.relu(a) },
  { op: 'step', kernels: 'Step', agreement: 'exact', run: (a) => tf.step(a) },
  { op: 'greater', kernels: 'Greater', agreement: 'exact', run: (a, b) => tf.greater(a, b) },
  { op: 'greater 0', kernels: 'Greater', agreement: 'exact', run: (a) => tf.greater(a, 0) },
  { op: 'greaterEqual', kernels: 'GreaterEqual', agreement: 'exact', run: (a, b) => tf.greaterEqual(a, b) },
  { op: 'less 0', kernels: 'Less', agreement: 'exact', run: (a) => tf.less(a, 0) },
  { op: 'lessEqual', kernels: 'LessEqual', agreement: 'exact', run: (a, b) => tf.lessEqual(a, b) },
  { op: 'equal', kernels: 'Equal', agreement: 'exact', run: (a, b) => tf.equal(a, b) },
  { op: 'notEqual 0', kernels: 'NotEqual', agreement: 'exact', run: (a) => tf.notEqual(a, 0) },
  {
    op: 'logicalAnd/Or/Not',
    kernels: 'LogicalAnd+LogicalOr+LogicalNot',
    agreement: 'exact',
    run: (a, b) => tf.stack([tf.logicalAnd(tf.greater(a, 0), tf.less(b, 0)), tf.logicalOr(tf.greater(a, 0), tf.less(b, 0)), tf.logicalNot(tf.greater(a, 0))]),
  },
  { op: 'where', kernels: 'Select', agreement: 'exact', run: (a, b) => tf.where(tf.greater(a, b), a, b) },
  { op: 'cast bool -> float', kernels: 'Cast', agreement: 'exact', run: (a) => tf.cast(tf.greater(a, 0), 'float32') },
  { op: 'isFinite', kernels: 'IsFinite', agreement: 'exact', run: (a) => tf.isFinite(tf.div(a, tf.abs(a))) },
  { op: 'maximum', kernels: 'Maximum', agreement: 'exact', run: (a, b) => tf.maximum(a, b) },
  { op: 'minimum', kernels: 'Minimum', agreement: 'exact', run: (a, b) => tf.minimum(a, b) },
  { op: 'clipByValue tiny', kernels: 'ClipByValue', agreement: 'exact', run: (a) => tf.clipByValue(a, -1e-9, 1e-9) },
  { op: 'clipByValue [0,1]', kernels: 'ClipByValue', agreement: 'exact', run: (a) => tf.clipByValue(a, 0, 1) },
  { op: 'max (rows)', kernels: 'Max', agreement: 'exact', run: (a) => tf.max(rows(a), 1) },
  { op: 'min (rows)', kernels: 'Min', agreement: 'exact', run: (a) => tf.min(rows(a), 1) },
  { op: 'argMax (rows)', kernels: 'ArgMax', agreement: 'exact', run: (a) => tf.argMax(rows(a), 1) },
  { op: 'argMin (rows)', kernels: 'ArgMin', agreement: 'exact', run: (a) => tf.argMin(rows(a), 1) },
  { op: 'topk (rows)', kernels: 'TopK', agreement: 'exact', run: (a) => tf.topk(rows(a), 3).values },
  { op: 'all (rows)', kernels: 'All', agreement: 'exact', run: (a) => tf.all(tf.greater(rows(a), -1), 1) },
  { op: 'gather', kernels: 'GatherV2', agreement: 'exact', run: (a) => tf.gather(rows(a), [5, 0, 3]) },
  { op: 'oneHot', kernels: 'OneHot', agreement: 'exact', run: (a) => tf.oneHot(tf.argMax(rows(a), 1) as tf.Tensor1D, COLS) },
  {
    op: 'slice/concat/transpose',
    kernels: 'Slice+Concat+Transpose',
    agreement: 'exact',
    run: (a) => tf.transpose(tf.concat([tf.slice(rows(a), [1, 0], [2, COLS]), tf.slice(rows(a), [0, 1], [3, 4]).reshape([2, COLS])], 0)),
  },
  // arithmetic: relative
  { op: 'add', kernels: 'Add', agreement: 'relative', run: (a, b) => tf.add(a, b), scale: rowScale(0) },
  { op: 'sub', kernels: 'Sub', agreement: 'relative', run: (a, b) => tf.sub(a, b) },
  { op: 'mul', kernels: 'Multiply', agreement: 'relative', run: (a, b) => tf.mul(a, b) },
  { op: 'div', kernels: 'RealDiv', agreement: 'relative', run: (a, b) => tf.div(a, tf.add(tf.abs(b), 1e-30)) },
  { op: 'square', kernels: 'Square', agreement: 'relative', run: (a) => tf.square(a) },
  { op: 'sqrt', kernels: 'Sqrt', agreement: 'relative', run: (a) => tf.sqrt(tf.abs(a)) },
  { op: 'pow 2', kernels: 'Pow', agreement: 'relative', run: (a) => tf.pow(tf.abs(a), 2) },
  { op: 'exp', kernels: 'Exp', agreement: 'relative', run: (a) => tf.exp(bounded(a)) },
  { op: 'log', kernels: 'Log', agreement: 'relative', run: (a) => tf.log(tf.add(tf.abs(a), 1e-45)) },
  { op: 'sum (rows)', kernels: 'Sum', agreement: 'relative', run: (a) => tf.sum(rows(a), 1), scale: rowScale(1e-2) },
  { op: 'mean (rows)', kernels: 'Mean', agreement: 'relative', run: (a) => tf.mean(rows(a), 1), scale: rowScale(1e-2 / COLS) },
  { op: 'norm l2 (rows)', kernels: 'Square+Sum+Sqrt', agreement: 'relative', run: (a) => tf.norm(rows(bounded(a, 1e18)), 2, 1) },
  { op: 'norm l1 (rows)', kernels: 'Abs+Sum', agreement: 'relative', run: (a) => tf.norm(rows(a), 1, 1) },
  { op: 'logSoftmax (rows)', kernels: 'LogSoftmax', agreement: 'relative', run: (a) => tf.logSoftmax(rows(bounded(a))), scale: rowScale(1) },
  { op: 'softmax (rows)', kernels: 'Softmax', agreement: 'relative', run: (a) => tf.softmax(rows(bounded(a))), scale: rowScale(1) },
  { op: 'matMul', kernels: 'BatchMatMul', agreement: 'relative', run: (a, b) => tf.matMul(rows(a), rows(b), false, true), scale: (a, b) => matMulScale(a, b) },
  {
    op: 'conv2d',
    kernels: 'Conv2D',
    agreement: 'relative',
    run: (a, b) => tf.conv2d(a.reshape([1, ROWS, COLS, 1]), b.slice([0], [9]).reshape([3, 3, 1, 1]), 1, 'same'),
    scale: (a, b) => convScale(a, b),
  },
  { op: 'maxPool', kernels: 'MaxPool', agreement: 'exact', run: (a) => tf.maxPool(a.reshape([1, ROWS, COLS, 1]), 2, 2, 'valid') },
  // gradients through the same ops, on the same inputs
  { op: 'grad relu', kernels: 'ReluGrad', agreement: 'exact', run: grad1((x) => tf.relu(x)) },
  { op: 'grad abs', kernels: 'Abs grad (Step)', agreement: 'exact', run: grad1((x) => tf.abs(x)) },
  { op: 'grad maximum', kernels: 'Maximum grad', agreement: 'exact', run: (a, b) => tf.grad((x: tf.Tensor) => tf.sum(tf.maximum(x, b)))(a) },
  { op: 'grad clipByValue', kernels: 'ClipByValue grad', agreement: 'exact', run: grad1((x) => tf.clipByValue(x, -1e-9, 1e-9)) },
  { op: 'grad max (rows)', kernels: 'Max grad', agreement: 'exact', run: grad1((x) => tf.max(rows(x), 1)) },
  { op: 'grad maxPool', kernels: 'MaxPoolGrad', agreement: 'exact', run: grad1((x) => tf.maxPool(x.reshape([1, ROWS, COLS, 1]), 2, 2, 'valid')) },
  { op: 'grad mul', kernels: 'Multiply grad', agreement: 'relative', run: (a, b) => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(x, b)))(a) },
  { op: 'grad square', kernels: 'Square grad', agreement: 'relative', run: grad1((x) => tf.square(x)) },
  { op: 'grad logSoftmax (rows)', kernels: 'LogSoftmax grad', agreement: 'relative', run: grad1((x) => tf.mul(tf.logSoftmax(rows(bounded(x))), tf.linspace(-1, 1, COLS))), scale: () => 1e-2 },
];

function matMulScale(a: Float32Array, b: Float32Array): Float32Array {
  // out[i, j] = sum_k a[i, k] b[j, k]: rounding is relative to sum_k |a b|
  const s = new Float32Array(ROWS * ROWS);
  for (let i = 0; i < ROWS; i++)
    for (let j = 0; j < ROWS; j++) {
      let m = 0;
      for (let k = 0; k < COLS; k++) m += Math.abs(a[i * COLS + k] * b[j * COLS + k]);
      s[i * ROWS + j] = m;
    }
  return s;
}

function convScale(a: Float32Array, b: Float32Array): number {
  let wa = 0;
  for (let k = 0; k < 9; k++) wa = Math.max(wa, Math.abs(b[k]));
  let xa = 0;
  for (const v of a) xa = Math.max(xa, Math.abs(v));
  return 9 * wa * xa;
}

function sameValue(x: number, y: number): boolean {
  return x === y || (Number.isNaN(x) && Number.isNaN(y));
}

function compare(c: OpCase, here: Float32Array, ref: Float32Array, a: Float32Array, b: Float32Array, backend: string): OpConformanceRow {
  const scale = c.scale ? c.scale(a, b, ref) : 0;
  let mismatches = 0;
  let maxRelErr = 0;
  let example: string | undefined;
  for (let i = 0; i < ref.length; i++) {
    const [h, r] = [here[i], ref[i]];
    let bad: boolean;
    if (c.agreement === 'exact') bad = !sameValue(h, r);
    else if (sameValue(h, r)) bad = false;
    else {
      const s = typeof scale === 'number' ? scale : scale[i];
      const denom = Math.max(Math.abs(h), Math.abs(r), s);
      const rel = Number.isFinite(h) && Number.isFinite(r) && denom > 0 ? Math.abs(h - r) / denom : Number.POSITIVE_INFINITY;
      maxRelErr = Math.max(maxRelErr, rel);
      bad = !(rel <= CONFORMANCE_RTOL);
    }
    if (bad) {
      mismatches++;
      const at = ref.length === a.length ? `x=${a[i]}${c.run.length > 1 ? `, y=${b[i]}` : ''}` : `element ${i}`;
      example ??= `${at}: cpu ${r}, ${backend} ${h}`;
    }
  }
  if (c.agreement === 'exact') maxRelErr = mismatches > 0 ? Number.POSITIVE_INFINITY : 0;
  return { op: c.op, kernels: c.kernels, agreement: c.agreement, n: ref.length, mismatches, maxRelErr, ok: mismatches === 0, ...(example ? { example } : {}) };
}

function evaluate(cases: readonly OpCase[]): Array<Float32Array | Error> {
  return cases.map((c) => {
    try {
      const out = tf.tidy(() => tf.cast(c.run(tf.tensor1d(SPECIAL as number[]), tf.tensor1d(SPECIAL_PARTNER as number[])), 'float32'));
      const values = Float32Array.from(out.dataSync());
      out.dispose();
      return values;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  });
}

/**
 * Runs every case on the current backend and on cpu and compares them. The
 * current backend is restored before returning, also on error. On cpu itself
 * the check is trivially satisfied (it is the reference).
 */
export async function checkOpConformance(cases: readonly OpCase[] = OP_CASES): Promise<OpConformanceReport> {
  await tf.ready();
  const backend = tf.getBackend();
  const here = evaluate(cases);
  let ref = here;
  if (backend !== 'cpu') {
    try {
      if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to start');
      ref = evaluate(cases);
    } finally {
      await tf.setBackend(backend);
    }
  }
  const a = Float32Array.from(SPECIAL);
  const b = Float32Array.from(SPECIAL_PARTNER);
  const rows = cases.map((c, i): OpConformanceRow => {
    const [h, r] = [here[i], ref[i]];
    if (r instanceof Error) throw new Error(`op conformance: the cpu reference failed for ${c.op}: ${r.message}`);
    if (h instanceof Error) return { op: c.op, kernels: c.kernels, agreement: c.agreement, n: r.length, mismatches: r.length, maxRelErr: Number.POSITIVE_INFINITY, ok: false, error: h.message };
    return compare(c, h, r, a, b, backend);
  });
  const failing = [...new Set(rows.filter((r) => !r.ok).map((r) => r.op))];
  return { backend, rtol: CONFORMANCE_RTOL, rows, ok: failing.length === 0, failing };
}

/** Human-readable table of an op conformance check. */
export function formatConformanceReport(r: OpConformanceReport): string {
  const header = ['op', 'kernels', 'agreement', 'n', 'mismatches', 'max rel err', 'ok'];
  const body = r.rows.map((row) => [
    row.op,
    row.kernels,
    row.agreement,
    String(row.n),
    String(row.mismatches),
    row.agreement === 'exact' ? '-' : row.maxRelErr === 0 ? '0' : row.maxRelErr.toExponential(1),
    row.ok ? 'ok' : 'FAIL',
  ]);
  return [
    `op conformance on backend "${r.backend}" vs cpu: ${SPECIAL.length} inputs (+-0, tiny 1e-7..1e-38, subnormal 1e-40..1.4e-45, huge 1e20 and 3e38, ordinary); exact for discrete ops, relative ${r.rtol} for arithmetic`,
    '',
    ...textTable(header, body),
    '',
    ...r.rows.filter((row) => !row.ok).map((row) => `FAIL ${row.op} (${row.kernels}): ${row.error ?? `${row.mismatches}/${row.n} differ, e.g. ${row.example}`}`),
    r.ok ? `all ${r.rows.length} ops agree with cpu` : `FAILING ops: ${r.failing.join(', ')}`,
  ].join('\n');
}
