import * as tf from '@tensorflow/tfjs';
import { setOnnxEngineEnabled } from '../../backend/onnx/engine';

/** Runs `f` on the tfjs cpu backend with the onnx engine off (the reference path), then restores both. */
export async function onCpu<T>(f: () => T): Promise<T> {
  const host = tf.getBackend();
  setOnnxEngineEnabled(false);
  await tf.setBackend('cpu');
  try {
    return f();
  } finally {
    await tf.setBackend(host);
    setOnnxEngineEnabled(true);
  }
}
