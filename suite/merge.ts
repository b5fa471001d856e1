/**
 * `vicinal merge SHARD_DIR... --out RUN`: the union of run folders of one
 * plan (the shards of `vicinal run --shard I/N`, or any runs of the same
 * plan) as one run folder that `report`, `compare` and `history` read like a
 * single-machine run.
 *
 * Refused (UsageError, nothing written) when the folders differ in plan hash,
 * engine (backend name), git commit or shard assignment, when a folder is
 * still locked by a live run, or when one job has two results that differ in
 * anything but timing and the machine they ran on (see VOLATILE). Duplicates
 * that agree (a train job run on two shards) are kept once; their model files
 * must be byte-identical too.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../contract/errors';
import { JobResult, PlannedJob } from '../contract/results';
import { adversarialFile, appendLog, LOCK_FILE, MANIFEST, MergeInfo, modelDir, readManifest, readResult, resultPath, ScaleOutManifest, writeJsonAtomic } from '../contract/run-folder';
import { liveLockOwner } from './run-lock';
import { planHash } from './shard';

/**
 * Fields that legitimately differ between two runs of the same job: how long
 * it took (`wallSeconds`, an eval job's `stageSeconds`; per-epoch `seconds` of a train job's history) and
 * the machine it ran on (env: node, platform, cpus, cores). Everything else,
 * including every loss of every epoch, accuracy, per-example outcome, the
 * backend, its version and the git commit, must be identical.
 */
export const VOLATILE_RESULT_FIELDS = ['wallSeconds', 'stageSeconds', 'history[].seconds', 'env.node', 'env.platform', 'env.cpus', 'env.cores'] as const;

/** A result without its volatile fields, for comparison. */
export function comparableResult(r: JobResult): unknown {
  const c = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
  delete c.wallSeconds;
  delete c.stageSeconds;
  if (Array.isArray(c.history)) for (const h of c.history as Record<string, unknown>[]) delete h.seconds;
  const env = c.env as Record<string, unknown> | undefined;
  if (env) for (const k of ['node', 'platform', 'cpus', 'cores']) delete env[k];
  return c;
}

