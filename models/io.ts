import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import type { Classifier } from '../contract/classifier';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/**
 * Saves in the standard TF.js Layers format: `model.json` (topology plus a
 * weights manifest naming `weights.bin`) and `weights.bin` (the weights as
 * little-endian float32, concatenated in manifest order). Both files are
 * written to temporary names and renamed, so a crash never leaves a
 * half-written model. `extra` is stored under model.json's `userDefinedMetadata`.
 */
export async function saveModel(model: tf.LayersModel, dir: string, extra: Record<string, unknown> = {}): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const json = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: extra,
      };
      const tmpBin = path.join(dir, `${WEIGHTS_BIN}.tmp-${process.pid}`);
      const tmpJson = path.join(dir, `${MODEL_JSON}.tmp-${process.pid}`);
      fs.writeFileSync(tmpBin, Buffer.from(weightData));
      fs.writeFileSync(tmpJson, JSON.stringify(json));
      fs.renameSync(tmpBin, path.join(dir, WEIGHTS_BIN));
      fs.renameSync(tmpJson, path.join(dir, MODEL_JSON));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weightData.byteLength } };
    }),
  );
}

export function hasSavedModel(dir: string): boolean {
  return fs.existsSync(path.join(dir, MODEL_JSON)) && fs.existsSync(path.join(dir, WEIGHTS_BIN));
}

interface ModelJson {
  format?: string;
  modelTopology: Record<string, unknown>;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  userDefinedMetadata?: Record<string, unknown>;
}

