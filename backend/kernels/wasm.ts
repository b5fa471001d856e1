/**
 * Correct (and fast) gradient kernels for @tensorflow/tfjs-backend-wasm 4.22.0.
 *
 * Defects of the stock wasm backend that this module repairs:
 *  - `Conv2DBackpropFilter` is not implemented, so training any conv layer
 *    throws "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'".
 *  - `MaxPoolGrad` silently drops (or misplaces) the gradient of every
 *    pooling window whose maximum is <= 0: all-negative windows and
 *    all-zero windows, e.g. dead relu regions or MNIST's zero background.
 *    Windows with a positive maximum are handled correctly, which is why it
 *    looks shape-dependent (big tensors always contain such windows). After
 *    a relu, such windows are all zeros whose relu derivative is 0 anyway, so
 *    conv-relu-pool stacks happen to get correct end-to-end gradients; any
 *    pooling of values that can be negative (conv-pool-relu, raw inputs,
 *    the kernel on its own) gets wrong ones.
 *  - `Conv2DBackpropInput` is correct but a naive loop (~225 ms for the
 *    second MNIST CNN conv at batch 128, ~22 ms here); it matters for
 *    training and for every gradient-based attack. Stride 1 runs as the
 *    wasm (XNNPACK) forward Conv2D with the flipped, transposed filter;
 *    other strides as a wasm matrix product followed by col2im in JS.
 *  - `Sign` returns 0 for every |x| below about 1e-7 (cpu and tfjs-node give
 *    +-1), so FGSM and PGD left unperturbed exactly the confidently
 *    classified points whose input gradients are tiny, and made confident
 *    models look robust. Replaced by an exact elementwise loop: +1, -1, and
 *    x itself for +-0 and NaN (as the cpu backend does).
 *
 * The replacements follow the wasm backend's kernel conventions: inputs are
 * read straight from the wasm heap (`typedArrayFromHeap`), outputs are
 * allocated with `makeOutput`, big products go through the backend's own
 * `BatchMatMul` kernel laid out so that neither operand is transposed (the
 * fast XNNPACK path), and every intermediate is released with `disposeData`.
 *
 * Heap views are invalidated whenever the wasm memory grows (any allocation
 * may grow it), so views are always (re)taken after the last allocation that
 * precedes their use.
 */
import * as tf from '@tensorflow/tfjs';

type DataId = object;
type Dtype = 'float32' | 'int32' | 'bool' | 'complex64' | 'string';

interface TInfo {
  dataId: DataId;
  shape: number[];
  dtype: Dtype;
}

/** The parts of tfjs-backend-wasm's BackendWasm this module uses. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: Dtype, memoryOffset?: number): TInfo;
  typedArrayFromHeap(t: TInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

interface KernelArgs {
  inputs: Record<string, TInfo>;
  backend: WasmBackend;
  attrs: Record<string, unknown>;
}

type PadAttr = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** Kernels this module registers for the wasm backend. */
export const PATCHED_WASM_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Sign'] as const;
export type PatchedWasmKernel = (typeof PATCHED_WASM_KERNELS)[number];

/**
 * Upper bound (in float32 elements) for one im2col buffer on the wasm heap.
 * Larger problems are processed in chunks of whole images. 16 Mi elements
 * = 64 MiB keeps the MNIST CNN at batch 128 in a single chunk.
 */
let maxColsElements = 16 * 1024 * 1024;

/** Sets the im2col chunk cap (elements); returns the previous one. For tests and tuning. */
export function setIm2colChunkLimit(elements: number): number {
  if (!Number.isInteger(elements) || elements < 1) throw new Error(`im2col chunk limit must be a positive integer, got ${elements}`);
  const previous = maxColsElements;
  maxColsElements = elements;
  return previous;
}

function float32View(backend: WasmBackend, t: TInfo): Float32Array {
  const v = backend.typedArrayFromHeap(t);
  if (!(v instanceof Float32Array)) throw new Error(`vicinal wasm kernels: expected a float32 tensor, got ${t.dtype}`);
  return v;
}

function requireFloat32(kernel: string, ...ts: TInfo[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32') throw new Error(`vicinal wasm ${kernel}: only float32 tensors are supported, got ${t.dtype}`);
  }
}

