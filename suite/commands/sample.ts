import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../data/rng';
import { DATASET_NAMES, loadDataset } from '../../data/registry';
import { Dataset, inputSize } from '../../data/types';
import { loadModel } from '../../models/io';
import { asClassifier } from '../../models/predict';
import { Classifier } from '../../contract/classifier';
import { BatchInfo, createScheme, isSchemeName, Scheme, SCHEME_NAMES } from '../../models/schemes';
import { BackendInfo } from '../../contract/results';
import { initVerifiedBackend } from '../../backend/verify';
import type { Command } from '../command';
import { ParsedFlags } from '../args';
import { EXIT, UsageError } from '../../contract/errors';
import { writeOutputFile } from '../../contract/run-folder';
import { backendFlagSpec, parseBackendFlag } from '../backend-flag';

export const SAMPLE_FORMATS = ['json', 'csv'] as const;
export type SampleFormat = (typeof SAMPLE_FORMATS)[number];

/** One vicinal sample as written by `vicinal sample`. */
export interface VicinalSampleRow {
  /** Sample number, 0..n-1. */
  i: number;
  x: number[];
  /** Soft target distribution over the classes. */
  target: number[];
  /** Weight of the point in the mixed input (mixup family). */
  lambda?: number;
  /** Row of the partner in `partnerSource` (mixup family). */
  partner?: number;
  partnerSource?: string;
  /** adversarial: whether the row is a PGD perturbation. */
  perturbed?: boolean;
}

/** What `vicinal sample` writes (JSON); CSV holds the same with settings in a leading comment line. */
export interface VicinalSamples {
  kind: 'vicinal-samples';
  settings: {
    scheme: string;
    schemeSettings: Record<string, unknown>;
    dataset: Record<string, number | string>;
    /** Row of the scheme's training set (for mixup-semi: of the labelled subset). */
    point: number;
    n: number;
    seed: number;
    model: string | null;
    backend: BackendInfo;
  };
  point: { index: number; x: number[]; label: number };
  samples: VicinalSampleRow[];
}

/** float32 values written with the 9 significant digits that round-trip them. */
function f32(v: number): number {
  return Number(v.toPrecision(9));
}

function list(v: ArrayLike<number>, start: number, end: number): number[] {
  const out: number[] = [];
  for (let i = start; i < end; i++) out.push(f32(v[i]));
  return out;
}

