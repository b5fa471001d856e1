/**
 * Helpers shared by the schemes: parameter validation (every bad value is a
 * one-line UsageError naming the scheme, the field, the value and what is
 * allowed) and the small tensor operations of input/label mixing.
 */
import * as tf from '@tensorflow/tfjs';
import { inputSize, takeRows } from '../../data/types';
import { UsageError } from '../../contract/errors';

// ---------------------------------------------------------------- parameters

/** Rejects keys that are not parameters of the scheme. */
export function checkKeys(scheme: string, params: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(params)) {
    if (params[key] === undefined) continue;
    if (!allowed.includes(key)) {
      throw new UsageError(`scheme ${scheme}: unknown parameter "${key}"; allowed: ${allowed.length ? allowed.join(', ') : 'none (this scheme has no parameters)'}`);
    }
  }
}

function show(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : String(v);
}

/**
 * A number parameter: `params[key]` or the default, checked by `ok`;
 * `allowed` describes the valid range in the error message. Numeric strings
 * (from command-line flags) are accepted.
 */
export function numberParam(scheme: string, params: Record<string, unknown>, key: string, fallback: number, ok: (v: number) => boolean, allowed: string): number {
  const raw = params[key];
  if (raw === undefined) return fallback;
  const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
    throw new UsageError(`scheme ${scheme}: ${key} must be ${allowed}, got ${show(raw)}`);
  }
  return v;
}

/** An integer parameter in [min, max]. */
export function intParam(scheme: string, params: Record<string, unknown>, key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, why = ''): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
  return numberParam(scheme, params, key, fallback, (v) => Number.isInteger(v) && v >= min && v <= max, range + why);
}

/** A parameter with a fixed set of string values. */
export function choiceParam<T extends string>(scheme: string, params: Record<string, unknown>, key: string, fallback: T, choices: readonly T[]): T {
  const raw = params[key];
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`scheme ${scheme}: ${key} must be one of ${choices.join(', ')}, got ${show(raw)}`);
  }
  return raw as T;
}

/** alpha of a Beta distribution: finite and > 0. */
export function alphaParam(scheme: string, params: Record<string, unknown>, fallback: number): number {
  return numberParam(scheme, params, 'alpha', fallback, (v) => v > 0, 'a number > 0');
}

/** Whether one mixing weight is drawn per batch or one per example. */
export const LAMBDA_PER = ['batch', 'example'] as const;
export type LambdaPer = (typeof LAMBDA_PER)[number];

// ------------------------------------------------------------------ tensors

/** Rows `idx` of a row-major array as a [idx.length, ...inputShape] tensor. */
export function rowsTensor(x: Float32Array, inputShape: number[], idx: ArrayLike<number>): tf.Tensor {
  return tf.tensor(takeRows(x, inputSize(inputShape), idx), [idx.length, ...inputShape]);
}

/** Per-row weights shaped to broadcast against a [b, ...rest] tensor of rank `rank`. */
export function rowWeights(lambda: Float32Array, rank: number): tf.Tensor {
  return tf.tensor(lambda, [lambda.length, ...new Array<number>(rank - 1).fill(1)]);
}

/** lambda_i a_i + (1 - lambda_i) b_i, row by row. */
export function mixRows(a: tf.Tensor, b: tf.Tensor, lambda: Float32Array): tf.Tensor {
  return tf.tidy(() => {
    const w = rowWeights(lambda, a.rank);
    return tf.add(tf.mul(w, a), tf.mul(tf.sub(1, w), b));
  });
}

/** `n` copies of row `point`. */
export function repeatIndex(point: number, n: number): Int32Array {
  return new Int32Array(n).fill(point);
}

/** Checks the arguments of `Scheme.vicinity` (bad values are user input: UsageError). */
export function checkVicinity(scheme: string, point: number, n: number, rows: number): void {
  if (!Number.isInteger(point) || point < 0 || point >= rows) {
    throw new UsageError(`scheme ${scheme}: point must be an integer in [0, ${rows - 1}] (a row of the scheme's training set), got ${point}`);
  }
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`scheme ${scheme}: the number of samples must be an integer >= 1, got ${n}`);
}

/**
 * `n` mixing weights: one draw shared by all rows (`per` = "batch") or one
 * draw per row ("example"), in row order.
 */
export function drawLambdas(n: number, per: LambdaPer, draw: () => number): Float32Array {
  const out = new Float32Array(n);
  if (per === 'batch') out.fill(draw());
  else for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}
