/**
 * A classifier read from a .onnx file (one input, one output: logits or
 * probabilities), run synchronously through onnxruntime (runtime.ts).
 * `onnxClassifier` is forward-only: a backward pass through it throws
 * OnnxGradientError, and only attacks that query outputs (score-based,
 * baseline noise, transfer) can attack it. `onnxGradientClassifier` also
 * has input gradients: the graph differentiator (grad/) builds the file's
 * backward once, and tfjs's dy flows through it.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../../contract/classifier';
import { UsageError } from '../../contract/errors';
import { OnnxModelError, parseModel } from './graph';
import { DifferentiatedModel, differentiate, UnsupportedOpError } from './grad/differentiate';
import { OrtValueMetadata, SyncSession } from './runtime';

const FLOAT32 = 1;

/** Thrown when an attack asks a .onnx classifier for a gradient. */
export class OnnxGradientError extends Error {
  constructor(file: string) {
    super(`the model ${file} is a .onnx file, which provides no input gradients; use a score-based attack (square) or noise, or a TF.js Layers model`);
    this.name = 'OnnxGradientError';
  }
}

/** Declared dims without the batch dimension; null where the graph leaves a dim symbolic. */
function declared(m: OrtValueMetadata): (number | null)[] | null {
  if (!Array.isArray(m.shape)) return null;
  return m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : null));
}

