import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './kernels/wasm';
import { registerWasmMatMulFastPath } from './kernels/wasm-matmul';
import { setOnnxEngineEnabled } from './onnx/engine';
import { loadOrt, ortExecutionProvider, ortLoadError, probeSession } from './onnx/runtime';
import { silenceTfjsAdvert } from './quiet';

import { BACKEND_CHOICES, BackendChoice, BackendInfo } from '../contract/results';

/** The engine's package as results record it; a provider other than cpu is named (cpu runs keep the plain name). */
function onnxPackage(): string {
  const ep = ortExecutionProvider();
  return ep === 'cpu' ? 'onnxruntime-node' : `onnxruntime-node (${ep} execution provider)`;
}

function tryRequire(name: string): boolean {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

async function tryTensorflow(): Promise<{ pkg: string; gpu: boolean } | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    if (!tryRequire(pkg)) continue;
    if (await tf.setBackend('tensorflow')) {
      const binding = (tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } }).binding;
      const gpu = typeof binding?.isUsingGpuDevice === 'function' ? binding.isUsingGpuDevice() : false;
      return { pkg, gpu };
    }
  }
  return null;
}

async function tryWasm(): Promise<string[] | null> {
  if (!tryRequire('@tensorflow/tfjs-backend-wasm')) return null;
  const patched = [...registerWasmKernels(), ...registerWasmMatMulFastPath()];
  try {
    if (await tf.setBackend('wasm')) return patched;
  } catch {
    // fall through: wasm could not start
  }
  return null;
}

/**
 * Selects the compute backend. `auto` walks the ladder tfjs-node-gpu (on a
 * CUDA machine) -> the onnx engine -> tfjs-node -> wasm -> cpu and takes the
 * first that starts; an explicit choice that cannot start is an error, never
 * a silent fallback.
 *
 * The onnx engine (backend/onnx/) runs the network's forward pass and
 * gradients in onnxruntime-node; the tfjs ops around it (losses, attack
 * steps, optimizers) run on a host tfjs backend: tfjs-node when installed,
 * else wasm, else cpu. It reports name "onnx", package "onnxruntime-node".
 */
export async function initBackend(requested: BackendChoice = 'auto'): Promise<BackendInfo> {
  silenceTfjsAdvert();
  if (!(BACKEND_CHOICES as readonly string[]).includes(requested)) {
    throw new Error(`unknown backend "${requested}"; allowed: ${BACKEND_CHOICES.join(', ')}`);
  }
  setOnnxEngineEnabled(false);
  const info = (name: string, pkg: string, gpu: boolean, patchedKernels: string[] = []): BackendInfo => ({
    requested,
    name,
    package: pkg,
    gpu,
    tfjsVersion: tf.version.tfjs,
    patchedKernels,
  });
  if (requested === 'auto' || requested === 'tensorflow') {
    const t = await tryTensorflow();
    if (t && (t.gpu || requested === 'tensorflow')) return info('tensorflow', t.pkg, t.gpu);
    if (t && requested === 'auto' && loadOrt()) {
      probeSession();
      setOnnxEngineEnabled(true);
      return info('onnx', onnxPackage(), ortExecutionProvider() !== 'cpu');
    }
    if (t) return info('tensorflow', t.pkg, t.gpu);
    if (requested === 'tensorflow') {
      throw new Error('backend "tensorflow" needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed (their install downloads libtensorflow); use --backend wasm or cpu');
    }
  }
  if (requested === ('onnx' as BackendChoice) || (requested === 'auto' && loadOrt())) {
    if (!loadOrt()) throw new Error(`backend "onnx" needs onnxruntime-node (npm ci installs it): ${ortLoadError()}`);
    probeSession();
    const patched = await tryWasm();
    if (!patched) {
      await tf.setBackend('cpu');
      await tf.ready();
    }
    setOnnxEngineEnabled(true);
    return info('onnx', onnxPackage(), ortExecutionProvider() !== 'cpu', patched ?? []);
  }
  if (requested === 'auto' || requested === 'wasm') {
    const patched = await tryWasm();
    if (patched) return info('wasm', '@tensorflow/tfjs-backend-wasm', false, patched);
    if (requested === 'wasm') throw new Error('backend "wasm" failed to start (@tensorflow/tfjs-backend-wasm)');
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return info('cpu', '@tensorflow/tfjs-backend-cpu', false);
}
