/**
 * The gradient rules, one per ONNX op type: given the cotangents of a node's
 * outputs, the gradients of its inputs, as backward nodes. Adding an op is
 * one entry here and its case in test/backend/onnx-grad-rules.test.ts.
 *
 * Conventions: `g` is the cotangent of output 0; x, y are the node's first
 * input and output. Only inputs with ctx.needs[i] must get a gradient; a
 * rule returns null for inputs it has no gradient for (the differentiator
 * refuses the model if such an input needs one).
 */
import { IrNode, nodeProto } from '../graph';
import type { GradRule, ProbedDim, RuleContext } from './types';

type Ctx = RuleContext;

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const g0 = (c: Ctx) => c.gy[0] as string;
const op = (c: Ctx, type: string, inputs: string[], attrs: Parameters<Ctx['b']['op']>[2] = {}) => c.b.op(type, inputs, attrs);

/** d(out)/d(in) of an elementwise unary op as a factor: dx = g * factor. */
const unary = (factor: (c: Ctx, x: string, y: string) => string): GradRule => ({
  backward: (c) => [op(c, 'Mul', [g0(c), factor(c, c.node.inputs[0], c.node.outputs[0])])],
});

/** dx = g reshaped to x's shape (Flatten, Reshape, Squeeze, Unsqueeze). */
const reshapeBack: GradRule = { backward: (c) => [op(c, 'Reshape', [g0(c), op(c, 'Shape', [c.node.inputs[0]])])] };
/** dx = g (Identity, inference Dropout). */
const passThrough: GradRule = { backward: (c) => [g0(c)] };

/**
 * Ops that only move or copy elements of their first input (Slice, Pad,
 * Gather, Tile): the same op applied to the element indices of x (an int64
 * iota of x's shape) says where each output element came from, and dx
 * scatter-adds g to those places. Pad fills with index n, a slot past the
 * end that is dropped, so padding gets no gradient and reflected or
 * repeated elements add up.
 */
const indexMove = (padValueInput?: number): GradRule => ({
  backward: (c) => {
    const x = c.node.inputs[0];
    const shape = op(c, 'Shape', [x]);
    const n = op(c, 'Size', [x]);
    const iota = op(c, 'Reshape', [op(c, 'Range', [c.b.int64([0], []), n, c.b.int64([1], [])]), shape]);
    const inputs = [iota, ...c.node.inputs.slice(1)];
    if (padValueInput !== undefined) {
      while (inputs.length <= padValueInput) inputs.push('');
      inputs[padValueInput] = n;
    }
    const idx = c.b.fresh('idx');
    c.b.parts().nodes.push({ opType: c.node.opType, name: c.b.fresh('n_index'), input: inputs, output: [idx], attribute: protoAttrs(c.node) });
    const one = c.b.int64([1]);
    const zeros = op(c, 'Expand', [c.scalar(0), op(c, 'Add', [op(c, 'Reshape', [n, one]), one])]);
    const flat = op(c, 'ScatterElements', [zeros, op(c, 'Reshape', [idx, c.b.int64([-1])]), op(c, 'Reshape', [g0(c), c.b.int64([-1])])], { axis: 0, reduction: 'add' });
    const kept = op(c, 'Slice', [flat, c.b.int64([0]), op(c, 'Reshape', [n, one])]);
    return [op(c, 'Reshape', [kept, shape])];
  },
});

/** The node's attributes re-encoded (for the index run of indexMove). */
const protoAttrs = (n: IrNode) => nodeProto(n).attribute;

