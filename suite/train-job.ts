import * as fs from 'fs';
import * as path from 'path';
import { ModelIdentity, TrainJobResult } from '../contract/results';
import { modelDir, readResult, resultPath, writeJsonAtomic } from '../contract/run-folder';
import { Rng } from '../data/rng';
import { Dataset } from '../data/types';
import { buildModel, resolveModelSpec } from '../models/build';
import { hasSavedModel, saveModel } from '../models/io';
import { createScheme } from '../models/schemes';
import { DivergedError, EpochRecord, resolveTrainConfig, trainModel } from '../models/train';
import { datasetFor, JobContext } from './job-context';
import { TrainJob, TrainSpec } from './job-spec';

export function identityOf(spec: TrainSpec, dataset: Dataset, schemeSettings: Record<string, unknown>): ModelIdentity {
  return {
    dataset: dataset.settings,
    model: resolveModelSpec(spec.model) as unknown as Record<string, unknown>,
    scheme: { name: spec.scheme.name, settings: schemeSettings },
    train: resolveTrainConfig({ ...spec.train, seed: spec.seed }, dataset.name) as unknown as Record<string, unknown>,
    seed: spec.seed,
  };
}

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
}

/** Trains one model (or takes it from the model cache) and saves it into the run folder. */
export async function runTrainJob(job: TrainJob, ctx: JobContext): Promise<TrainJobResult> {
  const spec = job.spec;
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
