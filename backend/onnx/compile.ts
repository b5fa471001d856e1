/**
 * Compiles a TF.js Layers model (Sequential, or Functional: a DAG of layers
 * read from their inbound nodes) of Dense, Conv2D, MaxPooling2D, Flatten,
 * ReLU / Activation relu|linear, Dropout, BatchNormalization, Add and
 * GlobalAveragePooling2D into its ONNX forward graph: x, weights -> logits.
 * Its gradients come from the graph differentiator (grad/, via
 * grad/own-model.ts), which splits forward + backward into a "save" graph
 * (logits and residuals) and a "backward" graph (dx in mode "input", every
 * trainable weight's gradient in mode "train"); there is no hand-written
 * backward.
 *
 * BatchNormalization has two forms. `forward('inference')` (attacks, probes,
 * evaluation, export) normalises with the moving statistics, so an example's
 * logits never depend on its batch. `forward('batch')` (training) normalises
 * with the batch's own mean and (biased) variance (ONNX BatchNormalization in
 * training mode, differentiated by the training-mode case of grad/rules.ts's
 * rule), and also outputs each layer's batch mean and variance (`bnStats`) so
 * the engine updates the moving statistics as tfjs does.
 *
 * Weights are graph INPUTS in TF.js's own layout (dense kernel [in, out],
 * conv kernel [kh, kw, cin, cout]), so the same graphs serve attacks and
 * training, and TF.js variables and optimizers stay as they are; the graph
 * transposes conv kernels to ONNX's [cout, cin, kh, kw] itself (and the
 * differentiated graph returns their gradients in TF.js layout). Frozen
 * weights (a BatchNorm's moving statistics, a non-trainable layer's kernel)
 * are inputs too, but are not differentiated.
 *
 * Layout is handled here and only here: TF.js activations are NHWC, ONNX's
 * Conv, MaxPool, BatchNormalization and GlobalAveragePool are NCHW. Each
 * value carries its layout, and a Transpose is inserted only where an op
 * needs the other one (NHWC -> NCHW before the first Conv, back to NHWC
 * before Flatten, because TF.js flattens NHWC and the dense kernel after it
 * expects that order).
 */
import { GraphBuilder } from './proto';

export type Mode = 'input' | 'train';
/** How BatchNormalization normalises: moving statistics, or the batch's own (training). */
export type BnMode = 'inference' | 'batch';

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
  /** the weights an optimizer updates (a frozen layer has none) */
  trainableWeights?: WeightVariableLike[];
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

/** A value of the compiled graph: its id, layout and per-example semantic shape ([h, w, c] for images, [d] flat). */
interface Val {
  id: string;
  layout: Layout;
  shape: number[];
}

type Step =
  | { kind: 'dense'; in: string; out: string; kernel: number; bias: number | null; relu: boolean }
  | {
      kind: 'conv';
      in: string;
      out: string;
      kernel: number;
      bias: number | null;
      relu: boolean;
      k: [number, number];
      strides: [number, number];
      pads: [number, number, number, number];
    }
  | { kind: 'pool'; in: string; out: string; k: [number, number]; strides: [number, number]; pads: [number, number, number, number] }
  | { kind: 'relu'; in: string; out: string }
  | { kind: 'transpose'; in: string; out: string; perm: number[] }
  | { kind: 'flatten'; in: string; out: string }
  | { kind: 'add'; ins: string[]; out: string }
  | { kind: 'gap'; in: string; out: string }
  | { kind: 'bn'; in: string; out: string; bn: number };

/** A BatchNormalization layer: its weight slots (gamma/beta null without scale/center), epsilon, momentum, channel count. */
export interface BnLayer {
  layer: string;
  gamma: number | null;
  beta: number | null;
  movingMean: number;
  movingVariance: number;
  epsilon: number;
  momentum: number;
  channels: number;
  /** the normalised tensor's rank (4: NCHW images, 2: flat) */
  rank: number;
}