const show = (dims: readonly (number | null)[]) => `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;

export interface OnnxFileModel {
  file: string;
  /** the file's bytes (the differentiator reads them) */
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  /** Declared input shape including the batch dimension (null: symbolic). */
  inputDims: (number | null)[];
  outputDims: (number | null)[];
  session: SyncSession;
  /** disposes `session` with the model (the gradient classifier's differentiated graph) */
  retain(session: SyncSession): void;
  dispose(): void;
}

/** Opens a .onnx file; one float32 input and one output, else a UsageError naming the file. */
export function loadOnnxFile(file: string): OnnxFileModel {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let session: SyncSession;
  try {
    session = new SyncSession(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new UsageError(`cannot load ${file} as an ONNX model: ${(e as Error).message.split('\n')[0]}`);
  }
  const fail = (msg: string): never => {
    session.dispose();
    throw new UsageError(`${file}: ${msg}`);
  };
  if (session.inputNames.length !== 1) fail(`a classifier graph has one input, this one has ${session.inputNames.length} (${session.inputNames.join(', ')})`);
  if (session.outputNames.length !== 1) fail(`a classifier graph has one output (logits or probabilities), this one has ${session.outputNames.length} (${session.outputNames.join(', ')})`);
  const im = session.inputMetadata[0];
  const om = session.outputMetadata[0];
  if (im.type !== undefined && im.type !== FLOAT32) fail(`input "${im.name}" has ONNX element type ${im.type}; a classifier input is float32 (type 1)`);
  const inputDims = declared(im);
  const outputDims = declared(om);
  if (!inputDims || inputDims.length < 2) fail(`input "${im.name}" has no batch and feature dimensions declared`);
  if (outputDims?.length !== 2) fail(`output "${om.name}" must be [batch, classes], declared ${outputDims ? show(outputDims) : 'without a shape'}`);
  const retained: SyncSession[] = [];
  return {
    file,
    bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    inputName: im.name,
    outputName: om.name,
    inputDims: inputDims as (number | null)[],
    outputDims: outputDims as (number | null)[],
    session,
    retain: (s) => {
      retained.push(s);
    },
    dispose: () => {
      session.dispose();
      for (const s of retained.splice(0)) s.dispose();
    },
  };
}

/** How dataset inputs (TF.js layout [N, ...inputShape]) become the graph's input: as they are, flattened, or NHWC -> NCHW. */
export type OnnxLayout = 'same' | 'flatten' | 'nchw';

/** The layouts as the CLI names them (--layout): the graph's input is NCHW, NHWC (the dataset's own [h, w, c]) or flat. */
export const LAYOUT_NAMES: Record<OnnxLayout, string> = { nchw: 'nchw', same: 'nhwc', flatten: 'flat' };

/**
 * The layout that maps dataset inputs of `inputShape` onto the declared
 * input (batch dimension left out). A symbolic dim matches anything. A
 * mismatch is a one-line UsageError naming both shapes.
 */
export function onnxInputLayout(model: OnnxFileModel, inputShape: readonly number[], datasetName: string, given?: OnnxLayout): OnnxLayout {
  const want = model.inputDims.slice(1);
  const fits = (dims: readonly number[]) => dims.length === want.length && dims.every((d, i) => want[i] === null || want[i] === d);
  if (given) {
    // A layout the caller names (e.g. NCHW where C == H, so both read fit) is checked, not guessed.
    const [h, w, c] = inputShape;
    const dims = given === 'same' ? [...inputShape] : given === 'flatten' ? [inputShape.reduce((a, b) => a * b, 1)] : inputShape.length === 3 ? [c, h, w] : null;
    if (dims && fits(dims)) return given;
    throw new UsageError(
      `the .onnx model ${model.file} takes inputs of shape ${show(want)} (batch left out), dataset ${datasetName} has [${inputShape.join(', ')}], which does not fit layout ${LAYOUT_NAMES[given]}`,
    );
  }
  if (fits(inputShape)) return 'same';
  if (inputShape.length === 3) {
    const [h, w, c] = inputShape;
    if (fits([c, h, w])) return 'nchw';
  }
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (want.length === 1 && fits([size])) return 'flatten';
  throw new UsageError(`the .onnx model ${model.file} takes inputs of shape ${show(want)} (batch left out), dataset ${datasetName} has [${inputShape.join(', ')}] (as is, as NCHW or flattened)`);
}

/**
 * The forward-only classifier of an .onnx file for dataset inputs of
 * `inputShape`: x (TF.js layout) is read back, laid out for the graph, run
 * synchronously, and the [batch, k] output returned as a tensor. A graph
 * with a fixed batch size runs in chunks of that size (the last one padded).
 * Its gradient throws OnnxGradientError.
 */
export function onnxClassifier(model: OnnxFileModel, inputShape: readonly number[], numClasses: number, datasetName: string, layout?: OnnxLayout): Classifier {
  return fileClassifier(model, inputShape, numClasses, datasetName, false, layout);
}

/**
 * The classifier of an .onnx file with input gradients: as onnxClassifier,
 * and its backward runs the file's graph differentiated (grad/) with tfjs's
 * dLogits as the seed, returning dx in TF.js layout. Every op on the path
 * from the input to the output needs a gradient rule; otherwise this throws
 * a UsageError naming the file, the node and the op. Gradients of the
 * output whatever it is (logits or probabilities): the attack's loss is
 * tfjs code on top, as for every other classifier.
 */
export function onnxGradientClassifier(model: OnnxFileModel, inputShape: readonly number[], numClasses: number, datasetName: string, layout?: OnnxLayout): Classifier {
  return fileClassifier(model, inputShape, numClasses, datasetName, true, layout);
}

/** The differentiated graph of a file, for per-example input shape `shape` (graph layout); UsageError naming the file if it cannot be built. */
export function differentiateFile(model: OnnxFileModel, shape: number[]): DifferentiatedModel {
  try {
    return differentiate(parseModel(model.bytes), { wrt: [model.inputName], output: model.outputName, seed: 'cotangent', inputShapes: { [model.inputName]: shape } });
  } catch (e) {
    if (e instanceof UnsupportedOpError || e instanceof OnnxModelError) throw new UsageError(`${model.file}: no input gradients: ${e.message}`);
    throw e;
  }
}

function fileClassifier(model: OnnxFileModel, inputShape: readonly number[], numClasses: number, datasetName: string, withGradient: boolean, given?: OnnxLayout): Classifier {
  const layout = onnxInputLayout(model, inputShape, datasetName, given);
  const k = model.outputDims[1];
  if (k !== null && k !== numClasses) throw new UsageError(`the .onnx model ${model.file} has ${k} outputs, dataset ${datasetName} has ${numClasses} classes`);
  const d = inputShape.reduce((a, b) => a * b, 1);
  const fixedBatch = model.inputDims[0];
  const graphShape = (b: number): number[] => {
    if (layout === 'flatten') return [b, d];
    if (layout === 'nchw') return [b, inputShape[2], inputShape[0], inputShape[1]];
    return [b, ...inputShape];
  };
  const runRows = (data: Float32Array, b: number): Float32Array => {
    const out = model.session.run({ [model.inputName]: [data, graphShape(b)] })[model.outputName];
    if (out.dims.length !== 2 || out.dims[0] !== b || out.dims[1] !== numClasses) {
      throw new UsageError(`the .onnx model ${model.file} returned an output of shape [${out.dims.join(', ')}] for ${b} inputs; expected [${b}, ${numClasses}]`);
    }
    if (!(out.data instanceof Float32Array)) throw new UsageError(`the .onnx model ${model.file} returned a non-float32 output`);
    return out.data;
  };
  /** x in graph layout, as a flat copy */
  const graphData = (x: tf.Tensor): Float32Array => {
    const laid = layout === 'nchw' ? tf.tidy(() => tf.transpose(x, [0, 3, 1, 2])) : x;
    const data = Float32Array.from(laid.dataSync() as Float32Array);
    if (laid !== x) laid.dispose();
    return data;
  };
  /** Runs `rows` over the batch in chunks of the graph's fixed batch size (the last one zero-padded), or at once. */
  const chunked = (n: number, width: number, inputs: [Float32Array, number][], rows: (chunk: Float32Array[], b: number) => Float32Array): Float32Array => {
    if (fixedBatch === null || fixedBatch === n)
      return rows(
        inputs.map(([a]) => a),
        n,
      );
    const out = new Float32Array(n * width);
    for (let s = 0; s < n; s += fixedBatch) {
      const end = Math.min(n, s + fixedBatch);
      const chunk = inputs.map(([a, w]) => {
        const c = new Float32Array(fixedBatch * w);
        c.set(a.subarray(s * w, end * w));
        return c;
      });
      out.set(rows(chunk, fixedBatch).subarray(0, (end - s) * width), s * width);
    }
    return out;
  };
  const forward = (x: tf.Tensor): tf.Tensor2D => {
    const n = x.shape[0];
    return tf.tensor2d(
      chunked(n, numClasses, [[graphData(x), d]], ([c], b) => runRows(c, b)),
      [n, numClasses],
    );
  };
  let backward: ((x: tf.Tensor, dy: tf.Tensor) => tf.Tensor) | null = null;
  if (withGradient) {
    const grad = differentiateFile(model, graphShape(1).slice(1));
    const session = new SyncSession(grad.model);
    model.retain(session);
    const gradName = grad.gradients[model.inputName];
    backward = (x, dy) => {
      const n = x.shape[0];
      const dyData = Float32Array.from(dy.dataSync() as Float32Array);
      const dx = chunked(
        n,
        d,
        [
          [graphData(x), d],
          [dyData, numClasses],
        ],
        ([xc, dyc], b) => {
          const out = session.run({ [model.inputName]: [xc, graphShape(b)], [grad.seed]: [dyc, [b, numClasses]] })[gradName];
          return out.data as Float32Array;
        },
      );
      return tf.tidy(() => {
        const g = tf.tensor(dx, graphShape(n));
        return layout === 'nchw' ? tf.transpose(g, [0, 2, 3, 1]) : tf.reshape(g, [n, ...inputShape]);
      });
    };
  }
  const withGrad = tf.customGrad(((x: tf.Tensor, save: (t: tf.Tensor[]) => void) => {
    save([x]);
    return {
      value: forward(x),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
        if (!backward) throw new OnnxGradientError(model.file);
        return backward(saved[0], dy);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (x) => withGrad(x) as tf.Tensor2D;
}

/**
 * A classifier of pixel-space inputs for a graph that expects them
 * normalised per channel (the last axis, TF.js layout): f((x - mean) / std).
 * The normalisation is tfjs ops ahead of the graph, so attacks work in pixel
 * space and tf.grad carries the exact gradient (1 / std per channel) back.
 */
export function withInputNormalisation(f: Classifier, mean: readonly number[], std: readonly number[]): Classifier {
  const m = tf.tensor1d(Float32Array.from(mean));
  const s = tf.tensor1d(Float32Array.from(std));
  tf.keep(m);
  tf.keep(s);
  return (x) => tf.tidy(() => f(tf.div(tf.sub(x, m), s)));
}

/** The SHA-256 of a model file's bytes (hex), recorded with results and used in job ids. */
export function fileSha256(model: OnnxFileModel): string {
  return crypto.createHash('sha256').update(model.bytes).digest('hex');
}

/** --layout / a study entry's `layout`, as users name it: the graph's input is NCHW, NHWC (the dataset's own [h, w, c]) or flat. */
export const LAYOUT_BY_NAME: Record<string, OnnxLayout> = { nchw: 'nchw', nhwc: 'same', flat: 'flatten' };

/** How an imported file's input is read: layout (default: from the declared shape), and the normalisation the graph expects. */
export interface ImportedInput {
  layout?: OnnxLayout;
  mean?: readonly number[];
  std?: readonly number[];
}

/**
 * The classifier of an imported .onnx file on a dataset's pixel-space inputs:
 * with input gradients where every op has a gradient rule; otherwise, when
 * `needsGradients` is false, forward-only (`gradientFree`), else the
 * differentiator's one-line UsageError naming the node and the op. `settings`
 * is what results record: SHA-256, layout, mean, std, whether gradients exist.
 */
export function importedClassifier(
  m: OnnxFileModel,
  inputShape: readonly number[],
  numClasses: number,
  datasetName: string,
  input: ImportedInput,
  needsGradients: boolean,
): { classifier: Classifier; gradientFree: boolean; settings: Record<string, unknown> } {
  const channels = inputShape[inputShape.length - 1];
  for (const [name, v] of [
    ['mean', input.mean],
    ['std', input.std],
  ] as const) {
    if (v && v.length !== 1 && v.length !== channels) throw new UsageError(`${name} takes 1 or ${channels} values (one per channel of [${inputShape.join(', ')}]), got ${v.length}`);
  }
  let base: Classifier;
  let gradientFree = false;
  try {
    base = onnxGradientClassifier(m, inputShape, numClasses, datasetName, input.layout);
  } catch (e) {
    if (needsGradients || !(e instanceof UsageError) || !/no input gradients/.test(e.message)) throw e;
    base = onnxClassifier(m, inputShape, numClasses, datasetName, input.layout);
    gradientFree = true;
  }
  const settings = {
    sha256: fileSha256(m),
    layout: LAYOUT_NAMES[onnxInputLayout(m, inputShape, datasetName, input.layout)],
    mean: input.mean ? [...input.mean] : null,
    std: input.std ? [...input.std] : null,
    gradients: !gradientFree,
  };
  const classifier = input.mean || input.std ? withInputNormalisation(base, input.mean ?? [0], input.std ?? [1]) : base;
  return { classifier, gradientFree, settings };
}
