/**
 * Compiles a TF.js Layers model (a chain of Dense, Conv2D, MaxPooling2D,
 * Flatten, ReLU / Activation relu|linear, Dropout) into ONNX graphs:
 *
 *  - forward:        x, weights -> logits
 *  - save (mode):    x, weights -> logits + the residuals the backward needs
 *  - backward(mode): residuals, weights, dLogits -> dx (mode "input") or
 *                    every weight gradient (mode "train")
 *
 * Weights are graph INPUTS in TF.js's own layout (dense kernel [in, out],
 * conv kernel [kh, kw, cin, cout]), so the same graphs serve attacks and
 * training, and TF.js variables and optimizers stay as they are; the graph
 * transposes conv kernels to ONNX's [cout, cin, kh, kw] itself and returns
 * their gradients in TF.js layout.
 *
 * Layout is handled here and only here: TF.js activations are NHWC, ONNX's
 * Conv and MaxPool are NCHW. The compiler tracks the layout of the running
 * activation and inserts a Transpose only where an op needs the other one:
 * before the first Conv/MaxPool (NHWC -> NCHW) and before Flatten (back to
 * NHWC, because TF.js flattens NHWC and the dense kernel after it expects
 * that order). The backward pass mirrors every Transpose and Reshape.
 *
 * Backward rules (all batch sizes: the batch dimension is symbolic):
 *  dense    dx = dz W^T (Gemm transB), dW = x^T dz (Gemm transA), db = sum_0 dz
 *  relu     dz = where(y > 0, dy, 0) (the forward saves the mask as bool; a
 *           conv relu feeding a max pool is masked at the pooled size instead)
 *  conv     dx = Conv(dz, W flipped in space, channels swapped) padded by
 *           k - 1 - pad at stride 1, else ConvTranspose(dz, W) with the
 *           forward's strides and pads and the output padding that restores
 *           the input size; dW = Conv of the
 *           batch-transposed input with the batch-transposed dz, dilated by
 *           the stride (then sliced to the kernel size); db = sum_{0,2,3} dz
 *  maxpool  dx = dy put back at the forward's argmax indices (MaxPool's
 *           second output): MaxUnpool when windows do not overlap, else
 *           ScatterElements with reduction "add" so overlapping windows add up
 */
import { Dim, GraphBuilder } from './proto';

export type Mode = 'input' | 'train';

/** The structural view of a tf.LayersModel the compiler needs (backend/ must not import models/). */
export interface LayersModelLike {
  name: string;
  layers: LayerLike[];
  inputs: { shape: (number | null)[] }[];
  outputs: unknown[];
}
export interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  weights: WeightVariableLike[];
  /** the graph wiring: where this layer's input comes from */
  inboundNodes?: { inboundLayers: LayerLike[] }[];
}
export interface WeightVariableLike {
  originalName: string;
  shape: number[];
  read(): { dataId: object; dataSync(): unknown; shape: number[] };
}

/** Thrown for a model outside the supported family: a one-line message naming the layer. */
export class UnsupportedModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedModelError';
  }
}

type Layout = 'nhwc' | 'nchw' | 'flat';

interface Act {
  layout: Layout;
  /** per-example semantic shape: [h, w, c] for images, [d] flat */
  shape: number[];
}

type Step =
  | { kind: 'dense'; layer: string; kernel: number; bias: number | null; relu: boolean; inF: number; outF: number }
  | {
      kind: 'conv';
      layer: string;
      kernel: number;
      bias: number | null;
      relu: boolean;
      k: [number, number];
      strides: [number, number];
      pads: [number, number, number, number];
      inHWC: number[];
      outHWC: number[];
      outputPadding: [number, number];
    }
  | { kind: 'pool'; layer: string; k: [number, number]; strides: [number, number]; pads: [number, number, number, number]; inHWC: number[]; outHWC: number[] }
  | { kind: 'relu'; layer: string; shape: number[]; layout: Layout }
  | { kind: 'toNCHW' }
  | { kind: 'toNHWC' }
  | { kind: 'flatten'; layer: string; from: number[] };

