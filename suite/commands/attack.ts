import type { LayersModel } from '@tensorflow/tfjs';
import * as path from 'path';
import { evaluateModelDetailed, EvalCore } from '../../eval/evaluate';
import { EvalConfig } from '../../eval/config';
import { perExampleColumns, perExampleRows, toCsv } from '../../eval/export';
import { ATTACK_NAMES, AttackSpec, needsGradients, validateEpsList } from '../../attacks/registry';
import { importedClassifier, LAYOUT_BY_NAME, loadOnnxFile, OnnxFileModel, OnnxLayout } from '../../backend/onnx/file-model';
import { adversarialArrays, adversarialExamplesOf, npzBytes } from '../../eval/adversarial-examples';
import { type AttackStageLog, attackLabel } from '../../attacks/types';
import { Norm, validateNorm } from '../../contract/norms';
import { Rng } from '../../data/rng';
import { DATASET_NAMES, DatasetSpec, datasetSpecFromSettings, defaultAttackEps, defaultEpsHelp, isDatasetName, loadDataset } from '../../data/registry';
import { FILE_FORMATS, FileFormat, formatFromName } from '../../data/datasets/files';
import { Bounds, Dataset } from '../../data/types';
import { loadForeignModel, logOfProbabilities, looksLikeProbabilities } from '../../models/io';
import { asClassifier, predictLogits } from '../../models/predict';
import type { Classifier } from '../../contract/classifier';
import { ParsedFlags } from '../args';
import { initBackend } from '../../backend/select';
import { refuseDefectiveBackend } from '../../backend/verify';
import type { Command } from '../command';
import { describeEnvironment } from '../../backend/environment';
import { EXIT, UsageError } from '../../contract/errors';
import { writeFileAtomic, writeOutputFile } from '../../contract/run-folder';
import { robustKey } from '../../contract/keys';
import { backendFlagSpec, parseBackendFlag } from '../backend-flag';

export const ATTACK_FORMATS = ['json', 'csv'] as const;

/** The dataset spec stored with a model: metadata.dataset or metadata.identity.dataset (as the runner saves it), rebuilt by the dataset's descriptor. */
function datasetFromMetadata(meta: Record<string, unknown>): DatasetSpec | null {
  const identity = meta.identity as { dataset?: unknown } | undefined;
  const raw = (meta.dataset ?? identity?.dataset) as Record<string, unknown> | undefined;
  if (!raw || typeof raw !== 'object' || typeof raw.name !== 'string') return null;
  return datasetSpecFromSettings(raw);
}

const DATA_FORMS = `${DATASET_NAMES.filter((d) => d !== 'files').join(', ')}, FORMAT:FILE for test data from files (npz:test.npz, csv:test.csv, idx:images,labels, npy:x.npy,y.npy), or a JSON spec`;

/**
 * --data: a dataset name; FORMAT:FILE[,FILE] or a bare data file name, for
 * test-only file data ({ name: files, test }); or a JSON spec ({"name": ...}).
 */
export function parseDataFlag(text: string): DatasetSpec {
  // files:FORMAT:FILE or files:FILE is the same as FORMAT:FILE or FILE (the dataset's name spelled out).
  const t = text.trim().replace(/^files:(?=.)/, '');
  if (t.startsWith('{')) {
    let spec: unknown;
    try {
      spec = JSON.parse(t);
    } catch (e) {
      throw new UsageError(`option --data: not valid JSON: ${(e as Error).message}`);
    }
    if (spec === null || typeof spec !== 'object' || typeof (spec as { name?: unknown }).name !== 'string') throw new UsageError('option --data: a JSON spec needs "name"');
    return spec as DatasetSpec;
  }
  const m = t.match(/^([a-z]+):(.+)$/);
  const format = m && (FILE_FORMATS as readonly string[]).includes(m[1]) ? (m[1] as FileFormat) : !isDatasetName(t) ? formatFromName(t) : null;
  if (format) {
    const files = m && m[1] === format ? m[2] : t;
    if (format === 'idx' || format === 'npy') {
      const parts = files.split(',');
      if (parts.length !== 2 || !parts[0] || !parts[1])
        throw new UsageError(`option --data ${format}: takes the inputs file and the labels file, e.g. ${format}:x${format === 'npy' ? '.npy' : '.idx'},y${format === 'npy' ? '.npy' : '.idx'}`);
      return { name: 'files', format, test: { x: parts[0], y: parts[1] } };
    }
    return { name: 'files', format, test: files };
  }
  if (!isDatasetName(t)) throw new UsageError(`unknown dataset "${t}"; allowed: ${DATA_FORMS}`);
  return { name: t };
}

