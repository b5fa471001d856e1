/**
 * Adversarial examples as a NumPy .npz file: one float32 array
 * [n, ...inputShape] per attack and eps, named by its result key
 * ("pgd@linf:0.1"), with the model's predictions on them ("<key>.pred",
 * int32), plus "clean" (the clean inputs), "cleanPred", "index" (int32, the
 * rows of the test set), "label" (int32) and "bounds" (float32 [lo, hi]). The archive is a plain zip of .npy (format 1.0) entries,
 * stored uncompressed, as numpy.savez writes it; numpy.load and
 * data/readers/npz.ts read it.
 */
import { UsageError } from '../contract/errors';
import { crc32, npzNames, readNpz } from '../data/readers/npz';
import { Dataset, inputSize } from '../data/types';
import type { EvalDetails } from './evaluate';

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

/** What an adversarial-examples file holds, in memory. */
export interface AdversarialExamples {
  /** Input shape of one example. */
  inputShape: number[];
  /** Input bounds the attacks clipped to. */
  bounds: { lo: number; hi: number };
  /** Test-set rows of the examples, and their labels. */
  index: Int32Array;
  label: Int32Array;
  /** Clean inputs [n * d] and the model's predictions on them. */
  clean: Float32Array;
  cleanPred: Int32Array;
  /** Per attack key ("pgd@linf:0.1"): adversarial inputs [n * d] and the model's predictions on them. */
  adversarial: Record<string, Float32Array>;
  pred: Record<string, Int32Array>;
}

/**
 * The arrays of an adversarial-examples file for its first `k` examples
 * (default all): per attack key the float32 inputs [k, ...inputShape] under
 * the key's name and the predictions as "<key>.pred" (int32 [k]); then
 * "clean", "cleanPred", "index", "label" and "bounds" (float32 [lo, hi]).
 */
export function adversarialArrays(set: AdversarialExamples, k: number = set.index.length): Record<string, NpyArray> {
  const n = set.index.length;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`adversarial examples: cannot keep ${k} of ${n} examples`);
  const d = set.inputShape.reduce((a, b) => a * b, 1);
  const out: Record<string, NpyArray> = {};
  for (const [key, values] of Object.entries(set.adversarial)) {
    out[key] = { dtype: 'float32', shape: [k, ...set.inputShape], values: values.subarray(0, k * d) };
    const pred = set.pred[key];
    if (pred) out[`${key}.pred`] = { dtype: 'int32', shape: [k], values: pred.subarray(0, k) };
  }
  out.clean = { dtype: 'float32', shape: [k, ...set.inputShape], values: set.clean.subarray(0, k * d) };
  out.cleanPred = { dtype: 'int32', shape: [k], values: set.cleanPred.subarray(0, k) };
  out.index = { dtype: 'int32', shape: [k], values: set.index.subarray(0, k) };
  out.label = { dtype: 'int32', shape: [k], values: set.label.subarray(0, k) };
  out.bounds = { dtype: 'float32', shape: [2], values: Float32Array.from([set.bounds.lo, set.bounds.hi]) };
  return out;
}

/** The adversarial examples an evaluation run kept (its first keepAdversarial examples; null when it kept none). */
export function adversarialExamplesOf(details: EvalDetails, dataset: Dataset): AdversarialExamples | null {
  if (!details.adversarial) return null;
  const d = inputSize(dataset.inputShape);
  const first = Object.values(details.adversarial)[0];
  const k = first ? first.length / d : 0;
  const pred: Record<string, Int32Array> = {};
  for (const a of details.perExample.attacks) pred[a.key] = a.pred.subarray(0, k);
  return {
    inputShape: [...dataset.inputShape],
    bounds: { lo: dataset.bounds.lo, hi: dataset.bounds.hi },
    index: details.perExample.index.subarray(0, k),
    label: details.perExample.label.subarray(0, k),
    clean: dataset.test.x.subarray(0, k * d),
    cleanPred: details.perExample.cleanPred.subarray(0, k),
    adversarial: details.adversarial,
    pred,
  };
}

/** Reads a file written from adversarialArrays; a missing array or a shape that does not fit is a UsageError naming the file. */
export function readAdversarialExamples(file: string): AdversarialExamples {
  const names = npzNames(file);
  const keys = names.filter((x) => names.includes(`${x}.pred`));
  const wanted: Record<string, string[]> = { clean: ['clean'], cleanPred: ['cleanPred'], index: ['index'], label: ['label'], bounds: ['bounds'] };
  for (const key of keys) {
    wanted[`x:${key}`] = [key];
    wanted[`p:${key}`] = [`${key}.pred`];
  }
  const base = readNpz(file, wanted);
  const n = base.index.shape[0];
  const inputShape = base.clean.shape.slice(1);
  const adversarial: Record<string, Float32Array> = {};
  const pred: Record<string, Int32Array> = {};
  for (const key of keys) {
    const x = base[`x:${key}`];
    const p = base[`p:${key}`];
    if (x.shape.join() !== base.clean.shape.join() || p.shape.join() !== String(n)) {
      throw new UsageError(`${file}: array ${key} has shape (${x.shape.join(', ')}), expected (${base.clean.shape.join(', ')}) like "clean"`);
    }
    adversarial[key] = Float32Array.from(x.values);
    pred[key] = Int32Array.from(p.values);
  }
  return {
    inputShape,
    bounds: { lo: base.bounds.values[0], hi: base.bounds.values[1] },
    index: Int32Array.from(base.index.values),
    label: Int32Array.from(base.label.values),
    clean: Float32Array.from(base.clean.values),
    cleanPred: Int32Array.from(base.cleanPred.values),
    adversarial,
    pred,
  };
}