export interface WeightSlot {
  /** graph input name */
  name: string;
  layer: string;
  /** TF.js layout */
  shape: number[];
  /** index into the model's layers, and into that layer's weights */
  layerIndex: number;
  weightIndex: number;
}

export interface ResidualSlot {
  name: string;
  type: 'float32' | 'int64' | 'bool';
  shape: Dim[];
}

export interface CompiledModel {
  modelName: string;
  /** per-example TF.js input shape, e.g. [28, 28, 1] */
  inputShape: number[];
  numClasses: number;
  weights: WeightSlot[];
  forward(): GraphBuilder;
  save(mode: Mode): GraphBuilder;
  backward(mode: Mode): GraphBuilder;
  residuals(mode: Mode): ResidualSlot[];
  /** names of the backward graph's outputs in mode "train", one per weight slot */
  weightGradNames: string[];
}

const pair = (v: unknown, what: string, layer: string): [number, number] => {
  const a = Array.isArray(v) ? v : [v, v];
  if (a.length !== 2 || !a.every((n) => Number.isInteger(n) && n >= 1)) throw new UnsupportedModelError(`onnx engine: layer "${layer}": unsupported ${what} ${JSON.stringify(v)}`);
  return [a[0] as number, a[1] as number];
};

/** TF.js "same"/"valid" padding as explicit [top, left, bottom, right] pads, and the output size. */
function padding(h: number, w: number, k: [number, number], s: [number, number], mode: string, layer: string): { pads: [number, number, number, number]; oh: number; ow: number } {
  if (mode === 'valid') {
    const oh = Math.floor((h - k[0]) / s[0]) + 1;
    const ow = Math.floor((w - k[1]) / s[1]) + 1;
    if (oh < 1 || ow < 1) throw new UnsupportedModelError(`onnx engine: layer "${layer}": kernel larger than its input`);
    return { pads: [0, 0, 0, 0], oh, ow };
  }
  if (mode !== 'same') throw new UnsupportedModelError(`onnx engine: layer "${layer}": unsupported padding "${mode}"`);
  const oh = Math.ceil(h / s[0]);
  const ow = Math.ceil(w / s[1]);
  const th = Math.max(0, (oh - 1) * s[0] + k[0] - h);
  const tw = Math.max(0, (ow - 1) * s[1] + k[1] - w);
  return { pads: [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)], oh, ow };
}

function activationOf(cfg: Record<string, unknown>, layer: string): boolean {
  const a = cfg.activation ?? 'linear';
  if (a === 'linear') return false;
  if (a === 'relu') return true;
  throw new UnsupportedModelError(`onnx engine: layer "${layer}": unsupported activation "${String(a)}" (relu or linear)`);
}