/** How the model's outputs are read: logits as they are, or probabilities whose log the attacks use. */
interface OutputReading {
  kind: 'logits' | 'probabilities';
  softmaxLayer: string | null;
  note: string | null;
}

/** `attack.key=value` pairs of --params; numbers and booleans are converted. */
export function parseAttackParams(items: string[] | undefined, attacks: string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const item of items ?? []) {
    const eq = item.indexOf('=');
    const dot = item.indexOf('.');
    if (eq <= 0 || dot <= 0 || dot > eq) throw new UsageError(`option --params takes attack.key=value pairs separated by commas (e.g. pgd.steps=100), got "${item}"`);
    const attack = item.slice(0, dot).trim();
    const key = item.slice(dot + 1, eq).trim();
    const raw = item.slice(eq + 1).trim();
    if (!attacks.includes(attack)) throw new UsageError(`option --params names attack "${attack}", which is not in --attack (${attacks.join(', ')})`);
    const value: unknown = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    (out[attack] ??= {})[key] = value;
  }
  return out;
}

function formatSummary(r: EvalCore, seconds: Record<string, number>): string {
  const lines = [`clean accuracy ${(100 * r.cleanAccuracy).toFixed(1)}% on ${r.n} test examples`, ''];
  const width = Math.max(16, ...r.attacks.map((a) => attackLabel(a.attack, a.settings).length));
  lines.push(`${'attack'.padEnd(width)} ${'norm'.padEnd(5)} ${'eps'.padStart(8)} ${'robust'.padStart(8)} ${'loss'.padStart(9)} ${'seconds'.padStart(8)}`);
  for (const a of r.attacks) {
    const key = robustKey(a.attack, a.norm, a.eps);
    lines.push(
      `${attackLabel(a.attack, a.settings).padEnd(width)} ${a.norm.padEnd(5)} ${String(a.eps).padStart(8)} ${`${(100 * a.robustAccuracy).toFixed(1)}%`.padStart(8)} ${a.meanLoss.toFixed(3).padStart(9)} ${(seconds[key] ?? 0).toFixed(1).padStart(8)}`,
    );
  }
  for (const w of r.worstCase) {
    lines.push(`${'worst-case'.padEnd(width)} ${w.norm.padEnd(5)} ${String(w.eps).padStart(8)} ${`${(100 * w.robustAccuracy).toFixed(1)}%`.padStart(8)}`);
  }
  if (r.flags.length) {
    lines.push('', 'sanity flags:');
    for (const f of r.flags) lines.push(`  [${f.severity}] ${f.check}: ${f.message}`);
  } else {
    lines.push('', 'sanity flags: none');
  }
  return lines.join('\n');
}

/** Composite attacks' staged logs, AutoAttack style: "apgd-ce: robust accuracy 12.4%" per stage. */
export function formatStageLogs(logs: Record<string, AttackStageLog[]>): string {
  const lines: string[] = [];
  for (const [key, log] of Object.entries(logs)) {
    lines.push('', `${key}:`);
    for (const s of log) {
      const pct = `${(100 * s.robustAccuracy).toFixed(1)}%`;
      lines.push(s.stage === 'clean' ? `  clean: accuracy ${pct} (${s.n} examples)` : `  ${s.stage}: robust accuracy ${pct} (${s.attacked} attacked, ${s.seconds.toFixed(1)} s)`);
    }
  }
  return lines.join('\n');
}

/**
 * Whether the model outputs probabilities: a softmax at its output (removed
 * when it was loaded: the model now returns the pre-softmax values z, and
 * log p = z - logsumexp z gives the same losses, predictions and margins), or
 * rows that are non-negative and sum to 1 on the first test examples (then
 * the attacks use log p). One reading for TF.js and .onnx models.
 */