export interface WeightSlot {
  /** graph input name */
  name: string;
  layer: string;
  /** TF.js layout */
  shape: number[];
  /** index into the model's layers, and into that layer's weights */
  layerIndex: number;
  weightIndex: number;
  /** updated by the optimizer (differentiated in mode "train") */
  trainable: boolean;
}

export interface CompiledModel {
  modelName: string;
  /** per-example TF.js input shape, e.g. [28, 28, 1] */
  inputShape: number[];
  numClasses: number;
  weights: WeightSlot[];
  /** the BatchNormalization layers, in graph order */
  bns: BnLayer[];
  /** the forward graph: inputs x [batch, ...inputShape] and the weights, output logits (and, in 'batch' mode, bnStats) */
  forward(bn?: BnMode): GraphBuilder;
  /** names of the engine's weight gradients in mode "train", one per weight slot (only trainable slots get one) */
  weightGradNames: string[];
  /** 'batch' mode's extra outputs: per BN layer, its batch mean and variance ([channels] values) */
  bnStats: { mean: string; variance: string }[];
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

const SUPPORTED = 'Dense, Conv2D, MaxPooling2D, Flatten, ReLU/Activation relu|linear, Dropout, BatchNormalization, Add, GlobalAveragePooling2D';

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
  const bns: BnLayer[] = [];
  const input: Val = { id: 'x', layout: inputShape.length === 3 ? 'nhwc' : 'flat', shape: [...inputShape] };
  /** each compiled layer's output value, by layer name */
  const vals = new Map<string, Val>();
  /** a value converted to the other image layout, by `${id}:${layout}` (one Transpose per value and layout) */
  const converted = new Map<string, Val>();
  let counter = 0;
  const fresh = (hint: string) => `${hint}_${counter++}`;
  const inLayout = (v: Val, layout: 'nhwc' | 'nchw'): Val => {
    if (v.layout === layout || v.layout === 'flat') return v;
    const key = `${v.id}:${layout}`;
    let c = converted.get(key);
    if (!c) {
      c = { id: fresh('t'), layout, shape: v.shape };
      steps.push({ kind: 'transpose', in: v.id, out: c.id, perm: layout === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] });
      converted.set(key, c);
    }
    return c;
  };
  const weightSlot = (li: number, layer: LayerLike, suffix: string): number | null => {
    const wi = layer.weights.findIndex((w) => w.originalName.endsWith(`/${suffix}`) || w.originalName === suffix);
    if (wi < 0) return null;
    const w = layer.weights[wi];
    const trainable = (layer.trainableWeights ?? layer.weights).includes(w);
    weights.push({ name: `w${weights.length}`, layer: layer.name, shape: [...w.shape], layerIndex: li, weightIndex: wi, trainable });
    return weights.length - 1;
  };

  let last: Val = input;
  model.layers.forEach((layer, li) => {
    const cls = layer.getClassName();
    const cfg = layer.getConfig();
    const where = `layer "${layer.name}" (${cls})`;
    const nodes = layer.inboundNodes ?? [];
    if (nodes.length > 1) throw new UnsupportedModelError(`onnx engine: ${where} is used ${nodes.length} times (each layer once is supported)`);
    if (cls === 'InputLayer') {
      vals.set(layer.name, input);
      return;
    }
    // Where this layer reads from: its inbound layers' outputs (an input layer outside model.layers is x; a Sequential's first layer has none listed).
    const inbound = nodes[0]?.inboundLayers ?? [];
    const ins: Val[] = inbound.map((l) => {
      const v = vals.get(l.name) ?? (l.getClassName() === 'InputLayer' ? input : undefined);
      if (!v) throw new UnsupportedModelError(`onnx engine: ${where} reads layer "${l.name}", which is not before it in the model`);
      return v;
    });
    if (ins.length === 0) ins.push(last);
    const df = cfg.dataFormat;
    if (df !== undefined && df !== null && df !== 'channelsLast') throw new UnsupportedModelError(`onnx engine: ${where}: dataFormat ${String(df)} (channelsLast supported)`);
    if (cls !== 'Add' && ins.length !== 1) throw new UnsupportedModelError(`onnx engine: ${where} has ${ins.length} inputs (one supported)`);
    const x = ins[0];
    const out = (v: Val) => {
      vals.set(layer.name, v);
      last = v;
    };
    switch (cls) {
      case 'Dropout':
        return out(x); // identity at inference; the train-mode classifier refuses a positive rate (engine.ts)
      case 'Flatten': {
        if (x.layout === 'flat') return out(x);
        const v = inLayout(x, 'nhwc');
        const o: Val = { id: fresh('flat'), layout: 'flat', shape: [v.shape.reduce((a, b) => a * b, 1)] };
        steps.push({ kind: 'flatten', in: v.id, out: o.id });
        return out(o);
      }
      case 'Dense': {
        if (x.layout !== 'flat') throw new UnsupportedModelError(`onnx engine: ${where}: dense on a rank-${x.shape.length + 1} input (add a Flatten before it)`);
        const relu = activationOf(cfg, layer.name);
        const kernel = weightSlot(li, layer, 'kernel');
        if (kernel === null) throw new UnsupportedModelError(`onnx engine: ${where}: no kernel weight`);
        const bias = cfg.useBias === false ? null : weightSlot(li, layer, 'bias');
        const o: Val = { id: fresh('dense'), layout: 'flat', shape: [Number(cfg.units)] };
        steps.push({ kind: 'dense', in: x.id, out: o.id, kernel, bias, relu });
        return out(o);
      }
      case 'Conv2D': {
        if (x.layout === 'flat') throw new UnsupportedModelError(`onnx engine: ${where}: conv2d on a flat input`);
        const dil = pair(cfg.dilationRate ?? 1, 'dilationRate', layer.name);
        if (dil[0] !== 1 || dil[1] !== 1) throw new UnsupportedModelError(`onnx engine: ${where}: dilationRate ${dil.join('x')} (1 supported)`);
        if (cfg.groups !== undefined && cfg.groups !== 1) throw new UnsupportedModelError(`onnx engine: ${where}: grouped convolution`);
        const relu = activationOf(cfg, layer.name);
        const k = pair(cfg.kernelSize, 'kernelSize', layer.name);
        const s = pair(cfg.strides ?? 1, 'strides', layer.name);
        const [h, w, c] = x.shape;
        const p = padding(h, w, k, s, String(cfg.padding ?? 'valid'), layer.name);
        const v = inLayout(x, 'nchw');
        const kernel = weightSlot(li, layer, 'kernel');
        if (kernel === null) throw new UnsupportedModelError(`onnx engine: ${where}: no kernel weight`);
        const bias = cfg.useBias === false ? null : weightSlot(li, layer, 'bias');
        const filters = Number(cfg.filters);
        if (weights[kernel].shape.join() !== [k[0], k[1], c, filters].join()) throw new UnsupportedModelError(`onnx engine: ${where}: kernel shape [${weights[kernel].shape}]`);
        const o: Val = { id: fresh('conv'), layout: 'nchw', shape: [p.oh, p.ow, filters] };
        steps.push({ kind: 'conv', in: v.id, out: o.id, kernel, bias, relu, k, strides: s, pads: p.pads });
        return out(o);
      }
      case 'MaxPooling2D': {
        if (x.layout === 'flat') throw new UnsupportedModelError(`onnx engine: ${where}: pooling a flat input`);
        const k = pair(cfg.poolSize ?? 2, 'poolSize', layer.name);
        const s = pair(cfg.strides ?? k, 'strides', layer.name);
        const [h, w, c] = x.shape;
        const p = padding(h, w, k, s, String(cfg.padding ?? 'valid'), layer.name);
        const v = inLayout(x, 'nchw');
        const o: Val = { id: fresh('pool'), layout: 'nchw', shape: [p.oh, p.ow, c] };
        steps.push({ kind: 'pool', in: v.id, out: o.id, k, strides: s, pads: p.pads });
        return out(o);
      }
      case 'ReLU':
      case 'Activation': {
        if (cls === 'ReLU' && cfg.maxValue !== undefined && cfg.maxValue !== null) throw new UnsupportedModelError(`onnx engine: ${where}: ReLU with maxValue`);
        const relu = cls === 'ReLU' ? true : activationOf(cfg, layer.name);
        if (!relu) return out(x);
        const o: Val = { ...x, id: fresh('relu') };
        steps.push({ kind: 'relu', in: x.id, out: o.id });
        return out(o);
      }
      case 'Add': {
        if (ins.length < 2) throw new UnsupportedModelError(`onnx engine: ${where} has ${ins.length} input (two or more supported)`);
        if (ins.some((v) => v.shape.join() !== x.shape.join())) throw new UnsupportedModelError(`onnx engine: ${where}: inputs of different shapes (${ins.map((v) => `[${v.shape}]`).join(', ')})`);
        const layout = ins.some((v) => v.layout === 'nchw') ? 'nchw' : x.layout;
        const conv = ins.map((v) => (layout === 'flat' ? v : inLayout(v, layout)));
        const o: Val = { id: fresh('add'), layout, shape: x.shape };
        steps.push({ kind: 'add', ins: conv.map((v) => v.id), out: o.id });
        return out(o);
      }
      case 'GlobalAveragePooling2D': {
        if (x.shape.length !== 3) throw new UnsupportedModelError(`onnx engine: ${where}: pooling a flat input`);
        if (cfg.keepDims === true) throw new UnsupportedModelError(`onnx engine: ${where}: keepDims (false supported)`);
        const v = inLayout(x, 'nchw');
        const o: Val = { id: fresh('gap'), layout: 'flat', shape: [x.shape[2]] };
        steps.push({ kind: 'gap', in: v.id, out: o.id });
        return out(o);
      }
      case 'BatchNormalization': {
        const rank = x.shape.length + 1;
        const axis = Number(cfg.axis ?? -1);
        if (axis !== -1 && axis !== rank - 1) throw new UnsupportedModelError(`onnx engine: ${where}: axis ${axis} (the channel axis, -1, supported)`);
        const v = x.layout === 'flat' ? x : inLayout(x, 'nchw');
        const gamma = cfg.scale === false ? null : weightSlot(li, layer, 'gamma');
        const beta = cfg.center === false ? null : weightSlot(li, layer, 'beta');
        const movingMean = weightSlot(li, layer, 'moving_mean');
        const movingVariance = weightSlot(li, layer, 'moving_variance');
        if (movingMean === null || movingVariance === null || (cfg.scale !== false && gamma === null) || (cfg.center !== false && beta === null))
          throw new UnsupportedModelError(`onnx engine: ${where}: missing gamma, beta or moving statistics`);
        bns.push({
          layer: layer.name,
          gamma,
          beta,
          movingMean,
          movingVariance,
          epsilon: Number(cfg.epsilon ?? 1e-3),
          momentum: Number(cfg.momentum ?? 0.99),
          channels: x.shape[x.shape.length - 1],
          rank,
        });
        const o: Val = { id: fresh('bn'), layout: v.layout, shape: x.shape };
        steps.push({ kind: 'bn', in: v.id, out: o.id, bn: bns.length - 1 });
        return out(o);
      }
      default:
        throw new UnsupportedModelError(`onnx engine: ${where} is not supported (supported: ${SUPPORTED})`);
    }
  });
  const outLayer = (model.outputs[0] as { sourceLayer?: { name: string } } | undefined)?.sourceLayer?.name;
  const result = (outLayer !== undefined ? vals.get(outLayer) : undefined) ?? last;
  if (result.layout !== 'flat' || result.shape.length !== 1) throw new UnsupportedModelError(`onnx engine: model "${model.name}": the output is not [batch, classes] (end with Flatten + Dense)`);
  return makeCompiled(model.name, inputShape, result, steps, weights, bns);
}

