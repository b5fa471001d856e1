import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { z } from 'zod';
import { BACKEND_CHOICES } from '../contract/results';
import { UsageError } from '../contract/errors';
import { NORMS } from '../contract/norms';
import { DATASET_NAMES, DatasetSpec, datasetSpecProblem, resolveDatasetSpec } from '../data/registry';
import { EVAL_DEFAULTS, EvalSettings, withEvalDefaults } from '../eval/config';
import { AUGMENTS } from '../models/augment';
import { ARCH_NAMES } from '../models/build';
import { LR_SCHEDULES } from '../models/schedule';
import { ImportedInput, LAYOUT_BY_NAME } from '../backend/onnx/file-model';

const params = z.record(z.string(), z.unknown());

const schemeEntry = z
  .object({
    /** Scheme name: a key of the scheme registry (models/schemes/index.ts); checked by suite/validate.ts. */
    name: z.string(),
    /** Scheme parameters; missing ones take the scheme's defaults. */
    params: params.default({}),
    /** Parameter sweeps: every combination becomes its own scheme entry, e.g. {alpha: [0.2, 0.4, 1]}. */
    sweep: z.record(z.string(), z.array(z.union([z.number(), z.string()])).min(1)).optional(),
  })
  .strict();

const attackEntry = z
  .object({
    /** Attack name: a key of the attack registry (attacks/registry.ts); checked by suite/validate.ts. */
    name: z.string(),
    params: params.default({}),
  })
  .strict();

/**
 * A dataset: `name` (a registered dataset) plus the keys its descriptor
 * declares, checked by the descriptor (data/registry.ts), so the schema
 * follows the registry. Values are kept as given: job ids hash the spec
 * without defaults.
 */
const datasetSpec = z
  .object({ name: z.enum(DATASET_NAMES) })
  .catchall(z.unknown())
  .superRefine((spec, ctx) => {
    const problem = datasetSpecProblem(spec);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.key ? [problem.key] : [], message: problem.message });
  })
  .transform((spec) => spec as DatasetSpec);

const archModelSpec = z
  .object({
    arch: z.enum(ARCH_NAMES),
    hidden: z.array(z.number().int().positive()).optional(),
    filters: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
    kernelSize: z.number().int().positive().optional(),
    /** resnet: 6n + 2 (default 20); preact-resnet: 18. */
    depth: z.number().int().positive().optional(),
    /** resnet / preact-resnet: filters of the first stage (default 16 / 64). */
    width: z.number().int().positive().optional(),
  })
  .strict();

/**
 * An imported model: a .onnx classifier file (path relative to the working
 * directory), evaluated like a trained model (no train job). Input layout
 * and normalisation as `vicinal attack --model FILE.onnx` reads them.
 */
const onnxModelSpec = z
  .object({
    /** The .onnx file: one float32 input, one [batch, classes] output (logits, or probabilities: attacked through their log). */
    onnx: z.string().min(1),
    /** nchw | nhwc | flat; default read from the graph's declared input shape. */
    layout: z.enum(['nchw', 'nhwc', 'flat']).optional(),
    /** Per-channel mean and std the graph expects its input normalised with: it is fed (x - mean) / std. */
    mean: z.array(z.number()).min(1).optional(),
    std: z.array(z.number().positive()).min(1).optional(),
  })
  .strict();

const modelSpec = z.union([archModelSpec, onnxModelSpec]);

/** A study's imported model entry, with the file's SHA-256 added when the study is loaded (job ids hash it). */
export type OnnxModelEntry = z.infer<typeof onnxModelSpec> & { sha256?: string };
/** How an imported entry's input is read (layout names as `vicinal attack --layout`). */
export function importedInput(m: OnnxModelEntry): ImportedInput {
  return { layout: m.layout === undefined ? undefined : LAYOUT_BY_NAME[m.layout], mean: m.mean, std: m.std };
}
export const isOnnxModel = <T extends object>(m: T): m is Extract<T, { onnx: string }> => 'onnx' in m;

