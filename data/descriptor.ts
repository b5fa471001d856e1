/**
 * What a dataset is, as one descriptor per dataset (data/datasets/*.ts):
 * its name, its parameters (with defaults and validation), what every
 * instance looks like, what it needs from the system, its default attack
 * radii, and how to build it. data/registry.ts lists the descriptors, one
 * line each; the config schema, the CLI choices and the README derive from it.
 */
import { UsageError } from '../contract/errors';
import type { Norm } from '../contract/norms';
import { Rng } from './rng';
import { Bounds, Dataset } from './types';

/**
 * Settings of a dataset as written in a study config or passed to
 * `loadDataset`: `name` plus the parameters its descriptor declares. Missing
 * parameters take their defaults when the dataset is built; the spec itself
 * is never filled in (job ids hash it as given).
 */
export interface DatasetSpec {
  /** A registered dataset name (DATASET_NAMES). */
  name: string;
  /** Seed of the generator and of the split or subsets. Default 0. */
  seed?: number;
  /** Training examples (moons/circles: generated; mnist, fashion-mnist, files: a seeded stratified subset). */
  nTrain?: number;
  /** Test examples. */
  nTest?: number;
  /** cifar100: "fine" (100 classes, default) or "coarse" (20 superclasses). */
  labels?: string;
  /** moons/circles: std of the Gaussian noise. */
  noise?: number;
  /** circles: radius of the inner circle. */
  factor?: number;
  /** files: training data, a file or { x, y } (IDX, .npy). */
  train?: FileRef;
  /** files: test data. */
  test?: FileRef;
  /** files: idx | npy | npz | csv (default: from the file names). */
  format?: string;
  /** files, csv: the column that holds the label. Default "label". */
  labelColumn?: string;
  /** files, npz: names of the input and label arrays. */
  arrays?: { x?: string; y?: string };
  /** files: shape of one input, e.g. [28, 28, 1] (default inferred). */
  inputShape?: number[];
  /** files: [lo, hi], the valid input range attacks clip to (default inferred). */
  bounds?: [number, number];
  /** files: number of classes (default: largest label + 1). */
  numClasses?: number;
  /** files: inputs are divided by this after reading (e.g. 255 for byte pixels). Default 1. */
  divideBy?: number;
  /** files, cifar10, cifar100: SHA-256 of the files' contents, added when a study is resolved and checked when the data are read. */
  contentHash?: string;
}

/** A data file: one path (npz, csv) or separate input and label files (IDX, .npy). */
export type FileRef = string | { x: string; y: string };

/** How a parameter is checked; `suite/config.ts` turns the same checks into schema issues. */
export type ParamKind =
  | { kind: 'int'; min: number; max?: number }
  | { kind: 'number'; min?: number; above?: number }
  | { kind: 'string' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'shape' }
  | { kind: 'bounds' }
  | { kind: 'file' }
  | { kind: 'arrays' };

/**
 * One row of a descriptor's parameter table: how the value is checked (the
 * kind), what it means (help) and what a missing value becomes. The help
 * text, the checks and the defaulting all read this row; nothing else
 * restates a default.
 */
export type ParamSpec = ParamKind & {
  /** One line for the README and help texts. */
  help: string;
  /** The value a missing parameter takes (`paramValue` fills it in; the help text prints it). */
  default?: number | string;
  /** A default worked out from the data (files: "from the file name"): the help text prints it, nothing is filled in. */
  defaultFrom?: string;
  required?: boolean;
};

/** One problem with a spec: the key (empty for the spec as a whole) and what is wrong. */
export interface SpecProblem {
  key: string;
  message: string;
}

/** What every instance of a dataset looks like; `null` fields depend on the spec (files). */
export interface DatasetShape {
  /** "points": low-dimensional points (decision boundaries can be drawn); "images": [h, w, c] inputs; "any": declared or read from files. */
  kind: 'points' | 'images' | 'any';
  inputShape: number[] | null;
  numClasses: number | null;
  bounds: Bounds | null;
}