function readOutputs(f: Classifier, softmaxLayer: string | null, dataset: Dataset): OutputReading {
  if (softmaxLayer) {
    return { kind: 'probabilities', softmaxLayer, note: `probabilities (softmax in layer "${softmaxLayer}"); the attacks use log(p), computed from the pre-softmax values` };
  }
  const n = Math.min(100, dataset.test.n);
  const d = dataset.inputShape.reduce((a, b) => a * b, 1);
  const out = predictLogits(f, dataset.test.x.subarray(0, n * d), dataset.inputShape);
  if (looksLikeProbabilities(out, dataset.numClasses)) {
    return { kind: 'probabilities', softmaxLayer: null, note: `probabilities (every row of the first ${n} test outputs is >= 0 and sums to 1); the attacks use log(p)` };
  }
  return { kind: 'logits', softmaxLayer: null, note: null };
}

/** A model as the command uses it: a TF.js Layers model or a .onnx file. */
interface AttackedModel {
  kind: 'tfjs' | 'onnx';
  metadata: Record<string, unknown>;
  softmaxLayer: string | null;
  /** Input shape without the batch dimension (TF.js layout; an NCHW .onnx input is given as HWC); undefined where not fixed. */
  inputShape: (number | undefined)[];
  numClasses: number | null;
  /** The classifier on the dataset's inputs; gradientFree where it has no input gradients (a .onnx file's forward only). */
  classifierFor(dataset: Dataset, needsGradients: boolean): { classifier: Classifier; gradientFree: boolean };
  /** What the results record about the file: its SHA-256, layout, normalisation (.onnx only). */
  settings: Record<string, unknown>;
  dispose(): void;
}

function tfjsModel(model: LayersModel, metadata: Record<string, unknown>, softmaxLayer: string | null): AttackedModel {
  const classes = model.outputs[0].shape[1];
  return {
    kind: 'tfjs',
    metadata,
    softmaxLayer,
    inputShape: (model.inputs[0].shape ?? []).slice(1).map((d) => (typeof d === 'number' && d > 0 ? d : undefined)),
    numClasses: typeof classes === 'number' ? classes : null,
    classifierFor: () => ({ classifier: asClassifier(model), gradientFree: false }),
    settings: {},
    dispose: () => model.dispose(),
  };
}

/** How an .onnx file's input is read: --layout, --mean/--std (the graph expects (x - mean) / std of pixel-space x). */
export interface OnnxInputOptions {
  layout: OnnxLayout | undefined;
  mean: number[] | undefined;
  std: number[] | undefined;
}

/** The dataset-layout shape of a graph input [c, h, w], [h, w, c] or flat (batch left out): NCHW when --layout says so, or when it reads as images with 1 or 3 channels first. */
function onnxDatasetShape(dims: (number | null)[], layout: OnnxLayout | undefined): (number | null)[] {
  const nchw = layout === 'nchw' || (layout === undefined && dims.length === 3 && (dims[0] === 1 || dims[0] === 3) && dims[1] !== null && dims[1] > 4 && dims[2] !== null && dims[2] > 4);
  return nchw && dims.length === 3 ? [dims[1], dims[2], dims[0]] : dims;
}

function onnxModel(m: OnnxFileModel, o: OnnxInputOptions): AttackedModel {
  const hwc = onnxDatasetShape(m.inputDims.slice(1), o.layout);
  const settings: Record<string, unknown> = {};
  return {
    kind: 'onnx',
    metadata: {},
    softmaxLayer: null,
    inputShape: hwc.map((d) => (d === null ? undefined : d)),
    numClasses: m.outputDims[1],
    classifierFor: (dataset, needsGradients) => {
      let made: ReturnType<typeof importedClassifier>;
      try {
        made = importedClassifier(m, dataset.inputShape, dataset.numClasses, dataset.name, o, needsGradients);
      } catch (e) {
        // The per-channel counts are the flags' (--mean, --std).
        if (e instanceof UsageError && /^(mean|std) takes/.test(e.message)) throw new UsageError(`option --${e.message}`);
        throw e;
      }
      Object.assign(settings, made.settings);
      return { classifier: made.classifier, gradientFree: made.gradientFree };
    },
    settings,
    dispose: () => m.dispose(),
  };
}

