import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import test from 'ava';
import { Rng } from '../../data/rng';
import { originalWasmKernel, PATCHED_WASM_KERNELS, registerWasmKernels, restoreStockWasmKernels, setIm2colChunkLimit } from '../../backend/kernels/wasm';
import { initBackend } from '../../backend/select';

// Every test switches the global backend: run them one at a time.

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

function randn(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

/** Runs `f` on a backend and returns its outputs as plain arrays. */
async function on(backend: string, f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  let out: Float32Array[] = [];
  tf.tidy(() => {
    const r = f();
    out = (Array.isArray(r) ? r : [r]).map((t) => Float32Array.from(t.dataSync()));
  });
  return out;
}

/** max |a - b| / max |b| */
function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return Number.isFinite(d) ? d / Math.max(s, 1e-30) : Number.POSITIVE_INFINITY;
}

async function wasmVsCpu(f: () => tf.Tensor | tf.Tensor[]): Promise<number[]> {
  const cpu = await on('cpu', f);
  const wasm = await on('wasm', f);
  await tf.setBackend('wasm');
  return wasm.map((w, i) => relErr(w, cpu[i]));
}

function convOutShape(x: Shape4, w: Shape4, strides: number | [number, number], pad: Pad, nchw = false): number[] {
  const xs = nchw ? ([x[0], x[2], x[3], x[1]] as Shape4) : x;
  const info = tf.backend_util.computeConv2DInfo(xs, w, strides, 1, pad as 'same', undefined, false, 'channelsLast');
  return nchw ? [info.batchSize, info.outChannels, info.outHeight, info.outWidth] : info.outShape;
}