function intFlag(flags: ParsedFlags, name: string, min: number, max: number, required: boolean): number | undefined {
  const v = flags[name];
  if (v === undefined) {
    if (required) throw new UsageError(`option --${name} is required`);
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`option --${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/** `key=value` pairs of --params; numeric values become numbers. */
function parseParams(items: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`option --params takes key=value pairs separated by commas, got "${item}"`);
    const key = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    out[key] = raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

/** Draws the samples (inside tf.tidy) and assembles the JSON document. */
export function drawVicinalSamples(
  scheme: Scheme,
  dataset: Dataset,
  point: number,
  n: number,
  rng: Rng,
  model: Classifier | undefined,
): { point: VicinalSamples['point']; samples: VicinalSampleRow[] } {
  const d = inputSize(dataset.inputShape);
  const K = dataset.numClasses;
  const set = scheme.trainingSet;
  let info: BatchInfo | undefined;
  const [xT, tT] = tf.tidy(() => {
    const b = scheme.vicinity(point, n, rng, model);
    info = b.info;
    return [b.x, b.targets];
  });
  const x = xT.dataSync() as Float32Array;
  const targets = tT.dataSync() as Float32Array;
  xT.dispose();
  tT.dispose();
  const samples: VicinalSampleRow[] = [];
  for (let i = 0; i < n; i++) {
    const row: VicinalSampleRow = { i, x: list(x, i * d, i * d + d), target: list(targets, i * K, i * K + K) };
    if (info?.lambda) row.lambda = f32(info.lambda[i]);
    if (info?.partner) {
      row.partner = info.partner[i];
      row.partnerSource = info.partnerSource;
    }
    if (info?.perturbed) row.perturbed = info.perturbed[i] === 1;
    samples.push(row);
  }
  return { point: { index: point, x: list(set.x, point * d, point * d + d), label: set.y[point] }, samples };
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * CSV: a first comment line `# settings: {json}`, a header, one `point` row
 * (the training point and its label) and one `sample` row per draw.
 */
export function toCsv(doc: VicinalSamples): string {
  const d = doc.point.x.length;
  const K = doc.samples[0]?.target.length ?? 0;
  const header = ['row', 'kind', 'label', 'lambda', 'partner', 'partner_source', 'perturbed', ...Array.from({ length: d }, (_, j) => `x${j}`), ...Array.from({ length: K }, (_, j) => `t${j}`)];
  const lines = [`# settings: ${JSON.stringify(doc.settings)}`, header.join(',')];
  lines.push(['point', 'point', doc.point.label, '', '', '', '', ...doc.point.x, ...new Array<string>(K).fill('')].map(csvCell).join(','));
  for (const s of doc.samples) {
    const perturbed = s.perturbed === undefined ? '' : s.perturbed ? 1 : 0;
    lines.push([s.i, 'sample', '', s.lambda, s.partner, s.partnerSource, perturbed, ...s.x, ...s.target].map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}

export const command: Command = {
  spec: {
    name: 'sample',
    summary: 'draw vicinal samples of a training scheme around one training point',
    usage: 'vicinal sample --scheme S --data D --point I [--n N] [--alpha A] [--labelled-per-class K] [--params k=v,...] [--seed S] [--format json|csv] [--out FILE]',
    flags: {
      scheme: { kind: 'string', help: `training scheme: ${SCHEME_NAMES.join('|')}` },
      data: { kind: 'string', help: `dataset: ${DATASET_NAMES.join('|')}` },
      point: { kind: 'number', help: "row of the scheme's training set (mixup-semi: of the labelled subset)" },
      n: { kind: 'number', help: 'number of samples', default: 100 },
      alpha: { kind: 'number', help: 'scheme parameter alpha (mixup family)' },
      'labelled-per-class': { kind: 'number', help: 'mixup-semi: labelled examples per class' },
      params: { kind: 'strings', help: 'other scheme parameters as key=value pairs, e.g. lambdaPer=example,k=5' },
      seed: { kind: 'number', help: "seed of the samples and of the scheme's own choices (mixup-semi's labelled subset)", default: 0 },
      'data-seed': { kind: 'number', help: 'seed of the dataset', default: 0 },
      model: { kind: 'string', help: 'saved model folder (model.json + weights.bin); required by adversarial, whose vicinity depends on the model' },
      format: { kind: 'string', help: SAMPLE_FORMATS.join('|'), default: 'json' },
      out: { kind: 'string', help: 'output file, written atomically (default: stdout)' },
      backend: backendFlagSpec(),
    },
  },
  async main(flags, positional) {
    if (positional.length) throw new UsageError(`sample takes no positional arguments, got: ${positional.join(' ')}`);
    const schemeName = flags.scheme === undefined ? undefined : String(flags.scheme);
    if (schemeName === undefined) throw new UsageError(`option --scheme is required; allowed: ${SCHEME_NAMES.join(', ')}`);
    if (!isSchemeName(schemeName)) throw new UsageError(`unknown scheme "${schemeName}"; allowed: ${SCHEME_NAMES.join(', ')}`);
    const dataName = flags.data === undefined ? undefined : String(flags.data);
    if (dataName === undefined || !(DATASET_NAMES as readonly string[]).includes(dataName)) {
      throw new UsageError(`option --data must be one of ${DATASET_NAMES.join(', ')}, got ${dataName === undefined ? 'nothing' : `"${dataName}"`}`);
    }
    const format = String(flags.format);
    if (!(SAMPLE_FORMATS as readonly string[]).includes(format)) throw new UsageError(`option --format must be one of ${SAMPLE_FORMATS.join(', ')}, got "${format}"`);
    const backendChoice = parseBackendFlag(flags.backend);
    const point = intFlag(flags, 'point', 0, Number.MAX_SAFE_INTEGER, true) as number;
    const n = intFlag(flags, 'n', 1, 1_000_000, true) as number;
    const seed = intFlag(flags, 'seed', 0, 2 ** 32 - 1, true) as number;
    const dataSeed = intFlag(flags, 'data-seed', 0, 2 ** 32 - 1, true) as number;
    const params = parseParams((flags.params as string[] | undefined) ?? []);
    if (flags.alpha !== undefined) params.alpha = flags.alpha;
    if (flags['labelled-per-class'] !== undefined) params.labelledPerClass = flags['labelled-per-class'];

    const backend = await initVerifiedBackend(backendChoice);
    const dataset = loadDataset({ name: dataName, seed: dataSeed });
    const rng = new Rng(seed);
    const scheme = createScheme(schemeName, params, dataset, rng.fork('scheme'));
    if (point >= scheme.trainingSet.n) {
      throw new UsageError(`option --point must be an integer in [0, ${scheme.trainingSet.n - 1}] (rows of the ${schemeName} training set), got ${point}`);
    }
    let model: tf.LayersModel | undefined;
    const modelDir = flags.model === undefined ? null : String(flags.model);
    if (modelDir !== null) {
      try {
        model = (await loadModel(modelDir)).model;
      } catch (e) {
        throw new UsageError(`cannot load --model ${modelDir}: ${(e as Error).message}`);
      }
      const shape = model.inputs[0].shape.slice(1);
      if (shape.join(',') !== dataset.inputShape.join(',')) {
        throw new UsageError(`--model ${modelDir} takes inputs of shape [${shape.join(', ')}], but ${dataName} inputs are [${dataset.inputShape.join(', ')}]`);
      }
    }
    try {
      const drawn = drawVicinalSamples(scheme, dataset, point, n, rng.fork('sample'), model ? asClassifier(model) : undefined);
      const doc: VicinalSamples = {
        kind: 'vicinal-samples',
        settings: { scheme: schemeName, schemeSettings: scheme.settings, dataset: dataset.settings, point, n, seed, model: modelDir, backend },
        ...drawn,
      };
      const text = format === 'csv' ? toCsv(doc) : `${JSON.stringify(doc, null, 1)}\n`;
      if (flags.out === undefined) process.stdout.write(text);
      else writeOutputFile(String(flags.out), text);
    } finally {
      model?.dispose();
    }
    return EXIT.ok;
  },
};
