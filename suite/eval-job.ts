import * as tf from '@tensorflow/tfjs';
import { evaluateModel, EvalConfig } from '../attacks/evaluate';
import { AttackSpec } from '../attacks/registry';
import { DatasetSpec } from '../data/registry';
import { Rng } from '../data/rng';
import { loadModel } from '../models/io';
import { asClassifier, Classifier } from '../models/predict';
import { createScheme } from '../models/schemes';
import type { JobContext } from './jobs';
import { datasetFor } from './jobs';
import { EvalJobResult, PlannedJob, TrainJobResult } from './results';
import { modelDir, readResult } from './store';

/** The resolved settings an eval job hashes (see suite/plan.ts). */
export interface EvalSpec {
  trainJobId: string;
  dataset: DatasetSpec;
  scheme: { name: string; params: Record<string, unknown> };
  eval: { norm: 'linf' | 'l2'; eps: number[]; nExamples: number; batchSize: number; probePoints: number };
  attacks: AttackSpec[];
  probes: boolean;
  transfer: { source: string; attack: AttackSpec; sourceTrainJobIds: string[] } | null;
  seed: number;
}

/**
 * Attacks one trained model with every attack and epsilon of the study, runs
 * the gradient probes (vicinal points come from the model's own training
 * scheme) and the automatic sanity checks.
 */
export async function runEvalJob(job: PlannedJob, ctx: JobContext): Promise<EvalJobResult> {
  const spec = job.spec as unknown as EvalSpec;
  const t0 = Date.now();
  const trained = readResult(ctx.runDir, spec.trainJobId) as TrainJobResult | null;
  if (!trained || trained.status !== 'ok') throw new Error(`model ${spec.trainJobId} is not trained (${trained?.status ?? 'missing'})`);
  const dataset = datasetFor(ctx, spec.dataset);
  const { model } = await loadModel(modelDir(ctx.runDir, spec.trainJobId));
  const sourceModels: tf.LayersModel[] = [];
  try {
    const sources: Record<string, Classifier> = {};
    for (const id of spec.transfer?.sourceTrainJobIds ?? []) {
      const m = (await loadModel(modelDir(ctx.runDir, id))).model;
      sourceModels.push(m);
      sources[spec.transfer?.source as string] = asClassifier(m);
    }
    const scheme = createScheme(spec.scheme.name, spec.scheme.params, dataset, new Rng(spec.seed).fork('scheme'));
    const f = asClassifier(model);
    const config: EvalConfig = {
      attacks: spec.attacks,
      eps: spec.eval.eps,
      norm: spec.eval.norm,
      nExamples: spec.eval.nExamples,
      batchSize: spec.eval.batchSize,
      transfer: spec.transfer && spec.transfer.sourceTrainJobIds.length > 0 ? [{ source: spec.transfer.source, attack: spec.transfer.attack }] : [],
      probes: { enabled: spec.probes, nPoints: spec.eval.probePoints },
    };
    const core = evaluateModel(f, dataset, config, new Rng(spec.seed).fork('eval'), {
      sources,
      vicinal: { draw: (point, n, rng) => scheme.vicinity(point, n, rng, f), size: scheme.trainingSet.n },
      onProgress: (p) => ctx.progress(`${p.stage} ${p.detail}`, p.total > 0 ? p.done / p.total : 0),
    });
    return {
      kind: 'eval',
      jobId: job.id,
      trainJobId: spec.trainJobId,
      identity: trained.identity,
      status: 'ok',
      ...core,
      wallSeconds: (Date.now() - t0) / 1000,
      env: ctx.env,
    };
  } finally {
    model.dispose();
    for (const m of sourceModels) m.dispose();
  }
}
