/**
 * CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the official binary
 * versions, which no package registry ships: the user downloads and extracts
 * them once (docs/datasets.md, CIFAR-10 and CIFAR-100).
 *
 *   cifar-10-batches-bin/   data_batch_1.bin ... data_batch_5.bin, test_batch.bin:
 *                           10,000 records each of 1 label byte + 3,072 pixel bytes
 *   cifar-100-binary/       train.bin (50,000 records), test.bin (10,000):
 *                           coarse label byte, fine label byte, 3,072 pixel bytes
 *
 * The 3,072 pixel bytes are three 32x32 planes, R then G then B, each row by
 * row; vicinal's inputs are [32, 32, 3] (channels last), bytes / 255. The
 * folders are VICINAL_CIFAR10_DIR / VICINAL_CIFAR100_DIR, else the default
 * folders below. A study's cifar datasets get `contentHash` (SHA-256 of the
 * files) when it is resolved, so job ids change when a file does.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UsageError } from '../../contract/errors';
import { DatasetDescriptor, DatasetSpec, numberParams, pickSpecKeys, SpecProblem, stringParam } from '../descriptor';
import { Rng } from '../rng';
import { LabelledSet } from '../types';
import { seedParam, stratifiedSubset } from './common';

const SIDE = 32;
const PLANE = SIDE * SIDE;
export const CIFAR_PIXELS = 3 * PLANE;

/** Default attack radii of the CIFAR literature: 2/255, 4/255, 8/255 (linf) and 0.25, 0.5 (l2). */
export const CIFAR_EPS = { linf: [2 / 255, 4 / 255, 8 / 255], l2: [0.25, 0.5] };

/** Where each binary version is looked for when its environment variable is unset. */
export const CIFAR10_DEFAULT_DIR = path.join(os.homedir(), '.vicinal', 'datasets', 'cifar-10-batches-bin');
export const CIFAR100_DEFAULT_DIR = path.join(os.homedir(), '.vicinal', 'datasets', 'cifar-100-binary');

interface CifarFile {
  name: string;
  records: number;
}

/** One binary version: its folder, files, record layout and where it comes from. */
interface CifarVersion {
  dataset: string;
  envVar: string;
  defaultDir: string;
  folderName: string;
  url: string;
  /** Label bytes before the pixels of each record (CIFAR-100: coarse, fine). */
  labelBytes: number;
  train: readonly CifarFile[];
  test: readonly CifarFile[];
}

const CIFAR10: CifarVersion = {
  dataset: 'cifar10',
  envVar: 'VICINAL_CIFAR10_DIR',
  defaultDir: CIFAR10_DEFAULT_DIR,
  folderName: 'cifar-10-batches-bin',
  url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
  labelBytes: 1,
  train: [1, 2, 3, 4, 5].map((i) => ({ name: `data_batch_${i}.bin`, records: 10_000 })),
  test: [{ name: 'test_batch.bin', records: 10_000 }],
};

const CIFAR100: CifarVersion = {
  dataset: 'cifar100',
  envVar: 'VICINAL_CIFAR100_DIR',
  defaultDir: CIFAR100_DEFAULT_DIR,
  folderName: 'cifar-100-binary',
  url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
  labelBytes: 2,
  train: [{ name: 'train.bin', records: 50_000 }],
  test: [{ name: 'test.bin', records: 10_000 }],
};

export const CIFAR_FILES = { cifar10: [...CIFAR10.train, ...CIFAR10.test], cifar100: [...CIFAR100.train, ...CIFAR100.test] };

const dirOf = (v: CifarVersion) => process.env[v.envVar] || v.defaultDir;
const whereToPut = (v: CifarVersion) => `extract the binary version (${v.url}) so that its ${v.folderName}/ files lie in ${dirOf(v)}, or set ${v.envVar} to their folder`;
const total = (files: readonly CifarFile[]) => files.reduce((a, f) => a + f.records, 0);

/** The path of one file, checked for presence and exact size; a one-line UsageError otherwise. */
function checkedFile(v: CifarVersion, f: CifarFile): string {
  const dir = dirOf(v);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`dataset ${v.dataset}: folder ${dir} not found; ${whereToPut(v)}`);
  const file = path.join(dir, f.name);
  if (!fs.existsSync(file)) throw new UsageError(`dataset ${v.dataset}: ${file} not found (expected ${f.records} records); ${whereToPut(v)}`);
  const record = v.labelBytes + CIFAR_PIXELS;
  const size = fs.statSync(file).size;
  if (size === f.records * record) return file;
  const partial = size % record;
  const what = partial !== 0 ? `ends in a truncated record (${Math.floor(size / record)} records of ${record} bytes + ${partial} bytes)` : `holds ${size / record} records`;
  throw new UsageError(`dataset ${v.dataset}: ${file} ${what}; expected ${f.records} records of ${record} bytes (${f.records * record} bytes); ${whereToPut(v)}`);
}