const CONV_CASES: Array<{ x: Shape4; w: Shape4; strides: number | [number, number]; pad: Pad }> = [
  { x: [3, 7, 6, 2], w: [3, 3, 2, 4], strides: 1, pad: 'same' },
  { x: [3, 7, 6, 2], w: [3, 3, 2, 4], strides: 2, pad: 'valid' },
  { x: [3, 7, 6, 2], w: [3, 3, 2, 4], strides: 2, pad: 'same' },
  { x: [2, 8, 9, 3], w: [4, 4, 3, 5], strides: [3, 2], pad: 'same' },
  { x: [3, 7, 6, 2], w: [3, 2, 2, 4], strides: [2, 1], pad: 'valid' },
  {
    x: [2, 8, 9, 3],
    w: [3, 3, 3, 5],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  { x: [2, 8, 9, 3], w: [3, 3, 3, 5], strides: 2, pad: 1 },
  { x: [2, 6, 5, 3], w: [2, 4, 3, 2], strides: 1, pad: 'valid' },
  { x: [2, 28, 28, 1], w: [5, 5, 1, 16], strides: 1, pad: 'same' },
  { x: [2, 14, 14, 16], w: [5, 5, 16, 32], strides: 1, pad: 'same' },
];

const label = (c: { x: Shape4; w: Shape4; strides: unknown; pad: unknown }): string => `x[${c.x}] w[${c.w}] strides ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}`;

test.before(async () => {
  await initBackend('wasm');
});

test.serial('registerWasmKernels is idempotent and registers the patched kernels', (t) => {
  const first = registerWasmKernels();
  const second = registerWasmKernels();
  t.deepEqual(first, [...PATCHED_WASM_KERNELS]);
  t.deepEqual(second, first);
  for (const name of PATCHED_WASM_KERNELS) t.truthy(tf.getKernel(name, 'wasm'), name);
  // the stock kernels that existed were saved, and are not ours
  t.truthy(originalWasmKernel('MaxPoolGrad'));
  t.truthy(originalWasmKernel('Conv2DBackpropInput'));
  t.is(originalWasmKernel('Conv2DBackpropFilter'), undefined); // stock wasm has none
  t.not(originalWasmKernel('MaxPoolGrad')?.kernelFunc, tf.getKernel('MaxPoolGrad', 'wasm').kernelFunc);
});

test.serial('Conv2DBackpropFilter on wasm matches cpu (batch>1, channels>1, H!=W, strides, same/valid/explicit pads)', async (t) => {
  for (const c of CONV_CASES) {
    const dyShape = convOutShape(c.x, c.w, c.strides, c.pad);
    const [err] = await wasmVsCpu(
      () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(randn(c.x, 1), c.x), dy: tf.tensor(randn(dyShape, 2), dyShape) }, {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          filterShape: c.w,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    t.true(err < 1e-5, `${label(c)}: rel err ${err}`);
  }
});

test.serial('Conv2DBackpropInput on wasm matches cpu (stride 1 via XNNPACK conv, other strides via col2im)', async (t) => {
  for (const c of CONV_CASES) {
    const dyShape = convOutShape(c.x, c.w, c.strides, c.pad);
    const [err] = await wasmVsCpu(
      () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(randn(dyShape, 2), dyShape), filter: tf.tensor(randn(c.w, 3), c.w) }, {
          strides: c.strides,
          pad: c.pad,
          dataFormat: 'NHWC',
          inputShape: c.x,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    t.true(err < 1e-5, `${label(c)}: rel err ${err}`);
  }
});

test.serial('conv backprop kernels give the same result when the im2col buffer is split into chunks', async (t) => {
  const previous = setIm2colChunkLimit(1); // one image per chunk
  try {
    for (const c of [CONV_CASES[1], CONV_CASES[3], CONV_CASES[9]]) {
      const dyShape = convOutShape(c.x, c.w, c.strides, c.pad);
      for (const dataFormat of ['NHWC', 'NCHW'] as const) {
        if (dataFormat === 'NCHW' && c !== CONV_CASES[1]) continue;
        const x = dataFormat === 'NHWC' ? c.x : ([c.x[0], c.x[3], c.x[1], c.x[2]] as Shape4);
        const dys = dataFormat === 'NHWC' ? dyShape : [dyShape[0], dyShape[3], dyShape[1], dyShape[2]];
        const errs = await wasmVsCpu(() => [
          tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(randn(x, 1), x), dy: tf.tensor(randn(dys, 2), dys) }, {
            strides: c.strides,
            pad: c.pad,
            dataFormat,
            filterShape: c.w,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
          tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(randn(dys, 2), dys), filter: tf.tensor(randn(c.w, 3), c.w) }, {
            strides: c.strides,
            pad: c.pad,
            dataFormat,
            inputShape: x,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ]);
        t.true(
          errs.every((e) => e < 1e-5),
          `${label(c)} ${dataFormat} chunked: rel errs ${errs}`,
        );
      }
    }
  } finally {
    setIm2colChunkLimit(previous);
  }
});

test.serial('conv backprop kernels on wasm also handle NCHW', async (t) => {
  for (const c of [
    { x: [2, 3, 7, 6] as Shape4, w: [3, 3, 3, 4] as Shape4, strides: 1, pad: 'same' as Pad },
    { x: [2, 3, 7, 6] as Shape4, w: [3, 3, 3, 4] as Shape4, strides: 2, pad: 'valid' as Pad },
  ]) {
    const dyShape = convOutShape(c.x, c.w, c.strides, c.pad, true);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NCHW' };
    const errs = await wasmVsCpu(() => [
      tf
        .engine()
        .runKernel('Conv2DBackpropFilter', { x: tf.tensor(randn(c.x, 1), c.x), dy: tf.tensor(randn(dyShape, 2), dyShape) }, { ...attrs, filterShape: c.w } as unknown as tf.NamedAttrMap) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(randn(dyShape, 2), dyShape), filter: tf.tensor(randn(c.w, 3), c.w) }, {
        ...attrs,
        inputShape: c.x,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    ]);
    t.true(errs[0] < 1e-5 && errs[1] < 1e-5, `${label(c)} NCHW: rel errs ${errs}`);
  }
});

test.serial('conv2d gradients through tf.grads agree between wasm and cpu', async (t) => {
  for (const c of CONV_CASES) {
    const yShape = convOutShape(c.x, c.w, c.strides, c.pad);
    const errs = await wasmVsCpu(() => {
      const x = tf.tensor(randn(c.x, 1), c.x) as tf.Tensor4D;
      const w = tf.tensor(randn(c.w, 2), c.w) as tf.Tensor4D;
      const r = tf.tensor(randn(yShape, 3), yShape);
      return tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.strides, c.pad as 'same'), r)))([x, w]);
    });
    t.true(
      errs.every((e) => e < 1e-5),
      `${label(c)}: rel errs dx ${errs[0]} dw ${errs[1]}`,
    );
  }
});