function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return v === undefined ? undefined : String(v);
}

/** The command's options, checked: every bad flag is a UsageError before anything is loaded. */
interface AttackOptions {
  modelDir: string;
  isOnnx: boolean;
  onnx: OnnxInputOptions;
  /** --bounds, or undefined for the dataset's */
  bounds: Bounds | undefined;
  backendName: ReturnType<typeof parseBackendFlag>;
  norm: Norm;
  out: string | undefined;
  format: (typeof ATTACK_FORMATS)[number];
  n: number;
  batchSize: number;
  seed: number;
  attackNames: string[];
  params: Record<string, Record<string, unknown>>;
  /** --eps, or undefined for the dataset's default radii. */
  eps: number[] | undefined;
  saveAdv: string | undefined;
  /** --data, parsed; undefined for the dataset stored with the model. */
  data: DatasetSpec | undefined;
  probes: boolean;
  sanity: boolean;
}

function intOption(flags: ParsedFlags, name: string, min: number): number {
  const v = flags[name] as number;
  if (!Number.isInteger(v) || v < min) throw new UsageError(`option --${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function parseAttackOptions(flags: ParsedFlags, positional: string[]): AttackOptions {
  if (positional.length) throw new UsageError(`attack takes no positional arguments, got: ${positional.join(' ')}`);
  const modelDir = stringFlag(flags, 'model');
  if (!modelDir) throw new UsageError('option --model is required (a folder with model.json and weights.bin)');
  const backendName = parseBackendFlag(flags.backend);
  const norm = validateNorm(String(flags.norm), '--norm');
  const out = stringFlag(flags, 'out');
  const format = stringFlag(flags, 'format') ?? (out?.toLowerCase().endsWith('.csv') ? 'csv' : 'json');
  if (!(ATTACK_FORMATS as readonly string[]).includes(format)) throw new UsageError(`invalid --format "${format}"; allowed: ${ATTACK_FORMATS.join(', ')}`);
  const n = intOption(flags, 'n', 1);
  const batchSize = intOption(flags, 'batch-size', 1);
  const seed = intOption(flags, 'seed', 0);
  const attackNames = (flags.attack as string[] | undefined) ?? (norm === 'linf' ? ['fgsm', 'pgd'] : ['fgm', 'pgd']);
  if (!attackNames.length) throw new UsageError(`option --attack needs at least one of ${ATTACK_NAMES.join(', ')}`);
  const params = parseAttackParams(flags.params as string[] | undefined, attackNames);
  const saveAdv = stringFlag(flags, 'save-adv');
  if (saveAdv !== undefined && !saveAdv.toLowerCase().endsWith('.npz')) throw new UsageError(`option --save-adv writes a NumPy .npz file; give a name ending in .npz, got "${saveAdv}"`);
  const isOnnx = modelDir.toLowerCase().endsWith('.onnx');
  const onnx = parseOnnxInputOptions(flags, isOnnx);
  const bounds = parseBoundsFlag(flags.bounds as number[] | undefined);
  const dataFlag = stringFlag(flags, 'data');
  return {
    modelDir,
    isOnnx,
    onnx,
    bounds,
    backendName,
    norm,
    out,
    format: format as AttackOptions['format'],
    n,
    batchSize,
    seed,
    attackNames,
    params,
    eps: flags.eps as number[] | undefined,
    saveAdv,
    data: dataFlag === undefined ? undefined : parseDataFlag(dataFlag),
    probes: Boolean(flags.probes),
    sanity: Boolean(flags.sanity),
  };
}

/** --layout, --mean, --std: only for a .onnx model; std > 0. */
export function parseOnnxInputOptions(flags: ParsedFlags, isOnnx: boolean): OnnxInputOptions {
  const layoutText = stringFlag(flags, 'layout');
  const mean = flags.mean as number[] | undefined;
  const std = flags.std as number[] | undefined;
  if (!isOnnx) {
    for (const name of ['layout', 'mean', 'std']) if (flags[name] !== undefined) throw new UsageError(`option --${name} is for a .onnx model (--model FILE.onnx)`);
  }
  if (layoutText !== undefined && !(layoutText in LAYOUT_BY_NAME)) throw new UsageError(`invalid --layout "${layoutText}"; allowed: ${Object.keys(LAYOUT_BY_NAME).join(', ')}`);
  if (std?.some((v) => !(v > 0))) throw new UsageError(`option --std takes positive values, got ${std.join(',')}`);
  return { layout: layoutText === undefined ? undefined : LAYOUT_BY_NAME[layoutText], mean, std };
}

/** --bounds lo,hi: two numbers, lo < hi. */
export function parseBoundsFlag(v: number[] | undefined): Bounds | undefined {
  if (v === undefined) return undefined;
  if (v.length !== 2 || !(v[0] < v[1])) throw new UsageError(`option --bounds takes lo,hi with lo < hi (e.g. 0,1 or 0,255), got ${v.join(',')}`);
  return { lo: v[0], hi: v[1] };
}

/** Reads the model: a .onnx file, or a TF.js Layers model (a load failure is a UsageError naming the folder). */
async function loadAttackedModel(modelDir: string, isOnnx: boolean, onnx: OnnxInputOptions): Promise<AttackedModel> {
  if (isOnnx) return onnxModel(loadOnnxFile(modelDir), onnx);
  let loaded: Awaited<ReturnType<typeof loadForeignModel>>;
  try {
    loaded = await loadForeignModel(modelDir);
  } catch (e) {
    throw new UsageError(`cannot load model from ${modelDir}: ${(e as Error).message}`);
  }
  return tfjsModel(loaded.model, loaded.metadata, loaded.softmaxLayer);
}

/**
 * The dataset spec to attack on: --data when it says more than a name (or
 * the model records none), else the spec stored with the model. Test-only
 * file data take the class count and input shape they do not declare from
 * the model (`shapeFromModel`).
 */
function targetSpec(attacked: AttackedModel, modelDir: string, given: DatasetSpec | null): { spec: DatasetSpec; shapeFromModel: boolean } {
  const stored = datasetFromMetadata(attacked.metadata);
  if (!given && !stored) throw new UsageError(`the model in ${modelDir} does not record its dataset; pass --data (${DATA_FORMS})`);
  if (!(given && (given.name === 'files' || Object.keys(given).length > 1 || !stored))) {
    const s = stored as DatasetSpec;
    if (given && s.name !== given.name) throw new UsageError(`the model in ${modelDir} was trained on "${s.name}", not "${given.name}"`);
    return { spec: s, shapeFromModel: false };
  }
  if (stored && given.name !== 'files' && stored.name !== given.name) throw new UsageError(`the model in ${modelDir} was trained on "${stored.name}", not "${given.name}"`);
  const spec = { ...given };
  let shapeFromModel = false;
  if (spec.name === 'files') {
    const modelShape = attacked.inputShape;
    if (spec.numClasses === undefined && typeof attacked.numClasses === 'number') spec.numClasses = attacked.numClasses;
    if (spec.inputShape === undefined && modelShape.length && modelShape.every((d) => typeof d === 'number' && d > 0)) {
      spec.inputShape = modelShape as number[];
      shapeFromModel = true;
    }
  }
  return { spec, shapeFromModel };
}

/** Loads the dataset to attack on and checks that a TF.js model takes its inputs and has its classes. */
function loadTargetDataset(attacked: AttackedModel, o: AttackOptions): Dataset {
  const { spec, shapeFromModel } = targetSpec(attacked, o.modelDir, o.data ?? null);
  let dataset: Dataset;
  try {
    dataset = loadDataset(spec);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    throw new UsageError(`${e.message}${shapeFromModel && /: shape mismatch: inputShape \[/.test(e.message) ? " (inputShape is the model's)" : ''}`);
  }
  if (o.bounds) dataset = { ...dataset, bounds: o.bounds };
  if (attacked.kind === 'tfjs') {
    if (attacked.inputShape.join(',') !== dataset.inputShape.join(',')) {
      throw new UsageError(`the model takes inputs of shape [${attacked.inputShape.join(', ')}], dataset ${dataset.name} has [${dataset.inputShape.join(', ')}]`);
    }
    if (attacked.numClasses !== dataset.numClasses) {
      throw new UsageError(`the model has ${attacked.numClasses} outputs, dataset ${dataset.name} has ${dataset.numClasses} classes`);
    }
  }
  return dataset;
}

/** The evaluation the options ask for; radii default to the dataset's. */
function evalConfigOf(o: AttackOptions, dataset: Dataset): EvalConfig {
  const eps = validateEpsList(o.eps ?? defaultAttackEps(dataset, o.norm), '--eps');
  const attacks: AttackSpec[] = o.attackNames.map((name) => ({ name, params: o.params[name] ?? {} }));
  return {
    attacks,
    eps,
    norm: o.norm,
    nExamples: o.n,
    batchSize: o.batchSize,
    probes: { enabled: o.probes },
    sanity: { enabled: o.sanity },
  };
}

/** --out: one JSON document, or per-example CSV rows with the summary and flags beside them in FILE.summary.json. */
function writeResults(out: string, format: AttackOptions['format'], header: Record<string, unknown>, details: ReturnType<typeof evaluateModelDetailed>): void {
  const { robustCorrect: _rc, cleanCorrect: _cc, flags: _flags, ...summary } = details.result;
  const rows = perExampleRows(details.perExample);
  if (format === 'json') {
    writeOutputFile(out, `${JSON.stringify({ ...header, summary, flags: details.result.flags, examples: rows }, null, 1)}\n`);
    console.log(`wrote ${out}`);
    return;
  }
  const summaryFile = out.toLowerCase().endsWith('.csv') ? `${out.slice(0, -4)}.summary.json` : `${out}.summary.json`;
  writeOutputFile(summaryFile, `${JSON.stringify({ ...header, summary, flags: details.result.flags }, null, 1)}\n`);
  writeOutputFile(out, toCsv(rows, perExampleColumns(details.perExample)));
  console.log(`wrote ${out} and ${summaryFile}`);
}

/** --save-adv: the adversarial inputs with their predictions as one .npz. */
function writeAdversarial(file: string, details: ReturnType<typeof evaluateModelDetailed>, dataset: Dataset): void {
  const examples = adversarialExamplesOf(details, dataset);
  if (!examples) return;
  try {
    writeFileAtomic(file, npzBytes(adversarialArrays(examples)));
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${(e as Error).message}`);
  }
  console.log(`wrote ${file} (${Object.keys(examples.adversarial).length} arrays of adversarial inputs with their predictions, plus clean, cleanPred, index, label and bounds)`);
}

