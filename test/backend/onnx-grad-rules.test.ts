import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { OnnxModelError, parseModel } from '../../backend/onnx/graph';
import { differentiate, UnsupportedOpError } from '../../backend/onnx/grad/differentiate';
import { RULES } from '../../backend/onnx/grad/rules';
import { AttrValue, GraphBuilder } from '../../backend/onnx/proto';
import { SyncSession } from '../../backend/onnx/runtime';

/**
 * Every gradient rule on a tiny graph of its op: the differentiated graph's
 * gradient of sum(r * output) with respect to the input and the parameters
 * against central finite differences of the same forward graph in
 * onnxruntime, and against tfjs cpu's gradient where tfjs has the op.
 *
 * Finite differences run in float32 (onnxruntime's precision). Where the
 * output is linear in the perturbed tensor (conv, gemm, pooling, moves) the
 * step is 1 and the difference is exact up to rounding (tolerance 1e-4 of
 * the largest gradient); elementwise nonlinear ops are differenced
 * elementwise with step 1e-2 (tolerance 2e-3, the truncation and rounding
 * error of that step). tfjs is held to 1e-4 of the largest gradient.
 */

test.before(async () => {
  await initBackend('cpu');
});

/** A seeded LCG in [-1, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

interface Tensor {
  dims: number[];
  data: Float32Array;
}

interface Case {
  name: string;
  /** the graph input (first dim the batch) */
  x: number[];
  /** parameters: initializers in the differentiated graph, differentiated too unless listed in `fixed` */
  params?: Record<string, number[]>;
  fixed?: string[];
  /** builds the op(s) from value names; returns the output */
  build: (b: GraphBuilder, v: Record<string, string>) => string;
  /** finite differences: 'linear' (step 1, exact), 'diagonal' (elementwise op, step 1e-2), or a step for a generic nonlinear op */
  fd: 'linear' | 'diagonal' | number;
  /** the same function in tfjs, inputs by name */
  tf?: (v: Record<string, tf.Tensor>) => tf.Tensor;
  /** input values: 'distinct' (a shuffled grid, no two within 0.05: max pooling), else uniform [-1, 1) */
  values?: 'distinct' | ((i: number, r: () => number) => number);
  opset?: number;
}

function values(c: Case, dims: number[], seed: number, name: string): Float32Array {
  const r = rng(seed);
  const n = size(dims);
  const out = new Float32Array(n);
  if (c.values === 'distinct' && name === 'x') {
    const grid = Array.from({ length: n }, (_, i) => (i - n / 2) * 0.05);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(((r() + 1) / 2) * (i + 1));
      [grid[i], grid[j]] = [grid[j], grid[i]];
    }
    out.set(grid);
  } else if (typeof c.values === 'function' && name === 'x') for (let i = 0; i < n; i++) out[i] = c.values(i, r);
  else for (let i = 0; i < n; i++) out[i] = r();
  return out;
}

/** The forward graph with every tensor a graph input (for finite differences). */
function forwardAll(c: Case, tensors: Record<string, Tensor>): { session: SyncSession; run: (t: Record<string, Tensor>) => Float32Array } {
  const b = new GraphBuilder('fd');
  const v: Record<string, string> = {};
  for (const [name, t] of Object.entries(tensors)) v[name] = b.input(name, 'float32', t.dims);
  b.output(c.build(b, v), 'y', 'float32', null);
  const session = new SyncSession(b.encode('', c.opset));
  const run = (t: Record<string, Tensor>) => {
    const feeds: Record<string, [Float32Array, number[]]> = {};
    for (const [name, x] of Object.entries(t)) feeds[name] = [x.data, x.dims];
    return session.run(feeds).y.data as Float32Array;
  };
  return { session, run };
}

/** The differentiated graph's gradients of sum(r * y) with respect to x and every non-fixed parameter. */
function engineGrads(c: Case, tensors: Record<string, Tensor>, r: Float32Array, yDims: number[]): Record<string, Float32Array> {
  const b = new GraphBuilder('op');
  const v: Record<string, string> = { x: b.input('x', 'float32', ['batch', ...c.x.slice(1)]) };
  for (const [name, dims] of Object.entries(c.params ?? {})) v[name] = b.float32(tensors[name].data, dims, name);
  b.output(c.build(b, v), 'y', 'float32', ['batch', ...yDims.slice(1)]);
  const wrt = ['x', ...Object.keys(c.params ?? {}).filter((p) => !c.fixed?.includes(p))];
  const d = differentiate(parseModel(b.encode('', c.opset)), { wrt, seed: 'cotangent' });
  const s = new SyncSession(d.model);
  try {
    const out = s.run({ x: [tensors.x.data, tensors.x.dims], [d.seed]: [r, yDims] });
    return Object.fromEntries(wrt.map((w) => [w, out[d.gradients[w]].data as Float32Array]));
  } finally {
    s.dispose();
  }
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < b.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return e / Math.max(maxAbs(b), 1e-12);
}

