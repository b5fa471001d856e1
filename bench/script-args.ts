/**
 * What the bench scripts share: their two MNIST architectures, reading
 * `--name value` flags, the median of repeated timings, and timing one call.
 */
import { ModelSpec } from '../models/build';

/** The bench's MNIST MLP (256-256) and CNN (16, 32 filters), by the names `--models` takes. */
export const BENCH_MODEL_SPECS: Record<string, ModelSpec> = { mlp: { arch: 'mlp', hidden: [256, 256] }, cnn: { arch: 'cnn', filters: [16, 32] } };

/** The value after `--name` on the command line, or `def` when absent. */
export function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

/** The median (the mean of the two middle values for an even count). */
export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Wall milliseconds of one call of `fn`. */
export function timeMs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
