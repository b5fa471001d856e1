/**
 * Compiles a TF.js Layers model (a chain of Dense, Conv2D, MaxPooling2D,
 * Flatten, ReLU / Activation relu|linear, Dropout) into its ONNX forward
 * graph: x, weights -> logits. Its gradients come from the graph
 * differentiator (grad/, via grad/own-model.ts), which splits forward +
 * backward into a "save" graph (logits and residuals) and a "backward" graph
 * (dx in mode "input", every weight gradient in mode "train"); there is no
 * hand-written backward.
 *
 * Weights are graph INPUTS in TF.js's own layout (dense kernel [in, out],
 * conv kernel [kh, kw, cin, cout]), so the same graphs serve attacks and
 * training, and TF.js variables and optimizers stay as they are; the graph
 * transposes conv kernels to ONNX's [cout, cin, kh, kw] itself (and the
 * differentiated graph returns their gradients in TF.js layout).
 *
 * Layout is handled here and only here: TF.js activations are NHWC, ONNX's
 * Conv and MaxPool are NCHW. The compiler tracks the layout of the running
 * activation and inserts a Transpose only where an op needs the other one:
 * before the first Conv/MaxPool (NHWC -> NCHW) and before Flatten (back to
 * NHWC, because TF.js flattens NHWC and the dense kernel after it expects
 * that order).
 */
import { GraphBuilder } from './proto';

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

export interface CompiledModel {
  modelName: string;
  /** per-example TF.js input shape, e.g. [28, 28, 1] */
  inputShape: number[];
  numClasses: number;
  weights: WeightSlot[];
  /** the forward graph: inputs x [batch, ...inputShape] and the weights, output logits */
  forward(): GraphBuilder;
  /** names of the engine's weight gradients in mode "train", one per weight slot */
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

function makeCompiled(modelName: string, inputShape: number[], numClasses: number, steps: Step[], weights: WeightSlot[]): CompiledModel {
  const weightGradNames = weights.map((w) => `d_${w.name}`);

  const forward = (): GraphBuilder => {
    const b = new GraphBuilder(`${modelName}_forward`);
    let v = b.input('x', 'float32', ['batch', ...inputShape]);
    for (const w of weights) b.input(w.name, 'float32', w.shape);
    for (const st of steps) {
      switch (st.kind) {
        case 'toNCHW':
          v = b.op('Transpose', [v], { perm: [0, 3, 1, 2] });
          break;
        case 'toNHWC':
          v = b.op('Transpose', [v], { perm: [0, 2, 3, 1] });
          break;
        case 'flatten':
          v = b.op('Flatten', [v], { axis: 1 });
          break;
        case 'dense':
          v = b.op('Gemm', [v, weights[st.kernel].name, ...(st.bias !== null ? [weights[st.bias].name] : [])]);
          if (st.relu) v = b.op('Relu', [v]);
          break;
        case 'conv': {
          const wt = b.op('Transpose', [weights[st.kernel].name], { perm: [3, 2, 0, 1] });
          v = b.op('Conv', [v, wt, ...(st.bias !== null ? [weights[st.bias].name] : [])], { kernel_shape: st.k, strides: st.strides, pads: st.pads, dilations: [1, 1], group: 1 });
          if (st.relu) v = b.op('Relu', [v]);
          break;
        }
        case 'pool':
          v = b.op('MaxPool', [v], { kernel_shape: st.k, strides: st.strides, pads: st.pads });
          break;
        case 'relu':
          v = b.op('Relu', [v]);
          break;
      }
    }
    b.output(v, 'logits', 'float32', ['batch', numClasses]);
    return b;
  };

  return { modelName, inputShape, numClasses, weights, forward, weightGradNames };
}
