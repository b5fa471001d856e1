import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { BackendInfo, Environment } from '../contract/results';
import { StudyConfig } from './config';
import { describeEnvironment, vicinalVersion } from '../backend/environment';
import { failedResult } from './jobs';
import { planStudy } from './plan';
import { Progress } from './progress';
import { estimateCosts, planHash } from './shard';
import { JobResult, PlannedJob } from '../contract/results';
import { appendLog, MANIFEST, readManifest, readResult, resultPath, ScaleOutManifest, ShardInfo, writeJsonAtomic } from '../contract/run-folder';
import type { FromWorker, WorkerInit } from './worker';
import type { Job } from './job-spec';

export interface RunOptions {
  config: StudyConfig;
  source: string;
  runDir: string;
  workers: number;
  quiet: boolean;
  cacheDir: string | null;
  backend: BackendInfo;
  /** Run only this shard's share of the plan (`--shard I/N`); the manifest still lists the whole plan. */
  shard?: ShardInfo | null;
}

export interface RunOutcome {
  manifest: ScaleOutManifest;
  results: Map<string, JobResult>;
  /** The jobs this run was asked to run: the whole plan, or the shard's share. */
  share: PlannedJob[];
  /** Jobs whose status is not ok, with their errors (of the share). */
  failures: { job: PlannedJob; status: string; error?: string }[];
  /** Jobs skipped because a finished result already existed. */
  reused: number;
}

/**
 * Runs (or resumes) a study in a run folder. Jobs that already have a result
 * file are skipped; the rest run in worker threads, each writing its own
 * result atomically, so killing the process never costs finished work.
 */
export async function runStudy(o: RunOptions): Promise<RunOutcome> {
  const t0 = Date.now();
  const jobs = planStudy(o.config, o.backend.name);
  const share = shareOf(jobs, o.shard ?? null);
  const { manifest, priorSeconds } = startManifest(o, jobs, share, t0);
  const results = readFinishedResults(o.runDir, share);
  const reused = results.size;
  const pending = pendingJobs(share, results);
  if (pending.length > 0) await runInWorkers(newSession(o, jobs, share, pending, results, manifest.env));
  return finishRun(o, manifest, share, results, reused, priorSeconds, t0);
}

/** The jobs this run runs: the whole plan, or the shard's share of it. */
function shareOf(jobs: Job[], shard: ShardInfo | null): Job[] {
  if (!shard) return jobs;
  const mine = new Set(shard.jobIds);
  return jobs.filter((j) => mine.has(j.id));
}

/** Writes the manifest of this session (keeping a resumed run's start time) and logs the start. */
function startManifest(o: RunOptions, jobs: Job[], share: Job[], t0: number): { manifest: ScaleOutManifest; priorSeconds: number } {
  const shard = o.shard ?? null;
  fs.mkdirSync(o.runDir, { recursive: true });
  const previous = fs.existsSync(path.join(o.runDir, MANIFEST)) ? readManifest(o.runDir) : null;
  const manifest: ScaleOutManifest = {
    vicinal: vicinalVersion(),
    config: o.config as unknown as Record<string, unknown>,
    source: o.source,
    jobs,
    env: describeEnvironment(o.backend),
    startedAt: previous?.startedAt ?? new Date(t0).toISOString(),
    endedAt: null,
    wallSeconds: null,
    workers: o.workers,
    planHash: planHash(jobs),
    ...(shard ? { shard } : {}),
  };
  writeJsonAtomic(path.join(o.runDir, MANIFEST), manifest);
  appendLog(
    o.runDir,
    `run ${o.source}: ${shard ? `shard ${shard.index}/${shard.count}, ${share.length} of ` : ''}${jobs.length} jobs, backend ${o.backend.name}, ${o.workers} worker(s)${previous ? ' (resume)' : ''}`,
  );
  // Wall time adds up the sessions that reached the end (a killed session's time is not known).
  return { manifest, priorSeconds: previous?.wallSeconds ?? 0 };
}