/** Explicit [begin..., end...] pads of a conv/pool node from its auto_pad, pads and the probed sizes. */
function explicitPads(c: Ctx, inSp: number[], outSp: number[], k: number[], s: number[], d: number[]): number[] {
  const r = inSp.length;
  const auto = c.str('auto_pad', 'NOTSET');
  if (auto === 'NOTSET') return c.ints('pads', new Array(2 * r).fill(0));
  if (auto === 'VALID') return new Array(2 * r).fill(0);
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER') c.refuse(`auto_pad "${auto}"`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < r; i++) {
    const total = Math.max(0, (outSp[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - inSp[i]);
    const small = Math.floor(total / 2);
    begin.push(auto === 'SAME_UPPER' ? small : total - small);
    end.push(total - begin[i]);
  }
  return [...begin, ...end];
}

/**
 * The adjoint of a strided window op as ConvTranspose settings: pads and
 * output_padding that give back the input size. Input positions no window
 * covers (at the end) get output_padding, windows that reach past the input
 * (ceil mode) are cropped by a larger end pad.
 */
function adjointPads(inSp: number[], outSp: number[], k: number[], s: number[], d: number[], pads: number[]): { pads: number[]; outputPadding: number[] } {
  const r = inSp.length;
  const end: number[] = [];
  const outputPadding: number[] = [];
  for (let i = 0; i < r; i++) {
    const reach = (outSp[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - pads[i];
    end.push(Math.max(0, reach - inSp[i]));
    outputPadding.push(Math.max(0, inSp[i] - reach));
  }
  return { pads: [...pads.slice(0, r), ...end], outputPadding };
}

/**
 * sum over the batch of a correlation of `a` [N, A, ...] with `c` [N, C, ...]
 * per group: out[ci, co, i...] = sum_{n, p} a_pad[n, g*A/G + ci, p*stride + i*dil] c[n, co, p],
 * for co in group g; returned as [C, A/G, k...] (a conv weight gradient).
 * The batch becomes the channel axis: a -> [A/G, G*N, ...], c -> [C, N, ...],
 * and one Conv with `group` G does every group at once.
 */
function batchCorrelation(c: Ctx, a: string, cv: string, groups: number, aChannels: number, aSp: number[], cSp: number[], stride: number[], dil: number[], pads: number[], k: number[]): string {
  const r = aSp.length;
  const perm = [1, 0, ...range(2, r + 2)];
  const aT =
    groups === 1
      ? op(c, 'Transpose', [a], { perm })
      : op(c, 'Reshape', [
          op(c, 'Transpose', [op(c, 'Reshape', [a, c.b.int64([-1, groups, aChannels / groups, ...aSp])])], { perm: [2, 1, 0, ...range(3, r + 3)] }),
          c.b.int64([aChannels / groups, -1, ...aSp]),
        ]);
  const cT = op(c, 'Transpose', [cv], { perm });
  let out = op(c, 'Conv', [aT, cT], { strides: stride, dilations: dil, pads, group: groups });
  const full = range(0, r).map((i) => Math.floor((aSp[i] + pads[i] + pads[r + i] - ((cSp[i] - 1) * dil[i] + 1)) / stride[i]) + 1);
  if (full.some((f, i) => f !== k[i])) out = op(c, 'Slice', [out, c.b.int64(new Array(r).fill(0)), c.b.int64(k), c.b.int64(range(2, r + 2))]);
  return op(c, 'Transpose', [out], { perm });
}

/**
 * A 2-D, ungrouped conv weight gradient as one MatMul per kernel offset:
 * dW[co, ci, i, j] = sum over (n, p, q) of g[n, co, p, q] x_pad[n, ci, p*s + i*d, q*s + j*d].
 * x goes channels-last and padded once; each offset's strided Slice of it is [N*Ho*Wo, Ci] and
 * g as [Co, N*Ho*Wo] times it is that offset's [Co, Ci]. Faster in onnxruntime than
 * batchCorrelation's Conv, whose batch-sized kernel and tiny output make a skinny GEMM
 * (ResNet-20 training backward 0.59x: bench/BASELINE.md).
 */
function shiftedWeightGrad(c: Ctx, x: string, g: string, cin: number, cout: number, a: WindowAttrs): string {
  const [pt, pl, pb, pr] = a.pads;
  let xl = op(c, 'Transpose', [x], { perm: [0, 2, 3, 1] });
  if (pt || pl || pb || pr) xl = op(c, 'Pad', [xl, c.b.int64([0, pt, pl, 0, 0, pb, pr, 0])]);
  const gm = op(c, 'Reshape', [op(c, 'Transpose', [g], { perm: [1, 0, 2, 3] }), c.b.int64([cout, -1])]);
  const axes = c.b.int64([1, 2]);
  const steps = c.b.int64(a.s);
  const perOffset: string[] = [];
  for (let i = 0; i < a.k[0]; i++) {
    for (let j = 0; j < a.k[1]; j++) {
      const begin = [i * a.d[0], j * a.d[1]];
      const end = begin.map((b, t) => b + (a.outSp[t] - 1) * a.s[t] + 1);
      const shifted = op(c, 'Slice', [xl, c.b.int64(begin), c.b.int64(end), axes, steps]);
      perOffset.push(op(c, 'MatMul', [gm, op(c, 'Reshape', [shifted, c.b.int64([-1, cin])])]));
    }
  }
  const stacked = perOffset.length === 1 ? perOffset[0] : op(c, 'Concat', perOffset, { axis: 1 });
  return op(c, 'Transpose', [op(c, 'Reshape', [stacked, c.b.int64([cout, a.k[0], a.k[1], cin])])], { perm: [0, 3, 1, 2] });
}

/** ReduceSum of g over every axis but 1 (a per-channel bias gradient). */
const channelSum = (c: Ctx, g: string, rank: number) => op(c, 'ReduceSum', [g, c.b.int64([0, ...range(2, rank)])], { keepdims: 0 });

interface WindowAttrs {
  k: number[];
  s: number[];
  d: number[];
  pads: number[];
  inSp: number[];
  outSp: number[];
}

function windowAttrs(c: Ctx, x: string, y: string, k: number[]): WindowAttrs {
  const inSp = c.staticDims(x, 2);
  const outSp = c.staticDims(y, 2);
  const r = inSp.length;
  const s = c.ints('strides', new Array(r).fill(1));
  const d = c.ints('dilations', new Array(r).fill(1));
  return { k, s, d, pads: explicitPads(c, inSp, outSp, k, s, d), inSp, outSp };
}

const conv: GradRule = {
  backward: (c) => {
    const [x, w, bias] = c.node.inputs;
    const y = c.node.outputs[0];
    const g = g0(c);
    const wShape = c.staticDims(w);
    const groups = c.int('group', 1);
    const a = windowAttrs(c, x, y, c.ints('kernel_shape', wShape.slice(2)));
    const r = a.inSp.length;
    const out: (string | null)[] = [null, null, null];
    const cin = c.staticDims(x, 1)[0];
    if (c.needs[0]) {
      const unit = (v: number[]) => v.every((e) => e === 1);
      if (groups === 1 && unit(a.s) && unit(a.d) && cin >= 8) {
        // Stride 1: dx is a plain convolution of g with the kernel flipped in space and its channel axes
        // swapped, padded by k - 1 - pad. onnxruntime runs it in its blocked (NCHWc) Conv, faster than
        // ConvTranspose when dx has 8 or more channels (measured in compile.ts for the engine's CNN).
        const flipped = op(c, 'Slice', [
          op(c, 'Transpose', [w], { perm: [1, 0, ...range(2, r + 2)] }),
          c.b.int64(new Array(r).fill(-1)),
          c.b.int64(a.k.map((k) => -(k + 1))),
          c.b.int64(range(2, r + 2)),
          c.b.int64(new Array(r).fill(-1)),
        ]);
        const pads = [...a.k.map((k, i) => k - 1 - a.pads[i]), ...a.k.map((k, i) => k - 1 - a.pads[r + i])];
        out[0] = op(c, 'Conv', [g, flipped], { pads });
      } else {
        const adj = adjointPads(a.inSp, a.outSp, a.k, a.s, a.d, a.pads);
        out[0] = op(c, 'ConvTranspose', [g, w], { strides: a.s, dilations: a.d, pads: adj.pads, output_padding: adj.outputPadding, group: groups });
      }
    }
    if (c.needs[1]) {
      out[1] = groups === 1 && r === 2 ? shiftedWeightGrad(c, x, g, cin, wShape[0], a) : batchCorrelation(c, x, g, groups, cin, a.inSp, a.outSp, a.d, a.s, a.pads, a.k);
    }
    if (bias && c.needs[2]) out[2] = channelSum(c, g, r + 2);
    return out;
  },
};

const convTranspose: GradRule = {
  backward: (c) => {
    const [x, w, bias] = c.node.inputs;
    const y = c.node.outputs[0];
    const g = g0(c);
    if (c.str('auto_pad', 'NOTSET') !== 'NOTSET' || c.ints('output_shape', []).length) c.refuse('auto_pad or output_shape (export with explicit pads)');
    const wShape = c.staticDims(w);
    const groups = c.int('group', 1);
    const inSp = c.staticDims(x, 2);
    const outSp = c.staticDims(y, 2);
    const r = inSp.length;
    const k = c.ints('kernel_shape', wShape.slice(2));
    const s = c.ints('strides', new Array(r).fill(1));
    const d = c.ints('dilations', new Array(r).fill(1));
    const pads = c.ints('pads', new Array(2 * r).fill(0));
    const out: (string | null)[] = [null, null, null];
    if (c.needs[0]) out[0] = op(c, 'Conv', [g, w], { strides: s, dilations: d, pads, group: groups });
    if (c.needs[1]) {
      const cout = c.staticDims(y, 1)[0];
      const endPads = range(0, r).map((i) => Math.max(0, (k[i] - 1) * d[i] + (inSp[i] - 1) * s[i] + 1 - outSp[i] - pads[i]));
      out[1] = batchCorrelation(c, g, x, groups, cout, outSp, inSp, d, s, [...pads.slice(0, r), ...endPads], k);
    }
    if (bias && c.needs[2]) out[2] = channelSum(c, g, r + 2);
    return out;
  },
};

const gemm: GradRule = {
  backward: (c) => {
    const [a, bm, cm] = c.node.inputs;
    const g = g0(c);
    const alpha = c.float('alpha', 1);
    const beta = c.float('beta', 1);
    const tA = c.int('transA', 0);
    const tB = c.int('transB', 0);
    const out: (string | null)[] = [null, null, null];
    if (c.needs[0]) out[0] = tA ? op(c, 'Gemm', [bm, g], { transA: tB, transB: 1, alpha: { float: alpha } }) : op(c, 'Gemm', [g, bm], { transB: 1 - tB, alpha: { float: alpha } });
    if (c.needs[1]) out[1] = tB ? op(c, 'Gemm', [g, a], { transA: 1, transB: tA, alpha: { float: alpha } }) : op(c, 'Gemm', [a, g], { transA: 1 - tA, alpha: { float: alpha } });
    if (cm && c.needs[2]) out[2] = c.unbroadcast(beta === 1 ? g : op(c, 'Mul', [g, c.scalar(beta)]), c.shape(c.node.outputs[0]), cm);
    return out;
  },
};

const matMul: GradRule = {
  backward: (c) => {
    const [a, bm] = c.node.inputs;
    const ra = c.shape(a).length;
    const rb = c.shape(bm).length;
    const yShape = c.shape(c.node.outputs[0]);
    let g = g0(c);
    if (rb === 1) g = op(c, 'Unsqueeze', [g, c.b.int64([-1])]);
    if (ra === 1) g = op(c, 'Unsqueeze', [g, c.b.int64([-2])]);
    const aE = ra === 1 ? op(c, 'Unsqueeze', [a, c.b.int64([0])]) : a;
    const bE = rb === 1 ? op(c, 'Unsqueeze', [bm, c.b.int64([1])]) : bm;
    const aS = ra === 1 ? [1, ...c.shape(a)] : c.shape(a);
    const bS = rb === 1 ? [...c.shape(bm), 1] : c.shape(bm);
    const batchDims = ra > 1 && rb > 1 ? yShape.slice(0, -2) : ra === 1 && rb === 1 ? [] : yShape.slice(0, -1);
    const swap = (rank: number) => [...range(0, rank - 2), rank - 1, rank - 2];
    const sum = (v: string, from: ProbedDim[], target: string, targetShape: ProbedDim[]): string => {
      // Reduce broadcast batch dims down to target's (as [1, K] / [K, 1] for a vector), then back to its shape.
      const lead = from.length - targetShape.length;
      const axes = range(0, from.length).filter((i) => i < lead || (targetShape[i - lead] === 1 && from[i] !== 1));
      const reduced = axes.length ? op(c, 'ReduceSum', [v, c.b.int64(axes)], { keepdims: 1 }) : v;
      return op(c, 'Reshape', [reduced, op(c, 'Shape', [target])]);
    };
    const out: (string | null)[] = [null, null];
    if (c.needs[0]) out[0] = sum(op(c, 'MatMul', [g, op(c, 'Transpose', [bE], { perm: swap(bS.length) })]), [...batchDims, aS[aS.length - 2], aS[aS.length - 1]], a, aS);
    if (c.needs[1]) out[1] = sum(op(c, 'MatMul', [op(c, 'Transpose', [aE], { perm: swap(aS.length) }), g]), [...batchDims, bS[bS.length - 2], bS[bS.length - 1]], bm, bS);
    return out;
  },
};

/** Binary elementwise ops with broadcasting: each side's gradient summed down to its shape. */
const binary = (da: (c: Ctx, g: string, a: string, b: string, y: string) => string, db: (c: Ctx, g: string, a: string, b: string, y: string) => string): GradRule => ({
  backward: (c) => {
    const [a, bv] = c.node.inputs;
    const y = c.node.outputs[0];
    const g = g0(c);
    const from = c.shape(y);
    return [c.needs[0] ? c.unbroadcast(da(c, g, a, bv, y), from, a) : null, c.needs[1] ? c.unbroadcast(db(c, g, a, bv, y), from, bv) : null];
  },
});

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * sigmoid(x) from e = exp(-|x|), exact to float32 at every x: onnxruntime's
 * Sigmoid is an approximation that returns 0 below about -17 (9.4e-14 at
 * -30 in tfjs and torch), so gradients taken from its output would be 0
 * there.
 */
const exactSigmoid = (c: Ctx, x: string) => {
  const e = op(c, 'Exp', [op(c, 'Neg', [op(c, 'Abs', [x])])]);
  const onePlus = op(c, 'Add', [c.scalar(1), e]);
  return op(c, 'Where', [op(c, 'GreaterOrEqual', [x, c.scalar(0)]), op(c, 'Reciprocal', [onePlus]), op(c, 'Div', [e, onePlus])]);
};

/** Max/average pool output geometry and the ConvTranspose adjoint of a window sum, shared by the pool rules. */
function poolSetup(c: Ctx) {
  const [x] = c.node.inputs;
  const y = c.node.outputs[0];
  const k = c.ints('kernel_shape', []);
  if (!k.length) c.refuse('no kernel_shape');
  return windowAttrs(c, x, y, k);
}

const maxPool: GradRule = {
  prepare: (n) => (n.outputs.length >= 2 && n.outputs[1] ? n : { ...n, outputs: [n.outputs[0], `vgrad/${n.name}/argmax`], attrs: { ...n.attrs, storage_order: 0 } }),
  backward: (c) => {
    const x = c.node.inputs[0];
    if (c.int('storage_order', 0) !== 0) c.refuse('storage_order 1');
    const shape = op(c, 'Shape', [x]);
    let g = g0(c);
    // A relu read only by this pool: its mask is applied here at the pooled size (pooled > 0 exactly where the
    // relu passed the window's max, the only place g goes back to), and the relu's own rule is skipped.
    const relu = c.producer(x);
    if (relu?.opType === 'Relu' && c.consumers(x).length === 1 && !c.isEndpoint(x) && c.needs[0]) {
      g = op(c, 'Where', [op(c, 'Greater', [c.node.outputs[0], c.scalar(0)]), g, c.scalar(0)]);
      c.bypass(relu);
    }
    const k = c.ints('kernel_shape', []);
    const r = k.length;
    const s = c.ints('strides', new Array(r).fill(1));
    const plain = c.ints('pads', []).every((p) => p === 0) && c.ints('dilations', []).every((d) => d === 1) && c.int('ceil_mode', 0) === 0 && c.str('auto_pad', 'NOTSET') === 'NOTSET';
    // Windows that do not overlap: every input position is some window's argmax at most once, and MaxUnpool puts g back.
    if (plain && s.every((v, i) => v >= k[i])) return [op(c, 'MaxUnpool', [g, c.node.outputs[1], shape], { kernel_shape: k, strides: s })];
    // Otherwise scatter-add. The argmax indices are flat over the whole NCHW input (batch and channel included).
    const zeros = op(c, 'Expand', [c.scalar(0), op(c, 'Reshape', [op(c, 'Size', [x]), c.b.int64([1])])]);
    const flat = op(c, 'ScatterElements', [zeros, op(c, 'Reshape', [c.node.outputs[1], c.b.int64([-1])]), op(c, 'Reshape', [g, c.b.int64([-1])])], { axis: 0, reduction: 'add' });
    return [op(c, 'Reshape', [flat, shape])];
  },
};

const averagePool: GradRule = {
  backward: (c) => {
    const x = c.node.inputs[0];
    const a = poolSetup(c);
    const channels = c.staticDims(x, 1)[0];
    const kernel = c.b.float32(new Float32Array(channels * a.k.reduce((p, q) => p * q, 1)).fill(1), [channels, 1, ...a.k]);
    const windowSum = (v: string) => op(c, 'Conv', [v, kernel], { strides: a.s, dilations: a.d, pads: a.pads, group: channels });
    const padded = a.pads.some((p) => p !== 0);
    let scaled: string;
    if (c.int('ceil_mode', 0) !== 0) c.refuse('ceil_mode 1 (re-export with ceil_mode=False)');
    if (c.int('count_include_pad', 0) === 1 || !padded) scaled = op(c, 'Div', [g0(c), c.scalar(a.k.reduce((p, q) => p * q, 1))]);
    else scaled = op(c, 'Div', [g0(c), windowSum(op(c, 'Expand', [c.scalar(1), op(c, 'Shape', [x])]))]);
    const adj = adjointPads(a.inSp, a.outSp, a.k, a.s, a.d, a.pads);
    return [op(c, 'ConvTranspose', [scaled, kernel], { strides: a.s, dilations: a.d, pads: adj.pads, output_padding: adj.outputPadding, group: channels })];
  },
};

const globalAveragePool: GradRule = {
  backward: (c) => {
    const x = c.node.inputs[0];
    const area = c.staticDims(x, 2).reduce((p, q) => p * q, 1);
    return [op(c, 'Expand', [op(c, 'Div', [g0(c), c.scalar(area)]), op(c, 'Shape', [x])])];
  },
};

const batchNorm: GradRule = {
  backward: (c) => {
    if (c.int('training_mode', 0) !== 0) return batchNormTraining(c);
    if (c.node.outputs.filter((o) => o).length > 1) c.refuse('running-statistics outputs outside training mode');
    const [x, scale, , mean, variance] = c.node.inputs;
    const rank = c.shape(x).length;
    const g = g0(c);
    const perChannel = (v: string) => op(c, 'Reshape', [v, c.b.int64([-1, ...new Array(rank - 2).fill(1)])]);
    const invStd = op(c, 'Reciprocal', [op(c, 'Sqrt', [op(c, 'Add', [variance, c.scalar(c.float('epsilon', 1e-5))])])]);
    const out: (string | null)[] = [null, null, null, null, null];
    if (c.needs[0]) out[0] = op(c, 'Mul', [g, perChannel(op(c, 'Mul', [scale, invStd]))]);
    if (c.needs[1]) out[1] = channelSum(c, op(c, 'Mul', [g, op(c, 'Mul', [op(c, 'Sub', [x, perChannel(mean)]), perChannel(invStd)])]), rank);
    if (c.needs[2]) out[2] = channelSum(c, g, rank);
    return out;
  },
};

/**
 * Training-mode BatchNormalization (batch statistics) at momentum 0, whose "running" outputs are then the batch
 * mean and biased variance: y = scale * xhat + bias, xhat = (x - mean) * invStd. The fused closed form
 * dx = scale * invStd * (g - mean(g) - xhat * mean(g * xhat)) (means over every axis but the channel's),
 * dscale = sum(g * xhat), dbias = sum(g); the mean and variance inputs (the running statistics) get none.
 */
function batchNormTraining(c: Ctx): (string | null)[] {
  if (c.float('momentum', 0.9) !== 0) c.refuse('training mode with momentum other than 0 (its batch statistics are not outputs)');
  const [x, scale, , runMean, runVar] = c.node.inputs;
  // onnxruntime updates the running statistics in place into the outputs: one tensor for both aliases the mean and the variance.
  if (runMean === runVar) c.refuse('training mode with one tensor as both running mean and running variance');
  const [, mean, variance] = c.node.outputs;
  if (!mean || !variance) c.refuse('training mode without its mean and variance outputs');
  if (c.needs[3] || c.needs[4]) c.refuse('a gradient for the running statistics');
  const rank = c.shape(x).length;
  const g = g0(c);
  const perChannel = (v: string) => op(c, 'Reshape', [v, c.b.int64([-1, ...new Array(rank - 2).fill(1)])]);
  const invStd = op(c, 'Reciprocal', [op(c, 'Sqrt', [op(c, 'Add', [variance, c.scalar(c.float('epsilon', 1e-5))])])]);
  const xhat = op(c, 'Mul', [op(c, 'Sub', [x, perChannel(mean)]), perChannel(invStd)]);
  const dbias = channelSum(c, g, rank);
  const dscale = channelSum(c, op(c, 'Mul', [g, xhat]), rank);
  const out: (string | null)[] = [null, c.needs[1] ? dscale : null, c.needs[2] ? dbias : null, null, null];
  if (c.needs[0]) {
    // examples per channel: size(x) / channels
    const count = op(c, 'Cast', [op(c, 'Div', [op(c, 'Size', [x]), op(c, 'Size', [scale])])], { to: 1 });
    const k = perChannel(op(c, 'Mul', [scale, invStd]));
    const centred = op(c, 'Sub', [g, perChannel(op(c, 'Div', [dbias, count]))]);
    out[0] = op(c, 'Mul', [op(c, 'Sub', [centred, op(c, 'Mul', [xhat, perChannel(op(c, 'Div', [dscale, count]))])]), k]);
  }
  return out;
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

const concat: GradRule = {
  backward: (c) => {
    const rank = c.shape(c.node.outputs[0]).length;
    const axis = normAxis(c.int('axis', 0), rank);
    const sizes = c.node.inputs.map((v) => op(c, 'Slice', [op(c, 'Shape', [v]), c.b.int64([axis]), c.b.int64([axis + 1])]));
    const split = op(c, 'Concat', sizes, { axis: 0 });
    return c.b.node('Split', [g0(c), split], { axis }, c.node.inputs.length);
  },
};

const transpose: GradRule = {
  backward: (c) => {
    const rank = c.shape(c.node.inputs[0]).length;
    const perm = c.ints('perm', range(0, rank).reverse());
    const inv = new Array<number>(rank);
    perm.forEach((p, i) => {
      inv[p] = i;
    });
    return [op(c, 'Transpose', [g0(c)], { perm: inv })];
  },
};

/** Softmax/LogSoftmax along `axis` (opset 13: one axis, default -1). */
const softmax: GradRule = {
  backward: (c) => {
    const y = c.node.outputs[0];
    const g = g0(c);
    const axis = c.int('axis', -1);
    const dot = op(c, 'ReduceSum', [op(c, 'Mul', [g, y]), c.b.int64([axis])], { keepdims: 1 });
    return [op(c, 'Mul', [y, op(c, 'Sub', [g, dot])])];
  },
};
const logSoftmax: GradRule = {
  backward: (c) => {
    const y = c.node.outputs[0];
    const g = g0(c);
    const axis = c.int('axis', -1);
    const total = op(c, 'ReduceSum', [g, c.b.int64([axis])], { keepdims: 1 });
    return [op(c, 'Sub', [g, op(c, 'Mul', [op(c, 'Exp', [y]), total])])];
  },
};

/** ReduceSum/ReduceMean: g put back on the reduced axes (and divided by the count for the mean). */
const reduce = (mean: boolean): GradRule => ({
  backward: (c) => {
    const [x, axesInput] = c.node.inputs;
    const y = c.node.outputs[0];
    const rank = c.shape(x).length;
    const attrAxes = c.ints('axes', []);
    if (!axesInput && !attrAxes.length && c.int('noop_with_empty_axes', 0) === 1) return [g0(c)];
    let g = g0(c);
    // Unsqueeze (opset 13) takes the reduced axes as they are, in any order; with no axes every dim was reduced and Expand restores it.
    const axes = axesInput || (attrAxes.length ? c.b.int64(attrAxes.map((a) => normAxis(a, rank))) : null);
    if (c.int('keepdims', 1) === 0 && axes) g = op(c, 'Unsqueeze', [g, axes]);
    g = op(c, 'Expand', [g, op(c, 'Shape', [x])]);
    if (mean) g = op(c, 'Div', [g, op(c, 'Cast', [op(c, 'Div', [op(c, 'Size', [x]), op(c, 'Size', [y])])], { to: 1 })]);
    return [g];
  },
});

export const RULES: Record<string, GradRule> = {
  Add: binary(
    (_c, g) => g,
    (_c, g) => g,
  ),
  Sub: binary(
    (_c, g) => g,
    (c, g) => op(c, 'Neg', [g]),
  ),
  Mul: binary(
    (c, g, _a, b) => op(c, 'Mul', [g, b]),
    (c, g, a) => op(c, 'Mul', [g, a]),
  ),
  // y = a / b: da = g / b, db = -g * y / b
  Div: binary(
    (c, g, _a, b) => op(c, 'Div', [g, b]),
    (c, g, _a, b, y) => op(c, 'Neg', [op(c, 'Div', [op(c, 'Mul', [g, y]), b])]),
  ),
  Neg: { backward: (c) => [op(c, 'Neg', [g0(c)])] },
  // y > 0 exactly where x > 0; reading y (not x) keeps Conv/Gemm + Relu fusable when the graph is split at residuals.
  Relu: { backward: (c) => [op(c, 'Where', [op(c, 'Greater', [c.node.outputs[0], c.scalar(0)]), g0(c), c.scalar(0)])] },
  LeakyRelu: {
    backward: (c) => {
      const x = c.node.inputs[0];
      const g = g0(c);
      return [op(c, 'Where', [op(c, 'Greater', [x, c.scalar(0)]), g, op(c, 'Mul', [g, c.scalar(c.float('alpha', 0.01))])])];
    },
  },
  // s (1 - s) as tfjs and torch compute it (0 where s rounds to 1), from an exact s.
  Sigmoid: unary((c, x) => {
    const s = exactSigmoid(c, x);
    return op(c, 'Mul', [s, op(c, 'Sub', [c.scalar(1), s])]);
  }),
  Tanh: unary((c, _x, y) => op(c, 'Sub', [c.scalar(1), op(c, 'Mul', [y, y])])),
  Softplus: unary((c, x) => exactSigmoid(c, x)),
  Exp: unary((_c, _x, y) => y),
  Log: { backward: (c) => [op(c, 'Div', [g0(c), c.node.inputs[0]])] },
  Sqrt: { backward: (c) => [op(c, 'Div', [g0(c), op(c, 'Mul', [c.scalar(2), c.node.outputs[0]])])] },
  // d erf(x)/dx = 2/sqrt(pi) exp(-x^2)
  Erf: unary((c, x) => op(c, 'Mul', [c.scalar(2 / Math.sqrt(Math.PI)), op(c, 'Exp', [op(c, 'Neg', [op(c, 'Mul', [x, x])])])])),
  Gelu: unary((c, x) => {
    if (c.str('approximate', 'none') === 'tanh') {
      // y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3): y' = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
      const x2 = op(c, 'Mul', [x, x]);
      const u = op(c, 'Mul', [c.scalar(SQRT_2_OVER_PI), op(c, 'Add', [x, op(c, 'Mul', [c.scalar(0.044715), op(c, 'Mul', [x2, x])])])]);
      const t = op(c, 'Tanh', [u]);
      const du = op(c, 'Mul', [c.scalar(SQRT_2_OVER_PI), op(c, 'Add', [c.scalar(1), op(c, 'Mul', [c.scalar(3 * 0.044715), x2])])]);
      const left = op(c, 'Mul', [c.scalar(0.5), op(c, 'Add', [c.scalar(1), t])]);
      const right = op(c, 'Mul', [op(c, 'Mul', [c.scalar(0.5), x]), op(c, 'Mul', [op(c, 'Sub', [c.scalar(1), op(c, 'Mul', [t, t])]), du])]);
      return op(c, 'Add', [left, right]);
    }
    // y = x Phi(x): y' = Phi(x) + x phi(x)
    const phiCdf = op(c, 'Mul', [c.scalar(0.5), op(c, 'Add', [c.scalar(1), op(c, 'Erf', [op(c, 'Mul', [x, c.scalar(Math.SQRT1_2)])])])]);
    const density = op(c, 'Mul', [c.scalar(1 / Math.sqrt(2 * Math.PI)), op(c, 'Exp', [op(c, 'Mul', [c.scalar(-0.5), op(c, 'Mul', [x, x])])])]);
    return op(c, 'Add', [phiCdf, op(c, 'Mul', [x, density])]);
  }),
  // The gradient passes where min <= x <= max (the bounds included, as tfjs clipByValue and torch.clamp).
  Clip: {
    backward: (c) => {
      const [x, lo, hi] = c.node.inputs;
      let mask: string | null = null;
      if (lo) mask = op(c, 'GreaterOrEqual', [x, lo]);
      if (hi) {
        const m = op(c, 'LessOrEqual', [x, hi]);
        mask = mask ? op(c, 'And', [mask, m]) : m;
      }
      return [mask ? op(c, 'Where', [mask, g0(c), c.scalar(0)]) : g0(c)];
    },
  },
  Identity: passThrough,
  Dropout: {
    backward: (c) => {
      if (c.node.inputs[2]) c.refuse('a training_mode input (export the model in eval mode)');
      return [g0(c)];
    },
  },
  Flatten: reshapeBack,
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Expand: { backward: (c) => [c.unbroadcast(g0(c), c.shape(c.node.outputs[0]), c.node.inputs[0])] },
  Transpose: transpose,
  Concat: concat,
  Slice: indexMove(),
  Gather: indexMove(),
  Tile: indexMove(),
  Pad: indexMove(2),
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matMul,
  BatchNormalization: batchNorm,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  ReduceSum: reduce(false),
  ReduceMean: reduce(true),
};