function requireUnitDilations(kernel: string, dilations: unknown): void {
  if (dilations == null) return;
  const d = typeof dilations === 'number' ? [dilations, dilations] : (dilations as number[]);
  if (d.some((v) => v !== 1)) {
    throw new Error(`vicinal wasm ${kernel}: dilations ${JSON.stringify(dilations)} are not supported (only 1)`);
  }
}

function batchMatMulKernel(): (args: KernelArgs) => TInfo {
  const k = tf.getKernel('BatchMatMul', 'wasm');
  if (k == null) {
    throw new Error("vicinal wasm kernels: the wasm BatchMatMul kernel is missing; require('@tensorflow/tfjs-backend-wasm') first");
  }
  return k.kernelFunc as unknown as (args: KernelArgs) => TInfo;
}

/** a [m, k] x b [k, n] -> [m, n] on the wasm backend, no transposes. */
function matMul(backend: WasmBackend, a: TInfo, b: TInfo): TInfo {
  return batchMatMulKernel()({
    inputs: { a, b },
    backend,
    attrs: { transposeA: false, transposeB: false, bias: null, activation: null },
  });
}

/** Split a batch into chunks of whole images whose im2col buffer stays below the cap. */
function imageChunks(batch: number, elementsPerImage: number): Array<[number, number]> {
  const per = Math.max(1, Math.floor(maxColsElements / Math.max(1, elementsPerImage)));
  const out: Array<[number, number]> = [];
  for (let b0 = 0; b0 < batch; b0 += per) out.push([b0, Math.min(batch, b0 + per)]);
  return out;
}

