import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from './errors';
import { JobResult, RunManifest } from './results';

/**
 * A run folder:
 *   manifest.json         config, planned jobs, environment, start/end times
 *   results/<jobId>.json  one result per finished job (written atomically)
 *   models/<trainJobId>/  trained models in TF.js Layers format
 *   run.log               log lines
 */
export const MANIFEST = 'manifest.json';

/** Writes a file atomically: a temporary sibling, fsync, then rename. */
export function writeFileAtomic(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** writeFileAtomic for a path the user chose: a failure is a UsageError naming the file. */
export function writeOutputFile(file: string, content: string): void {
  try {
    writeFileAtomic(file, content);
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 1)}\n`);
}

export function resultPath(runDir: string, jobId: string): string {
  return path.join(runDir, 'results', `${jobId}.json`);
}

export function modelDir(runDir: string, trainJobId: string): string {
  return path.join(runDir, 'models', trainJobId);
}

/** The adversarial examples an eval job kept (eval.saveAdversarial): RUN/adv/<evalJobId>.npz. */
export function adversarialFile(runDir: string, evalJobId: string): string {
  return path.join(runDir, 'adv', `${evalJobId}.npz`);
}

function readJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`${what} not found: ${file}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (_e) {
    throw new UsageError(`${what} is corrupt (invalid JSON): ${file}`);
  }
}

export function readManifest(runDir: string): RunManifest {
  if (!fs.existsSync(runDir) || !fs.statSync(runDir).isDirectory()) throw new UsageError(`run folder not found: ${runDir}`);
  const m = readJson<RunManifest>(path.join(runDir, MANIFEST), 'run manifest');
  if (!Array.isArray(m.jobs) || typeof m.config !== 'object') throw new UsageError(`run manifest is corrupt (no jobs or config): ${path.join(runDir, MANIFEST)}`);
  return m;
}

/** The result of a job, or null when the job has not finished. A corrupt file is a UsageError. */
export function readResult(runDir: string, jobId: string): JobResult | null {
  const file = resultPath(runDir, jobId);
  if (!fs.existsSync(file)) return null;
  const r = readJson<JobResult>(file, 'result file');
  if (r.jobId !== jobId || (r.kind !== 'train' && r.kind !== 'eval')) throw new UsageError(`result file is corrupt (wrong job id or kind): ${file}`);
  return r;
}

export interface LoadedRun {
  dir: string;
  manifest: RunManifest;
  /** Results of finished jobs, keyed by job id. */
  results: Map<string, JobResult>;
}

export function loadRun(runDir: string): LoadedRun {
  const manifest = readManifest(runDir);
  const results = new Map<string, JobResult>();
  for (const job of manifest.jobs) {
    const r = readResult(runDir, job.id);
    if (r) results.set(job.id, r);
  }
  return { dir: runDir, manifest, results };
}

export function appendLog(runDir: string, line: string): void {
  fs.appendFileSync(path.join(runDir, 'run.log'), `${new Date().toISOString()} ${line}\n`);
}

/** Lock file of a run folder: JSON {pid, host, startedAt, command} of the process working in it. */
export const LOCK_FILE = 'run.lock';

/** One shard of a scaled-out run (`vicinal run --shard I/N`), recorded in its manifest. */
export interface ShardInfo {
  /** 1-based shard index and the shard count. */
  index: number;
  count: number;
  /** The jobs this shard runs (its share of the plan), in plan order. */
  jobIds: string[];
  /** SHA-256 of the whole assignment (every shard's job list): shards merged together must agree. */
  assignmentHash: string;
  /** Where the cost estimates came from ("per-architecture weights" or "measured in RUN ..."). */
  costSource: string;
  /** Estimated serial seconds of this shard's jobs, and of every shard's. */
  predictedSeconds: number;
  predictedSecondsAll: number[];
  /** Host name of the machine that ran the shard. */
  host: string;
}

/** What `vicinal merge` records about the folders it merged. */
export interface MergeInfo {
  mergedAt: string;
  shards: {
    dir: string;
    shard: { index: number; count: number } | null;
    host: string | null;
    startedAt: string;
    endedAt: string | null;
    wallSeconds: number | null;
    jobs: number;
    predictedSeconds: number | null;
  }[];
  /** Results found in more than one folder (identical up to timing, kept once). */
  duplicates: number;
}

/**
 * The scale-out fields of a manifest (all optional: older run folders lack
 * them). `planHash`: SHA-256 of the plan's sorted job ids, recorded by every
 * run; `jobs` always holds the whole plan, `shard` the part a shard runs.
 */
export interface ScaleOutManifest extends RunManifest {
  planHash?: string;
  shard?: ShardInfo;
  merge?: MergeInfo;
}
