/**
 * Adversarial examples as a NumPy .npz file: one float32 array
 * [n, ...inputShape] per attack and eps, named by its result key
 * ("pgd@linf:0.1"), plus "index" (int32, the rows of the test set) and
 * "label" (int32). The archive is a plain zip of .npy (format 1.0) entries,
 * stored uncompressed, as numpy.savez writes it; numpy.load and
 * data/readers/npz.ts read it.
 */
import { crc32 } from '../data/readers/npz';

export type NpyArray = { dtype: 'float32'; shape: readonly number[]; values: Float32Array } | { dtype: 'int32'; shape: readonly number[]; values: Int32Array };

/** One .npy (format 1.0, little-endian, C order) file. */
export function npyBytes(a: NpyArray): Buffer {
  const n = a.shape.reduce((x, y) => x * y, 1);
  if (a.values.length !== n) throw new Error(`npy: ${a.values.length} values for shape (${a.shape.join(', ')})`);
  const descr = a.dtype === 'float32' ? '<f4' : '<i4';
  const shapeText = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64.
  header += `${' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64)}\n`;
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    if (a.dtype === 'float32') body.writeFloatLE(a.values[i], 4 * i);
    else body.writeInt32LE(a.values[i], 4 * i);
  }
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

/** A zip archive of "NAME.npy" entries, stored (method 0); sizes must fit 32 bits (4 GiB). */
export function npzBytes(arrays: Record<string, NpyArray>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const DOS_DATE = (1 << 5) | 1; // 1980-01-01: fixed, so equal content gives equal bytes
  for (const [name, a] of Object.entries(arrays)) {
    const data = npyBytes(a);
    const nameBuf = Buffer.from(`${name}.npy`, 'utf8');
    if (offset + 30 + nameBuf.length + data.length > 0xffffffff) throw new Error('npz: the archive would exceed 4 GiB (zip64 is not written)');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // utf-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // made by
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += 30 + nameBuf.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  const count = Object.keys(arrays).length;
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

/**
 * The arrays of an adversarial-examples file: `adversarial` (attack key ->
 * [n * d] inputs, from evaluateModelDetailed with keepAdversarial) as float32
 * [n, ...inputShape], plus index and label.
 */
export function adversarialArrays(adversarial: Record<string, Float32Array>, index: Int32Array, label: Int32Array, inputShape: readonly number[]): Record<string, NpyArray> {
  const n = index.length;
  const out: Record<string, NpyArray> = {};
  for (const [key, values] of Object.entries(adversarial)) out[key] = { dtype: 'float32', shape: [n, ...inputShape], values };
  out.index = { dtype: 'int32', shape: [n], values: index };
  out.label = { dtype: 'int32', shape: [n], values: label };
  return out;
}
