import * as tf from '@tensorflow/tfjs';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Info = tf.TensorInfo;

const ORIGINAL = Symbol.for('vicinal.wasmMatMulOriginal');
type Marked = tf.KernelConfig & { [ORIGINAL]?: tf.KernelConfig };

/**
 * The wasm BatchMatMul is ~15x slower when an operand is transposed
 * (measured: 28 GFLOP/s plain vs 2 GFLOP/s with transposeA or transposeB at
 * [128x784]x[784x256]), and backpropagation through a dense layer asks for
 * exactly those products (dW = x^T dy, dx = dy W^T). This kernel transposes
 * such an operand explicitly with the wasm Transpose kernel (about 0.5 ms for
 * 200k values) and runs the fast non-transposed product instead.
 * Idempotent; returns the kernel name when it (re)registered it.
 */
export function registerWasmMatMulFastPath(): string[] {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return [];
  if ((original as Marked)[ORIGINAL]) return ['BatchMatMul'];
  const plain = original.kernelFunc;
  const kernelFunc = (args: KernelArgs): Info => {
    const { inputs, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return plain(args) as Info;
    const temps: Info[] = [];
    const flip = (x: Info): Info => {
      const rank = x.shape.length;
      const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
      const t = transpose.kernelFunc({ inputs: { x }, backend, attrs: { perm } as unknown as tf.NamedAttrMap }) as Info;
      temps.push(t);
      return t;
    };
    const a = transposeA ? flip(inputs.a as Info) : (inputs.a as Info);
    const b = transposeB ? flip(inputs.b as Info) : (inputs.b as Info);
    const out = plain({ inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } }) as Info;
    for (const t of temps) (backend as tf.KernelBackend).disposeData(t.dataId);
    return out;
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  const config: Marked = { ...original, kernelFunc };
  config[ORIGINAL] = original;
  tf.registerKernel(config);
  return ['BatchMatMul'];
}

/** Puts the stock wasm BatchMatMul back (benchmarks compare against it). */
export function unregisterWasmMatMulFastPath(): void {
  const current = tf.getKernel('BatchMatMul', 'wasm') as Marked | undefined;
  const original = current?.[ORIGINAL];
  if (!original) return;
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel(original);
}