/** Range [lo, hi) of output positions o with 0 <= o*stride - pad + k < size. */
function validRange(outSize: number, stride: number, pad: number, k: number, size: number): [number, number] {
  const lo = Math.max(0, Math.ceil((pad - k) / stride));
  const hi = Math.min(outSize, Math.floor((size - 1 + pad - k) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

interface ConvGeom {
  C: number;
  OH: number;
  OW: number;
  FH: number;
  FW: number;
  SH: number;
  SW: number;
  pt: number;
  pl: number;
  /** element strides of x */
  xs: { b: number; h: number; w: number; c: number };
}

/**
 * Transposed im2col of images [b0, b1): cols[k, p] with k = (kh*FW + kw)*C + c
 * and p = ((b - b0)*OH + oh)*OW + ow; zero where the window hits padding.
 */
function im2colT(xv: Float32Array, cv: Float32Array, g: ConvGeom, b0: number, b1: number, rowRanges: Array<[number, number]>, colRanges: Array<[number, number]>): void {
  const { C, OH, OW, FH, FW, SH, SW, pt, pl } = g;
  const xsb = g.xs.b;
  const xsh = g.xs.h;
  const xsw = g.xs.w;
  const xsc = g.xs.c;
  const P = (b1 - b0) * OH * OW;
  if (xsc === 1 && C > 1) {
    // channels contiguous in x: read C channels at once, write C streams
    for (let kh = 0; kh < FH; kh++) {
      const ohLo = rowRanges[kh][0];
      const ohHi = rowRanges[kh][1];
      for (let kw = 0; kw < FW; kw++) {
        const owLo = colRanges[kw][0];
        const owHi = colRanges[kw][1];
        const kb = (kh * FW + kw) * C * P;
        let p = 0;
        for (let b = b0; b < b1; b++) {
          for (let oh = 0; oh < OH; oh++) {
            const rowOk = oh >= ohLo && oh < ohHi;
            const xr = b * xsb + (oh * SH - pt + kh) * xsh + (kw - pl) * xsw;
            for (let ow = 0; ow < OW; ow++, p++) {
              let o = kb + p;
              if (!rowOk || ow < owLo || ow >= owHi) {
                for (let c = 0; c < C; c++, o += P) cv[o] = 0;
              } else {
                const xi = xr + ow * SW * xsw;
                for (let c = 0; c < C; c++, o += P) cv[o] = xv[xi + c];
              }
            }
          }
        }
      }
    }
    return;
  }
  const step = SW * xsw;
  for (let kh = 0; kh < FH; kh++) {
    const ohLo = rowRanges[kh][0];
    const ohHi = rowRanges[kh][1];
    for (let kw = 0; kw < FW; kw++) {
      const owLo = colRanges[kw][0];
      const owHi = colRanges[kw][1];
      for (let c = 0; c < C; c++) {
        let o = ((kh * FW + kw) * C + c) * P;
        for (let b = b0; b < b1; b++) {
          const xb = b * xsb + c * xsc + (kw - pl) * xsw;
          for (let oh = 0; oh < OH; oh++) {
            if (oh < ohLo || oh >= ohHi) {
              for (let ow = 0; ow < OW; ow++) cv[o++] = 0;
              continue;
            }
            const xr = xb + (oh * SH - pt + kh) * xsh;
            for (let ow = 0; ow < owLo; ow++) cv[o++] = 0;
            let xi = xr + owLo * step;
            for (let ow = owLo; ow < owHi; ow++) {
              cv[o++] = xv[xi];
              xi += step;
            }
            for (let ow = owHi; ow < OW; ow++) cv[o++] = 0;
          }
        }
      }
    }
  }
}

/** Geometry of a conv2d from the shapes of its input and filter and the kernel's attributes. */
function conv2DInfo(xShape: readonly number[], filterShape: readonly number[], attrs: Record<string, unknown>): tf.backend_util.Conv2DInfo {
  const dataFormat = (attrs.dataFormat as 'NHWC' | 'NCHW' | undefined) ?? 'NHWC';
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as PadAttr,
    attrs.dimRoundingMode as Rounding,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
}

/**
 * dW[kh, kw, ci, co] = sum_{b, oh, ow} x[b, oh*sh - pt + kh, ow*sw - pl + kw, ci] * dy[b, oh, ow, co]
 *
 * As a matrix product: dW [K, N] = colsT [K, P] x dy [P, N] with K = fh*fw*ci,
 * P = batch*oh*ow, N = co. colsT is the transposed im2col matrix, so the wasm
 * product runs non-transposed; dy in NHWC already is [P, N].
 */
function conv2DBackpropFilter(args: KernelArgs): TInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  requireFloat32('Conv2DBackpropFilter', x, dy);
  requireUnitDilations('Conv2DBackpropFilter', attrs.dilations);
  const info = conv2DInfo(x.shape, attrs.filterShape as number[], attrs);
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: N } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const nhwc = info.dataFormat === 'channelsLast';
  // element strides of x and dy
  const xs = nhwc ? { b: H * W * C, h: W * C, w: C, c: 1 } : { b: C * H * W, h: W, w: 1, c: H * W };
  const geom: ConvGeom = { C, OH, OW, FH, FW, SH, SW, pt, pl, xs };
  const K = FH * FW * C;
  const acc = new Float64Array(K * N);
  const chunks = imageChunks(batchSize, K * OH * OW);
  const rowRanges: Array<[number, number]> = [];
  const colRanges: Array<[number, number]> = [];
  for (let kh = 0; kh < FH; kh++) rowRanges.push(validRange(OH, SH, pt, kh, H));
  for (let kw = 0; kw < FW; kw++) colRanges.push(validRange(OW, SW, pl, kw, W));

  for (const [b0, b1] of chunks) {
    const nb = b1 - b0;
    const P = nb * OH * OW;
    const cols = backend.makeOutput([K, P], 'float32');
    // dy as [P, N]: reuse dy's memory when it already has that layout.
    const dyWhole = nhwc && nb === batchSize;
    const dyMat: TInfo = dyWhole ? { dataId: dy.dataId, shape: [P, N], dtype: 'float32' } : backend.makeOutput([P, N], 'float32');
    // views after the allocations above
    const xv = float32View(backend, x);
    const cv = float32View(backend, cols);
    im2colT(xv, cv, geom, b0, b1, rowRanges, colRanges);
    if (!dyWhole) {
      const dv = float32View(backend, dy);
      const mv = float32View(backend, dyMat);
      let o = 0;
      if (nhwc) {
        mv.set(dv.subarray(b0 * OH * OW * N, b1 * OH * OW * N));
      } else {
        for (let b = b0; b < b1; b++) {
          for (let p = 0; p < OH * OW; p++) {
            for (let n = 0; n < N; n++) mv[o++] = dv[(b * N + n) * OH * OW + p];
          }
        }
      }
    }
    const prod = matMul(backend, cols, dyMat);
    const pv = float32View(backend, prod);
    for (let i = 0; i < acc.length; i++) acc[i] += pv[i];
    backend.disposeData(prod.dataId);
    backend.disposeData(cols.dataId);
    if (!dyWhole) backend.disposeData(dyMat.dataId);
  }
  const out = backend.makeOutput([FH, FW, C, N], 'float32');
  float32View(backend, out).set(acc);
  return out;
}

/**
 * dx of conv2d. Stride 1: dx = conv2d(dy, W flipped in space with in/out
 * channels swapped, padding FH-1-top etc.) on the wasm (XNNPACK) Conv2D.
 * Other strides: cols [P, K] = dy [P, N] x Wt [N, K] (Wt: the filter [K, N]
 * transposed in JS, tiny, so the product is non-transposed), then col2im
 * scatters-adds cols into dx. NCHW goes to the stock kernel (correct there).
 */
function conv2DBackpropInput(args: KernelArgs): TInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  requireFloat32('Conv2DBackpropInput', dy, filter);
  requireUnitDilations('Conv2DBackpropInput', attrs.dilations);
  const info = conv2DInfo(attrs.inputShape as number[], filter.shape, attrs);
  if (info.dataFormat !== 'channelsLast') {
    // The stock kernel is correct for NCHW (the wasm forward Conv2D is NHWC only anyway).
    if (originals.has('Conv2DBackpropInput')) return runStock('Conv2DBackpropInput', args);
    throw new Error("vicinal wasm Conv2DBackpropInput: only dataFormat 'NHWC' is supported");
  }
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: N } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const K = FH * FW * C;

  if (SH === 1 && SW === 1) {
    // Stride 1: dx is the forward convolution of dy with the spatially
    // flipped, in/out-swapped filter; run it on the wasm (XNNPACK) Conv2D.
    const top = FH - 1 - pt;
    const left = FW - 1 - pl;
    const bottom = H + FH - 1 - OH - top;
    const right = W + FW - 1 - OW - left;
    if (top >= 0 && left >= 0 && bottom >= 0 && right >= 0) {
      const conv = tf.getKernel('Conv2D', 'wasm');
      if (conv != null) {
        const wf = backend.makeOutput([FH, FW, N, C], 'float32');
        const fv = float32View(backend, filter);
        const ov = float32View(backend, wf);
        for (let kh = 0; kh < FH; kh++) {
          for (let kw = 0; kw < FW; kw++) {
            const src = ((FH - 1 - kh) * FW + (FW - 1 - kw)) * C * N;
            const dst = (kh * FW + kw) * N * C;
            for (let c = 0; c < C; c++) for (let n = 0; n < N; n++) ov[dst + n * C + c] = fv[src + c * N + n];
          }
        }
        const dx = (conv.kernelFunc as unknown as (a: KernelArgs) => TInfo)({
          inputs: { x: dy, filter: wf },
          backend,
          attrs: {
            strides: [1, 1],
            pad: [
              [0, 0],
              [top, bottom],
              [left, right],
              [0, 0],
            ],
            dataFormat: 'NHWC',
            dilations: [1, 1],
            dimRoundingMode: undefined,
          },
        });
        backend.disposeData(wf.dataId);
        return dx;
      }
    }
  }

  const rowRanges: Array<[number, number]> = [];
  const colRanges: Array<[number, number]> = [];
  for (let kh = 0; kh < FH; kh++) rowRanges.push(validRange(OH, SH, pt, kh, H));
  for (let kw = 0; kw < FW; kw++) colRanges.push(validRange(OW, SW, pl, kw, W));

  const wt = backend.makeOutput([N, K], 'float32');
  {
    const fv = float32View(backend, filter);
    const tv = float32View(backend, wt);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) tv[n * K + k] = fv[k * N + n];
  }
  const dx = backend.makeOutput([batchSize, H, W, C], 'float32');
  const chunks = imageChunks(batchSize, K * OH * OW);
  let first = true;
  for (const [b0, b1] of chunks) {
    const nb = b1 - b0;
    const P = nb * OH * OW;
    const dyWhole = nb === batchSize;
    const dyMat: TInfo = dyWhole ? { dataId: dy.dataId, shape: [P, N], dtype: 'float32' } : backend.makeOutput([P, N], 'float32');
    if (!dyWhole) {
      float32View(backend, dyMat).set(float32View(backend, dy).subarray(b0 * OH * OW * N, b1 * OH * OW * N));
    }
    const cols = matMul(backend, dyMat, wt); // [P, K]
    const cv = float32View(backend, cols);
    const dv = float32View(backend, dx);
    if (first) {
      dv.fill(0);
      first = false;
    }
    let p = 0;
    for (let b = b0; b < b1; b++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++, p++) {
          const pk = p * K;
          for (let kh = 0; kh < FH; kh++) {
            const [ohLo, ohHi] = rowRanges[kh];
            if (oh < ohLo || oh >= ohHi) continue;
            const rowBase = (b * H + oh * SH - pt + kh) * W;
            for (let kw = 0; kw < FW; kw++) {
              const [owLo, owHi] = colRanges[kw];
              if (ow < owLo || ow >= owHi) continue;
              const xi = (rowBase + ow * SW - pl + kw) * C;
              const ci = pk + (kh * FW + kw) * C;
              for (let c = 0; c < C; c++) dv[xi + c] += cv[ci + c];
            }
          }
        }
      }
    }
    backend.disposeData(cols.dataId);
    if (!dyWhole) backend.disposeData(dyMat.dataId);
  }
  backend.disposeData(wt.dataId);
  return dx;
}

