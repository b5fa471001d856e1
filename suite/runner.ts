import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { BackendInfo } from '../contract/results';
import { StudyConfig } from './config';
import { describeEnvironment, vicinalVersion } from '../backend/environment';
import { failedResult } from './jobs';
import { planStudy } from './plan';
import { Progress } from './progress';
import { estimateCosts, planHash } from './shard';
import { JobResult, PlannedJob } from '../contract/results';
import { appendLog, MANIFEST, readManifest, readResult, resultPath, ScaleOutManifest, ShardInfo, writeJsonAtomic } from '../contract/run-folder';
import type { FromWorker, WorkerInit } from './worker';

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
  const jobs = planStudy(o.config, o.backend.name);
  const shard = o.shard ?? null;
  const inShare = shard ? new Set(shard.jobIds) : null;
  const share = inShare ? jobs.filter((j) => inShare.has(j.id)) : jobs;
  fs.mkdirSync(o.runDir, { recursive: true });
  const previous = fs.existsSync(path.join(o.runDir, MANIFEST)) ? readManifest(o.runDir) : null;
  const t0 = Date.now();
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
  // Wall time adds up the sessions that reached the end (a killed session's time is not known).
  const priorSeconds = previous?.wallSeconds ?? 0;
  writeJsonAtomic(path.join(o.runDir, MANIFEST), manifest);
  appendLog(
    o.runDir,
    `run ${o.source}: ${shard ? `shard ${shard.index}/${shard.count}, ${share.length} of ` : ''}${jobs.length} jobs, backend ${o.backend.name}, ${o.workers} worker(s)${previous ? ' (resume)' : ''}`,
  );

  const results = new Map<string, JobResult>();
  for (const j of share) {
    const r = readResult(o.runDir, j.id);
    if (r) results.set(j.id, r);
  }
  const reused = results.size;
  const byId = new Map(jobs.map((j) => [j.id, j]));
  // Training first: every evaluation waits on a model, so finishing the
  // models early keeps both workers busy until the last evaluation.
  const pending = [...share.filter((j) => j.kind === 'train'), ...share.filter((j) => j.kind === 'eval')].filter((j) => !results.has(j.id));
  const progress = new Progress(o.quiet);
  const running = new Map<string, string>();
  const redraw = () => progress.update(results.size, share.length, [...running.values()]);
  // The ETA off a TTY weighs finished jobs by their estimated cost.
  const cost = estimateCosts(jobs).seconds;
  const pendingCost = pending.reduce((a, j) => a + (cost.get(j.id) ?? 0), 0);
  let doneCost = 0;

  // A job whose dependency did not succeed is recorded as failed without running.
  const blockedBy = (j: PlannedJob): string | null => {
    for (const d of j.dependsOn) {
      const r = results.get(d);
      if (r && r.status !== 'ok') return `${byId.get(d)?.label ?? d} ${r.status}`;
    }
    return null;
  };
  const ready = (j: PlannedJob) => j.dependsOn.every((d) => results.has(d));

  if (pending.length > 0) {
    const nWorkers = Math.max(1, Math.min(o.workers, pending.length));
    const init: WorkerInit = { backend: o.backend.name as WorkerInit['backend'], runDir: o.runDir, cacheDir: o.cacheDir };
    const workers: Worker[] = [];
    let stopping = false;
    const onSignal = () => {
      stopping = true;
      for (const w of workers) void w.terminate();
      progress.finish();
      appendLog(o.runDir, 'interrupted; finished results are kept, rerun to resume');
      process.stderr.write(`\ninterrupted: ${results.size}/${share.length} jobs finished; rerun the same command to resume\n`);
      process.exit(130);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    await new Promise<void>((resolve, reject) => {
      let alive = nWorkers;
      const queue = [...pending];
      const dispatch = (w: Worker) => {
        for (;;) {
          const idx = queue.findIndex(ready);
          if (idx < 0) {
            if (queue.length === 0 || running.size === 0) {
              if (queue.length > 0 && running.size === 0) {
                reject(new Error(`jobs with unsatisfiable dependencies: ${queue.map((q) => q.label).join(', ')}`));
                return;
              }
              w.postMessage({ type: 'stop' });
            } else {
              idle.push(w);
            }
            return;
          }
          const job = queue.splice(idx, 1)[0];
          const why = blockedBy(job);
          if (why) {
            const r = failedResult(job, `not run: ${why}`, manifest.env);
            writeJsonAtomic(resultPath(o.runDir, job.id), r);
            results.set(job.id, r);
            appendLog(o.runDir, `skip ${job.label}: ${why}`);
            continue;
          }
          running.set(job.id, job.label);
          appendLog(o.runDir, `start ${job.label} (${job.id})`);
          w.postMessage({ type: 'job', job });
          redraw();
          return;
        }
      };
      const idle: Worker[] = [];
      for (let i = 0; i < nWorkers; i++) {
        const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: init });
        workers.push(w);
        w.on('message', (m: FromWorker) => {
          if (m.type === 'ready') dispatch(w);
          else if (m.type === 'progress') {
            running.set(m.jobId, `${byId.get(m.jobId)?.label}: ${m.text}`);
            redraw();
          } else if (m.type === 'done') {
            running.delete(m.jobId);
            const job = byId.get(m.jobId) as PlannedJob;
            const r = readResult(o.runDir, m.jobId);
            if (r) results.set(m.jobId, r);
            appendLog(o.runDir, `done ${job.label}: ${m.status}${m.error ? ` (${m.error})` : ''}`);
            if (m.status !== 'ok') progress.message(`${job.label}: ${m.status}: ${m.error ?? ''}`);
            doneCost += cost.get(job.id) ?? 0;
            progress.jobDone({
              done: results.size,
              total: share.length,
              label: job.label,
              status: m.status,
              seconds: r?.wallSeconds ?? 0,
              running: running.size,
              fraction: pendingCost > 0 ? Math.min(1, doneCost / pendingCost) : undefined,
            });
            redraw();
            dispatch(w);
            // A finished job may unblock jobs that idle workers could take.
            while (idle.length > 0 && queue.some(ready)) dispatch(idle.shift() as Worker);
            if (queue.length === 0 && running.size === 0) for (const iw of idle.splice(0)) iw.postMessage({ type: 'stop' });
          }
        });
        w.on('error', (e) => {
          if (!stopping) reject(e);
        });
        w.on('exit', () => {
          alive--;
          if (alive === 0) resolve();
        });
      }
    }).finally(() => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      progress.finish();
    });
  }

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