export const command: Command = {
  spec: {
    name: 'attack',
    summary: 'attack a saved model and write per-example results, a summary and sanity flags',
    usage:
      'vicinal attack --model DIR|model.json|FILE.onnx [--data D|FORMAT:FILE] [--attack A[,B]] [--eps 0.1,0.2,0.3] [--n N] [--norm linf|l2] [--layout nchw|nhwc|flat] [--bounds lo,hi] [--mean m,m,m --std s,s,s] [--out FILE] [--format json|csv] [--save-adv FILE.npz] [--backend auto|wasm|cpu] [--seed S]',
    flags: {
      model: {
        kind: 'string',
        help: "a TF.js Layers model: its folder or its model.json (vicinal's, or the TF.js converter's from Keras: Sequential or Functional, sharded weights; Dense, Conv2D, MaxPooling2D, Flatten, Dropout, ReLU/linear/softmax, BatchNormalization, Add, GlobalAveragePooling2D); or a .onnx classifier (one input, one output: logits or probabilities; every attack and the probes, through its differentiated graph; a graph with an op outside the gradient rules takes score-based and noise attacks only)",
      },
      layout: { kind: 'string', help: "a .onnx model's input layout: nchw (transposed from the dataset's [h, w, c]), nhwc (as is) or flat; default read from the graph's declared input shape" },
      bounds: { kind: 'numbers', help: "valid input range lo,hi the attacks clip to (pixel space); default the dataset's" },
      mean: { kind: 'numbers', help: 'a .onnx model that expects normalised input: per-channel means (comma list); the attacks work in pixel space and feed (x - mean) / std' },
      std: { kind: 'numbers', help: 'per-channel standard deviations for --mean (comma list, > 0)' },
      data: { kind: 'string', help: `dataset: ${DATA_FORMS}; default: the one stored with the model; a name takes its settings from the model when they match` },
      attack: { kind: 'strings', help: `attacks: ${ATTACK_NAMES.join('|')}; default fgsm,pgd (linf), fgm,pgd (l2)` },
      eps: {
        kind: 'numbers',
        help: `radii; default per dataset: ${defaultEpsHelp()}`,
      },
      n: { kind: 'number', help: 'attack the first N test examples', default: 500 },
      norm: { kind: 'string', help: 'threat model: linf|l2', default: 'linf' },
      params: { kind: 'strings', help: 'attack parameters as attack.key=value pairs, e.g. pgd.steps=100,pgd.restarts=5' },
      'batch-size': { kind: 'number', help: 'examples per attack batch', default: 250 },
      probes: { kind: 'boolean', help: 'also run the gradient-norm probes (slower)', default: false },
      sanity: { kind: 'boolean', help: 'run the sanity checks (--sanity=false to skip)', default: true },
      out: { kind: 'string', help: 'output file, written atomically (default: print the summary only)' },
      'save-adv': {
        kind: 'string',
        help: 'write the adversarial inputs to this .npz, written atomically: one float32 array [n, ...inputShape] per attack and eps (named like pgd@linf:0.1) with the predictions on them (pgd@linf:0.1.pred), plus clean, cleanPred, index, label (int32) and bounds',
      },
      format: { kind: 'string', help: 'json (one document) | csv (per-example rows; summary and flags in FILE.summary.json); default from the --out extension, else json' },
      backend: backendFlagSpec(),
      seed: { kind: 'number', help: 'seed of the attacks', default: 0 },
    },
  },
  async main(flags, positional) {
    const o = parseAttackOptions(flags, positional);
    // The backend is verified after the model and the data are read, so bad input fails in a fraction of a second.
    const backend = await initBackend(o.backendName);
    const attacked = await loadAttackedModel(o.modelDir, o.isOnnx, o.onnx);
    try {
      const dataset = loadTargetDataset(attacked, o);
      // A .onnx file's shapes are checked against the dataset here (one-line UsageErrors naming both).
      const gradientsNeeded = o.probes || o.attackNames.some(needsGradients);
      const { classifier: base, gradientFree } = attacked.classifierFor(dataset, gradientsNeeded);
      if (dataset.test.n === 0) throw new UsageError(`dataset ${dataset.name} has no test examples`);
      if (o.probes && dataset.train.n === 0) throw new UsageError('option --probes needs training points; the data have no train file (give a JSON spec with "train")');
      await refuseDefectiveBackend();
      const reading = readOutputs(base, attacked.softmaxLayer, dataset);
      const classifier: Classifier = reading.kind === 'probabilities' && !reading.softmaxLayer ? logOfProbabilities(base) : base;
      const t0 = Date.now();
      const details = evaluateModelDetailed(classifier, dataset, evalConfigOf(o, dataset), new Rng(o.seed), {
        keepAdversarial: o.saveAdv !== undefined ? o.n : 0,
        gradientFree,
      });
      const header = {
        kind: 'attack-results',
        model: path.resolve(o.modelDir),
        modelFormat: attacked.kind,
        ...(attacked.kind === 'onnx' ? { onnx: attacked.settings } : {}),
        dataset: dataset.settings,
        output: reading,
        config: details.config,
        seed: o.seed,
        wallSeconds: (Date.now() - t0) / 1000,
        seconds: details.seconds,
        env: describeEnvironment(backend),
      };
      if (reading.note) console.log(`model output: ${reading.note}`);
      console.log(formatSummary(details.result, details.seconds));
      if (details.stageLogs) console.log(formatStageLogs(details.stageLogs));
      if (o.out) writeResults(o.out, o.format, header, details);
      if (o.saveAdv !== undefined) writeAdversarial(o.saveAdv, details, dataset);
      return details.result.flags.some((f) => f.severity === 'error') ? EXIT.failed : EXIT.ok;
    } finally {
      attacked.dispose();
    }
  },
};