const POOL_CASES: Array<{ x: Shape4; filter: number | [number, number]; strides: number | [number, number]; pad: 'same' | 'valid' }> = [
  { x: [3, 6, 4, 3], filter: 2, strides: 2, pad: 'valid' },
  { x: [3, 6, 4, 3], filter: 2, strides: 2, pad: 'same' },
  { x: [2, 7, 5, 2], filter: 3, strides: 2, pad: 'same' },
  { x: [2, 7, 5, 2], filter: 2, strides: 1, pad: 'valid' },
  { x: [2, 7, 5, 2], filter: [3, 2], strides: [1, 2], pad: 'same' },
  { x: [1, 4, 4, 1], filter: 2, strides: 1, pad: 'valid' },
  { x: [2, 28, 28, 16], filter: 2, strides: 2, pad: 'valid' },
  { x: [2, 14, 14, 32], filter: 2, strides: 2, pad: 'valid' },
];

function poolGrad(c: (typeof POOL_CASES)[number]): () => tf.Tensor {
  return () => {
    const x = tf.tensor(randn(c.x, 1), c.x) as tf.Tensor4D;
    const yShape = tf.maxPool(x, c.filter, c.strides, c.pad).shape;
    const r = tf.tensor(randn(yShape, 2), yShape);
    return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xx as tf.Tensor4D, c.filter, c.strides, c.pad), r)))(x);
  };
}

test.serial('MaxPoolGrad on wasm matches cpu (batch>1, channels>1, H!=W, overlapping windows, same/valid)', async (t) => {
  for (const c of POOL_CASES) {
    const [err] = await wasmVsCpu(poolGrad(c));
    t.true(err < 1e-6, `maxPool x[${c.x}] ${JSON.stringify(c)}: rel err ${err}`);
  }
});

test.serial('the stock wasm MaxPoolGrad drops the gradient of windows whose max is <= 0 (the defect being patched)', async (t) => {
  // [1,4,4,1], 2x2 windows: window 0 all negative, window 1 all zero (ties, as after relu), windows 2, 3 positive
  const x = [-5, -1, 0, 0, -9, -8, 0, 0, 0.5, -4, 3, 1, -2, 2.5, 5, 7];
  const dy = [1, 10, 100, 1000];
  const grad = () => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xx as tf.Tensor4D, 2, 2, 'valid'), tf.tensor(dy, [1, 2, 2, 1]))))(tf.tensor(x, [1, 4, 4, 1]));
  // first maximum of each window receives dy: -1 (index 1), the first 0 (index 2), 2.5 (13), 7 (15)
  const want = new Float32Array(16);
  want[1] = 1;
  want[2] = 10;
  want[13] = 100;
  want[15] = 1000;
  const [cpu] = await on('cpu', grad);
  t.deepEqual(Array.from(cpu), Array.from(want));
  const [patched] = await on('wasm', grad);
  t.deepEqual(Array.from(patched), Array.from(want));
  restoreStockWasmKernels(['MaxPoolGrad']);
  try {
    const [stock] = await on('wasm', grad);
    t.notDeepEqual(Array.from(stock), Array.from(want), 'stock MaxPoolGrad is right here: upstream fixed?');
    t.is(stock[13], 100); // positive windows are fine ...
    t.is(stock[15], 1000);
    t.not(stock[1] + stock[2], 11); // ... non-positive ones are not
    const [err] = await wasmVsCpu(poolGrad(POOL_CASES[6]));
    t.true(err > 0.1, `stock MaxPoolGrad agrees with cpu on MNIST shapes (rel err ${err})`);
  } finally {
    registerWasmKernels();
  }
  const [fixed] = await wasmVsCpu(poolGrad(POOL_CASES[6]));
  t.true(fixed < 1e-6);
});

test.serial('patched kernels release every intermediate buffer', async (t) => {
  await tf.setBackend('wasm');
  const backend = tf.backend();
  const before = backend.numDataIds();
  const tensorsBefore = tf.memory().numTensors;
  tf.tidy(() => {
    const x = tf.tensor(randn([2, 8, 9, 3], 1), [2, 8, 9, 3]) as tf.Tensor4D;
    const w = tf.tensor(randn([3, 3, 3, 5], 2), [3, 3, 3, 5]) as tf.Tensor4D;
    for (const [s, p] of [
      [1, 'same'],
      [2, 'valid'],
    ] as const) {
      tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, s, p)))([x, w]);
      tf.grad((xx: tf.Tensor) => tf.sum(tf.maxPool(xx as tf.Tensor4D, 2, s, p)))(x);
    }
  });
  t.is(backend.numDataIds(), before);
  t.is(tf.memory().numTensors, tensorsBefore);
});