/**
 * dx of max pooling: for every output position, the first maximum of its
 * window (row-major window order, padding excluded, as in the cpu backend)
 * receives dy.
 */
function maxPoolGrad(args: KernelArgs): TInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  requireFloat32('MaxPoolGrad', dy, input);
  requireUnitDilations('MaxPoolGrad', attrs.dilations);
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as PadAttr,
    attrs.dimRoundingMode as Rounding,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = info;
  if (dy.shape.join(',') !== [B, OH, OW, C].join(',')) {
    throw new Error(`vicinal wasm MaxPoolGrad: dy shape [${dy.shape}] does not match pooled shape [${[B, OH, OW, C]}]`);
  }
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const dx = backend.makeOutput(input.shape, 'float32');
  const xv = float32View(backend, input);
  const dyv = float32View(backend, dy);
  const dxv = float32View(backend, dx);
  dxv.fill(0);
  const maxVal = new Float32Array(C);
  const maxIdx = new Int32Array(C);
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * SH - pt;
      const hLo = Math.max(0, h0);
      const hHi = Math.min(H, h0 + FH);
      for (let ow = 0; ow < OW; ow++, o += C) {
        const w0 = ow * SW - pl;
        const wLo = Math.max(0, w0);
        const wHi = Math.min(W, w0 + FW);
        maxVal.fill(Number.NEGATIVE_INFINITY);
        maxIdx.fill(-1);
        for (let h = hLo; h < hHi; h++) {
          for (let w = wLo; w < wHi; w++) {
            const base = ((b * H + h) * W + w) * C;
            for (let c = 0; c < C; c++) {
              const v = xv[base + c];
              if (v > maxVal[c]) {
                maxVal[c] = v;
                maxIdx[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < C; c++) {
          const i = maxIdx[c];
          if (i >= 0) dxv[i] += dyv[o + c];
        }
      }
    }
  }
  return dx;
}

/** Exact sign: +1 for x > 0, -1 for x < 0, x itself for +-0 and NaN (the cpu backend's answer). */
function sign(args: KernelArgs): TInfo {
  const { backend } = args;
  const x = args.inputs.x;
  const out = backend.makeOutput(x.shape, x.dtype);
  // views after the last allocation (makeOutput may grow the heap)
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  if (xv instanceof Float32Array && ov instanceof Float32Array) signFloat32(xv, ov);
  else signAny(xv, ov);
  return out;
}

// On float32 bits, with no data-dependent branch: the sign bit of x over the bits of 1.0, except
// that ±0 and NaN are kept as they are. The plain comparison loop costs ~9 ns per element on
// inputs of random sign (branch mispredictions; a sixth of an MNIST eval job's time), this ~2.
function signFloat32(xv: Float32Array, ov: Float32Array): void {
  const xi = new Int32Array(xv.buffer, xv.byteOffset, xv.length);
  const oi = new Int32Array(ov.buffer, ov.byteOffset, ov.length);
  for (let i = 0; i < xi.length; i++) {
    const b = xi[i];
    const m = b & 0x7fffffff;
    oi[i] = m === 0 || m > 0x7f800000 ? b : (b & 0x80000000) | 0x3f800000;
  }
}

function signAny(xv: ArrayLike<number>, ov: { [i: number]: number }): void {
  for (let i = 0; i < xv.length; i++) {
    const v = xv[i];
    ov[i] = v > 0 ? 1 : v < 0 ? -1 : v;
  }
}

/** Kernel configs replaced by registerWasmKernels (the stock wasm ones). */
const originals = new Map<string, tf.KernelConfig>();

const KERNEL_FUNCS: Record<PatchedWasmKernel, tf.KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilter as unknown as tf.KernelFunc,
  Conv2DBackpropInput: conv2DBackpropInput as unknown as tf.KernelFunc,
  MaxPoolGrad: maxPoolGrad as unknown as tf.KernelFunc,
  Sign: sign as unknown as tf.KernelFunc,
};
const ours = new Map<string, tf.KernelFunc>(Object.entries(KERNEL_FUNCS));
/** Stock kernels whose setupFunc has run, per backend instance. */
const stockSetUp = new WeakMap<object, Set<string>>();