function check(c: Case) {
  test(`${c.name}: gradient vs finite differences${c.tf ? ' and tfjs cpu' : ''}`, (t) => {
    const tensors: Record<string, Tensor> = { x: { dims: c.x, data: values(c, c.x, 1, 'x') } };
    Object.entries(c.params ?? {}).forEach(([name, dims], i) => {
      tensors[name] = { dims, data: values(c, dims, 10 + i, name) };
    });
    const fwd = forwardAll(c, tensors);
    try {
      const y = fwd.run(tensors);
      const yDims = fwd.session.run(Object.fromEntries(Object.entries(tensors).map(([n, x]) => [n, [x.data, x.dims] as [Float32Array, number[]]]))).y.dims;
      const r = values({ ...c, values: undefined }, yDims, 99, 'r');
      t.is(y.length, r.length);
      const grads = engineGrads(c, tensors, r, yDims);
      for (const [name, g] of Object.entries(grads)) {
        const base = tensors[name];
        t.is(g.length, base.data.length, `${name}: gradient size`);
        t.true(g.every(Number.isFinite), `${name}: finite`);
        const fd = new Float64Array(g.length);
        const loss = (data: Float32Array) => {
          const out = fwd.run({ ...tensors, [name]: { dims: base.dims, data } });
          let s = 0;
          for (let i = 0; i < out.length; i++) s += r[i] * out[i];
          return s;
        };
        if (c.fd === 'diagonal') {
          const h = 1e-2;
          const up = fwd.run({ ...tensors, [name]: { dims: base.dims, data: base.data.map((v) => v + h) } });
          const down = fwd.run({ ...tensors, [name]: { dims: base.dims, data: base.data.map((v) => v - h) } });
          for (let i = 0; i < g.length; i++) fd[i] = (r[i] * (up[i] - down[i])) / (2 * h);
        } else {
          const h = c.fd === 'linear' ? 1 : c.fd;
          for (let i = 0; i < g.length; i++) {
            const p = Float32Array.from(base.data);
            p[i] = base.data[i] + h;
            const lp = loss(p);
            p[i] = base.data[i] - h;
            fd[i] = (lp - loss(p)) / (2 * h);
          }
        }
        const tol = c.fd === 'linear' ? 1e-4 : 2e-3;
        const e = relErr(g, fd);
        t.true(e <= tol, `${name}: vs finite differences ${e.toExponential(2)} > ${tol}`);
        t.true(maxAbs(g) > 0, `${name}: gradient not all zero`);
      }
      if (c.tf) {
        const fn = c.tf;
        const names = Object.keys(grads);
        const ref = tf.tidy(() => {
          const inputs = names.map((n) => tf.tensor(tensors[n].data, tensors[n].dims));
          const fixed = Object.fromEntries(
            Object.entries(tensors)
              .filter(([n]) => !names.includes(n))
              .map(([n, x]) => [n, tf.tensor(x.data, x.dims)]),
          );
          const rt = tf.tensor(r, yDims);
          const gs = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(fn({ ...fixed, ...Object.fromEntries(names.map((n, i) => [n, xs[i]])) }), rt)))(inputs);
          return gs.map((gt) => gt.dataSync() as Float32Array);
        });
        names.forEach((n, i) => {
          const e = relErr(grads[n], ref[i]);
          t.true(e <= 1e-4, `${n}: vs tfjs ${e.toExponential(2)}`);
        });
      }
    } finally {
      fwd.session.dispose();
    }
  });
}

const nhwc = (x: tf.Tensor) => tf.transpose(x, [0, 2, 3, 1]);
const nchw = (x: tf.Tensor) => tf.transpose(x, [0, 3, 1, 2]);
/** ONNX conv weight [cout, cin, kh, kw] -> tfjs [kh, kw, cin, cout] */
const hwio = (w: tf.Tensor) => tf.transpose(w, [2, 3, 1, 0]);
const bias4 = (bv: tf.Tensor) => tf.reshape(bv, [1, -1, 1, 1]);
const attrs = (a: Record<string, AttrValue>) => a;

