import * as fs from 'fs';
import * as zlib from 'zlib';
import { UsageError } from '../../contract/errors';

/** A numeric array read from a file: its values in row-major (C) order and its shape. */
export interface NdArray {
  shape: number[];
  values: ArrayLike<number>;
  /** The element type as stored, e.g. "uint8", "float32", "int64". */
  dtype: string;
  /** Where it came from, for error messages ("train.npz:x.npy"). */
  source: string;
}

/** A one-line UsageError naming the file and the problem. */
export function fileError(file: string, problem: string): UsageError {
  return new UsageError(`${file}: ${problem}`);
}

export function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads a file; a missing or unreadable one is a one-line UsageError. */
export function readBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(file, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot read (${(e as Error).message})`);
  }
}

/** The bytes of a file, gunzipped when they start with the gzip magic (1f 8b), whatever the name. */
export function readMaybeGzipped(file: string): Buffer {
  const raw = readBytes(file);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return zlib.gunzipSync(raw);
    } catch (e) {
      throw fileError(file, `corrupt or truncated gzip data (${(e as Error).message})`);
    }
  }
  return raw;
}

/** A copy of `bytes` as an ArrayBuffer aligned for typed-array views. */
export function aligned(bytes: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(out).set(bytes);
  return out;
}
