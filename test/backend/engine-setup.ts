/** What the tests on the onnx engine share: starting it (or failing loudly), the model cast, and two small architectures. */
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { LayersModelLike } from '../../backend/onnx/compile';
import { ModelSpec } from '../../models/build';

/** Starts the onnx engine; a test file that needs it must not run on another backend. */
export async function requireOnnxEngine(): Promise<void> {
  const info = await initBackend('onnx');
  if (info.name !== 'onnx') throw new Error(`expected the onnx engine, got ${info.name}`);
}

export const like = (m: tf.LayersModel) => m as unknown as LayersModelLike;

/** A small MLP and CNN on 28x28x1 inputs: quick to compile, and between them every op of the attack graphs. */
export const SMALL_ENGINE_SPECS: [string, ModelSpec][] = [
  ['mlp', { arch: 'mlp', hidden: [32, 16] }],
  ['cnn', { arch: 'cnn', filters: [4, 8] }],
];