const CASES: Case[] = [
  {
    name: 'Conv 3x3 pads 1 with bias',
    x: [2, 3, 6, 6],
    params: { w: [4, 3, 3, 3], bias: [4] },
    build: (b, v) => b.op('Conv', [v.x, v.w, v.bias], attrs({ pads: [1, 1, 1, 1] })),
    fd: 'linear',
    tf: (v) => tf.add(nchw(tf.conv2d(nhwc(v.x) as tf.Tensor4D, hwio(v.w) as tf.Tensor4D, 1, 'same')), bias4(v.bias)),
  },
  {
    name: 'Conv stride 1, 8 input channels, asymmetric pads (the flipped-kernel Conv path for dx)',
    x: [2, 8, 5, 6],
    params: { w: [3, 8, 3, 2], bias: [3] },
    build: (b, v) => b.op('Conv', [v.x, v.w, v.bias], attrs({ pads: [2, 0, 1, 1] })),
    fd: 'linear',
  },
  {
    name: 'Conv stride 2 SAME_UPPER',
    x: [2, 2, 7, 7],
    params: { w: [3, 2, 3, 3] },
    build: (b, v) => b.op('Conv', [v.x, v.w], attrs({ strides: [2, 2], auto_pad: 'SAME_UPPER' })),
    fd: 'linear',
    tf: (v) => nchw(tf.conv2d(nhwc(v.x) as tf.Tensor4D, hwio(v.w) as tf.Tensor4D, 2, 'same')),
  },
  {
    name: 'Conv strides [2, 1], dilations [2, 1], asymmetric pads, uncovered trailing rows',
    x: [2, 2, 10, 8],
    params: { w: [3, 2, 3, 2], bias: [3] },
    build: (b, v) => b.op('Conv', [v.x, v.w, v.bias], attrs({ strides: [2, 1], dilations: [2, 1], pads: [1, 0, 0, 1] })),
    fd: 'linear',
  },
  {
    name: 'Conv group 2, stride 2',
    x: [2, 4, 5, 5],
    params: { w: [6, 2, 3, 3] },
    build: (b, v) => b.op('Conv', [v.x, v.w], attrs({ group: 2, strides: [2, 2], pads: [1, 1, 1, 1] })),
    fd: 'linear',
  },
  {
    name: 'Conv depthwise (group = channels, multiplier 2)',
    x: [2, 3, 6, 6],
    params: { w: [6, 1, 3, 3] },
    build: (b, v) => b.op('Conv', [v.x, v.w], attrs({ group: 3, pads: [1, 1, 1, 1] })),
    fd: 'linear',
    // ONNX output channel ci*2 + m is tfjs depthwise channel ci*2 + m; filter [kh, kw, ci, m]
    tf: (v) => nchw(tf.depthwiseConv2d(nhwc(v.x) as tf.Tensor4D, tf.transpose(tf.reshape(v.w, [3, 2, 3, 3]), [2, 3, 0, 1]) as tf.Tensor4D, 1, 'same')),
  },
  {
    name: 'Conv 1-D stride 2',
    x: [2, 2, 9],
    params: { w: [3, 2, 3] },
    build: (b, v) => b.op('Conv', [v.x, v.w], attrs({ strides: [2] })),
    fd: 'linear',
  },
  {
    name: 'ConvTranspose stride 2, pads 1, output_padding 1, bias',
    x: [2, 3, 4, 4],
    params: { w: [3, 2, 3, 3], bias: [2] },
    build: (b, v) => b.op('ConvTranspose', [v.x, v.w, v.bias], attrs({ strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] })),
    fd: 'linear',
  },
  {
    name: 'ConvTranspose group 2, dilation 2',
    x: [2, 4, 3, 3],
    params: { w: [4, 1, 2, 2] },
    build: (b, v) => b.op('ConvTranspose', [v.x, v.w], attrs({ group: 2, dilations: [2, 2] })),
    fd: 'linear',
  },
  {
    name: 'Gemm transB, alpha, beta, broadcast C',
    x: [2, 5],
    params: { w: [3, 5], c: [3] },
    build: (b, v) => b.op('Gemm', [v.x, v.w, v.c], attrs({ transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } })),
    fd: 'linear',
    tf: (v) => tf.add(tf.mul(tf.matMul(v.x as tf.Tensor2D, v.w as tf.Tensor2D, false, true), 0.5), tf.mul(v.c, 2)),
  },
  {
    name: 'Gemm transA (after a Transpose)',
    x: [2, 5],
    params: { w: [5, 3] },
    build: (b, v) => b.op('Gemm', [b.op('Transpose', [v.x], attrs({ perm: [1, 0] })), v.w], attrs({ transA: 1 })),
    fd: 'linear',
    tf: (v) => tf.matMul(v.x as tf.Tensor2D, v.w as tf.Tensor2D),
  },
  {
    name: 'MatMul batched with a broadcast matrix',
    x: [2, 3, 4],
    params: { w: [4, 5] },
    build: (b, v) => b.op('MatMul', [v.x, v.w]),
    fd: 'linear',
    tf: (v) => tf.matMul(v.x, tf.broadcastTo(v.w, [2, 4, 5])),
  },
  {
    name: 'MatMul broadcast batch dims and a vector',
    x: [2, 1, 3, 4],
    params: { w: [3, 4, 2], v: [2] },
    build: (b, v) => b.op('MatMul', [b.op('MatMul', [v.x, v.w]), v.v]),
    fd: 0.5,
  },
  {
    name: 'Add, Sub, Mul, Div with broadcasting, and a value read twice',
    x: [2, 3, 4],
    params: { a: [3, 1], c: [4], d: [1, 4] },
    values: (_i, r) => r(),
    build: (b, v) => {
      const s = b.op('Add', [b.op('Mul', [v.x, v.a]), b.op('Sub', [v.c, v.x])]);
      return b.op('Div', [b.op('Mul', [s, v.x]), b.op('Add', [b.op('Mul', [v.d, v.d]), b.float32([1], [])])]);
    },
    fd: 0.01,
    tf: (v) => tf.div(tf.mul(tf.add(tf.mul(v.x, v.a), tf.sub(v.c, v.x)), v.x), tf.add(tf.mul(v.d, v.d), 1)),
  },
  // Elementwise inputs on a grid at least 0.013 from every kink, so the 1e-2 difference step never crosses one.
  { name: 'Relu', x: [2, 7], values: (i) => -0.687 + 0.1 * i, build: (b, v) => b.op('Relu', [v.x]), fd: 'diagonal', tf: (v) => tf.relu(v.x) },
  {
    name: 'LeakyRelu alpha 0.2',
    x: [2, 7],
    values: (i) => -0.687 + 0.1 * i,
    build: (b, v) => b.op('LeakyRelu', [v.x], attrs({ alpha: { float: 0.2 } })),
    fd: 'diagonal',
    tf: (v) => tf.leakyRelu(v.x, 0.2),
  },
  { name: 'Sigmoid', x: [2, 7], values: (_i, r) => 4 * r(), build: (b, v) => b.op('Sigmoid', [v.x]), fd: 'diagonal', tf: (v) => tf.sigmoid(v.x) },
  { name: 'Tanh', x: [2, 7], values: (_i, r) => 3 * r(), build: (b, v) => b.op('Tanh', [v.x]), fd: 'diagonal', tf: (v) => tf.tanh(v.x) },
  { name: 'Softplus', x: [2, 7], values: (_i, r) => 4 * r(), build: (b, v) => b.op('Softplus', [v.x]), fd: 'diagonal', tf: (v) => tf.softplus(v.x) },
  { name: 'Erf', x: [2, 7], values: (_i, r) => 2 * r(), build: (b, v) => b.op('Erf', [v.x]), fd: 'diagonal', tf: (v) => tf.erf(v.x) },
  { name: 'Gelu (opset 20, exact)', x: [2, 7], values: (_i, r) => 3 * r(), build: (b, v) => b.op('Gelu', [v.x]), fd: 'diagonal', opset: 20 },
  { name: 'Gelu (opset 20, tanh)', x: [2, 7], values: (_i, r) => 3 * r(), build: (b, v) => b.op('Gelu', [v.x], attrs({ approximate: 'tanh' })), fd: 'diagonal', opset: 20 },
  {
    name: 'Gelu as torch exports it (x/2 (1 + erf(x/sqrt 2)))',
    x: [2, 7],
    values: (_i, r) => 3 * r(),
    build: (b, v) => b.op('Mul', [b.op('Mul', [v.x, b.op('Add', [b.op('Erf', [b.op('Div', [v.x, b.float32([Math.SQRT2], [])])]), b.float32([1], [])])]), b.float32([0.5], [])]),
    fd: 'diagonal',
    tf: (v) => tf.mul(tf.mul(v.x, tf.add(tf.erf(tf.div(v.x, Math.SQRT2)), 1)), 0.5),
  },
  {
    name: 'Clip to [-0.5, 0.3]',
    x: [2, 9],
    values: (i) => -0.937 + 0.1 * i,
    build: (b, v) => b.op('Clip', [v.x, b.float32([-0.5], []), b.float32([0.3], [])]),
    fd: 'diagonal',
    tf: (v) => tf.clipByValue(v.x, -0.5, 0.3),
  },
  { name: 'Exp', x: [2, 5], build: (b, v) => b.op('Exp', [v.x]), fd: 'diagonal', tf: (v) => tf.exp(v.x) },
  { name: 'Log', x: [2, 5], values: (_i, r) => 1.5 + r(), build: (b, v) => b.op('Log', [v.x]), fd: 'diagonal', tf: (v) => tf.log(v.x) },
  { name: 'Sqrt', x: [2, 5], values: (_i, r) => 1.5 + r(), build: (b, v) => b.op('Sqrt', [v.x]), fd: 'diagonal', tf: (v) => tf.sqrt(v.x) },
  { name: 'Neg', x: [2, 5], build: (b, v) => b.op('Neg', [v.x]), fd: 'linear', tf: (v) => tf.neg(v.x) },
  {
    name: 'BatchNormalization (inference) wrt x, scale and bias',
    x: [2, 3, 4, 4],
    params: { scale: [3], bias: [3], mean: [3], var: [3] },
    fixed: ['mean', 'var'],
    build: (b, v) => b.op('BatchNormalization', [v.x, v.scale, v.bias, v.mean, b.op('Add', [b.op('Mul', [v.var, v.var]), b.float32([0.5], [])])], attrs({ epsilon: { float: 1e-3 } })),
    fd: 'linear',
    tf: (v) => nchw(tf.batchNorm(nhwc(v.x), v.mean, tf.add(tf.mul(v.var, v.var), 0.5), v.bias, v.scale, 1e-3)),
  },
  {
    // The engine's training BatchNorm: batch mean and biased variance (tfjs's moments); at momentum 0 the running outputs are those.
    name: 'BatchNormalization (training mode, batch statistics) wrt x, scale and bias',
    x: [3, 2, 3, 3],
    params: { scale: [2], bias: [2] },
    build: (b, v) => {
      // distinct running statistics (onnxruntime updates them in place into the outputs)
      return b.node('BatchNormalization', [v.x, v.scale, v.bias, b.float32([0, 0], [2]), b.float32([1, 1], [2])], attrs({ epsilon: { float: 1e-3 }, momentum: { float: 0 }, training_mode: 1 }), 3)[0];
    },
    fd: 1e-2,
    tf: (v) => {
      const m = tf.moments(nhwc(v.x), [0, 1, 2]);
      return nchw(tf.batchNorm(nhwc(v.x), m.mean, m.variance, v.bias, v.scale, 1e-3));
    },
  },
  {
    name: 'MaxPool 2x2 stride 2',
    x: [2, 3, 6, 6],
    values: 'distinct',
    build: (b, v) => b.op('MaxPool', [v.x], attrs({ kernel_shape: [2, 2], strides: [2, 2] })),
    fd: 0.01,
    tf: (v) => nchw(tf.maxPool(nhwc(v.x) as tf.Tensor4D, 2, 2, 'valid')),
  },
  {
    name: 'MaxPool 3x3 stride 2 pads 1 (overlapping windows)',
    x: [2, 2, 7, 7],
    values: 'distinct',
    build: (b, v) => b.op('MaxPool', [v.x], attrs({ kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })),
    fd: 0.01,
    tf: (v) =>
      nchw(
        tf.maxPool(
          tf.pad(
            nhwc(v.x),
            [
              [0, 0],
              [1, 1],
              [1, 1],
              [0, 0],
            ],
            -1e9,
          ) as tf.Tensor4D,
          3,
          2,
          'valid',
        ),
      ),
  },
  {
    name: 'MaxPool 2x2 stride 2 ceil_mode, dilations 2',
    x: [2, 2, 7, 7],
    values: 'distinct',
    build: (b, v) => b.op('MaxPool', [v.x], attrs({ kernel_shape: [2, 2], strides: [2, 2], dilations: [2, 2], ceil_mode: 1 })),
    fd: 0.01,
  },
  {
    // The pool rule applies the relu's mask at the pooled size and skips the relu's own rule.
    name: 'Relu then MaxPool, 2x2 and 3x3 overlapping (relu mask at the pooled size)',
    x: [2, 2, 6, 6],
    values: 'distinct',
    build: (b, v) => {
      const r = b.op('Relu', [b.op('Add', [v.x, b.float32([0.0125], [])])]);
      const p2 = b.op('MaxPool', [r], attrs({ kernel_shape: [2, 2], strides: [2, 2] }));
      const r2 = b.op('Relu', [b.op('Sub', [v.x, b.float32([0.2125], [])])]);
      const p3 = b.op('MaxPool', [r2], attrs({ kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }));
      return b.op('Concat', [p2, p3], attrs({ axis: 1 }));
    },
    fd: 0.01,
    tf: (v) =>
      tf.concat(
        [
          nchw(tf.maxPool(nhwc(tf.relu(tf.add(v.x, 0.0125))) as tf.Tensor4D, 2, 2, 'valid')),
          nchw(
            tf.maxPool(
              tf.pad(
                nhwc(tf.relu(tf.sub(v.x, 0.2125))),
                [
                  [0, 0],
                  [1, 1],
                  [1, 1],
                  [0, 0],
                ],
                -1e9,
              ) as tf.Tensor4D,
              3,
              2,
              'valid',
            ),
          ),
        ],
        1,
      ),
  },
  {
    name: 'AveragePool 2x2 stride 2',
    x: [2, 3, 6, 6],
    build: (b, v) => b.op('AveragePool', [v.x], attrs({ kernel_shape: [2, 2], strides: [2, 2] })),
    fd: 'linear',
    tf: (v) => nchw(tf.avgPool(nhwc(v.x) as tf.Tensor4D, 2, 2, 'valid')),
  },
  {
    name: 'AveragePool 3x3 stride 2 SAME_UPPER (padding not counted)',
    x: [2, 2, 6, 6],
    build: (b, v) => b.op('AveragePool', [v.x], attrs({ kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' })),
    fd: 'linear',
    // No tfjs check: tfjs cpu's avgPool gradient divides every window by 3 x 3, also where its forward excludes the padding.
  },
  {
    name: 'AveragePool 3x3 stride 2 pads 1 count_include_pad',
    x: [2, 2, 7, 7],
    build: (b, v) => b.op('AveragePool', [v.x], attrs({ kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 })),
    fd: 'linear',
    tf: (v) =>
      tf.div(
        nchw(
          tf.depthwiseConv2d(
            tf.pad(nhwc(v.x), [
              [0, 0],
              [1, 1],
              [1, 1],
              [0, 0],
            ]) as tf.Tensor4D,
            tf.ones([3, 3, 2, 1]) as tf.Tensor4D,
            2,
            'valid',
          ),
        ),
        9,
      ),
  },
  {
    name: 'GlobalAveragePool',
    x: [2, 3, 4, 5],
    build: (b, v) => b.op('GlobalAveragePool', [v.x]),
    fd: 'linear',
    tf: (v) => tf.mean(v.x, [2, 3], true),
  },
  {
    name: 'Flatten, Reshape, Squeeze, Unsqueeze',
    x: [2, 3, 4],
    build: (b, v) => {
      const f = b.op('Flatten', [v.x], attrs({ axis: 1 }));
      const r = b.op('Reshape', [f, b.int64([0, 4, 3])]);
      return b.op('Squeeze', [b.op('Unsqueeze', [r, b.int64([1])]), b.int64([1])]);
    },
    fd: 'linear',
    tf: (v) => tf.reshape(v.x, [2, 4, 3]),
  },
  { name: 'Transpose', x: [2, 3, 4], build: (b, v) => b.op('Transpose', [v.x], attrs({ perm: [2, 0, 1] })), fd: 'linear', tf: (v) => tf.transpose(v.x, [2, 0, 1]) },
  {
    name: 'Pad constant (asymmetric)',
    x: [2, 2, 3, 3],
    build: (b, v) => b.op('Pad', [v.x, b.int64([0, 0, 1, 2, 0, 0, 2, 1]), b.float32([0.5], [])]),
    fd: 'linear',
    tf: (v) =>
      tf.pad(
        v.x,
        [
          [0, 0],
          [0, 0],
          [1, 2],
          [2, 1],
        ],
        0.5,
      ),
  },
  {
    name: 'Pad reflect and edge',
    x: [2, 2, 4, 4],
    build: (b, v) => b.op('Pad', [b.op('Pad', [v.x, b.int64([0, 0, 2, 1, 0, 0, 1, 2])], attrs({ mode: 'reflect' })), b.int64([0, 0, 1, 0, 0, 0, 0, 2])], attrs({ mode: 'edge' })),
    fd: 'linear',
  },
  {
    name: 'Concat (x twice, and a constant along the last axis)',
    x: [2, 3, 2],
    params: { c: [1, 2] },
    build: (b, v) => {
      const joined = b.op('Concat', [v.x, b.op('Mul', [v.x, v.x])], attrs({ axis: 1 }));
      return b.op(
        'Concat',
        [joined, b.op('Expand', [v.c, b.op('Concat', [b.op('Slice', [b.op('Shape', [joined]), b.int64([0]), b.int64([2])]), b.int64([1])], attrs({ axis: 0 }))])],
        attrs({ axis: -1 }),
      );
    },
    fd: 0.01,
    tf: (v) => tf.concat([tf.concat([v.x, tf.mul(v.x, v.x)], 1), tf.broadcastTo(tf.reshape(v.c, [1, 1, 2]), [2, 6, 2])], -1),
  },
  {
    name: 'Slice with steps 2 and -1',
    x: [2, 5, 6],
    build: (b, v) => b.op('Slice', [v.x, b.int64([1, -1]), b.int64([5, -7]), b.int64([1, 2]), b.int64([2, -1])]),
    fd: 'linear',
    tf: (v) => tf.reverse(tf.gather(v.x, [1, 3], 1), 2),
  },
  {
    name: 'Gather (repeated indices), Tile, Expand',
    x: [2, 4],
    params: { e: [1, 2, 1] },
    build: (b, v) => {
      const g = b.op('Gather', [v.x, b.int64([3, 0, 3])], attrs({ axis: 1 }));
      const tl = b.op('Tile', [g, b.int64([1, 2])]);
      return b.op('Mul', [b.op('Expand', [b.op('Unsqueeze', [tl, b.int64([1])]), b.int64([1, 2, 1])]), v.e]);
    },
    fd: 0.01,
    tf: (v) => tf.mul(tf.broadcastTo(tf.expandDims(tf.tile(tf.gather(v.x, [3, 0, 3], 1), [1, 2]), 1), [2, 2, 6]), v.e),
  },
  {
    name: 'Identity, Constant, Dropout (inference)',
    x: [2, 4],
    build: (b, v) => {
      const k = b.op('Constant', [], { value_float: { float: 1.5 } });
      return b.op('Dropout', [b.op('Mul', [b.op('Identity', [v.x]), k])], attrs({ seed: 3 }));
    },
    fd: 'linear',
    tf: (v) => tf.mul(v.x, 1.5),
  },
  { name: 'Softmax', x: [2, 5], build: (b, v) => b.op('Softmax', [v.x], attrs({ axis: 1 })), fd: 0.01, tf: (v) => tf.softmax(v.x) },
  { name: 'LogSoftmax', x: [2, 5], build: (b, v) => b.op('LogSoftmax', [v.x], attrs({ axis: -1 })), fd: 0.01, tf: (v) => tf.logSoftmax(v.x) },
  {
    name: 'ReduceMean (axes attribute) and ReduceSum (axes input, keepdims 0)',
    x: [2, 3, 4],
    build: (b, v) => b.op('Add', [b.op('ReduceMean', [v.x], attrs({ axes: [1], keepdims: 0 })), b.op('ReduceSum', [v.x, b.int64([-2])], attrs({ keepdims: 0 }))]),
    fd: 'linear',
    tf: (v) => tf.add(tf.mean(v.x, 1), tf.sum(v.x, 1)),
  },
];

for (const c of CASES) check(c);

test('every rule in the registry has a case above', (t) => {
  const covered = new Set<string>();
  for (const c of CASES) {
    const b = new GraphBuilder('ops');
    const v: Record<string, string> = { x: b.input('x', 'float32', c.x) };
    for (const [n, d] of Object.entries(c.params ?? {})) v[n] = b.input(n, 'float32', d);
    c.build(b, v);
    for (const n of b.parts().nodes) covered.add(n.opType as string);
  }
  t.deepEqual(
    Object.keys(RULES).filter((op) => !covered.has(op)),
    [],
  );
});

/** Elementwise ops at tiny, zero, subnormal and huge inputs: finite gradients, equal to tfjs's (exact zeros included). */
const EXTREMES = [0, -0, 1e-40, -1e-40, 1e-30, -1e-30, 1e-8, -3, 3, 30, -30, 1e30, -1e30, 3e38, -3e38];
const ELEMENTWISE: [string, (b: GraphBuilder, x: string) => string, ((x: tf.Tensor) => tf.Tensor) | null][] = [
  ['Relu', (b, x) => b.op('Relu', [x]), (x) => tf.relu(x)],
  ['LeakyRelu', (b, x) => b.op('LeakyRelu', [x], attrs({ alpha: { float: 0.1 } })), (x) => tf.leakyRelu(x, 0.1)],
  ['Sigmoid', (b, x) => b.op('Sigmoid', [x]), (x) => tf.sigmoid(x)],
  ['Tanh', (b, x) => b.op('Tanh', [x]), (x) => tf.tanh(x)],
  ['Softplus', (b, x) => b.op('Softplus', [x]), (x) => tf.softplus(x)],
  ['Erf', (b, x) => b.op('Erf', [x]), (x) => tf.erf(x)],
  ['Clip', (b, x) => b.op('Clip', [x, b.float32([-1], []), b.float32([1], [])]), (x) => tf.clipByValue(x, -1, 1)],
];
test('elementwise rules at zero, subnormal, tiny and huge inputs: finite, and equal to tfjs', (t) => {
  const x = Float32Array.from(EXTREMES);
  const dy = new Float32Array(x.length).fill(1);
  for (const [name, build, ref] of ELEMENTWISE) {
    const b = new GraphBuilder(name);
    b.output(build(b, b.input('x', 'float32', ['batch', x.length])), 'y', 'float32', ['batch', x.length]);
    const d = differentiate(parseModel(b.encode()), { wrt: ['x'], seed: 'cotangent' });
    const s = new SyncSession(d.model);
    const g = s.run({ x: [x, [1, x.length]], dy: [dy, [1, x.length]] })[d.gradients.x].data as Float32Array;
    s.dispose();
    t.true(g.every(Number.isFinite), `${name}: finite at ${EXTREMES.filter((_, i) => !Number.isFinite(g[i]))}`);
    if (!ref) continue;
    const want = tf.tidy(
      () =>
        tf
          .grad((v: tf.Tensor) => tf.sum(ref(v)))(tf.tensor2d(x, [1, x.length]))
          .dataSync() as Float32Array,
    );
    for (let i = 0; i < x.length; i++) {
      const ok = want[i] === 0 ? g[i] === 0 : Math.abs(g[i] - want[i]) <= 1e-4 * Math.abs(want[i]);
      t.true(ok, `${name} at ${EXTREMES[i]}: ${g[i]} vs tfjs ${want[i]}`);
    }
  }
  // Relu's and Clip's gradient is exactly 0 at 0 for Relu and 1 inside Clip's bounds (bounds included).
  t.pass();
});

test('an op without a rule on the differentiated path is refused naming the op and node; off the path it is fine', (t) => {
  const b = new GraphBuilder('sin');
  const x = b.input('x', 'float32', ['batch', 3]);
  b.output(b.op('Sin', [x]), 'y', 'float32', ['batch', 3]);
  const e = t.throws(() => differentiate(parseModel(b.encode()), { wrt: ['x'], seed: 'cotangent' }), { instanceOf: UnsupportedOpError });
  t.regex(e?.message ?? '', /^node "[^"]+" \(Sin\): no gradient rule for op Sin \(supported: .*Conv.*\)$/);
  t.false((e?.message ?? '').includes('\n'));
  // Sin of a constant does not depend on x: no rule is needed.
  const c = new GraphBuilder('off');
  const xi = c.input('x', 'float32', ['batch', 3]);
  c.output(c.op('Add', [xi, c.op('Sin', [c.float32([1, 2, 3], [3])])]), 'y', 'float32', ['batch', 3]);
  const d = differentiate(parseModel(c.encode()), { wrt: ['x'], seed: 'cotangent' });
  const s = new SyncSession(d.model);
  const g = s.run({ x: [new Float32Array(3), [1, 3]], dy: [Float32Array.of(1, 2, 3), [1, 3]] })[d.gradients.x];
  s.dispose();
  t.deepEqual(Array.from(g.data as Float32Array), [1, 2, 3]);
});

test('models the differentiator cannot read are refused with one line', (t) => {
  t.throws(() => parseModel(Uint8Array.of(1, 2, 3, 4)), { instanceOf: OnnxModelError });
  const b = new GraphBuilder('old');
  b.output(b.op('Relu', [b.input('x', 'float32', ['batch', 2])]), 'y', 'float32', ['batch', 2]);
  t.throws(() => parseModel(b.encode('', 11)), { instanceOf: OnnxModelError, message: /opset 11; opset 13 or later/ });
  const ir = parseModel(b.encode());
  t.throws(() => differentiate(ir, { wrt: ['w'], seed: 'cotangent' }), { instanceOf: OnnxModelError, message: '"w" is not a graph input or initializer' });
});

test('the cross-entropy seed: gradient of the summed cross-entropy equals softmax - onehot through the graph', (t) => {
  const b = new GraphBuilder('lin');
  const w = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
  b.output(b.op('MatMul', [b.input('x', 'float32', ['batch', 4]), b.float32(w, [4, 3])]), 'z', 'float32', ['batch', 3]);
  const d = differentiate(parseModel(b.encode()), { wrt: ['x'], seed: 'ce' });
  const s = new SyncSession(d.model);
  const x = Float32Array.from({ length: 8 }, (_, i) => Math.cos(i));
  const out = s.run({ x: [x, [2, 4]], labels: [BigInt64Array.of(2n, 0n), [2]] });
  s.dispose();
  const want = tf.tidy(() => {
    const xt = tf.tensor2d(x, [2, 4]);
    const wt = tf.tensor2d(w, [4, 3]);
    return tf
      .grad((v: tf.Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot([2, 0], 3), tf.matMul(v as tf.Tensor2D, wt), undefined, undefined, tf.Reduction.SUM))(xt)
      .dataSync() as Float32Array;
  });
  t.true(relErr(out[d.gradients.x].data as Float32Array, want) <= 1e-5);
});
