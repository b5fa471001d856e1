import * as tf from '@tensorflow/tfjs';
import { evaluateModelDetailed } from '../eval/evaluate';
import { adversarialArrays, adversarialExamplesOf, npzBytes } from '../eval/adversarial-examples';
import { Rng } from '../data/rng';
import { loadModel, logOfProbabilities, looksLikeProbabilities } from '../models/io';
import { asClassifier, predictLogits } from '../models/predict';
import { Classifier } from '../contract/classifier';
import { createScheme } from '../models/schemes';
import { datasetFor, JobContext } from './job-context';
import { EvalJob, evalConfigOfSpec } from './job-spec';
import { EvalJobResult, ModelIdentity, TrainJobResult } from '../contract/results';
import { importedClassifier, loadOnnxFile } from '../backend/onnx/file-model';
import { type Dataset, inputSize } from '../data/types';
import { importedInput, OnnxModelEntry } from './config';
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
  const dataset = datasetFor(ctx, spec.dataset);
  const attacked = spec.trainJobId === null ? importedModel(spec, dataset) : await trainedModel(ctx, spec.trainJobId);
  const sourceModels: tf.LayersModel[] = [];
  try {
    const sources: Record<string, Classifier> = {};
    for (const id of spec.transfer?.sourceTrainJobIds ?? []) {
      const m = (await loadModel(modelDir(ctx.runDir, id))).model;
      sourceModels.push(m);
      sources[spec.transfer?.source as string] = asClassifier(m);
    }
    const scheme = createScheme(spec.scheme.name, spec.scheme.params, dataset, new Rng(spec.seed).fork('scheme'));
    const f = attacked.classifier;
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
      identity: attacked.identity,
      status: 'ok',
      ...core,
      wallSeconds: (Date.now() - t0) / 1000,
      stageSeconds: Object.fromEntries(Object.entries(details.seconds).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
      ...(details.passes ? { stagePasses: details.passes } : {}),
      env: ctx.env,
    };
  } finally {
    attacked.dispose();
    for (const m of sourceModels) m.dispose();
  }
}

/** The model an eval job attacks: its classifier, its identity, and how to free it. */
interface AttackedModel {
  classifier: Classifier;
  identity: ModelIdentity;
  dispose(): void;
}

async function trainedModel(ctx: JobContext, trainJobId: string): Promise<AttackedModel> {
  const trained = readResult(ctx.runDir, trainJobId) as TrainJobResult | null;
  if (trained?.status !== 'ok') throw new Error(`model ${trainJobId} is not trained (${trained?.status ?? 'missing'})`);
  const { model } = await loadModel(modelDir(ctx.runDir, trainJobId));
  return { classifier: asClassifier(model), identity: trained.identity, dispose: () => model.dispose() };
}

/**
 * A study's imported .onnx model: the file must still be the one planned
 * (its SHA-256 is in the job id); gradients through the differentiated graph.
 */
function importedModel(spec: EvalJob['spec'], dataset: Dataset): AttackedModel {
  const entry = spec.model as OnnxModelEntry;
  const file = loadOnnxFile(entry.onnx);
  try {
    const made = importedClassifier(file, dataset.inputShape, dataset.numClasses, dataset.name, importedInput(entry), true);
    if (made.settings.sha256 !== entry.sha256) throw new Error(`${entry.onnx} changed since the study was planned (SHA-256 ${made.settings.sha256}, planned ${entry.sha256}); plan the study again`);
    // As `vicinal attack` reads outputs: rows that are >= 0 and sum to 1 on the first test examples are probabilities, attacked through their log.
    const n = Math.min(100, dataset.test.n);
    const probabilities = looksLikeProbabilities(predictLogits(made.classifier, dataset.test.x.subarray(0, n * inputSize(dataset.inputShape)), dataset.inputShape), dataset.numClasses);
    const classifier = probabilities ? logOfProbabilities(made.classifier) : made.classifier;
    const identity: ModelIdentity = {
      dataset: spec.dataset as unknown as Record<string, number | string>,
      model: { onnx: entry.onnx, ...made.settings, output: probabilities ? 'probabilities' : 'logits' },
      scheme: { name: 'imported', settings: {} },
      train: {},
      seed: spec.seed,
    };
    return { classifier, identity, dispose: () => file.dispose() };
  } catch (e) {
    file.dispose();
    throw e;
  }
}