function makeCompiled(modelName: string, inputShape: number[], result: Val, steps: Step[], weights: WeightSlot[], bns: BnLayer[]): CompiledModel {
  const weightGradNames = weights.map((w) => `d_${w.name}`);
  const numClasses = result.shape[0];
  const bnStats = bns.map((_, i) => ({ mean: `bn${i}_batch_mean`, variance: `bn${i}_batch_variance` }));

  const forward = (bnMode: BnMode = 'inference'): GraphBuilder => {
    const b = new GraphBuilder(`${modelName}_forward`);
    const env = new Map<string, string>([['x', b.input('x', 'float32', ['batch', ...inputShape])]]);
    const at = (id: string) => env.get(id) as string;
    for (const w of weights) b.input(w.name, 'float32', w.shape);
    const statOutputs: [string, string, number][] = [];
    for (const st of steps) {
      let v: string;
      switch (st.kind) {
        case 'transpose':
          v = b.op('Transpose', [at(st.in)], { perm: st.perm });
          break;
        case 'flatten':
          v = b.op('Flatten', [at(st.in)], { axis: 1 });
          break;
        case 'dense':
          v = b.op('Gemm', [at(st.in), weights[st.kernel].name, ...(st.bias !== null ? [weights[st.bias].name] : [])]);
          if (st.relu) v = b.op('Relu', [v]);
          break;
        case 'conv': {
          const wt = b.op('Transpose', [weights[st.kernel].name], { perm: [3, 2, 0, 1] });
          v = b.op('Conv', [at(st.in), wt, ...(st.bias !== null ? [weights[st.bias].name] : [])], { kernel_shape: st.k, strides: st.strides, pads: st.pads, dilations: [1, 1], group: 1 });
          if (st.relu) v = b.op('Relu', [v]);
          break;
        }
        case 'pool':
          v = b.op('MaxPool', [at(st.in)], { kernel_shape: st.k, strides: st.strides, pads: st.pads });
          break;
        case 'relu':
          v = b.op('Relu', [at(st.in)]);
          break;
        case 'add':
          v = st.ins.map(at).reduce((a, c) => b.op('Add', [a, c]));
          break;
        case 'gap':
          v = b.op('Flatten', [b.op('GlobalAveragePool', [at(st.in)])], { axis: 1 });
          break;
        case 'bn': {
          const bn = bns[st.bn];
          const c = bn.channels;
          const gamma = bn.gamma !== null ? weights[bn.gamma].name : b.float32(new Float32Array(c).fill(1), [c]);
          const beta = bn.beta !== null ? weights[bn.beta].name : b.float32(new Float32Array(c), [c]);
          if (bnMode === 'inference') {
            v = b.op('BatchNormalization', [at(st.in), gamma, beta, weights[bn.movingMean].name, weights[bn.movingVariance].name], { epsilon: { float: bn.epsilon } });
            break;
          }
          // Training: ONNX's training-mode BatchNormalization normalises with the batch's mean and biased variance
          // (as tfjs's moments); at momentum 0 its "running" outputs are exactly those batch statistics.
          // Two distinct running-statistic inputs: onnxruntime updates them in place into the outputs, so one shared tensor would alias the mean and the variance.
          const runMean = b.float32(new Float32Array(c), [c]);
          const runVar = b.float32(new Float32Array(c).fill(1), [c]);
          const [y, mean, variance] = b.node('BatchNormalization', [at(st.in), gamma, beta, runMean, runVar], { epsilon: { float: bn.epsilon }, momentum: { float: 0 }, training_mode: 1 }, 3);
          v = y;
          statOutputs.push([mean, variance, c]);
          break;
        }
      }
      env.set(st.out, v);
    }
    b.output(at(result.id), 'logits', 'float32', ['batch', numClasses]);
    statOutputs.forEach(([mean, variance, c], i) => {
      b.output(mean, bnStats[i].mean, 'float32', [c]);
      b.output(variance, bnStats[i].variance, 'float32', [c]);
    });
    return b;
  };

  return { modelName, inputShape, numClasses, weights, bns, forward, weightGradNames, bnStats };
}
