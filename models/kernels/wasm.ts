/** Placeholder: replaced by correct wasm gradient kernels. */
export function registerWasmKernels(): string[] {
  return [];
}
