import { BackendChoice, BACKEND_CHOICES, initBackend } from '../backend';
import type { Command } from '../cli';
import { PATCHED_WASM_KERNELS, restoreStockWasmKernels } from '../../models/kernels/wasm';
import { checkGradients, formatGradientReport } from '../doctor';
import { EXIT, UsageError } from '../errors';

export const command: Command = {
  spec: {
    name: 'doctor',
    summary: 'verify input and weight gradients of every layer type against the cpu backend and finite differences',
    usage: 'vicinal doctor [--backend auto|tensorflow|wasm|cpu] [--stock] [--json]',
    flags: {
      backend: { kind: 'string', help: `backend to check: ${BACKEND_CHOICES.join('|')}`, default: 'auto' },
      json: { kind: 'boolean', help: 'print the report as JSON' },
      stock: { kind: 'boolean', help: "wasm only: check the stock kernels vicinal replaces, to see why they are replaced (exits 1: they fail)" },
    },
  },
  async main(flags) {
    const b = String(flags.backend);
    if (!(BACKEND_CHOICES as readonly string[]).includes(b)) throw new UsageError(`unknown backend "${b}"; allowed: ${BACKEND_CHOICES.join(', ')}`);
    const info = await initBackend(b as BackendChoice);
    if (flags.stock) {
      if (info.name !== 'wasm') throw new UsageError(`--stock applies to the wasm backend; the selected backend is ${info.name}`);
      restoreStockWasmKernels();
      info.patchedKernels = info.patchedKernels.filter((k) => !(PATCHED_WASM_KERNELS as readonly string[]).includes(k));
    }
    const report = await checkGradients();
    if (flags.json) console.log(JSON.stringify({ ...report, backendInfo: info }, null, 1));
    else {
      console.log(`backend ${info.name} (${info.package}, tfjs ${info.tfjsVersion}${info.gpu ? ', GPU' : ''}); patched kernels: ${info.patchedKernels.join(', ') || 'none'}`);
      console.log(formatGradientReport(report));
    }
    return report.ok ? EXIT.ok : EXIT.failed;
  },
};