/**
 * The engine runs a kernel's setupFunc only for kernels registered when the
 * backend initialises; a stock kernel we replaced before that was never set
 * up, so do it on first use.
 */
function ensureStockSetup(name: string, backend: object): void {
  const orig = originals.get(name);
  if (!orig?.setupFunc) return;
  let done = stockSetUp.get(backend);
  if (!done) stockSetUp.set(backend, (done = new Set()));
  if (done.has(name)) return;
  orig.setupFunc(backend as tf.KernelBackend);
  done.add(name);
}

function runStock(name: string, args: KernelArgs): TInfo {
  const orig = originals.get(name);
  if (!orig) throw new Error(`vicinal wasm kernels: no stock ${name} kernel to delegate to`);
  ensureStockSetup(name, args.backend);
  return (orig.kernelFunc as unknown as (a: KernelArgs) => TInfo)(args);
}

function isOurs(name: string, config: tf.KernelConfig | undefined): boolean {
  return config != null && ours.get(name) === config.kernelFunc;
}

/**
 * Registers vicinal's wasm kernels, replacing missing or wrong stock ones.
 * Call after `require('@tensorflow/tfjs-backend-wasm')`; works before or
 * after the wasm backend is initialised. Idempotent. Returns the kernel
 * names registered.
 */
