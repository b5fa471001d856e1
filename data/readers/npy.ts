/**
 * NumPy .npy files (format versions 1, 2 and 3): the magic "\x93NUMPY", a
 * version, a header length, a Python-literal header dict
 * {'descr': '<f4', 'fortran_order': False, 'shape': (n, 28, 28)}, then the
 * values. Numeric dtypes (bool, int8-64, uint8-64, float32/64) in either byte
 * order; C order only.
 */
import { NdArray, count, fileError, readBytes } from './ndarray';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const KINDS: Record<string, (v: DataView, o: number, le: boolean) => number> = {
  b1: (v, o) => v.getUint8(o),
  i1: (v, o) => v.getInt8(o),
  u1: (v, o) => v.getUint8(o),
  i2: (v, o, le) => v.getInt16(o, le),
  u2: (v, o, le) => v.getUint16(o, le),
  i4: (v, o, le) => v.getInt32(o, le),
  u4: (v, o, le) => v.getUint32(o, le),
  i8: (v, o, le) => Number(v.getBigInt64(o, le)),
  u8: (v, o, le) => Number(v.getBigUint64(o, le)),
  f4: (v, o, le) => v.getFloat32(o, le),
  f8: (v, o, le) => v.getFloat64(o, le),
};
const NAMES: Record<string, string> = { b1: 'bool', i1: 'int8', u1: 'uint8', i2: 'int16', u2: 'uint16', i4: 'int32', u4: 'uint32', i8: 'int64', u8: 'uint64', f4: 'float32', f8: 'float64' };

function headerField(header: string, key: string): string | null {
  const m = header.match(new RegExp(`['"]${key}['"]\\s*:\\s*('[^']*'|"[^"]*"|True|False|\\([^)]*\\))`));
  return m ? m[1] : null;
}

export function parseNpy(bytes: Uint8Array, file: string): NdArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const shown = Array.from(bytes.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join('');
    throw fileError(file, `bad magic number 0x${shown}: not a .npy file (it starts with \\x93NUMPY)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major < 1 || major > 3) throw fileError(file, `.npy format version ${major}.${bytes[7]} is not supported (1, 2 or 3)`);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? view.getUint16(8, true) : bytes.length >= 12 ? view.getUint32(8, true) : Infinity;
  const start = 8 + lenBytes + headerLen;
  if (!(start <= bytes.length)) throw fileError(file, `truncated: the .npy header is cut off (${bytes.length} bytes)`);
  const header = Buffer.from(bytes.subarray(8 + lenBytes, start)).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = headerField(header, 'descr');
  const fortran = headerField(header, 'fortran_order');
  const shapeText = headerField(header, 'shape');
  if (!descr || !fortran || !shapeText) throw fileError(file, `.npy header is not a dict with descr, fortran_order and shape: ${header.trim()}`);
  const d = descr.slice(1, -1);
  const m = d.match(/^([<>|=]?)([a-z]\d+)$/);
  if (!m || !KINDS[m[2]]) throw fileError(file, `dtype ${descr} is not supported (numeric: bool, int8-64, uint8-64, float32, float64)`);
  if (fortran === 'True') throw fileError(file, 'Fortran-order arrays are not supported; save with numpy.ascontiguousarray(a)');
  const shape = shapeText
    .slice(1, -1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((s) => !Number.isInteger(s) || s < 0)) throw fileError(file, `bad shape ${shapeText} in the .npy header`);
  const size = Number(m[2].slice(1));
  const n = count(shape);
  const want = start + n * size;
  if (bytes.length < want) throw fileError(file, `truncated: the header says shape (${shape.join(', ')}) of ${NAMES[m[2]]} (${want} bytes), the file has ${bytes.length}`);
  if (bytes.length > want) throw fileError(file, `${bytes.length - want} bytes after the data the header describes (shape (${shape.join(', ')}) of ${NAMES[m[2]]})`);
  const le = m[1] !== '>';
  const body = bytes.subarray(start, want);
  let values: ArrayLike<number>;
  if (m[2] === 'u1' || m[2] === 'b1') values = body;
  else if (m[2] === 'f4' && le && body.byteOffset % 4 === 0) values = new Float32Array(body.buffer, body.byteOffset, n);
  else {
    const get = KINDS[m[2]];
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = get(view, start + i * size, le);
    values = out;
  }
  return { shape, values, dtype: NAMES[m[2]], source: file };
}

export function readNpy(file: string): NdArray {
  return parseNpy(readBytes(file), file);
}