/** Parses the model into steps; throws UnsupportedModelError naming the first layer outside the family. */
export function compileModel(model: LayersModelLike): CompiledModel {
  if (model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new UnsupportedModelError(`onnx engine: model "${model.name}" has ${model.inputs.length} inputs and ${model.outputs.length} outputs (one of each supported)`);
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  if (!inputShape.every((d) => Number.isInteger(d) && d > 0)) throw new UnsupportedModelError(`onnx engine: model "${model.name}": input shape [${inputShape.join(', ')}] must be fully known`);
  if (inputShape.length !== 1 && inputShape.length !== 3)
    throw new UnsupportedModelError(`onnx engine: model "${model.name}": input of rank ${inputShape.length} (flat [d] or image [h, w, c] supported)`);
  const steps: Step[] = [];
  const weights: WeightSlot[] = [];
  let act: Act = { layout: inputShape.length === 3 ? 'nhwc' : 'flat', shape: [...inputShape] };
  const toNCHW = () => {
    if (act.layout === 'nhwc') {
      steps.push({ kind: 'toNCHW' });
      act = { layout: 'nchw', shape: act.shape };
    }
  };
  const weightSlot = (li: number, layer: LayerLike, suffix: 'kernel' | 'bias'): number | null => {
    const wi = layer.weights.findIndex((w) => w.originalName.endsWith(`/${suffix}`) || w.originalName === suffix);
    if (wi < 0) return null;
    weights.push({ name: `w${weights.length}`, layer: layer.name, shape: [...layer.weights[wi].shape], layerIndex: li, weightIndex: wi });
    return weights.length - 1;
  };

  let prev: LayerLike | null = null;
  model.layers.forEach((layer, li) => {
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    const where = `layer "${layer.name}" (${cls})`;
    // Only chains: every layer is fed by the one before it (a Functional model that branches would otherwise compile wrongly).
    const nodes = layer.inboundNodes ?? [];
    if (nodes.length > 1) throw new UnsupportedModelError(`onnx engine: ${where} is used ${nodes.length} times (only chains of layers are supported)`);
    const inbound = nodes[0]?.inboundLayers ?? [];
    if (cls !== 'InputLayer') {
      const fedByPrev = prev === null ? inbound.every((l) => l.getClassName() === 'InputLayer') && inbound.length <= 1 : inbound.length === 1 && inbound[0] === prev;
      if (!fedByPrev) throw new UnsupportedModelError(`onnx engine: ${where} is not fed by the layer before it (only chains of layers are supported)`);
    }
    prev = layer;
    const df = cfg.dataFormat;
    if (df !== undefined && df !== null && df !== 'channelsLast') throw new UnsupportedModelError(`onnx engine: ${where}: dataFormat ${String(df)} (channelsLast supported)`);
    switch (cls) {
      case 'InputLayer':
        return;
      case 'Dropout':
        return; // identity at inference; the train-mode classifier refuses a positive rate (engine.ts)
      case 'Flatten': {
        if (act.layout === 'flat') return;
        if (act.layout === 'nchw') {
          steps.push({ kind: 'toNHWC' });
          act = { layout: 'nhwc', shape: act.shape };
        }
        steps.push({ kind: 'flatten', layer: layer.name, from: act.shape });
        act = { layout: 'flat', shape: [act.shape.reduce((a, b) => a * b, 1)] };
        return;
      }
      case 'Dense': {
        if (act.layout !== 'flat') throw new UnsupportedModelError(`onnx engine: ${where}: dense on a rank-${act.shape.length + 1} input (add a Flatten before it)`);
        const relu = activationOf(cfg, layer.name);
        const kernel = weightSlot(li, layer, 'kernel');
        if (kernel === null) throw new UnsupportedModelError(`onnx engine: ${where}: no kernel weight`);
        const bias = cfg.useBias === false ? null : weightSlot(li, layer, 'bias');
        const outF = Number(cfg.units);
        steps.push({ kind: 'dense', layer: layer.name, kernel, bias, relu, inF: act.shape[0], outF });
        act = { layout: 'flat', shape: [outF] };
        return;
      }
      case 'Conv2D': {
        if (act.layout === 'flat') throw new UnsupportedModelError(`onnx engine: ${where}: conv2d on a flat input`);
        const dil = pair(cfg.dilationRate ?? 1, 'dilationRate', layer.name);
        if (dil[0] !== 1 || dil[1] !== 1) throw new UnsupportedModelError(`onnx engine: ${where}: dilationRate ${dil.join('x')} (1 supported)`);
        if (cfg.groups !== undefined && cfg.groups !== 1) throw new UnsupportedModelError(`onnx engine: ${where}: grouped convolution`);
        const relu = activationOf(cfg, layer.name);
        const k = pair(cfg.kernelSize, 'kernelSize', layer.name);
        const s = pair(cfg.strides ?? 1, 'strides', layer.name);
        const [h, w, c] = act.shape;
        const p = padding(h, w, k, s, String(cfg.padding ?? 'valid'), layer.name);
        toNCHW();
        const kernel = weightSlot(li, layer, 'kernel');
        if (kernel === null) throw new UnsupportedModelError(`onnx engine: ${where}: no kernel weight`);
        const bias = cfg.useBias === false ? null : weightSlot(li, layer, 'bias');
        const filters = Number(cfg.filters);
        if (weights[kernel].shape.join() !== [k[0], k[1], c, filters].join()) throw new UnsupportedModelError(`onnx engine: ${where}: kernel shape [${weights[kernel].shape}]`);
        const outputPadding: [number, number] = [h - ((p.oh - 1) * s[0] + k[0] - p.pads[0] - p.pads[2]), w - ((p.ow - 1) * s[1] + k[1] - p.pads[1] - p.pads[3])];
        steps.push({ kind: 'conv', layer: layer.name, kernel, bias, relu, k, strides: s, pads: p.pads, inHWC: [h, w, c], outHWC: [p.oh, p.ow, filters], outputPadding });
        act = { layout: 'nchw', shape: [p.oh, p.ow, filters] };
        return;
      }
      case 'MaxPooling2D': {
        if (act.layout === 'flat') throw new UnsupportedModelError(`onnx engine: ${where}: pooling a flat input`);
        const k = pair(cfg.poolSize ?? 2, 'poolSize', layer.name);
        const s = pair(cfg.strides ?? k, 'strides', layer.name);
        const [h, w, c] = act.shape;
        const p = padding(h, w, k, s, String(cfg.padding ?? 'valid'), layer.name);
        toNCHW();
        steps.push({ kind: 'pool', layer: layer.name, k, strides: s, pads: p.pads, inHWC: [h, w, c], outHWC: [p.oh, p.ow, c] });
        act = { layout: 'nchw', shape: [p.oh, p.ow, c] };
        return;
      }
      case 'ReLU':
      case 'Activation': {
        if (cls === 'ReLU' && cfg.maxValue !== undefined && cfg.maxValue !== null) throw new UnsupportedModelError(`onnx engine: ${where}: ReLU with maxValue`);
        const relu = cls === 'ReLU' ? true : activationOf(cfg, layer.name);
        if (relu) steps.push({ kind: 'relu', layer: layer.name, shape: act.shape, layout: act.layout });
        return;
      }
      default:
        throw new UnsupportedModelError(`onnx engine: ${where} is not supported (supported: Dense, Conv2D, MaxPooling2D, Flatten, ReLU/Activation relu|linear, Dropout)`);
    }
  });
  if (act.layout !== 'flat' || act.shape.length !== 1) throw new UnsupportedModelError(`onnx engine: model "${model.name}": the output is not [batch, classes] (end with Flatten + Dense)`);
  const numClasses = act.shape[0];
  return makeCompiled(model.name, inputShape, numClasses, steps, weights);
}

/** Shape in the layout the graph holds it, batch first. */
function layoutShape(shape: number[], layout: Layout): Dim[] {
  if (layout === 'nchw') return ['batch', shape[2], shape[0], shape[1]];
  return ['batch', ...shape];
}

function makeCompiled(modelName: string, inputShape: number[], numClasses: number, steps: Step[], weights: WeightSlot[]): CompiledModel {
  const weightGradNames = weights.map((w) => `d_${w.name}`);
  /**
   * Conv steps with a relu whose output goes straight into a max pool. Their
   * relu mask is applied to the pooled gradient instead, before unpooling:
   * the unpooled gradient is nonzero only at a window's argmax, where the
   * relu output is the window's max, so mask(argmax) = (pooled output > 0).
   * Exact, and a quarter of the mask work and residual size for 2x2 pools.
   */
  const pooledMask = new Set(steps.flatMap((st, i) => (st.kind === 'conv' && st.relu && steps[i + 1]?.kind === 'pool' ? [i] : [])));

  /**
   * The forward pass. `keep(key, value, type, shape)` is called for every
   * value the backward may need (`in<i>`: input of a weighted step i, `mask<i>`,
   * `idx<i>`); the save graphs turn the ones their mode needs into outputs.
   */
  const emitForward = (b: GraphBuilder, keep: (key: string, value: () => string, type: ResidualSlot['type'], shape: Dim[]) => void, save: boolean): string => {
    let v = b.input('x', 'float32', ['batch', ...inputShape]);
    for (const w of weights) b.input(w.name, 'float32', w.shape);
    let act: Act = { layout: inputShape.length === 3 ? 'nhwc' : 'flat', shape: [...inputShape] };
    steps.forEach((st, i) => {
      switch (st.kind) {
        case 'toNCHW':
          v = b.op('Transpose', [v], { perm: [0, 3, 1, 2] });
          act = { layout: 'nchw', shape: act.shape };
          return;
        case 'toNHWC':
          v = b.op('Transpose', [v], { perm: [0, 2, 3, 1] });
          act = { layout: 'nhwc', shape: act.shape };
          return;
        case 'flatten':
          v = b.op('Flatten', [v], { axis: 1 });
          act = { layout: 'flat', shape: [st.from.reduce((a, c) => a * c, 1)] };
          return;
        case 'dense': {
          {
            const xin = v;
            keep(`in${i}`, () => xin, 'float32', ['batch', st.inF]);
          }
          const ins = [v, weights[st.kernel].name, ...(st.bias !== null ? [weights[st.bias].name] : [])];
          v = b.op('Gemm', ins);
          act = { layout: 'flat', shape: [st.outF] };
          if (st.relu) {
            const y = (v = b.op('Relu', [v]));
            keep(`mask${i}`, () => b.op('Greater', [y, zero(b)]), 'bool', ['batch', st.outF]);
          }
          return;
        }
        case 'conv': {
          {
            const xin = v;
            keep(`in${i}`, () => xin, 'float32', layoutShape(st.inHWC, 'nchw'));
          }
          const wt = b.op('Transpose', [weights[st.kernel].name], { perm: [3, 2, 0, 1] });
          const ins = [v, wt, ...(st.bias !== null ? [weights[st.bias].name] : [])];
          v = b.op('Conv', ins, { kernel_shape: st.k, strides: st.strides, pads: st.pads, dilations: [1, 1], group: 1 });
          act = { layout: 'nchw', shape: st.outHWC };
          if (st.relu) {
            const y = (v = b.op('Relu', [v]));
            if (!pooledMask.has(i)) keep(`mask${i}`, () => b.op('Greater', [y, zero(b)]), 'bool', layoutShape(st.outHWC, 'nchw'));
          }
          return;
        }
        case 'pool': {
          // MaxPool with its argmax output is ~4x slower than without (ORT): only the save graphs ask for it.
          const attrs = { kernel_shape: st.k, strides: st.strides, pads: st.pads };
          if (save) {
            const [y, idx] = b.node('MaxPool', [v], { ...attrs, storage_order: 0 }, 2);
            keep(`idx${i}`, () => idx, 'int64', layoutShape(st.outHWC, 'nchw'));
            if (pooledMask.has(i - 1)) keep(`pmask${i}`, () => b.op('Greater', [y, zero(b)]), 'bool', layoutShape(st.outHWC, 'nchw'));
            v = y;
          } else v = b.op('MaxPool', [v], attrs);
          act = { layout: 'nchw', shape: st.outHWC };
          return;
        }
        case 'relu': {
          const y = (v = b.op('Relu', [v]));
          keep(`mask${i}`, () => b.op('Greater', [y, zero(b)]), 'bool', layoutShape(st.shape, st.layout));
          return;
        }
      }
    });
    return v;
  };

  /** Which residual keys a mode's backward reads. */
  const needed = (mode: Mode, key: string): boolean => key.startsWith('mask') || key.startsWith('pmask') || key.startsWith('idx') || (mode === 'train' && key.startsWith('in'));

  const residuals = (mode: Mode): ResidualSlot[] => {
    const out: ResidualSlot[] = [];
    emitForward(
      new GraphBuilder('probe'),
      (key, _v, type, shape) => {
        if (needed(mode, key)) out.push({ name: `r_${key}`, type, shape });
      },
      true,
    );
    return out;
  };

  const forward = (): GraphBuilder => {
    const b = new GraphBuilder(`${modelName}_forward`);
    const logits = emitForward(b, () => undefined, false);
    b.output(logits, 'logits', 'float32', ['batch', numClasses]);
    return b;
  };

  const save = (mode: Mode): GraphBuilder => {
    const b = new GraphBuilder(`${modelName}_save_${mode}`);
    const outs: [string, ResidualSlot][] = [];
    const logits = emitForward(
      b,
      (key, v, type, shape) => {
        if (needed(mode, key)) outs.push([v(), { name: `r_${key}`, type, shape }]);
      },
      true,
    );
    b.output(logits, 'logits', 'float32', ['batch', numClasses]);
    for (const [v, r] of outs) b.output(v, r.name, r.type, r.shape);
    return b;
  };

  const backward = (mode: Mode): GraphBuilder => {
    const b = new GraphBuilder(`${modelName}_backward_${mode}`);
    const res = new Map<string, string>();
    for (const r of residuals(mode)) res.set(r.name.slice(2), b.input(r.name, r.type, r.shape));
    for (const w of weights) b.input(w.name, 'float32', w.shape);
    let g = b.input('dlogits', 'float32', ['batch', numClasses]);
    const grads = new Map<number, string>();
    // In train mode nothing below the first weighted step needs a gradient.
    const firstWeighted = steps.findIndex((s) => s.kind === 'dense' || s.kind === 'conv');
    for (let i = steps.length - 1; i >= 0; i--) {
      const st = steps[i];
      if (mode === 'train' && i < firstWeighted) break;
      const lastNeeded = mode === 'train' && i === firstWeighted;
      switch (st.kind) {
        case 'toNCHW':
          g = b.op('Transpose', [g], { perm: [0, 2, 3, 1] });
          break;
        case 'toNHWC':
          g = b.op('Transpose', [g], { perm: [0, 3, 1, 2] });
          break;
        case 'flatten':
          g = b.op('Reshape', [g, b.int64([-1, ...st.from])]);
          break;
        case 'relu':
          g = b.op('Where', [res.get(`mask${i}`) as string, g, zero(b)]);
          break;
        case 'dense': {
          if (st.relu) g = b.op('Where', [res.get(`mask${i}`) as string, g, zero(b)]);
          if (mode === 'train') {
            grads.set(st.kernel, b.op('Gemm', [res.get(`in${i}`) as string, g], { transA: 1 }));
            if (st.bias !== null) grads.set(st.bias, b.op('ReduceSum', [g, b.int64([0])], { keepdims: 0 }));
          }
          if (!lastNeeded) g = b.op('Gemm', [g, weights[st.kernel].name], { transB: 1 });
          break;
        }
        case 'conv': {
          if (st.relu && !pooledMask.has(i)) g = b.op('Where', [res.get(`mask${i}`) as string, g, zero(b)]);
          if (mode === 'train') {
            // dW[co, ci, i, j] = sum_{b,p,q} dz[b, co, p, q] x_pad[b, ci, p*s + i, q*s + j]:
            // a convolution over the batch of x^T (ci, b, H, W) with dz^T (co, b, oh, ow) dilated by the stride.
            const xT = b.op('Transpose', [res.get(`in${i}`) as string], { perm: [1, 0, 2, 3] });
            const gT = b.op('Transpose', [g], { perm: [1, 0, 2, 3] });
            let dw = b.op('Conv', [xT, gT], { strides: [1, 1], pads: st.pads, dilations: st.strides, group: 1 });
            const [h, w] = st.inHWC;
            const fullH = h + st.pads[0] + st.pads[2] - (st.outHWC[0] - 1) * st.strides[0];
            const fullW = w + st.pads[1] + st.pads[3] - (st.outHWC[1] - 1) * st.strides[1];
            if (fullH !== st.k[0] || fullW !== st.k[1]) dw = b.op('Slice', [dw, b.int64([0, 0]), b.int64(st.k), b.int64([2, 3])]);
            grads.set(st.kernel, b.op('Transpose', [dw], { perm: [2, 3, 0, 1] }));
            if (st.bias !== null) grads.set(st.bias, b.op('ReduceSum', [g, b.int64([0, 2, 3])], { keepdims: 0 }));
          }
          if (!lastNeeded && st.strides[0] === 1 && st.strides[1] === 1 && st.inHWC[2] >= 8) {
            // Stride 1: dx is a plain convolution of dz with the kernel flipped in space and its
            // channel axes swapped, padded by k - 1 - pad. ORT runs it in its blocked (NCHWc) Conv,
            // faster than ConvTranspose when dx has 8 or more channels (measured on the profiles' CNN:
            // 16 channels about 20% faster; 1 channel 6x slower); with baked weights the flip is folded.
            const flipped = b.op('Slice', [
              b.op('Transpose', [weights[st.kernel].name], { perm: [2, 3, 0, 1] }),
              b.int64([-1, -1]),
              b.int64([-(st.k[0] + 1), -(st.k[1] + 1)]),
              b.int64([2, 3]),
              b.int64([-1, -1]),
            ]);
            const [pt, pl, pb, pr] = st.pads;
            g = b.op('Conv', [g, flipped], { kernel_shape: st.k, strides: [1, 1], pads: [st.k[0] - 1 - pt, st.k[1] - 1 - pl, st.k[0] - 1 - pb, st.k[1] - 1 - pr], dilations: [1, 1], group: 1 });
          } else if (!lastNeeded) {
            const wt = b.op('Transpose', [weights[st.kernel].name], { perm: [3, 2, 0, 1] });
            g = b.op('ConvTranspose', [g, wt], {
              kernel_shape: st.k,
              strides: st.strides,
              pads: st.pads,
              output_padding: st.outputPadding,
              dilations: [1, 1],
              group: 1,
            });
          }
          break;
        }
        case 'pool': {
          const [h, w, c] = st.inHWC;
          const idx = res.get(`idx${i}`) as string;
          if (pooledMask.has(i - 1)) g = b.op('Where', [res.get(`pmask${i}`) as string, g, zero(b)]);
          if (st.strides[0] >= st.k[0] && st.strides[1] >= st.k[1]) {
            // Windows do not overlap: every input position is some window's argmax at most once.
            const nc = b.op('Slice', [b.op('Shape', [g]), b.int64([0]), b.int64([2]), b.int64([0])]);
            const outShape = b.op('Concat', [nc, b.int64([h, w])], { axis: 0 });
            g = b.op('MaxUnpool', [g, idx, outShape], { kernel_shape: st.k, strides: st.strides, pads: st.pads });
            break;
          }
          const n = b.op('Slice', [b.op('Shape', [g]), b.int64([0]), b.int64([1]), b.int64([0])]);
          const total = b.op('Mul', [n, b.int64([c * h * w])]);
          const zeros = b.op('ConstantOfShape', [total]);
          const flatIdx = b.op('Reshape', [idx, b.int64([-1])]);
          const flatG = b.op('Reshape', [g, b.int64([-1])]);
          const scattered = b.op('ScatterElements', [zeros, flatIdx, flatG], { axis: 0, reduction: 'add' });
          g = b.op('Reshape', [scattered, b.int64([-1, c, h, w])]);
          break;
        }
      }
    }
    if (mode === 'input') b.output(g, 'dx', 'float32', ['batch', ...inputShape]);
    else weights.forEach((w, wi) => b.output(grads.get(wi) as string, weightGradNames[wi], 'float32', w.shape));
    return b;
  };

  return { modelName, inputShape, numClasses, weights, forward, save, backward, residuals, weightGradNames };
}

const zeroCache = new WeakMap<GraphBuilder, string>();
function zero(b: GraphBuilder): string {
  let z = zeroCache.get(b);
  if (!z) {
    z = b.float32([0], []);
    zeroCache.set(b, z);
  }
  return z;
}
