/**
 * Datasets are plain typed arrays (backend-independent, cheap to send to a
 * worker thread). Tensors are made from them only where a computation needs them.
 */
export interface Bounds {
  /** Smallest valid input value (attacks clip to it). */
  lo: number;
  /** Largest valid input value. */
  hi: number;
}

export interface LabelledSet {
  /** Row-major inputs, n * prod(inputShape) values. */
  x: Float32Array;
  /** Class index per example. */
  y: Int32Array;
  n: number;
}

/** Inputs whose labels were withheld. It has no `y` field by construction. */
export interface UnlabelledSet {
  x: Float32Array;
  n: number;
}

export interface Dataset {
  /** Canonical name, e.g. "moons", "circles", "mnist". */
  name: string;
  /** Shape of one input, e.g. [2] or [28, 28, 1]. */
  inputShape: number[];
  numClasses: number;
  bounds: Bounds;
  train: LabelledSet;
  test: LabelledSet;
  /** Every setting that produced this dataset (seed, sizes, noise...). */
  settings: Record<string, number | string>;
}

export function inputSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Copies the rows `idx` of a row-major array with `d` values per row. */
export function takeRows(x: Float32Array, d: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) out.set(x.subarray(idx[i] * d, idx[i] * d + d), i * d);
  return out;
}

export function takeLabels(y: Int32Array, idx: ArrayLike<number>): Int32Array {
  const out = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = y[idx[i]];
  return out;
}
