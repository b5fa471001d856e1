import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';

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

/** Loads a model saved by `saveModel` (or any single-file TF.js Layers model). */
export async function loadModel(dir: string): Promise<{ model: tf.LayersModel; metadata: Record<string, unknown> }> {
  const jsonPath = path.join(dir, MODEL_JSON);
  if (!fs.existsSync(jsonPath)) throw new Error(`no model at ${dir}: ${MODEL_JSON} is missing`);
  let json: {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    userDefinedMetadata?: Record<string, unknown>;
  };
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`${jsonPath} is not valid JSON: ${(e as Error).message}`);
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const b = fs.readFileSync(path.join(dir, p));
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
  }
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: tf.io.CompositeArrayBuffer.join(buffers) }));
  return { model, metadata: json.userDefinedMetadata ?? {} };
}