const trainSpec = z
  .object({
    optimizer: z.enum(['adam', 'sgd']).default('adam'),
    learningRate: z.number().positive().optional(),
    momentum: z.number().min(0).lt(1).default(0.9),
    batchSize: z.number().int().positive().default(128),
    epochs: z.number().int().positive().default(10),
    // Optional without defaults, so studies that leave them out keep their job ids.
    /** L2 weight decay on every trainable weight's gradient, outside the scheme's loss. Default 0. */
    weightDecay: z.number().nonnegative().optional(),
    /** Learning-rate schedule (models/schedule.ts). Default constant. */
    lrSchedule: z.enum(LR_SCHEDULES).optional(),
    /** Training augmentation (models/augment.ts). Default: the dataset's (crop-flip for cifar10/cifar100, else none). */
    augment: z.enum(AUGMENTS).optional(),
  })
  .strict();

const evalSpec = z
  .object({
    // Fields and defaults: eval/config.ts EvalSettings, filled by withEvalDefaults below (meta: the defaults the JSON Schema shows).
    norm: z.enum(NORMS).optional().meta({ default: EVAL_DEFAULTS.norm }),
    eps: z.array(z.number().nonnegative()).min(1),
    nExamples: z.number().int().positive().optional().meta({ default: EVAL_DEFAULTS.nExamples }),
    batchSize: z.number().int().positive().optional().meta({ default: EVAL_DEFAULTS.batchSize }),
    probePoints: z.number().int().positive().optional().meta({ default: EVAL_DEFAULTS.probePoints }),
    /**
     * Keep the adversarial inputs of the first k evaluated examples, per attack and eps, in
     * RUN/adv/<evalJobId>.npz (the HTML report draws a few of them for image datasets).
     * Absent or 0: none kept. At most nExamples.
     */
    saveAdversarial: z.number().int().nonnegative().optional(),
  })
  .strict()
  .transform((e): EvalSettings => withEvalDefaults(e))
  .superRefine((e, ctx) => {
    if (e.saveAdversarial !== undefined && e.saveAdversarial > e.nExamples) {
      ctx.addIssue({ code: 'custom', path: ['saveAdversarial'], message: `keeps at most the ${e.nExamples} evaluated examples (nExamples); allowed: 0 to ${e.nExamples}` });
    }
  });

const experiment = z
  .object({
    dataset: datasetSpec,
    models: z.array(modelSpec).min(1),
    train: trainSpec.default(() => trainSpec.parse({})),
    eval: evalSpec,
    /** Replaces the study's attack list for this experiment (e.g. a PGD step size suited to its input scale). */
    attacks: z.array(attackEntry).min(1).optional(),
  })
  .strict();

export const studySchema = z
  .object({
    /** Study name (used in the run folder name and reports). */
    name: z.string().min(1).default('study'),
    /** Compute backend: auto walks tfjs-node-gpu -> tfjs-node -> wasm -> cpu. */
    backend: z.enum(BACKEND_CHOICES).default('auto'),
    /** Training seeds (model initialisation, shuffling, scheme draws); data are fixed per experiment. */
    seeds: z.array(z.number().int().nonnegative()).min(1).default([0]),
    schemes: z.array(schemeEntry).min(1),
    attacks: z.array(attackEntry).min(1),
    /** Gradient-norm probes at train, test and vicinal points. */
    probes: z.boolean().default(true),
    /** Transfer attacks: examples crafted on the `source` scheme's model (same data, model, seed) with `attack`. */
    transfer: z
      .object({ enabled: z.boolean().default(false), source: z.string().default('erm'), attack: z.string().default('pgd') })
      .strict()
      .default({ enabled: false, source: 'erm', attack: 'pgd' }),
    experiments: z.array(experiment).min(1),
    /** Regression thresholds used by `vicinal compare`. */
    thresholds: z
      .object({
        cleanAccuracyDrop: z.number().nonnegative().default(0.01),
        robustBeyondCI: z.boolean().default(true),
        wallTimeIncrease: z.number().nonnegative().default(0.25),
      })
      .strict()
      .default({ cleanAccuracyDrop: 0.01, robustBeyondCI: true, wallTimeIncrease: 0.25 }),
  })
  .strict();

