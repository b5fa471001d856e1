import * as tf from '@tensorflow/tfjs';
import { evaluateModelDetailed } from '../eval/evaluate';
import { adversarialArrays, adversarialExamplesOf, npzBytes } from '../eval/adversarial-examples';
import { Rng } from '../data/rng';
import { loadModel } from '../models/io';
import { asClassifier } from '../models/predict';
import { Classifier } from '../contract/classifier';
import { createScheme } from '../models/schemes';
import { datasetFor, JobContext } from './job-context';
import { EvalJob, evalConfigOfSpec } from './job-spec';
import { EvalJobResult, TrainJobResult } from '../contract/results';
import { adversarialFile, modelDir, readResult, writeFileAtomic } from '../contract/run-folder';

/**
 * Attacks one trained model with every attack and epsilon of the study, runs
 * the gradient probes (vicinal points come from the model's own training
 * scheme) and the automatic sanity checks; with eval.saveAdversarial k, keeps
 * the first k examples' adversarial inputs in RUN/adv/<jobId>.npz.
 */
export async function runEvalJob(job: EvalJob, ctx: JobContext): Promise<EvalJobResult> {
  const spec = job.spec;
  const t0 = Date.now();
  const trained = readResult(ctx.runDir, spec.trainJobId) as TrainJobResult | null;
  if (trained?.status !== 'ok') throw new Error(`model ${spec.trainJobId} is not trained (${trained?.status ?? 'missing'})`);
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
    const details = evaluateModelDetailed(f, dataset, evalConfigOfSpec(spec), new Rng(spec.seed).fork('eval'), {
      sources,
      vicinal: { draw: (point, n, rng) => scheme.vicinity(point, n, rng, f), size: scheme.trainingSet.n },
      onProgress: (p) => ctx.progress(`${p.stage} ${p.detail}`, p.total > 0 ? p.done / p.total : 0),
    });
    const core = details.result;
    // Written before the result, which marks the job done: a resumed run rewrites a file whose result is missing.
    const examples = adversarialExamplesOf(details, dataset);
    if (examples) writeFileAtomic(adversarialFile(ctx.runDir, job.id), npzBytes(adversarialArrays(examples)));
    return {
      kind: 'eval',
      jobId: job.id,
      trainJobId: spec.trainJobId,
      identity: trained.identity,
      status: 'ok',
      ...core,
      wallSeconds: (Date.now() - t0) / 1000,
      stageSeconds: Object.fromEntries(Object.entries(details.seconds).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
      env: ctx.env,
    };
  } finally {
    model.dispose();
    for (const m of sourceModels) m.dispose();
  }
}
