/**
 * Writers of the data file formats vicinal reads, written from the format
 * specifications independently of the readers (data/readers/), so a test
 * round trip checks the readers against the formats, not against themselves.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** IDX: 00 00 type ndims, big-endian uint32 dims, big-endian values. */
export function idxBytes(shape: number[], values: ArrayLike<number>, dtype: 'uint8' | 'int32' | 'float32' = 'uint8'): Buffer {
  const size = dtype === 'uint8' ? 1 : 4;
  const buf = Buffer.alloc(4 + 4 * shape.length + count(shape) * size);
  buf[2] = { uint8: 0x08, int32: 0x0c, float32: 0x0d }[dtype];
  buf[3] = shape.length;
  shape.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  let o = 4 + 4 * shape.length;
  for (let i = 0; i < values.length; i++, o += size) {
    if (dtype === 'uint8') buf.writeUInt8(values[i], o);
    else if (dtype === 'int32') buf.writeInt32BE(values[i], o);
    else buf.writeFloatBE(values[i], o);
  }
  return buf;
}

export function writeIdx(file: string, shape: number[], values: ArrayLike<number>, opts: { gzip?: boolean; dtype?: 'uint8' | 'int32' | 'float32' } = {}): string {
  const raw = idxBytes(shape, values, opts.dtype);
  fs.writeFileSync(file, opts.gzip ? zlib.gzipSync(raw) : raw);
  return file;
}

/** .npy version 1.0, little-endian: float32 ('<f4'), int64 ('<i8') or uint8 ('|u1'). */
export function npyBytes(shape: number[], values: ArrayLike<number>, dtype: 'float32' | 'int64' | 'uint8' | 'float64' = 'float32'): Buffer {
  const descr = { float32: '<f4', int64: '<i8', uint8: '|u1', float64: '<f8' }[dtype];
  const size = { float32: 4, int64: 8, uint8: 1, float64: 8 }[dtype];
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so magic + version + length + header + '\n' is a multiple of 64.
  const pad = 64 - ((10 + header.length + 1) % 64);
  header = `${header + ' '.repeat(pad % 64)}\n`;
  const body = Buffer.alloc(count(shape) * size);
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'float32') body.writeFloatLE(values[i], 4 * i);
    else if (dtype === 'float64') body.writeDoubleLE(values[i], 8 * i);
    else if (dtype === 'int64') body.writeBigInt64LE(BigInt(values[i]), 8 * i);
    else body.writeUInt8(values[i], i);
  }
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

export function writeNpy(file: string, shape: number[], values: ArrayLike<number>, dtype: 'float32' | 'int64' | 'uint8' | 'float64' = 'float32'): string {
  fs.writeFileSync(file, npyBytes(shape, values, dtype));
  return file;
}

const crc32 = (b: Buffer): number => zlib.crc32(b);

/**
 * A zip archive as numpy's savez / savez_compressed write it: each entry's
 * local header carries a zip64 extra field with the sizes (numpy opens entries
 * with force_zip64), the central directory the plain 32-bit sizes.
 */
export function zipBytes(entries: Record<string, Buffer>, deflate: boolean): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(entries)) {
    const nameBuf = Buffer.from(name, 'utf8');
    const stored = deflate ? zlib.deflateRawSync(data) : data;
    const crc = crc32(data);
    const zip64 = Buffer.alloc(20);
    zip64.writeUInt16LE(1, 0);
    zip64.writeUInt16LE(16, 2);
    zip64.writeBigUInt64LE(BigInt(data.length), 4);
    zip64.writeBigUInt64LE(BigInt(stored.length), 12);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(0xffffffff, 18);
    local.writeUInt32LE(0xffffffff, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(zip64.length, 28);
    locals.push(local, nameBuf, zip64, stored);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(45, 6);
    central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBuf);
    offset += 30 + nameBuf.length + zip64.length + stored.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

export function writeNpz(file: string, arrays: Record<string, Buffer>, deflate = true): string {
  fs.writeFileSync(file, zipBytes(Object.fromEntries(Object.entries(arrays).map(([k, v]) => [`${k}.npy`, v])), deflate));
  return file;
}

export function writeCsv(file: string, header: string[], rows: (number | string)[][]): string {
  fs.writeFileSync(file, `${[header.join(','), ...rows.map((r) => r.join(','))].join('\n')}\n`);
  return file;
}