test.serial('unsupported attributes fail with a clear message', async (t) => {
  await tf.setBackend('wasm');
  const err = t.throws(() =>
    tf.tidy(() =>
      tf
        .engine()
        .runKernel('Conv2DBackpropFilter', { x: tf.zeros([1, 5, 5, 1]), dy: tf.zeros([1, 5, 5, 1]) }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 1, 1], dilations: 2 }),
    ),
  );
  t.regex(err?.message ?? '', /Conv2DBackpropFilter: dilations .* not supported/);
});

/**
 * The MNIST CNN architecture, shrunk spatially: conv5x5(16) relu pool
 * conv5x5(32) relu pool dense(10). With `poolFirst` each block is
 * conv pool leakyRelu instead: pooling then sees negative values and windows
 * with a non-positive maximum still pass gradient on. (The stock wasm
 * MaxPoolGrad drops exactly those windows' gradient; next to a relu, on either
 * side, that gradient is zero anyway, so only the second variant exposes it.)
 */
function cnnWeightGrads(batch: number, h: number, w: number, poolFirst: boolean): Float32Array[] {
  const shapes: Array<[string, number[]]> = [
    ['k1', [5, 5, 1, 16]],
    ['b1', [16]],
    ['k2', [5, 5, 16, 32]],
    ['b2', [32]],
    ['wd', [Math.floor(h / 4) * Math.floor(w / 4) * 32, 10]],
    ['bd', [10]],
  ];
  // conv biases around -0.3: many relu outputs are exactly 0, so many pooling
  // windows are all zero (ties at the maximum), as in a trained CNN
  const vars = shapes.map(([name, s], i) =>
    tf.tidy(() => {
      const v = tf.mul(tf.tensor(randn(s, 10 + i), s), i % 2 === 0 ? 0.2 : 0.05);
      return tf.variable(name === 'b1' || name === 'b2' ? tf.sub(v, 0.3) : v);
    }),
  );
  const x = tf.tensor(randn([batch, h, w, 1], 1), [batch, h, w, 1]) as tf.Tensor4D;
  // mixup-style soft targets
  const rng = new Rng(7);
  const t = new Float32Array(batch * 10);
  for (let b = 0; b < batch; b++) {
    const lam = rng.uniform();
    t[b * 10 + rng.int(10)] += lam;
    t[b * 10 + rng.int(10)] += 1 - lam;
  }
  const targets = tf.tensor2d(t, [batch, 10]);
  const [k1, b1, k2, b2, wd, bd] = vars;
  const { value, grads } = tf.variableGrads(() => {
    const block = (input: tf.Tensor4D, k: tf.Variable, b: tf.Variable): tf.Tensor4D => {
      const z: tf.Tensor4D = tf.add(tf.conv2d(input, k as tf.Tensor4D, 1, 'same'), b);
      return poolFirst ? tf.leakyRelu(tf.maxPool(z, 2, 2, 'valid'), 0.1) : tf.maxPool(tf.relu(z), 2, 2, 'valid');
    };
    const a = block(block(x, k1, b1), k2, b2);
    const logits = tf.add(tf.matMul(tf.reshape(a, [batch, -1]) as tf.Tensor2D, wd as tf.Tensor2D), bd);
    return tf.mean(tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1)));
  }, vars);
  const out = vars.map((v) => Float32Array.from(grads[v.name].dataSync()));
  tf.dispose([...vars, ...Object.values(grads), value, x, targets]);
  return out;
}

for (const poolFirst of [false, true]) {
  const order = poolFirst ? 'conv-pool-leakyRelu' : 'conv-relu-pool';
  test.serial(`a full CNN training step (${order}): every weight gradient agrees between wasm and cpu`, async (t) => {
    await tf.setBackend('cpu');
    const cpu = cnnWeightGrads(4, 16, 12, poolFirst);
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const wasm = cnnWeightGrads(4, 16, 12, poolFirst);
    t.is(tf.memory().numTensors, before);
    const names = ['conv1 kernel', 'conv1 bias', 'conv2 kernel', 'conv2 bias', 'dense kernel', 'dense bias'];
    wasm.forEach((g, i) => {
      const err = relErr(g, cpu[i]);
      t.true(err < 1e-4, `${names[i]}: rel err ${err}`);
      t.true(
        g.some((v) => v !== 0),
        `${names[i]}: gradient is all zero`,
      );
    });
  });
}
