import { Environment, JobResult, ModelIdentity } from '../contract/results';
import { resultPath, writeJsonAtomic } from '../contract/run-folder';
import { runEvalJob } from './eval-job';
import { JobContext } from './job-context';
import { Job } from './job-spec';
import { runTrainJob } from './train-job';

/** Runs a job and writes its result file atomically; a thrown error becomes a failed result. */
export async function runJob(job: Job, ctx: JobContext): Promise<JobResult> {
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

export function failedResult(job: Job, message: string, env: Environment): JobResult {
  const spec = job.spec;
  const identity: ModelIdentity = {
    dataset: spec.dataset as unknown as Record<string, number | string>,
    model: (spec.model ?? {}) as Record<string, unknown>,
    scheme: { name: spec.scheme.name, settings: spec.scheme.params },
    train: (spec.train ?? {}) as Record<string, unknown>,
    seed: job.seed,
  };
  if (job.kind === 'train') {
    return { kind: 'train', jobId: job.id, identity, status: 'failed', error: message, history: [], cleanAccuracy: null, wallSeconds: 0, env };
  }
  return {
    kind: 'eval',
    jobId: job.id,
    trainJobId: job.trainJobId ?? null,
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