/** SHA-256 of each file by path, kept while its size and mtime stay the same (planning and every job hash the same files). */
const hashCache = new Map<string, { key: string; hash: string }>();

function fileHash(file: string): string {
  const st = fs.statSync(file);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = hashCache.get(file);
  if (hit && hit.key === key) return hit.hash;
  const hash = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  hashCache.set(file, { key, hash });
  return hash;
}

/** SHA-256 (hex) over the SHA-256 of every file of a version, by name. */
function contentHashOf(v: CifarVersion): string {
  const h = createHash('sha256');
  for (const f of [...v.train, ...v.test]) h.update(`${f.name} ${fileHash(checkedFile(v, f))}\n`);
  return h.digest('hex');
}

/**
 * Decodes records in the official layout: `labelBytes` label bytes, then the
 * R, G and B planes of 32x32 bytes; pixels become [32, 32, 3] rows, / 255.
 * `labelIndex` picks which label byte (CIFAR-100: 0 coarse, 1 fine).
 */
export function decodeCifarRecords(bytes: Uint8Array, labelBytes: number, labelIndex: number, numClasses: number, source: string): LabelledSet {
  const record = labelBytes + CIFAR_PIXELS;
  const n = bytes.length / record;
  const x = new Float32Array(n * CIFAR_PIXELS);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * record;
    y[i] = bytes[at + labelIndex];
    if (y[i] >= numClasses) throw new UsageError(`${source}: label ${y[i]} of record ${i} is out of range for ${numClasses} classes`);
    const px = at + labelBytes;
    const out = i * CIFAR_PIXELS;
    for (let p = 0; p < PLANE; p++) {
      x[out + 3 * p] = bytes[px + p] / 255;
      x[out + 3 * p + 1] = bytes[px + PLANE + p] / 255;
      x[out + 3 * p + 2] = bytes[px + 2 * PLANE + p] / 255;
    }
  }
  return { x, y, n };
}

/**
 * A split's `n` records (all, in published order, or a seeded stratified
 * subset): the subset is chosen on the labels alone, then only its records
 * are decoded.
 */
function readSplit(v: CifarVersion, files: readonly CifarFile[], labelIndex: number, numClasses: number, n: number, rng: Rng): LabelledSet {
  const record = v.labelBytes + CIFAR_PIXELS;
  const bytes = files.map((f) => {
    const file = checkedFile(v, f);
    return { file, data: fs.readFileSync(file) };
  });
  const all = total(files);
  // Positions as one-value rows, so the stratified subset picks positions.
  const position = new Float32Array(all);
  const labels = new Int32Array(all);
  let at = 0;
  for (const { file, data } of bytes) {
    for (let i = 0; i < data.length / record; i++, at++) {
      position[at] = at;
      labels[at] = data[i * record + labelIndex];
      if (labels[at] >= numClasses) throw new UsageError(`${file}: label ${labels[at]} of record ${i} is out of range for ${numClasses} classes`);
    }
  }
  const chosen = stratifiedSubset({ x: position, y: labels, n: all }, 1, numClasses, n, rng);
  const out = new Uint8Array(chosen.n * record);
  const perFile = files[0].records;
  for (let k = 0; k < chosen.n; k++) {
    const p = chosen.x[k];
    const src = bytes[Math.floor(p / perFile)].data;
    const from = (p % perFile) * record;
    out.set(src.subarray(from, from + record), k * record);
  }
  return decodeCifarRecords(out, v.labelBytes, labelIndex, numClasses, bytes.map((b) => b.file).join(', '));
}

const contentHashParam = { kind: 'string', help: 'SHA-256 of the files, added when a study is resolved and checked when the data are read', defaultFrom: 'the files' } as const;

function checkHash(spec: DatasetSpec): SpecProblem | null {
  if (spec.contentHash !== undefined && !/^[0-9a-f]{64}$/.test(spec.contentHash)) return { key: 'contentHash', message: 'must be 64 lowercase hex digits (SHA-256)' };
  return null;
}

