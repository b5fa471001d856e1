import * as fs from 'fs';
import * as path from 'path';
import { loadDataset, DatasetSpec } from '../data/registry';
import { Rng } from '../data/rng';
import { Dataset } from '../data/types';
import { buildModel, ModelSpec, resolveModelSpec } from '../models/build';
import { hasSavedModel, saveModel } from '../models/io';
import { createScheme } from '../models/schemes';
import { DivergedError, EpochRecord, resolveTrainConfig, trainModel, TrainConfig } from '../models/train';
import { runEvalJob } from './eval-job';
import { Environment, JobResult, ModelIdentity, PlannedJob, TrainJobResult } from './results';
import { modelDir, readResult, resultPath, writeJsonAtomic } from './store';

export interface JobContext {
  runDir: string;
  /** Shared cache of trained models keyed by train job id (null: no cache). */
  cacheDir: string | null;
  env: Environment;
  /** Reports progress of the running job: a short text and a fraction in [0, 1]. */
  progress: (text: string, fraction: number) => void;
  /** Datasets already built in this worker, by their spec. */
  datasets: Map<string, Dataset>;
}

export interface TrainSpec {
  dataset: DatasetSpec;
  model: ModelSpec;
  scheme: { name: string; params: Record<string, unknown> };
  train: TrainConfig;
  seed: number;
}

export function datasetFor(ctx: JobContext, spec: DatasetSpec): Dataset {
  const key = JSON.stringify(spec);
  let d = ctx.datasets.get(key);
  if (!d) {
    d = loadDataset(spec);
    ctx.datasets.set(key, d);
  }
  return d;
}

export function identityOf(spec: TrainSpec, dataset: Dataset, schemeSettings: Record<string, unknown>): ModelIdentity {
  return {
    dataset: dataset.settings,
    model: resolveModelSpec(spec.model) as unknown as Record<string, unknown>,
    scheme: { name: spec.scheme.name, settings: schemeSettings },
    train: resolveTrainConfig({ ...spec.train, seed: spec.seed }) as unknown as Record<string, unknown>,
    seed: spec.seed,
  };
}

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
}

/** Trains one model (or takes it from the model cache) and saves it into the run folder. */
export async function runTrainJob(job: PlannedJob, ctx: JobContext): Promise<TrainJobResult> {
  const spec = job.spec as unknown as TrainSpec;
  const outDir = modelDir(ctx.runDir, job.id);
  if (ctx.cacheDir) {
    const cached = readResult(ctx.cacheDir, job.id);
    const cachedModel = modelDir(ctx.cacheDir, job.id);
    // Reuse only what this same code trained: a model cached by another commit
    // would hide a training regression from a nightly comparison.
    const sameCode = cached?.env.gitCommit != null && cached.env.gitCommit === ctx.env.gitCommit;
    if (cached && sameCode && cached.kind === 'train' && (cached.status !== 'ok' || hasSavedModel(cachedModel))) {
      if (cached.status === 'ok') copyDir(cachedModel, outDir);
      return cached;
    }
  }
  const t0 = Date.now();
  const dataset = datasetFor(ctx, spec.dataset);
  const seedRng = new Rng(spec.seed);
  const scheme = createScheme(spec.scheme.name, spec.scheme.params, dataset, seedRng.fork('scheme'));
  const identity = identityOf(spec, dataset, scheme.settings);
  const model = buildModel(spec.model, dataset.inputShape, dataset.numClasses, spec.seed);
  const history: EpochRecord[] = [];
  const epochs = resolveTrainConfig(spec.train).epochs;
  let result: TrainJobResult;
  try {
    trainModel(model, dataset, scheme, { ...spec.train, seed: spec.seed }, (r) => {
      history.push(r);
      ctx.progress(`epoch ${r.epoch}/${epochs} loss ${r.loss.toFixed(3)} test ${(100 * r.testAccuracy).toFixed(1)}%`, r.epoch / epochs);
    });
    await saveModel(model, outDir, { jobId: job.id, identity });
    result = {
      kind: 'train',
      jobId: job.id,
      identity,
      status: 'ok',
      history,
      cleanAccuracy: history[history.length - 1].testAccuracy,
      wallSeconds: (Date.now() - t0) / 1000,
      env: ctx.env,
    };
  } catch (e) {
    if (!(e instanceof DivergedError)) throw e;
    result = {
      kind: 'train',
      jobId: job.id,
      identity,
      status: 'diverged',
      error: e.message,
      history,
      cleanAccuracy: null,
      wallSeconds: (Date.now() - t0) / 1000,
      env: ctx.env,
    };
  } finally {
    model.dispose();
  }
  if (ctx.cacheDir) {
    if (result.status === 'ok') copyDir(outDir, modelDir(ctx.cacheDir, job.id));
    writeJsonAtomic(resultPath(ctx.cacheDir, job.id), result);
  }
  return result;
}

/** Runs a job and writes its result file atomically; a thrown error becomes a failed result. */
export async function runJob(job: PlannedJob, ctx: JobContext): Promise<JobResult> {
  let result: JobResult;
  try {
    result = job.kind === 'train' ? await runTrainJob(job, ctx) : await runEvalJob(job, ctx);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    result = failedResult(job, message, ctx.env);
  }
  writeJsonAtomic(resultPath(ctx.runDir, job.id), result);
  return result;
}

export function failedResult(job: PlannedJob, message: string, env: Environment): JobResult {
  const spec = job.spec as Record<string, unknown>;
  const identity: ModelIdentity = {
    dataset: spec.dataset as Record<string, number | string>,
    model: (spec.model ?? {}) as Record<string, unknown>,
    scheme: { name: (spec.scheme as { name: string }).name, settings: (spec.scheme as { params: Record<string, unknown> }).params },
    train: (spec.train ?? {}) as Record<string, unknown>,
    seed: job.seed,
  };
  if (job.kind === 'train') {
    return { kind: 'train', jobId: job.id, identity, status: 'failed', error: message, history: [], cleanAccuracy: null, wallSeconds: 0, env };
  }
  return {
    kind: 'eval',
    jobId: job.id,
    trainJobId: job.trainJobId as string,
    identity,
    status: 'failed',
    error: message,
    cleanAccuracy: NaN,
    n: 0,
    attacks: [],
    worstCase: [],
    probes: {},
    flags: [],
    cleanCorrect: [],
    robustCorrect: {},
    wallSeconds: 0,
    env,
  };
}
