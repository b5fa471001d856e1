import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend/select';
import type { Command } from '../command';
import { StudyConfig, validateStudy } from '../config';
import { loadStudyWithOverrides, planChanges } from '../overrides';
import { EXIT, UsageError } from '../../contract/errors';
import { planStudy } from '../plan';
import { validateStudyNames } from '../validate';
import { RunOutcome, runStudy } from '../runner';
import { LOCK_FILE, readManifest, ScaleOutManifest, ShardInfo } from '../../contract/run-folder';
import { acquireRunLock, refuseIfLocked } from '../run-lock';
import { assignShards, costEstimateLines, estimateCosts, measuredCosts, parseShard, planHash, shardInfo, ShardSpec } from '../shard';
import { refuseDefectiveBackend } from '../../backend/verify';
import { finishRunReport } from '../../reports/run-report';
import { backendFlagSpec, parseBackendFlag } from '../backend-flag';
import type { ParsedFlags } from '../args';
import type { Job } from '../job-spec';
import { datasetParamsHelp } from '../../data/registry';

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export const command: Command = {
  spec: {
    name: 'run',
    summary: 'train and attack every model of a study; rerun on the same --out to resume',
    usage: 'vicinal run [quick|nightly|full|CONFIG.yaml|CONFIG.json] [options]\n       vicinal run STUDY --shard I/N --out DIR [--weights RUN]   (then: vicinal merge DIR... --out RUN)',
    flags: {
      out: { kind: 'string', help: 'run folder (default runs/<study name>-<timestamp>); an existing run folder is resumed' },
      resume: { kind: 'string', help: 'resume the run folder RUN with the config stored in its manifest' },
      workers: { kind: 'number', help: `worker threads (default: number of cores, here ${os.cpus().length})` },
      backend: backendFlagSpec('compute backend, overrides the config', false),
      cache: { kind: 'string', help: `trained-model cache folder shared by runs (default ${path.join('runs', '.cache')}; with --shard none unless given)` },
      'no-cache': { kind: 'boolean', help: 'do not read or write the model cache' },
      'dry-run': { kind: 'boolean', help: 'validate the config and print the planned jobs, write nothing' },
      quiet: { kind: 'boolean', help: 'no progress display' },
      shard: { kind: 'string', help: 'run shard I of N (1-based, e.g. 2/3) of the plan; merge the shard folders with vicinal merge' },
      weights: { kind: 'string', help: 'with --shard: balance shards by the job times measured in run folder RUN instead of the per-architecture weights' },
      detail: { kind: 'boolean', help: 'the final terminal report prints every table, flag and setting' },
      set: {
        kind: 'repeated',
        help: 'change the study: path=JSON value, repeatable, e.g. --set seeds=[0] --set experiments[1].eval.nExamples=100 (a bare word is a string); with --dry-run lists the jobs whose ids change',
      },
    },
    epilogue: () => `dataset parameters (experiments[].dataset in a config: { name, ... }):\n${datasetParamsHelp()}`,
  },
  async main(flags, positional) {
    const study = resolveStudy(flags, positional);
    const { out } = study;
    let { config } = study;
    if (flags.backend !== undefined) config = { ...config, backend: parseBackendFlag(flags.backend) };
    const previous = continuedRun(out, study.shardSpec, flags.resume !== undefined);
    if (flags.weights !== undefined && !previous?.shard) readManifest(String(flags.weights));
    if (!flags['dry-run']) refuseIfLocked(out);
    const workers = flags.workers !== undefined ? Number(flags.workers) : os.cpus().length;
    if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers must be an integer >= 1, got ${flags.workers}`);
    const backend = await initBackend(config.backend);
    validateStudyNames(config, backend.name);
    const jobs = planStudy(config, backend.name);
    const hash = planHash(jobs);
    const shard = shardOf(jobs, hash, previous, study.shardSpec, flags.weights === undefined ? null : String(flags.weights), out);
    if (flags['dry-run']) {
      printPlan(study.source, jobs, hash, backend.name, shard, workers);
      if (study.base) for (const line of planChanges(planStudy({ ...study.base, backend: config.backend }, backend.name), jobs)) console.log(line);
      return EXIT.ok;
    }
    await refuseDefectiveBackend();
    if (fs.existsSync(out) && !previous && fs.readdirSync(out).some((f) => f !== LOCK_FILE && !f.startsWith(`${LOCK_FILE}.`))) {
      throw new UsageError(`--out ${out} exists and is not a run folder (no manifest.json)`);
    }
    const lock = acquireRunLock(out, `run ${study.source}${shard ? ` --shard ${shard.index}/${shard.count}` : ''}`);
    if (lock.tookOver) console.error(`vicinal: ${lock.tookOver}`);
    if (previous?.shard && flags.weights !== undefined) console.error(`vicinal: --weights ignored: ${out} keeps the assignment it started with`);
    const cacheDir = flags['no-cache'] ? null : flags.cache !== undefined ? String(flags.cache) : shard ? null : path.join('runs', '.cache');
    let outcome: RunOutcome;
    try {
      outcome = await runStudy({ config, source: study.source, runDir: out, workers, quiet: Boolean(flags.quiet), cacheDir, backend, shard });
    } finally {
      lock.release();
    }
    if (shard) return finishShard(out, shard, outcome);
    await finishRunReport(out, Boolean(flags.quiet), Boolean(flags.detail));
    const total = outcome.share.length;
    console.log(`run folder: ${out} (${total - outcome.failures.length}/${total} jobs ok, ${outcome.reused} reused, ${outcome.manifest.wallSeconds?.toFixed(1)} s)`);
    if (outcome.failures.length > 0) return reportFailures(outcome.failures);
    return EXIT.ok;
  },
};

/**
 * The study to run, where, and which shard: from --resume's manifest, or from a
 * config or profile (changed by --set; `base` is the study before the changes) and --out.
 */
function resolveStudy(flags: ParsedFlags, positional: string[]): { config: StudyConfig; base: StudyConfig | null; source: string; out: string; shardSpec: ShardSpec | null } {
  let shardSpec: ShardSpec | null = flags.shard !== undefined ? parseShard(String(flags.shard)) : null;
  if (flags.weights !== undefined && !shardSpec && flags.resume === undefined) {
    throw new UsageError('--weights only applies with --shard I/N (it balances the shards); allowed: vicinal run STUDY --shard I/N --weights RUN');
  }
  const overrides = (flags.set as string[] | undefined) ?? [];
  if (flags.resume !== undefined && overrides.length) throw new UsageError('--set does not apply with --resume: a resumed run keeps the study stored in its manifest; allowed: --set on a new run');
  if (flags.resume === undefined) {
    if (positional.length > 1) throw new UsageError(`run takes one config or profile, got ${positional.length}: ${positional.join(' ')}`);
    const loaded = loadStudyWithOverrides(positional[0] ?? 'quick', overrides);
    const out = flags.out !== undefined ? String(flags.out) : path.join('runs', `${loaded.config.name}-${timestamp()}`);
    return { config: loaded.config, base: loaded.base, source: loaded.source, out, shardSpec };
  }
  const dir = String(flags.resume);
  const m = readManifest(dir) as ScaleOutManifest;
  if (m.shard) {
    if (shardSpec && (shardSpec.index !== m.shard.index || shardSpec.count !== m.shard.count)) {
      throw new UsageError(`--resume ${dir} is shard ${m.shard.index}/${m.shard.count}, not --shard ${flags.shard}; allowed: --shard ${m.shard.index}/${m.shard.count} or no --shard`);
    }
    shardSpec = { index: m.shard.index, count: m.shard.count };
  } else if (shardSpec) {
    throw new UsageError(`--resume ${dir} is a whole run, not a shard; allowed: --resume without --shard`);
  }
  return { config: validateStudy(m.config, `${dir}/manifest.json`), base: null, source: m.source, out: dir, shardSpec };
}

/** The manifest of the run folder this command continues, or null for a new one; it must be what this command would continue. */
function continuedRun(out: string, shardSpec: ShardSpec | null, resume: boolean): ScaleOutManifest | null {
  const previous = fs.existsSync(path.join(out, 'manifest.json')) ? (readManifest(out) as ScaleOutManifest) : null;
  if (!previous || resume) return previous;
  if (previous.shard && !shardSpec) {
    throw new UsageError(
      `--out ${out} holds shard ${previous.shard.index}/${previous.shard.count} of a scaled-out run; allowed: add --shard ${previous.shard.index}/${previous.shard.count} to resume it, or another --out`,
    );
  }
  if (!previous.shard && shardSpec) {
    throw new UsageError(`--out ${out} holds a whole run, not a shard; allowed: resume it without --shard, or another --out`);
  }
  if (previous.shard && shardSpec && (previous.shard.index !== shardSpec.index || previous.shard.count !== shardSpec.count)) {
    throw new UsageError(
      `--out ${out} holds shard ${previous.shard.index}/${previous.shard.count}, not ${shardSpec.index}/${shardSpec.count}; allowed: --shard ${previous.shard.index}/${previous.shard.count}, or another --out`,
    );
  }
  return previous;
}

/**
 * This run's shard: a resumed shard keeps the assignment it started with (so
 * it still fits the other shards, and its plan must not have changed); a new
 * one is assigned by measured (--weights RUN) or estimated costs; null for a
 * whole run.
 */
function shardOf(jobs: Job[], hash: string, previous: ScaleOutManifest | null, shardSpec: ShardSpec | null, weights: string | null, out: string): ShardInfo | null {
  if (previous?.shard && previous.planHash !== hash) {
    throw new UsageError(
      `the plan changed since ${out} was started (plan hash ${previous.planHash?.slice(0, 12)} there, ${hash.slice(0, 12)} now), so the shards would not merge; allowed: the study, backend and vicinal of the other shards, or a new --out`,
    );
  }
  if (previous?.shard) return previous.shard;
  if (!shardSpec) return null;
  const cost = weights !== null ? measuredCosts(jobs, weights) : estimateCosts(jobs);
  return shardInfo(assignShards(jobs, shardSpec.count, cost), shardSpec, os.hostname());
}

/** --dry-run: the plan (or this shard's share of it) with its hash and predicted time, one job a line. */
function printPlan(source: string, jobs: Job[], hash: string, backendName: string, shard: ShardInfo | null, workers: number): void {
  const mine = shard ? new Set(shard.jobIds) : null;
  const shown = mine ? jobs.filter((j) => mine.has(j.id)) : jobs;
  console.log(`${source}: ${jobs.length} jobs on backend ${backendName}, plan ${hash.slice(0, 16)}`);
  if (shard) {
    console.log(
      `shard ${shard.index}/${shard.count}: ${shown.length} jobs, predicted ${shard.predictedSeconds.toFixed(1)} s of 1-worker time (every shard: ${shard.predictedSecondsAll.map((x) => x.toFixed(1)).join(', ')} s; costs: ${shard.costSource})`,
    );
  }
  for (const line of costEstimateLines(shown, estimateCosts(jobs), workers)) console.log(line);
  for (const j of shown) console.log(`  ${j.id}  ${j.kind.padEnd(5)}  ${j.label}`);
}

/** A finished shard: its tally and the merge step that comes next (no report: a shard is part of a run). */
function finishShard(out: string, shard: ShardInfo, outcome: RunOutcome): number {
  const n = outcome.share.length;
  console.log(
    `shard ${shard.index}/${shard.count}: run folder ${out} (${n - outcome.failures.length}/${n} jobs ok, ${outcome.reused} reused, ${outcome.manifest.wallSeconds?.toFixed(1)} s; predicted ${shard.predictedSeconds.toFixed(1)} s of 1-worker time)`,
  );
  console.log('when every shard has finished: vicinal merge SHARD_DIR... --out RUN');
  return outcome.failures.length > 0 ? reportFailures(outcome.failures) : EXIT.ok;
}

function reportFailures(failures: { job: { label: string }; status: string; error?: string }[]): number {
  console.error(`${failures.length} job(s) did not succeed:`);
  for (const f of failures) console.error(`  ${f.job.label}: ${f.status}${f.error ? `: ${f.error}` : ''}`);
  return EXIT.failed;
}