/** The content hash of the files, checked against the one the study was planned with. */
function hashChecked(v: CifarVersion, spec: DatasetSpec): string {
  const now = contentHashOf(v);
  if (spec.contentHash !== undefined && spec.contentHash !== now) {
    throw new UsageError(
      `dataset ${v.dataset}: the files in ${dirOf(v)} changed since the study was planned (content hash ${spec.contentHash.slice(0, 12)}..., now ${now.slice(0, 12)}...); plan the study again`,
    );
  }
  return now;
}

function loadVersion(v: CifarVersion, spec: DatasetSpec, rng: Rng, labels: 'fine' | 'coarse' | null) {
  const numClasses = labels === null ? 10 : labels === 'fine' ? 100 : 20;
  // CIFAR-100 records hold the coarse label first, then the fine one.
  const labelIndex = labels === 'fine' ? 1 : 0;
  const { seed, nTrain, nTest } = numberParams(sizeParams(v), spec);
  const contentHash = hashChecked(v, spec);
  const trainRng = rng.fork('train');
  const testRng = rng.fork('test');
  const train = readSplit(v, v.train, labelIndex, numClasses, nTrain, trainRng);
  const test = readSplit(v, v.test, labelIndex, numClasses, nTest, testRng);
  const settings: Record<string, number | string> = { name: v.dataset, seed, nTrain, nTest };
  if (labels !== null) settings.labels = labels;
  Object.assign(settings, { contentHash, source: `${v.folderName} (${total(v.train)} + ${total(v.test)} images)` });
  return { name: v.dataset, inputShape: [SIDE, SIDE, 3], numClasses, bounds: { lo: 0, hi: 1 }, train, test, settings };
}

const sizeParams = (v: CifarVersion) =>
  ({
    seed: seedParam,
    nTrain: { kind: 'int', min: 1, max: total(v.train), help: `training images: all ${total(v.train)} as published, or a seeded stratified subset`, default: total(v.train) },
    nTest: { kind: 'int', min: 1, max: total(v.test), help: `test images: all ${total(v.test)} as published, or a seeded stratified subset`, default: total(v.test) },
  }) as const;

/** CIFAR-10: 50,000 + 10,000 colour images of 32x32 in 10 classes, from cifar-10-batches-bin/. */
export const cifar10Dataset: DatasetDescriptor = {
  name: 'cifar10',
  summary: `CIFAR-10, the official binary version (cifar-10-batches-bin/, from ${CIFAR10.envVar} or ${CIFAR10_DEFAULT_DIR})`,
  params: { ...sizeParams(CIFAR10), contentHash: contentHashParam },
  shape: { kind: 'images', inputShape: [SIDE, SIDE, 3], numClasses: 10, bounds: { lo: 0, hi: 1 } },
  augment: 'crop-flip',
  defaultEps: (norm) => CIFAR_EPS[norm],
  isPoints2d: () => false,
  check: checkHash,
  resolve: (spec) => ({ ...spec, contentHash: hashChecked(CIFAR10, spec) }),
  specFromSettings: (s) => pickSpecKeys(cifar10Dataset, s),
  load: (spec, rng) => loadVersion(CIFAR10, spec, rng, null),
};

/** CIFAR-100: 50,000 + 10,000 colour images of 32x32, 100 fine or 20 coarse classes, from cifar-100-binary/. */
export const cifar100Dataset: DatasetDescriptor = {
  name: 'cifar100',
  summary: `CIFAR-100, the official binary version (cifar-100-binary/, from ${CIFAR100.envVar} or ${CIFAR100_DEFAULT_DIR})`,
  params: {
    ...sizeParams(CIFAR100),
    labels: { kind: 'enum', values: ['fine', 'coarse'], help: 'fine: the 100 classes; coarse: the 20 superclasses', default: 'fine' },
    contentHash: contentHashParam,
  },
  shape: { kind: 'images', inputShape: [SIDE, SIDE, 3], numClasses: null, bounds: { lo: 0, hi: 1 } },
  augment: 'crop-flip',
  defaultEps: (norm) => CIFAR_EPS[norm],
  isPoints2d: () => false,
  check: checkHash,
  resolve: (spec) => ({ ...spec, contentHash: hashChecked(CIFAR100, spec) }),
  specFromSettings: (s) => pickSpecKeys(cifar100Dataset, s),
  load: (spec, rng) => loadVersion(CIFAR100, spec, rng, stringParam(cifar100Dataset.params, spec, 'labels') as 'fine' | 'coarse'),
};
