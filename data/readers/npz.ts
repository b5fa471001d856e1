/**
 * NumPy .npz files: a zip archive of .npy files (numpy.savez stores them,
 * numpy.savez_compressed deflates them). Only what numpy writes is read:
 * stored or deflated entries, zip64 sizes, no encryption; every entry's
 * CRC-32 is checked.
 */
import * as zlib from 'zlib';
import { NdArray, fileError, readBytes } from './ndarray';
import { parseNpy } from './npy';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Entry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The central directory of a zip archive: entry name -> where and how it is stored. */
function entries(bytes: Uint8Array, file: string): Map<string, Entry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    const zipStart = bytes.length >= 4 && view.getUint32(0, true) === 0x04034b50;
    throw fileError(file, zipStart ? 'truncated: the zip directory at the end of the .npz is missing' : 'bad magic number: not a .npz file (a zip archive of .npy files)');
  }
  let total = view.getUint16(eocd + 10, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  if (dirOffset === 0xffffffff || total === 0xffff) {
    // zip64: the end-of-central-directory locator precedes the record.
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) throw fileError(file, 'corrupt zip64 directory');
    const rec = Number(view.getBigUint64(loc + 8, true));
    if (rec + 56 > bytes.length || view.getUint32(rec, true) !== 0x06064b50) throw fileError(file, 'corrupt zip64 directory');
    total = Number(view.getBigUint64(rec + 32, true));
    dirOffset = Number(view.getBigUint64(rec + 48, true));
  }
  const out = new Map<string, Entry>();
  let p = dirOffset;
  for (let k = 0; k < total; k++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) throw fileError(file, 'corrupt zip directory (truncated or overwritten)');
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const e: Entry = {
      flags: view.getUint16(p + 8, true),
      method: view.getUint16(p + 10, true),
      crc: view.getUint32(p + 16, true),
      compressedSize: view.getUint32(p + 20, true),
      size: view.getUint32(p + 24, true),
      localOffset: view.getUint32(p + 42, true),
      name: Buffer.from(bytes.subarray(p + 46, p + 46 + nameLen)).toString('utf8'),
    };
    // zip64 extra field (id 1): the 64-bit values of the fields set to 0xffffffff, in this order.
    let x = p + 46 + nameLen;
    const extraEnd = x + extraLen;
    while (x + 4 <= extraEnd) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 1) {
        let q = x + 4;
        if (e.size === 0xffffffff) (e.size = Number(view.getBigUint64(q, true))), (q += 8);
        if (e.compressedSize === 0xffffffff) (e.compressedSize = Number(view.getBigUint64(q, true))), (q += 8);
        if (e.localOffset === 0xffffffff) e.localOffset = Number(view.getBigUint64(q, true));
      }
      x += 4 + len;
    }
    out.set(e.name, e);
    p = extraEnd + commentLen;
  }
  return out;
}

function entryBytes(bytes: Uint8Array, e: Entry, file: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = `${file}:${e.name}`;
  if (e.flags & 1) throw fileError(at, 'encrypted zip entries are not supported');
  if (e.localOffset + 30 > bytes.length || view.getUint32(e.localOffset, true) !== 0x04034b50) throw fileError(at, 'corrupt zip entry header');
  const start = e.localOffset + 30 + view.getUint16(e.localOffset + 26, true) + view.getUint16(e.localOffset + 28, true);
  if (start + e.compressedSize > bytes.length) throw fileError(at, 'truncated zip entry');
  const raw = bytes.subarray(start, start + e.compressedSize);
  let data: Uint8Array;
  if (e.method === 0) data = raw;
  else if (e.method === 8) {
    try {
      data = zlib.inflateRawSync(raw);
    } catch (err) {
      throw fileError(at, `corrupt deflate data (${(err as Error).message})`);
    }
  } else throw fileError(at, `zip compression method ${e.method} is not supported (stored or deflated)`);
  if (data.length !== e.size || crc32(data) !== e.crc) throw fileError(at, 'CRC-32 mismatch: the entry is corrupt');
  return data;
}

/** The array names an .npz holds ("x" for x.npy). */
export function npzNames(file: string, bytes: Uint8Array = readBytes(file)): string[] {
  return [...entries(bytes, file).keys()].filter((n) => n.endsWith('.npy')).map((n) => n.slice(0, -4));
}

/**
 * Reads the named arrays of an .npz. For each wanted array the first name of
 * its candidate list that the archive holds is taken; none is a UsageError
 * listing the archive's arrays.
 */
export function readNpz(file: string, wanted: Record<string, readonly string[]>): Record<string, NdArray> {
  const bytes = readBytes(file);
  const dir = entries(bytes, file);
  const out: Record<string, NdArray> = {};
  for (const [role, candidates] of Object.entries(wanted)) {
    const name = candidates.find((c) => dir.has(`${c}.npy`));
    if (name === undefined) {
      const held = [...dir.keys()].filter((n) => n.endsWith('.npy')).map((n) => n.slice(0, -4));
      throw fileError(file, `no array ${candidates.map((c) => `"${c}"`).join(' or ')} (holds: ${held.join(', ') || 'none'}); name it with arrays: { ${role}: NAME }`);
    }
    const entry = dir.get(`${name}.npy`) as Entry;
    out[role] = parseNpy(entryBytes(bytes, entry, file), `${file}:${name}.npy`);
  }
  return out;
}