/** The results already in the run folder (a resumed run skips those jobs). */
function readFinishedResults(runDir: string, share: Job[]): Map<string, JobResult> {
  const results = new Map<string, JobResult>();
  for (const j of share) {
    const r = readResult(runDir, j.id);
    if (r) results.set(j.id, r);
  }
  return results;
}

/**
 * The jobs left to run, training first: every evaluation waits on a model,
 * so finishing the models early keeps every worker busy until the last
 * evaluation.
 */
function pendingJobs(share: Job[], results: Map<string, JobResult>): Job[] {
  return [...share.filter((j) => j.kind === 'train'), ...share.filter((j) => j.kind === 'eval')].filter((j) => !results.has(j.id));
}

/** Stamps the end of the session into the manifest, logs the tally and lists the failures. */
function finishRun(o: RunOptions, manifest: ScaleOutManifest, share: Job[], results: Map<string, JobResult>, reused: number, priorSeconds: number, t0: number): RunOutcome {
  const sessionSeconds = (Date.now() - t0) / 1000;
  const finalManifest: ScaleOutManifest = {
    ...manifest,
    endedAt: new Date().toISOString(),
    wallSeconds: priorSeconds + sessionSeconds,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  writeJsonAtomic(path.join(o.runDir, MANIFEST), finalManifest);
  const failures = share
    .map((job) => ({ job, r: results.get(job.id) }))
    .filter(({ r }) => r?.status !== 'ok')
    .map(({ job, r }) => ({ job, status: r?.status ?? 'missing', error: r?.error }));
  appendLog(o.runDir, `finished: ${share.length - failures.length}/${share.length} ok in ${sessionSeconds.toFixed(1)} s`);
  return { manifest: finalManifest, results, failures, reused, share };
}

// ---------------------------------------------------------------- the worker pool

/** The state of one session of the worker pool: the queue, what runs where, the progress display. */
interface Session {
  o: RunOptions;
  env: Environment;
  share: Job[];
  byId: Map<string, Job>;
  results: Map<string, JobResult>;
  /** Jobs not yet handed to a worker, in order. */
  queue: Job[];
  /** Running job ids and what the progress display says about them. */
  running: Map<string, string>;
  /** Workers waiting for a job whose dependencies are still running. */
  idle: Worker[];
  progress: Progress;
  /** Estimated seconds per job: the ETA off a TTY weighs finished jobs by it. */
  cost: Map<string, number>;
  pendingCost: number;
  doneCost: number;
}

function newSession(o: RunOptions, jobs: Job[], share: Job[], pending: Job[], results: Map<string, JobResult>, env: Environment): Session {
  const cost = estimateCosts(jobs).seconds;
  return {
    o,
    env,
    share,
    byId: new Map(jobs.map((j) => [j.id, j])),
    results,
    queue: [...pending],
    running: new Map(),
    idle: [],
    progress: new Progress(o.quiet),
    cost,
    pendingCost: pending.reduce((a, j) => a + (cost.get(j.id) ?? 0), 0),
    doneCost: 0,
  };
}

const redraw = (s: Session) => s.progress.update(s.results.size, s.share.length, [...s.running.values()]);
const isReady = (s: Session, j: Job) => j.dependsOn.every((d) => s.results.has(d));

/** Why a job cannot run: a dependency that finished without succeeding; null when it can. */
function blockedBy(s: Session, j: Job): string | null {
  for (const d of j.dependsOn) {
    const r = s.results.get(d);
    if (r && r.status !== 'ok') return `${s.byId.get(d)?.label ?? d} ${r.status}`;
  }
  return null;
}

/** Records a blocked job as failed without running it. */
function skipBlocked(s: Session, job: Job, why: string): void {
  const r = failedResult(job, `not run: ${why}`, s.env);
  writeJsonAtomic(resultPath(s.o.runDir, job.id), r);
  s.results.set(job.id, r);
  appendLog(s.o.runDir, `skip ${job.label}: ${why}`);
}

/**
 * Gives a worker the next ready job (recording blocked ones as failed on the
 * way). Without a ready job the worker waits idle while others still run,
 * and stops when nothing is left. Throws when the queue can never drain.
 */
function dispatch(s: Session, w: Worker): void {
  for (;;) {
    const idx = s.queue.findIndex((j) => isReady(s, j));
    if (idx < 0) {
      if (s.queue.length > 0 && s.running.size === 0) throw new Error(`jobs with unsatisfiable dependencies: ${s.queue.map((q) => q.label).join(', ')}`);
      if (s.queue.length === 0 || s.running.size === 0) w.postMessage({ type: 'stop' });
      else s.idle.push(w);
      return;
    }
    const job = s.queue.splice(idx, 1)[0];
    const why = blockedBy(s, job);
    if (why) {
      skipBlocked(s, job, why);
      continue;
    }
    s.running.set(job.id, job.label);
    appendLog(s.o.runDir, `start ${job.label} (${job.id})`);
    w.postMessage({ type: 'job', job });
    redraw(s);
    return;
  }
}

/** A worker finished a job: record it, show it, and hand out the work it unblocked. */
function jobDone(s: Session, w: Worker, m: Extract<FromWorker, { type: 'done' }>): void {
  s.running.delete(m.jobId);
  const job = s.byId.get(m.jobId) as Job;
  const r = readResult(s.o.runDir, m.jobId);
  if (r) s.results.set(m.jobId, r);
  appendLog(s.o.runDir, `done ${job.label}: ${m.status}${m.error ? ` (${m.error})` : ''}`);
  if (m.status !== 'ok') s.progress.message(`${job.label}: ${m.status}: ${m.error ?? ''}`);
  s.doneCost += s.cost.get(job.id) ?? 0;
  s.progress.jobDone({
    done: s.results.size,
    total: s.share.length,
    label: job.label,
    status: m.status,
    seconds: r?.wallSeconds ?? 0,
    running: s.running.size,
    fraction: s.pendingCost > 0 ? Math.min(1, s.doneCost / s.pendingCost) : undefined,
  });
  redraw(s);
  dispatch(s, w);
  // A finished job may unblock jobs that idle workers could take.
  while (s.idle.length > 0 && s.queue.some((j) => isReady(s, j))) dispatch(s, s.idle.shift() as Worker);
  if (s.queue.length === 0 && s.running.size === 0) for (const iw of s.idle.splice(0)) iw.postMessage({ type: 'stop' });
}

/** Ctrl-C / SIGTERM: stop the workers, keep every finished result, say how to resume. */
function interruptHandler(s: Session, workers: Worker[], stop: () => void): () => void {
  return () => {
    stop();
    for (const w of workers) void w.terminate();
    s.progress.finish();
    appendLog(s.o.runDir, 'interrupted; finished results are kept, rerun to resume');
    process.stderr.write(`\ninterrupted: ${s.results.size}/${s.share.length} jobs finished; rerun the same command to resume\n`);
    process.exit(130);
  };
}

/** Runs the queue on up to `workers` worker threads until every worker has stopped. */
async function runInWorkers(s: Session): Promise<void> {
  const nWorkers = Math.max(1, Math.min(s.o.workers, s.queue.length));
  const init: WorkerInit = { backend: s.o.backend.name as WorkerInit['backend'], runDir: s.o.runDir, cacheDir: s.o.cacheDir };
  const workers: Worker[] = [];
  let stopping = false;
  const onSignal = interruptHandler(s, workers, () => {
    stopping = true;
  });
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await new Promise<void>((resolve, reject) => {
      let alive = nWorkers;
      const guarded = (step: () => void) => {
        try {
          step();
        } catch (e) {
          reject(e);
        }
      };
      for (let i = 0; i < nWorkers; i++) {
        const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: init });
        workers.push(w);
        w.on('message', (m: FromWorker) => {
          if (m.type === 'ready') guarded(() => dispatch(s, w));
          else if (m.type === 'progress') {
            s.running.set(m.jobId, `${s.byId.get(m.jobId)?.label}: ${m.text}`);
            redraw(s);
          } else if (m.type === 'done') guarded(() => jobDone(s, w, m));
        });
        w.on('error', (e) => {
          if (!stopping) reject(e);
        });
        w.on('exit', () => {
          alive--;
          if (alive === 0) resolve();
        });
      }
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    s.progress.finish();
  }
}