export type StudyConfig = z.infer<typeof studySchema>;
export type ExperimentConfig = StudyConfig['experiments'][number];
export type SchemeEntry = StudyConfig['schemes'][number];

/** Validates a study; the first problem becomes a one-line UsageError naming the field, the value and what is allowed. */
export function validateStudy(raw: unknown, source: string): StudyConfig {
  const r = studySchema.safeParse(raw);
  if (r.success) return resolveStudy(r.data, source);
  const issue = r.error.issues[0];
  const field = issue.path.length
    ? issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '')
    : '(top level)';
  const value = valueAt(raw, issue.path as (string | number)[]);
  const shown = value === undefined ? 'missing' : JSON.stringify(value);
  throw new UsageError(`${source}: invalid field ${field} = ${shown}: ${issue.message}`);
}

/**
 * Adds to each experiment's dataset what identifies its data beyond the
 * settings (files datasets: the SHA-256 of the files, `contentHash`), so the
 * planner's job ids change when a file does. Training needs a train file.
 */
function resolveStudy(config: StudyConfig, source: string): StudyConfig {
  const experiments = config.experiments.map((ex, i) => {
    if (ex.dataset.name === 'files' && ex.dataset.train === undefined) {
      throw new UsageError(`${source}: invalid field experiments[${i}].dataset.train = missing: training needs a train file`);
    }
    let dataset: DatasetSpec;
    try {
      dataset = resolveDatasetSpec(ex.dataset);
    } catch (e) {
      throw new UsageError(`${source}: experiments[${i}].dataset: ${(e as Error).message}`);
    }
    const models = ex.models.map((m, j) => (isOnnxModel(m) ? { ...m, sha256: onnxFileSha256(m.onnx, `${source}: experiments[${i}].models[${j}].onnx`) } : m));
    return { ...ex, dataset, models };
  });
  return { ...config, experiments };
}

/** The SHA-256 of an imported model file; a missing file is a UsageError naming the field. */
function onnxFileSha256(file: string, field: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`${field}: cannot read ${file}: ${(e as Error).message}`);
  }
  return createHash('sha256').update(bytes).digest('hex');
}

function valueAt(raw: unknown, p: (string | number)[]): unknown {
  let v: unknown = raw;
  for (const k of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

export const PROFILE_DIR = path.join(__dirname, '..', '..', 'suite', 'profiles');
export const PROFILES = ['quick', 'nightly', 'full', 'cifar-quick', 'cifar'] as const;

/** Reads a profile name or a JSON/YAML config file, unvalidated: the parsed document and the file's name. */
export function readStudyFile(nameOrFile: string): { raw: unknown; source: string } {
  let file = nameOrFile;
  if ((PROFILES as readonly string[]).includes(nameOrFile)) file = path.join(PROFILE_DIR, `${nameOrFile}.yaml`);
  else if (!fs.existsSync(nameOrFile)) {
    throw new UsageError(`config "${nameOrFile}" is neither a profile (${PROFILES.join(', ')}) nor an existing file`);
  }
  const text = fs.readFileSync(file, 'utf8');
  try {
    return { raw: file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text), source: path.basename(file) };
  } catch (e) {
    throw new UsageError(`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Loads a profile name or a JSON/YAML config file. */
export function loadStudy(nameOrFile: string): { config: StudyConfig; source: string } {
  const { raw, source } = readStudyFile(nameOrFile);
  return { config: validateStudy(raw, source), source };
}