export function registerWasmKernels(): string[] {
  batchMatMulKernel(); // fail early if the wasm package is not loaded
  for (const name of PATCHED_WASM_KERNELS) {
    const existing = tf.getKernel(name, 'wasm');
    if (existing != null && !isOurs(name, existing) && !originals.has(name)) originals.set(name, existing);
  }
  const registered: string[] = [];
  for (const kernelName of PATCHED_WASM_KERNELS) {
    if (tf.getKernel(kernelName, 'wasm') != null) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: KERNEL_FUNCS[kernelName] });
    registered.push(kernelName);
  }
  return registered;
}

/** The stock wasm kernel that registerWasmKernels replaced, if there was one. */
export function originalWasmKernel(name: string): tf.KernelConfig | undefined {
  return originals.get(name);
}

/**
 * Puts the stock wasm kernels back (for diagnostics and tests: e.g. to show
 * that the gradient doctor catches the stock MaxPoolGrad). Kernels the stock
 * backend lacks are simply unregistered. Returns the names touched.
 */
export function restoreStockWasmKernels(names: readonly string[] = PATCHED_WASM_KERNELS): string[] {
  const touched: string[] = [];
  const wasmBackend = tf.engine().registry.wasm as object | undefined;
  for (const name of names) {
    const current = tf.getKernel(name, 'wasm');
    if (!isOurs(name, current)) continue;
    tf.unregisterKernel(name, 'wasm');
    const orig = originals.get(name);
    if (orig) {
      tf.registerKernel(orig);
      // The engine runs setup functions only when the backend initialises;
      // if it already has, set the stock kernel up now.
      if (wasmBackend != null) ensureStockSetup(name, wasmBackend);
    }
    touched.push(name);
  }
  return touched;
}
