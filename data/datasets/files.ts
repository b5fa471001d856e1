/**
 * `files`: a dataset read from your own files. IDX (optionally gzipped) and
 * NumPy .npy hold one array per file, so a split is { x: inputs, y: labels };
 * an .npz or a CSV holds both, so a split is one path. `test` is required,
 * `train` only for training (`vicinal attack` runs on test data alone).
 * Input shape, bounds and class count are declared or inferred, and checked
 * against every value. Relative paths are taken from the directory vicinal
 * runs in. A study's files datasets get `contentHash` (SHA-256 of the files)
 * when it is resolved, so job ids change when a file does.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import { UsageError } from '../../contract/errors';
import { DatasetDescriptor, DatasetSpec, FileRef, numberParam, SpecProblem, stringParam } from '../descriptor';
import { readCsv } from '../readers/csv';
import { readIdx } from '../readers/idx';
import { NdArray, count, fileError } from '../readers/ndarray';
import { readNpy } from '../readers/npy';
import { readNpz } from '../readers/npz';
import { Rng } from '../rng';
import { Bounds, Dataset, LabelledSet } from '../types';
import { IMAGE_EPS, seedParam, stratifiedSubset } from './common';

export const FILE_FORMATS = ['idx', 'npy', 'npz', 'csv'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];
/** Formats whose split is a pair of files { x, y }. */
const PAIRED: readonly FileFormat[] = ['idx', 'npy'];

/** The format a file name implies (a trailing .gz ignored), or null. */
export function formatFromName(file: string): FileFormat | null {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.npz')) return 'npz';
  if (f.endsWith('.npy')) return 'npy';
  if (f.endsWith('.csv')) return 'csv';
  if (/(\.idx\d?|[-.]idx\d-ubyte|-ubyte)$/.test(f)) return 'idx';
  return null;
}

const firstFile = (ref: FileRef): string => (typeof ref === 'string' ? ref : ref.x);

/** The spec's format: declared, else from the first file name; null when neither tells. */
export function fileFormat(spec: DatasetSpec): FileFormat | null {
  if (spec.format) return spec.format as FileFormat;
  for (const ref of [spec.test, spec.train]) if (ref !== undefined) return formatFromName(firstFile(ref));
  return null;
}

/** Every file of a spec with its role ("train.x", "test"), in a fixed order. */
export function specFiles(spec: DatasetSpec): [string, string][] {
  const out: [string, string][] = [];
  for (const split of ['train', 'test'] as const) {
    const ref = spec[split];
    if (ref === undefined) continue;
    if (typeof ref === 'string') out.push([split, ref]);
    else out.push([`${split}.x`, ref.x], [`${split}.y`, ref.y]);
  }
  return out;
}