/** Path of the first difference between two JSON values, with both values, or null when equal. */
export function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (a === b) return null;
  if (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b)) return null;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b)) {
    return `${at || '(value)'}: ${short(a)} vs ${short(b)}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${at || '(value)'}: ${a.length} entries vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort();
  for (const k of keys) {
    const d = firstDifference(ao[k], bo[k], at ? `${at}.${k}` : k);
    if (d) return d;
  }
  return null;
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

export interface MergeOutcome {
  out: string;
  manifest: ScaleOutManifest;
  jobs: number;
  /** Jobs of the plan without a result in any folder. */
  missing: PlannedJob[];
  /** Shards of the assignment not among the inputs, e.g. ["3/3"]. */
  missingShards: string[];
  duplicates: number;
  /** Jobs whose result is not ok. */
  notOk: { job: PlannedJob; status: string; error?: string }[];
}

interface Input {
  dir: string;
  manifest: ScaleOutManifest;
}

function label(i: Input): string {
  return i.manifest.shard ? `${i.dir} (shard ${i.manifest.shard.index}/${i.manifest.shard.count})` : i.dir;
}

/** Checks that every folder ran the same plan with the same engine and code; throws a one-line UsageError otherwise. */
function checkCompatible(inputs: Input[]): void {
  for (const i of inputs) {
    const m = i.manifest;
    if (!m.planHash) throw new UsageError(`${i.dir} records no plan hash (made by a vicinal without scale-out); allowed: run folders of vicinal run (--shard)`);
    const actual = planHash(m.jobs);
    if (actual !== m.planHash) throw new UsageError(`${i.dir}/${MANIFEST} is corrupt: its jobs hash to ${actual.slice(0, 12)}, it records plan ${m.planHash.slice(0, 12)}`);
    const owner = liveLockOwner(i.dir);
    if (owner) throw new UsageError(`${i.dir} is still in use by vicinal pid ${owner.pid} on host ${owner.host}; wait for that run to finish (if it is dead, delete ${path.join(i.dir, LOCK_FILE)})`);
  }
  const first = inputs[0];
  const f = first.manifest;
  for (const i of inputs.slice(1)) {
    const m = i.manifest;
    if (m.planHash !== f.planHash) {
      throw new UsageError(`${label(i)} ran plan ${m.planHash?.slice(0, 12)} but ${label(first)} ran plan ${f.planHash?.slice(0, 12)}: different studies or settings; allowed: shards of one plan`);
    }
    const eb = m.env?.backend?.name;
    const fb = f.env?.backend?.name;
    if (eb !== fb) throw new UsageError(`${label(i)} ran on backend ${eb} but ${label(first)} on ${fb}; allowed: shards of one engine`);
    if ((m.env?.gitCommit ?? null) !== (f.env?.gitCommit ?? null)) {
      throw new UsageError(`${label(i)} ran git commit ${m.env?.gitCommit ?? 'none'} but ${label(first)} ran ${f.env?.gitCommit ?? 'none'}; allowed: shards of one commit`);
    }
    if (m.shard && f.shard && (m.shard.count !== f.shard.count || m.shard.assignmentHash !== f.shard.assignmentHash)) {
      const how = m.shard.count !== f.shard.count ? `${m.shard.count} shards vs ${f.shard.count}` : `cost source "${m.shard.costSource}" vs "${f.shard.costSource}"`;
      throw new UsageError(`${label(i)} and ${label(first)} split the plan differently (${how}); allowed: shards started with the same --shard N and --weights`);
    }
  }
}

function filesOf(dir: string): string[] {
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => !f.includes('.tmp-'))
        .sort()
    : [];
}

/** The result kept for each job and the folder it came from. */
type Chosen = Map<string, { result: JobResult; from: Input }>;

/**
 * Merges `dirs` into a new run folder `out` (which must not exist or be
 * empty). Everything is written into a temporary sibling and renamed at the
 * end, so a refusal or a crash leaves no `out` behind.
 */
export function mergeRuns(dirs: string[], out: string): MergeOutcome {
  checkArguments(dirs, out);
  const inputs: Input[] = dirs.map((dir) => ({ dir, manifest: readManifest(dir) as ScaleOutManifest }));
  checkCompatible(inputs);
  inputs.sort((a, b) => (a.manifest.shard?.index ?? 0) - (b.manifest.shard?.index ?? 0));
  const plan = inputs[0].manifest.jobs;
  const { chosen, duplicates } = chooseResults(plan, inputs);
  const models = chooseModels(plan, inputs, chosen);
  const missing = plan.filter((j) => !chosen.has(j.id));
  const manifest = mergedManifest(inputs, chosen, duplicates, missing.length === 0);
  writeMergedFolder(out, { inputs, chosen, models, manifest, duplicates, missing: missing.length });
  const notOk = plan
    .map((job) => ({ job, r: chosen.get(job.id)?.result }))
    .filter((x): x is { job: PlannedJob; r: JobResult } => !!x.r && x.r.status !== 'ok')
    .map(({ job, r }) => ({ job, status: r.status, error: r.error }));
  return { out, manifest, jobs: plan.length, missing, missingShards: missingShards(inputs, missing.length === 0), duplicates, notOk };
}

/** Refuses an empty list, a folder given twice, --out among the inputs, and a non-empty --out. */
function checkArguments(dirs: string[], out: string): void {
  if (dirs.length === 0) throw new UsageError('merge needs at least one run folder; allowed: vicinal merge SHARD_DIR... --out RUN');
  const uniq = [...new Set(dirs.map((d) => path.resolve(d)))];
  if (uniq.length !== dirs.length) throw new UsageError(`merge got the same folder twice: ${dirs.join(' ')}`);
  if (uniq.includes(path.resolve(out))) throw new UsageError(`--out ${out} is one of the folders to merge; allowed: a new folder`);
  if (fs.existsSync(out) && (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length > 0)) {
    throw new UsageError(`--out ${out} exists and is not empty; allowed: a new folder (merge never writes into an existing run)`);
  }
}

/** The union of the results, one per job; duplicates must agree up to VOLATILE_RESULT_FIELDS. */
function chooseResults(plan: PlannedJob[], inputs: Input[]): { chosen: Chosen; duplicates: number } {
  const chosen: Chosen = new Map();
  let duplicates = 0;
  for (const job of plan) {
    for (const i of inputs) {
      const r = readResult(i.dir, job.id);
      if (!r) continue;
      const have = chosen.get(job.id);
      if (!have) {
        chosen.set(job.id, { result: r, from: i });
        continue;
      }
      duplicates++;
      const d = firstDifference(comparableResult(have.result), comparableResult(r));
      if (d) {
        throw new UsageError(`job ${job.label} (${job.id}) differs between ${label(have.from)} and ${label(i)}: ${d}; allowed: identical results up to ${VOLATILE_RESULT_FIELDS.join(', ')}`);
      }
    }
  }
  return { chosen, duplicates };
}

/** The folder each trained model is copied from; copies in several folders must be byte-identical. */
function chooseModels(plan: PlannedJob[], inputs: Input[], chosen: Chosen): Map<string, Input> {
  const models = new Map<string, Input>();
  for (const job of plan) {
    if (job.kind !== 'train') continue;
    const have = inputs.filter((i) => fs.existsSync(path.join(modelDir(i.dir, job.id), 'model.json')));
    const c = chosen.get(job.id);
    if (have.length === 0) {
      if (c && c.result.status === 'ok') {
        throw new UsageError(`job ${job.label} (${job.id}) finished ok in ${label(c.from)} but no folder holds its model (models/${job.id}/); allowed: complete run folders`);
      }
      continue;
    }
    for (const i of have.slice(1)) checkSameModel(job, have[0], i);
    models.set(job.id, have[0]);
  }
  return models;
}

/** Throws unless the model of `job` has the same files, byte for byte, in both folders. */
function checkSameModel(job: PlannedJob, ref: Input, other: Input): void {
  const refFiles = filesOf(modelDir(ref.dir, job.id));
  const files = filesOf(modelDir(other.dir, job.id));
  if (files.join(',') !== refFiles.join(',')) {
    throw new UsageError(`the model of ${job.label} (${job.id}) has files ${files.join(', ')} in ${label(other)} but ${refFiles.join(', ')} in ${label(ref)}`);
  }
  for (const f of files) {
    const a = fs.readFileSync(path.join(modelDir(ref.dir, job.id), f));
    const b = fs.readFileSync(path.join(modelDir(other.dir, job.id), f));
    if (!a.equals(b)) {
      throw new UsageError(`the model of ${job.label} (${job.id}) differs between ${label(ref)} and ${label(other)} (${f}); training should be deterministic for a seed on one backend`);
    }
  }
}

/** Shards of the assignment not among the inputs (none when every job has a result), e.g. ["3/3"]. */
function missingShards(inputs: Input[], complete: boolean): string[] {
  if (complete) return [];
  const count = inputs.find((i) => i.manifest.shard)?.manifest.shard?.count ?? 0;
  const seen = new Set(inputs.map((i) => i.manifest.shard?.index).filter((x): x is number => x !== undefined));
  return Array.from({ length: count }, (_, k) => k + 1)
    .filter((k) => !seen.has(k))
    .map((k) => `${k}/${count}`);
}

/** The merged run's manifest: the shared plan and settings, the span of the shards' times, and where each job came from. */
function mergedManifest(inputs: Input[], chosen: Chosen, duplicates: number, complete: boolean): ScaleOutManifest {
  const base = inputs[0].manifest;
  const starts = inputs.map((i) => Date.parse(i.manifest.startedAt)).filter(Number.isFinite);
  const ends = inputs.map((i) => (i.manifest.endedAt ? Date.parse(i.manifest.endedAt) : NaN)).filter(Number.isFinite);
  const walls = inputs.map((i) => i.manifest.wallSeconds).filter((w): w is number => typeof w === 'number');
  const merge: MergeInfo = {
    mergedAt: new Date().toISOString(),
    shards: inputs.map((i) => ({
      dir: i.dir,
      shard: i.manifest.shard ? { index: i.manifest.shard.index, count: i.manifest.shard.count } : null,
      host: i.manifest.shard?.host ?? null,
      startedAt: i.manifest.startedAt,
      endedAt: i.manifest.endedAt,
      wallSeconds: i.manifest.wallSeconds,
      jobs: [...chosen.values()].filter((c) => c.from === i).length,
      predictedSeconds: i.manifest.shard?.predictedSeconds ?? null,
    })),
    duplicates,
  };
  const rss = inputs.map((i) => i.manifest.peakRssMB).filter((x): x is number => typeof x === 'number');
  return {
    vicinal: base.vicinal,
    config: base.config,
    source: base.source,
    jobs: base.jobs,
    env: base.env,
    startedAt: starts.length ? new Date(Math.min(...starts)).toISOString() : base.startedAt,
    // A merged run is finished when every job has a result; its wall time is
    // the longest shard's (they ran side by side), not their sum.
    endedAt: complete && ends.length ? new Date(Math.max(...ends)).toISOString() : null,
    wallSeconds: complete && walls.length === inputs.length ? Math.max(...walls) : null,
    workers: inputs.reduce((a, i) => a + (i.manifest.workers ?? 0), 0),
    ...(rss.length ? { peakRssMB: Math.max(...rss) } : {}),
    planHash: base.planHash,
    merge,
  };
}

/** Everything the merged folder holds. */
interface MergedContents {
  inputs: Input[];
  chosen: Chosen;
  models: Map<string, Input>;
  manifest: ScaleOutManifest;
  duplicates: number;
  missing: number;
}

/** Writes the merged folder into a temporary sibling of `out` and renames it into place; nothing is left behind on failure. */
function writeMergedFolder(out: string, c: MergedContents): void {
  const tmp = path.join(path.dirname(path.resolve(out)), `.${path.basename(out)}.merge-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp, { recursive: true });
    for (const [id, { result }] of c.chosen) writeJsonAtomic(resultPath(tmp, id), result);
    copyModels(tmp, c.models);
    copyAdversarial(tmp, c.chosen);
    mergeLogs(tmp, c.inputs);
    appendLog(tmp, `merged ${c.inputs.length} folder(s): ${c.chosen.size}/${c.manifest.jobs.length} jobs, ${c.duplicates} identical duplicate(s)${c.missing === 0 ? '' : `, ${c.missing} missing`}`);
    writeJsonAtomic(path.join(tmp, MANIFEST), c.manifest);
    if (fs.existsSync(out)) fs.rmdirSync(out);
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.renameSync(tmp, out);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function copyModels(tmp: string, models: Map<string, Input>): void {
  for (const [id, from] of models) {
    const dst = modelDir(tmp, id);
    fs.mkdirSync(dst, { recursive: true });
    for (const f of filesOf(modelDir(from.dir, id))) fs.copyFileSync(path.join(modelDir(from.dir, id), f), path.join(dst, f));
  }
}

/** Kept adversarial examples (eval.saveAdversarial) travel with the result they belong to. */
function copyAdversarial(tmp: string, chosen: Chosen): void {
  for (const [id, { from }] of chosen) {
    const adv = adversarialFile(from.dir, id);
    if (!fs.existsSync(adv)) continue;
    fs.mkdirSync(path.dirname(adversarialFile(tmp, id)), { recursive: true });
    fs.copyFileSync(adv, adversarialFile(tmp, id));
  }
}

/** Every input's run.log, each line tagged with its shard (or folder). */
function mergeLogs(tmp: string, inputs: Input[]): void {
  for (const i of inputs) {
    const log = path.join(i.dir, 'run.log');
    const tag = i.manifest.shard ? `[shard ${i.manifest.shard.index}/${i.manifest.shard.count}]` : `[${i.dir}]`;
    if (!fs.existsSync(log)) continue;
    const lines = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^(\S+) /, `$1 ${tag} `));
    fs.appendFileSync(path.join(tmp, 'run.log'), lines.join('\n') + (lines.length ? '\n' : ''));
  }
}
