/**
 * IDX files (LeCun's MNIST format; Fashion-MNIST uses it too), optionally
 * gzipped: bytes 0-1 are zero, byte 2 the element type, byte 3 the number of
 * dimensions, then one big-endian uint32 per dimension, then the values,
 * big-endian, in row-major order.
 */
import { NdArray, count, fileError, readMaybeGzipped } from './ndarray';

const TYPES: Record<number, { dtype: string; size: number; get: (v: DataView, o: number) => number }> = {
  8: { dtype: 'uint8', size: 1, get: (v, o) => v.getUint8(o) },
  9: { dtype: 'int8', size: 1, get: (v, o) => v.getInt8(o) },
  11: { dtype: 'int16', size: 2, get: (v, o) => v.getInt16(o, false) },
  12: { dtype: 'int32', size: 4, get: (v, o) => v.getInt32(o, false) },
  13: { dtype: 'float32', size: 4, get: (v, o) => v.getFloat32(o, false) },
  14: { dtype: 'float64', size: 8, get: (v, o) => v.getFloat64(o, false) },
};

const hex = (b: Uint8Array) => Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join('');

export function parseIdx(bytes: Uint8Array, file: string): NdArray {
  if (bytes.length < 4) throw fileError(file, `truncated: ${bytes.length} bytes, an IDX header needs at least 4`);
  const type = TYPES[bytes[2]];
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !type || ndims < 1) {
    throw fileError(file, `bad magic number 0x${hex(bytes)}: not an IDX file (IDX files start with 00 00, a type byte 08/09/0b/0c/0d/0e and the number of dimensions)`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw fileError(file, `truncated: ${bytes.length} bytes, the IDX header of ${ndims} dimensions needs ${headerBytes}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const n = count(shape);
  const want = headerBytes + n * type.size;
  if (bytes.length < want) throw fileError(file, `truncated: the header says shape [${shape.join(', ')}] of ${type.dtype} (${want} bytes), the file has ${bytes.length}`);
  if (bytes.length > want) throw fileError(file, `${bytes.length - want} bytes after the data the header describes (shape [${shape.join(', ')}] of ${type.dtype})`);
  let values: ArrayLike<number>;
  if (type.size === 1 && type.dtype === 'uint8') values = bytes.subarray(headerBytes, want);
  else {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = type.get(view, headerBytes + i * type.size);
    values = out;
  }
  return { shape, values, dtype: type.dtype, source: file };
}

export function readIdx(file: string): NdArray {
  return parseIdx(readMaybeGzipped(file), file);
}