/** SHA-256 (hex) over the SHA-256 of every file of the spec with its role. */
export function filesContentHash(spec: DatasetSpec): string {
  const h = createHash('sha256');
  for (const [role, file] of specFiles(spec)) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`dataset files: ${role} file ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    h.update(`${role} ${createHash('sha256').update(bytes).digest('hex')}\n`);
  }
  return h.digest('hex');
}

/** The parameter table: checks, help and defaults (defaults read from the data are `defaultFrom`). */
const PARAMS = {
  train: { kind: 'file', help: 'training data: a path (npz, csv) or { x: inputs, y: labels } (idx, npy); needed to train, not to attack' },
  test: { kind: 'file', required: true, help: 'test data, as train' },
  format: { kind: 'enum', values: FILE_FORMATS, help: 'idx | npy | npz | csv', defaultFrom: 'from the file name (.npz, .npy, .csv, idx / -ubyte; .gz ignored)' },
  labelColumn: { kind: 'string', help: 'csv: the label column (every other column is an input)', default: 'label' },
  arrays: { kind: 'arrays', help: 'npz: { x, y } array names', defaultFrom: 'x and y, else x_train / y_train and x_test / y_test' },
  inputShape: { kind: 'shape', help: 'shape of one input; must hold as many values as a row of the file', defaultFrom: "the file's ([h, w] images get a channel: [h, w, 1])" },
  bounds: { kind: 'bounds', help: '[lo, hi]: the valid input range attacks clip to; every value must lie in it', defaultFrom: '[0, 1] when every value does, else [min, max]' },
  numClasses: { kind: 'int', min: 2, help: 'number of classes; every label must be below it', defaultFrom: 'largest label + 1' },
  divideBy: { kind: 'number', above: 0, help: 'inputs are divided by it (e.g. 255 for byte pixels)', default: 1 },
  seed: seedParam,
  nTrain: { kind: 'int', min: 1, help: 'use at most this many training examples (seeded stratified subset)', defaultFrom: 'all' },
  nTest: { kind: 'int', min: 1, help: 'use at most this many test examples (seeded stratified subset)', defaultFrom: 'all' },
  contentHash: { kind: 'string', help: 'SHA-256 of the files, added when a study is planned; a file that changed since is an error', defaultFrom: 'added' },
} as const;

function checkFilesSpec(spec: DatasetSpec): SpecProblem | null {
  const format = fileFormat(spec);
  if (!format) {
    return { key: 'format', message: `cannot tell the format from the file name ${firstFile((spec.test ?? spec.train) as FileRef)}; set format: ${FILE_FORMATS.join(' | ')}` };
  }
  for (const split of ['train', 'test'] as const) {
    const ref = spec[split];
    if (ref === undefined) continue;
    if (PAIRED.includes(format) && typeof ref === 'string') return { key: split, message: `${format} keeps inputs and labels in separate files: give { x: inputs file, y: labels file }` };
    if (!PAIRED.includes(format) && typeof ref !== 'string') return { key: split, message: `${format} keeps inputs and labels in one file: give its path` };
  }
  if (spec.labelColumn !== undefined && format !== 'csv') return { key: 'labelColumn', message: 'applies to csv only' };
  if (spec.arrays !== undefined && format !== 'npz') return { key: 'arrays', message: 'applies to npz only' };
  if (spec.contentHash !== undefined && !/^[0-9a-f]{64}$/.test(spec.contentHash)) return { key: 'contentHash', message: 'must be 64 lowercase hex digits (SHA-256)' };
  if (spec.numClasses !== undefined && spec.numClasses < 2) return { key: 'numClasses', message: 'must be an integer >= 2' };
  return null;
}

interface RawSplit {
  x: NdArray;
  y: NdArray;
}

function readSplit(spec: DatasetSpec, format: FileFormat, split: 'train' | 'test'): RawSplit {
  const ref = spec[split] as FileRef;
  if (typeof ref !== 'string') {
    const read = format === 'idx' ? readIdx : readNpy;
    return { x: read(ref.x), y: read(ref.y) };
  }
  if (format === 'csv') {
    const { x, y } = readCsv(ref, stringParam(PARAMS, spec, 'labelColumn'));
    return { x, y };
  }
  const names = spec.arrays ?? {};
  const arrays = readNpz(ref, { x: names.x ? [names.x] : ['x', `x_${split}`], y: names.y ? [names.y] : ['y', `y_${split}`] });
  return { x: arrays.x, y: arrays.y };
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Labels as class indices, checked: integers >= 0 and below `numClasses` when known. */
function labelsOf(raw: RawSplit, numClasses: number | undefined): Int32Array {
  const { x, y } = raw;
  if (!(y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1))) {
    throw fileError(y.source, `labels must be one class index per example (shape [n]), got shape ${shapeText(y.shape)}`);
  }
  if (y.shape[0] !== x.shape[0]) {
    throw fileError(y.source, `shape mismatch: ${y.shape[0]} labels for ${x.shape[0]} examples (${x.source})`);
  }
  const out = new Int32Array(y.shape[0]);
  for (let i = 0; i < out.length; i++) {
    const v = y.values[i];
    if (!Number.isInteger(v) || v < 0) throw fileError(y.source, `label ${v} at row ${i} is not a class index (an integer >= 0)`);
    if (numClasses !== undefined && v >= numClasses) throw fileError(y.source, `label ${v} at row ${i} is out of range for ${numClasses} classes`);
    out[i] = v;
  }
  return out;
}

/** Inputs as float32 (divided by `divideBy`), checked finite. */
function inputsOf(x: NdArray, divideBy: number): Float32Array {
  const out = new Float32Array(x.values.length);
  const d = count(x.shape.slice(1));
  for (let i = 0; i < out.length; i++) {
    const v = x.values[i] / divideBy;
    out[i] = v;
    if (!Number.isFinite(out[i])) throw fileError(x.source, `${Number.isNaN(v) ? 'NaN' : 'infinite value'} at row ${Math.floor(i / d)} (value ${i % d} of the example)`);
  }
  return out;
}

function range(x: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
  }
  return [lo, hi];
}

const maxLabel = (y: Int32Array) => y.reduce((m, v) => Math.max(m, v), -1);

function loadFiles(spec: DatasetSpec, rng: Rng): Dataset {
  if (spec.contentHash !== undefined) {
    const now = filesContentHash(spec);
    if (now !== spec.contentHash) {
      throw new UsageError(`dataset files: the files changed since the study was planned (content hash ${spec.contentHash.slice(0, 12)}..., now ${now.slice(0, 12)}...); plan the study again`);
    }
  }
  const format = fileFormat(spec) as FileFormat;
  const seed = numberParam(PARAMS, spec, 'seed');
  const divideBy = numberParam(PARAMS, spec, 'divideBy');
  const splits = (['train', 'test'] as const).filter((s) => spec[s] !== undefined);
  const raw = Object.fromEntries(splits.map((s) => [s, readSplit(spec, format, s)])) as Partial<Record<'train' | 'test', RawSplit>>;

  // Input shape: declared (checked against the values per example), else the files' own, [h, w] images getting a channel.
  let inputShape: number[] | null = spec.inputShape ?? null;
  for (const s of splits) {
    const x = (raw[s] as RawSplit).x;
    if (x.shape.length < 2) throw fileError(x.source, `inputs need one row per example (2 or more dimensions), got shape ${shapeText(x.shape)}`);
    const own = x.shape.length === 3 ? [...x.shape.slice(1), 1] : x.shape.slice(1);
    if (spec.inputShape && count(spec.inputShape) !== count(own)) {
      throw fileError(x.source, `shape mismatch: inputShape ${shapeText(spec.inputShape)} has ${count(spec.inputShape)} values per example, the file has ${count(own)} (shape ${shapeText(x.shape)})`);
    }
    if (inputShape && count(inputShape) !== count(own)) {
      throw fileError(x.source, `shape mismatch: ${count(own)} values per example (shape ${shapeText(x.shape)}), the train inputs have ${count(inputShape)}`);
    }
    inputShape ??= own;
  }
  const shape = inputShape as number[];
  const d = count(shape);

  const labels = Object.fromEntries(splits.map((s) => [s, labelsOf(raw[s] as RawSplit, spec.numClasses)])) as Partial<Record<'train' | 'test', Int32Array>>;
  const numClasses = spec.numClasses ?? Math.max(...splits.map((s) => maxLabel(labels[s] as Int32Array))) + 1;
  if (numClasses < 2) throw new UsageError(`dataset files: every label is ${numClasses - 1}; a classifier needs 2 or more classes (declare numClasses when a file holds only some of them)`);

  const inputs = Object.fromEntries(splits.map((s) => [s, inputsOf((raw[s] as RawSplit).x, divideBy)])) as Partial<Record<'train' | 'test', Float32Array>>;
  let bounds: Bounds;
  if (spec.bounds) {
    bounds = { lo: spec.bounds[0], hi: spec.bounds[1] };
    for (const s of splits) {
      const [lo, hi] = range(inputs[s] as Float32Array);
      const bad = lo < bounds.lo ? lo : hi > bounds.hi ? hi : null;
      if (bad !== null) throw fileError((raw[s] as RawSplit).x.source, `value ${bad} is outside the declared bounds [${bounds.lo}, ${bounds.hi}]`);
    }
  } else {
    const r = splits.map((s) => range(inputs[s] as Float32Array));
    const lo = Math.min(...r.map((v) => v[0]));
    const hi = Math.max(...r.map((v) => v[1]));
    if (lo >= 0 && hi <= 1) bounds = { lo: 0, hi: 1 };
    else if (lo < hi) bounds = { lo, hi };
    else throw new UsageError(`dataset files: every input value is ${lo}; declare bounds: [lo, hi]`);
  }

  const setOf = (s: 'train' | 'test'): LabelledSet =>
    inputs[s] ? { x: inputs[s] as Float32Array, y: labels[s] as Int32Array, n: (labels[s] as Int32Array).length } : { x: new Float32Array(0), y: new Int32Array(0), n: 0 };
  const trainRng = rng.fork('train');
  const testRng = rng.fork('test');
  const train = stratifiedSubset(setOf('train'), d, numClasses, spec.nTrain ?? Infinity, trainRng);
  const test = stratifiedSubset(setOf('test'), d, numClasses, spec.nTest ?? Infinity, testRng);

  const settings: Record<string, number | string> = { name: 'files', format, seed, nTrain: train.n, nTest: test.n };
  for (const [role, file] of specFiles(spec)) settings[role.replace('.x', 'X').replace('.y', 'Y')] = file;
  if (spec.labelColumn !== undefined) settings.labelColumn = spec.labelColumn;
  if (spec.arrays?.x !== undefined) settings.arraysX = spec.arrays.x;
  if (spec.arrays?.y !== undefined) settings.arraysY = spec.arrays.y;
  Object.assign(settings, { inputShape: shape.join('x'), numClasses, lo: bounds.lo, hi: bounds.hi, divideBy, contentHash: spec.contentHash ?? filesContentHash(spec) });
  return { name: 'files', inputShape: shape, numClasses, bounds, train, test, settings };
}

/** Rebuilds a files spec from the settings `loadFiles` records. */
function filesSpecFromSettings(s: Readonly<Record<string, unknown>>): DatasetSpec {
  const spec: DatasetSpec = { name: 'files' };
  const str = (k: string) => (typeof s[k] === 'string' ? (s[k] as string) : undefined);
  const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
  for (const split of ['train', 'test'] as const) {
    const one = str(split);
    const x = str(`${split}X`);
    const y = str(`${split}Y`);
    if (one !== undefined) spec[split] = one;
    else if (x !== undefined && y !== undefined) spec[split] = { x, y };
  }
  if (str('format')) spec.format = str('format');
  if (str('labelColumn')) spec.labelColumn = str('labelColumn');
  if (str('arraysX') || str('arraysY')) spec.arrays = { ...(str('arraysX') ? { x: str('arraysX') } : {}), ...(str('arraysY') ? { y: str('arraysY') } : {}) };
  const shape = str('inputShape');
  if (shape && /^\d+(x\d+)*$/.test(shape)) spec.inputShape = shape.split('x').map(Number);
  if (num('lo') !== undefined && num('hi') !== undefined) spec.bounds = [num('lo') as number, num('hi') as number];
  for (const k of ['numClasses', 'divideBy', 'seed', 'nTrain', 'nTest'] as const) if (num(k) !== undefined) spec[k] = num(k);
  if (str('contentHash')) spec.contentHash = str('contentHash');
  return spec;
}

export const filesDataset: DatasetDescriptor = {
  name: 'files',
  summary: 'your own data: IDX (optionally gzipped), NumPy .npy / .npz or CSV files for train and test',
  params: PARAMS,
  shape: { kind: 'any', inputShape: null, numClasses: null, bounds: null },
  // Radii in units of the input range, as on [0, 1] images.
  defaultEps: (norm, bounds) => IMAGE_EPS[norm].map((e) => Number((e * (bounds.hi - bounds.lo)).toPrecision(6))),
  isPoints2d: (s) => s.inputShape === '2',
  check: checkFilesSpec,
  resolve(spec) {
    const hash = filesContentHash(spec);
    if (spec.contentHash !== undefined && spec.contentHash !== hash) {
      throw new UsageError(`dataset files: the files changed since this study was planned (content hash ${spec.contentHash.slice(0, 12)}..., now ${hash.slice(0, 12)}...)`);
    }
    return { ...spec, contentHash: hash };
  },
  specFromSettings: filesSpecFromSettings,
  load: loadFiles,
};