/** The model.json of a folder, or the file itself when `dirOrFile` names a .json file. */
export function modelJsonPath(dirOrFile: string): string {
  return dirOrFile.toLowerCase().endsWith('.json') && fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isFile() ? dirOrFile : path.join(dirOrFile, MODEL_JSON);
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function readModelJson(dirOrFile: string): { json: ModelJson; jsonPath: string } {
  const jsonPath = modelJsonPath(dirOrFile);
  if (!fs.existsSync(jsonPath)) throw new Error(`no model at ${dirOrFile}: ${MODEL_JSON} is missing`);
  let json: ModelJson;
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`${jsonPath} is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new Error(`${jsonPath}: no modelTopology; not a TF.js Layers model (format "layers-model")`);
  }
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new Error(`${jsonPath}: format "${json.format}" is not a TF.js Layers model ("layers-model"; graph models from the TF.js converter are not supported)`);
  }
  if (!Array.isArray(json.weightsManifest)) throw new Error(`${jsonPath}: weightsManifest is missing`);
  return { json, jsonPath };
}

/**
 * The weights of a manifest: every group's shards concatenated in order (a
 * weight may span two shards, as the TF.js converter writes them), checked
 * against the byte count the manifest describes.
 */
function readWeights(json: ModelJson, jsonPath: string): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const dir = path.dirname(jsonPath);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    let want = 0;
    for (const w of group.weights) {
      const dtype = w.quantization?.dtype ?? w.dtype;
      want += w.shape.reduce((a, b) => a * b, 1) * (BYTES[dtype] ?? NaN);
    }
    let have = 0;
    for (const p of group.paths) {
      const file = path.join(dir, p);
      if (!fs.existsSync(file)) throw new Error(`${jsonPath}: weights file ${p} is missing`);
      const b = fs.readFileSync(file);
      have += b.byteLength;
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
    if (have !== want) {
      throw new Error(`${jsonPath}: the weights files ${group.paths.join(', ')} hold ${have} bytes, the manifest describes ${want} (truncated or from another model)`);
    }
    specs.push(...group.weights);
  }
  return { specs, data: tf.io.CompositeArrayBuffer.join(buffers) };
}

/** Loads a model saved by `saveModel`, or any TF.js Layers model (single or sharded weights); `dirOrFile` is its folder or its model.json. */
export async function loadModel(dirOrFile: string): Promise<{ model: tf.LayersModel; metadata: Record<string, unknown> }> {
  const { json, jsonPath } = readModelJson(dirOrFile);
  const { specs, data } = readWeights(json, jsonPath);
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: data }));
  return { model, metadata: json.userDefinedMetadata ?? {} };
}

/**
 * Layers (Keras class names) a model from another tool may use; `vicinal attack` refuses others by name.
 * BatchNormalization (inference mode: running statistics, so per example), Add and GlobalAveragePooling2D
 * are the ResNets' (models/resnet.ts), checked batch-independent by test/models/resnet.test.ts.
 */
export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Dense',
  'Conv2D',
  'MaxPooling2D',
  'Flatten',
  'Dropout',
  'Activation',
  'ReLU',
  'Softmax',
  'BatchNormalization',
  'Add',
  'GlobalAveragePooling2D',
] as const;
export const SUPPORTED_ACTIVATIONS = ['linear', 'relu', 'softmax'] as const;
const MODEL_CLASSES = ['Sequential', 'Functional', 'Model'];
const FAMILY = `${SUPPORTED_LAYERS.join(', ')}; activations ${SUPPORTED_ACTIVATIONS.join(', ')}`;

interface LayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown;
}

/** The topology's model config: Keras' { class_name, config }, unwrapped from the converter's model_config. */
function modelConfigOf(topology: Record<string, unknown>): LayerJson {
  return (topology.model_config ?? topology) as LayerJson;
}

/** The layers of a Sequential or Functional config (Sequential's config may be the list itself, as older Keras wrote it). */
function layersOf(m: LayerJson): LayerJson[] {
  const c = m.config as unknown;
  if (Array.isArray(c)) return c as LayerJson[];
  const layers = (c as { layers?: unknown })?.layers;
  return Array.isArray(layers) ? (layers as LayerJson[]) : [];
}

const layerName = (l: LayerJson) => String(l.config?.name ?? l.name ?? '?');

/** Throws naming the first layer outside the supported family. */
export function checkLayerFamily(topology: Record<string, unknown>, source: string): void {
  const m = modelConfigOf(topology);
  if (!m || typeof m !== 'object' || !MODEL_CLASSES.includes(m.class_name)) {
    throw new Error(`${source}: model class "${m?.class_name}" is not supported (${MODEL_CLASSES.join(', ')})`);
  }
  const layers = layersOf(m);
  if (layers.length === 0) throw new Error(`${source}: the ${m.class_name} model has no layers`);
  for (const l of layers) {
    const name = layerName(l);
    if (MODEL_CLASSES.includes(l.class_name)) {
      checkLayerFamily({ model_config: l }, source);
      continue;
    }
    if (!(SUPPORTED_LAYERS as readonly string[]).includes(l.class_name)) {
      throw new Error(`${source}: layer "${name}" is ${l.class_name}, outside the supported family (${FAMILY})`);
    }
    const act = l.config?.activation;
    if (act !== undefined && !(SUPPORTED_ACTIVATIONS as readonly string[]).includes(String(act))) {
      throw new Error(`${source}: layer "${name}" (${l.class_name}) has activation ${JSON.stringify(act)}, outside the supported family (${FAMILY})`);
    }
    if (l.class_name === 'ReLU' && (Number(l.config.negative_slope ?? 0) !== 0 || Number(l.config.threshold ?? 0) !== 0)) {
      throw new Error(`${source}: layer "${name}" is a ReLU with negative_slope or threshold, outside the supported family (${FAMILY})`);
    }
    if (l.class_name === 'Softmax' && l.config.axis !== undefined && l.config.axis !== -1) {
      throw new Error(`${source}: layer "${name}" is a Softmax over axis ${JSON.stringify(l.config.axis)}; only the last axis is supported`);
    }
    if (l.config?.data_format === 'channels_first') {
      throw new Error(`${source}: layer "${name}" (${l.class_name}) uses data_format channels_first; only channels_last is supported`);
    }
  }
}

/**
 * Finds a softmax at the model's output (a Dense / Conv2D with activation
 * softmax, an Activation softmax or a Softmax layer, possibly followed by
 * Dropout or linear Activation layers, which are the identity at inference)
 * and turns it into a linear activation, in place. Returns the layer's name,
 * or null when the output has no softmax.
 */
function stripOutputSoftmax(topology: Record<string, unknown>): string | null {
  const m = modelConfigOf(topology);
  const layers = layersOf(m);
  const byName = new Map(layers.map((l) => [layerName(l), l]));
  let cur: LayerJson | undefined;
  if (m.class_name === 'Sequential') cur = layers[layers.length - 1];
  else {
    const outs = (m.config as { output_layers?: unknown[] }).output_layers ?? [];
    if (outs.length !== 1) return null;
    const first = outs[0] as unknown[];
    cur = byName.get(String(Array.isArray(first) ? first[0] : first));
  }
  for (let steps = 0; cur && steps < layers.length; steps++) {
    const act = cur.config?.activation;
    if (cur.class_name === 'Softmax' || act === 'softmax') {
      if (cur.class_name === 'Softmax') {
        cur.class_name = 'Activation';
        cur.config = { name: cur.config.name, trainable: cur.config.trainable ?? true, dtype: cur.config.dtype ?? 'float32', activation: 'linear' };
      } else cur.config.activation = 'linear';
      return layerName(cur);
    }
    const passThrough = cur.class_name === 'Dropout' || (cur.class_name === 'Activation' && act === 'linear');
    if (!passThrough) return null;
    if (m.class_name === 'Sequential') cur = layers[layers.indexOf(cur) - 1];
    else {
      // Functional: the single inbound layer, [[[name, node, tensor, kwargs]]] in Keras 2's format.
      const nodes = cur.inbound_nodes as unknown[][][] | undefined;
      const inbound = nodes?.[0]?.[0];
      cur = Array.isArray(inbound) && nodes?.[0]?.length === 1 ? byName.get(String(inbound[0])) : undefined;
    }
  }
  return null;
}

/**
 * A TF.js Layers model from vicinal or another tool (the TF.js converter
 * from Keras: sharded weights, Sequential or Functional / Model topologies),
 * restricted to the layer family vicinal's attacks are checked on. A final
 * softmax is removed: `softmaxLayer` names it, and the model returns the
 * pre-softmax values z, where log p = z - logsumexp(z): the same losses,
 * predictions and margins as log p, computed stably.
 */
export async function loadForeignModel(dirOrFile: string): Promise<{ model: tf.LayersModel; metadata: Record<string, unknown>; softmaxLayer: string | null }> {
  const { json, jsonPath } = readModelJson(dirOrFile);
  const topology = JSON.parse(JSON.stringify(json.modelTopology)) as Record<string, unknown>;
  checkLayerFamily(topology, jsonPath);
  const softmaxLayer = stripOutputSoftmax(topology);
  const { specs, data } = readWeights(json, jsonPath);
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology, weightSpecs: specs, weightData: data }));
  } catch (e) {
    throw new Error(`${jsonPath}: TF.js cannot build the model: ${(e as Error).message.split('\n')[0]}`);
  }
  if (model.outputs.length !== 1 || model.outputs[0].shape.length !== 2) {
    model.dispose();
    throw new Error(`${jsonPath}: a classifier has one output of shape [batch, classes]; this model has ${model.outputs.map((o) => `[${o.shape.join(', ')}]`).join(', ')}`);
  }
  return { model, metadata: json.userDefinedMetadata ?? {}, softmaxLayer };
}

/** Whether every row of `out` (n x k) is non-negative and sums to 1 (within `tol`): probabilities, not logits. */
export function looksLikeProbabilities(out: ArrayLike<number>, k: number, tol = 1e-3): boolean {
  const n = Math.floor(out.length / k);
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) {
      const v = out[i * k + j];
      if (!(v >= 0)) return false;
      s += v;
    }
    if (Math.abs(s - 1) > tol) return false;
  }
  return true;
}

/** A classifier that outputs probabilities, wrapped to output their log (floored at 1e-30 so a 0 stays finite). */
export function logOfProbabilities(f: Classifier): Classifier {
  return (x) => tf.log(tf.maximum(f(x), 1e-30)) as tf.Tensor2D;
}
