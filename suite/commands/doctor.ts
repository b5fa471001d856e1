import { initBackend } from '../../backend/select';
import type { Command } from '../command';
import { PATCHED_WASM_KERNELS, restoreStockWasmKernels } from '../../backend/kernels/wasm';
import { formatGradientReport } from '../../backend/gradient-check';
import { formatConformanceReport } from '../../backend/conformance';
import { verifyBackend } from '../../backend/verify';
import { formatEngineReport } from '../../backend/onnx/check';
import { STEP_REFERENCE } from '../../attacks/step-reference';
import { EXIT, UsageError } from '../../contract/errors';
import { backendFlagSpec, parseBackendFlag } from '../backend-flag';

export const command: Command = {
  spec: {
    name: 'doctor',
    summary: 'verify the backend against the cpu reference: every forward op on tiny, subnormal, zero and huge inputs, and the gradients of every layer type (also against finite differences)',
    usage: 'vicinal doctor [--backend auto|tensorflow|onnx|wasm|cpu] [--stock] [--json]',
    flags: {
      backend: backendFlagSpec('backend to check'),
      json: { kind: 'boolean', help: 'print the report as JSON' },
      stock: { kind: 'boolean', help: 'wasm only: check the stock kernels vicinal replaces, to see why they are replaced (exits 1: they fail)' },
    },
  },
  async main(flags) {
    const info = await initBackend(parseBackendFlag(flags.backend));
    if (flags.stock) {
      if (info.name !== 'wasm') throw new UsageError(`--stock applies to the wasm backend; the selected backend is ${info.name}`);
      restoreStockWasmKernels();
      info.patchedKernels = info.patchedKernels.filter((k) => !(PATCHED_WASM_KERNELS as readonly string[]).includes(k));
    }
    const v = await verifyBackend(STEP_REFERENCE);
    if (flags.json) console.log(JSON.stringify({ ...v, backendInfo: info }, null, 1));
    else {
      console.log(`backend ${info.name} (${info.package}, tfjs ${info.tfjsVersion}${info.gpu ? ', GPU' : ''}); patched kernels: ${info.patchedKernels.join(', ') || 'none'}`);
      console.log('');
      console.log(formatConformanceReport(v.ops));
      console.log('');
      console.log(formatGradientReport(v.gradients));
      console.log('');
      if (v.engine) {
        console.log(formatEngineReport(v.engine));
        console.log('');
      }
      console.log(v.ok ? 'backend ok: every op and gradient agrees with the cpu reference' : `backend REFUSED: ${v.failing.join('; ')}`);
    }
    return v.ok ? EXIT.ok : EXIT.failed;
  },
};