export interface DatasetDescriptor {
  name: string;
  /** One line: what it is. */
  summary: string;
  /** Every parameter besides `name`, in display order; these are the spec keys the dataset accepts. */
  params: Readonly<Record<string, ParamSpec>>;
  shape: DatasetShape;
  /** A Debian package the dataset reads its files from, if any. */
  needs?: { debianPackage: string; files: readonly string[] };
  /** Training augmentation on by default (models/augment.ts): crop-flip for natural images (cifar); absent: none. */
  augment?: 'crop-flip';
  /** Default attack radii per norm (`vicinal attack` without --eps), given the instance's input bounds (files: radii scale with the range). */
  defaultEps(norm: Norm, bounds: Bounds): number[];
  /** Whether an instance with these settings (Dataset.settings) holds 2-D points: its decision boundary can be drawn. */
  isPoints2d(settings: Readonly<Record<string, unknown>>): boolean;
  /** Checks across parameters (the per-key checks come from `params`); null when fine. */
  check?(spec: DatasetSpec): SpecProblem | null;
  /**
   * Turns a spec into the one the planner hashes (files: adds the content
   * hash). Must not add defaults. Throws a UsageError naming the problem.
   */
  resolve?(spec: DatasetSpec): DatasetSpec;
  /** The spec that rebuilds a dataset from its recorded settings (a saved model's metadata). */
  specFromSettings(settings: Readonly<Record<string, unknown>>): DatasetSpec;
  /** Builds the dataset; the spec has passed `checkSpec`. The same spec gives the same arrays bit for bit. */
  load(spec: DatasetSpec, rng: Rng): Dataset;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The problem with one parameter value, or null. */
export function checkParam(p: ParamKind, v: unknown): string | null {
  switch (p.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < p.min) return `must be an integer >= ${p.min}`;
      if (p.max !== undefined && v > p.max) return `must be an integer in [${p.min}, ${p.max}]`;
      return null;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a finite number';
      if (p.min !== undefined && v < p.min) return `must be >= ${p.min}`;
      if (p.above !== undefined && v <= p.above) return `must be > ${p.above}`;
      return null;
    case 'string':
      return typeof v === 'string' && v.length > 0 ? null : 'must be a non-empty string';
    case 'enum':
      return typeof v === 'string' && p.values.includes(v) ? null : `must be one of ${p.values.join(', ')}`;
    case 'shape':
      return Array.isArray(v) && v.length >= 1 && v.every((d) => Number.isInteger(d) && d >= 1) ? null : 'must be a list of integers >= 1, e.g. [28, 28, 1]';
    case 'bounds':
      return Array.isArray(v) && v.length === 2 && v.every((d) => typeof d === 'number' && Number.isFinite(d)) && v[0] < v[1] ? null : 'must be [lo, hi] with lo < hi';
    case 'file':
      if (typeof v === 'string' && v.length > 0) return null;
      if (isPlainObject(v) && Object.keys(v).sort().join(',') === 'x,y' && typeof v.x === 'string' && v.x && typeof v.y === 'string' && v.y) return null;
      return 'must be a file path or { x: inputs file, y: labels file }';
    case 'arrays':
      if (isPlainObject(v) && Object.keys(v).every((k) => (k === 'x' || k === 'y') && typeof v[k] === 'string' && v[k] !== '')) return null;
      return 'must be { x?: array name, y?: array name }';
  }
}

/** The first problem of a spec against its descriptor (unknown keys, bad values, cross-field checks), or null. */
export function specProblem(d: DatasetDescriptor, spec: Readonly<Record<string, unknown>>): SpecProblem | null {
  const keys = Object.keys(d.params);
  for (const k of Object.keys(spec)) {
    if (k === 'name' || spec[k] === undefined) continue;
    if (!keys.includes(k)) return { key: k, message: `unknown key; dataset ${d.name} takes ${keys.join(', ')}` };
    const problem = checkParam(d.params[k], spec[k]);
    if (problem) return { key: k, message: problem };
  }
  for (const k of keys) if (d.params[k].required && spec[k] === undefined) return { key: k, message: `required for dataset ${d.name}` };
  return d.check?.(spec as unknown as DatasetSpec) ?? null;
}

/** Throws a one-line UsageError for the first problem of a spec. */
export function assertSpec(d: DatasetSpec, descriptor: DatasetDescriptor): void {
  const p = specProblem(descriptor, d as unknown as Record<string, unknown>);
  if (!p) return;
  const v = p.key ? (d as unknown as Record<string, unknown>)[p.key] : undefined;
  const field = p.key ? `${p.key}${v === undefined ? '' : ` = ${JSON.stringify(v)}`}: ` : '';
  throw new UsageError(`dataset ${descriptor.name}: ${field}${p.message}`);
}

/**
 * A parameter's value: as the spec gives it, else its table default. Throws
 * (a bug in the descriptor, not bad input) when a numeric parameter has
 * neither, so a load function never invents a default of its own.
 */
export function numberParam(params: Readonly<Record<string, ParamSpec>>, spec: DatasetSpec, key: keyof DatasetSpec & string): number {
  const v = (spec as unknown as Record<string, unknown>)[key] ?? params[key]?.default;
  if (typeof v !== 'number') throw new Error(`dataset ${spec.name}: parameter ${key} has no value and no numeric default`);
  return v;
}

/** A string parameter's value: as given, else its table default. */
export function stringParam(params: Readonly<Record<string, ParamSpec>>, spec: DatasetSpec, key: keyof DatasetSpec & string): string {
  const v = (spec as unknown as Record<string, unknown>)[key] ?? params[key]?.default;
  if (typeof v !== 'string') throw new Error(`dataset ${spec.name}: parameter ${key} has no value and no string default`);
  return v;
}

/** The values of a table of numeric parameters (moons, mnist, ...): as given, else the defaults. */
export function numberParams<K extends keyof DatasetSpec & string>(params: Readonly<Record<K, ParamSpec>>, spec: DatasetSpec): Record<K, number> {
  return Object.fromEntries(Object.keys(params).map((k) => [k, numberParam(params, spec, k as K)])) as Record<K, number>;
}

/** How a parameter's default reads in help texts: its value, or how it is worked out; null when it has none. */
export function defaultText(p: ParamSpec): string | null {
  if (p.default !== undefined) return String(p.default);
  return p.defaultFrom ?? null;
}

/** The help text of a dataset's parameters, one line each: name, meaning, default (or "required"). */
export function paramHelp(d: DatasetDescriptor): string[] {
  const width = Math.max(...Object.keys(d.params).map((k) => k.length));
  return Object.entries(d.params).map(([k, p]) => {
    const def = p.required ? 'required' : defaultText(p);
    return `${k.padEnd(width)}  ${p.help}${def === null ? '' : ` (${p.required ? def : `default: ${def}`})`}`;
  });
}

/** Picks the descriptor's own keys out of recorded settings (numbers and strings as stored). */
export function pickSpecKeys(d: DatasetDescriptor, settings: Readonly<Record<string, unknown>>): DatasetSpec {
  const spec: Record<string, unknown> = { name: d.name };
  for (const k of Object.keys(d.params)) if (settings[k] !== undefined) spec[k] = settings[k];
  return spec as unknown as DatasetSpec;
}
