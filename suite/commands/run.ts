import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend/select';
import type { Command } from '../cli';
import { loadStudy, StudyConfig, validateStudy } from '../config';
import { EXIT, UsageError } from '../../contract/errors';
import { planStudy } from '../plan';
import { validateStudyNames } from '../validate';
import { RunOutcome, runStudy } from '../runner';
import { LOCK_FILE, readManifest, ScaleOutManifest, ShardInfo } from '../../contract/run-folder';
import { acquireRunLock, refuseIfLocked } from '../run-lock';
import { assignShards, estimateCosts, measuredCosts, parseShard, planHash, shardInfo, ShardSpec } from '../shard';
import { refuseDefectiveBackend } from '../../backend/verify';
import { finishRunReport } from '../../reports/run-report';
import { backendFlagSpec, parseBackendFlag } from '../backend-flag';

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
    },
  },
  async main(flags, positional) {
    let config: StudyConfig;
    let source: string;
    let out: string;
    let shardSpec: ShardSpec | null = flags.shard !== undefined ? parseShard(String(flags.shard)) : null;
    if (flags.weights !== undefined && !shardSpec && flags.resume === undefined) {
      throw new UsageError('--weights only applies with --shard I/N (it balances the shards); allowed: vicinal run STUDY --shard I/N --weights RUN');
    }
    if (flags.resume !== undefined) {
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
      config = validateStudy(m.config, `${dir}/manifest.json`);
      source = m.source;
      out = dir;
    } else {
      if (positional.length > 1) throw new UsageError(`run takes one config or profile, got ${positional.length}: ${positional.join(' ')}`);
      const loaded = loadStudy(positional[0] ?? 'quick');
      config = loaded.config;
      source = loaded.source;
      out = flags.out !== undefined ? String(flags.out) : path.join('runs', `${config.name}-${timestamp()}`);
    }
    if (flags.backend !== undefined) {
      config = { ...config, backend: parseBackendFlag(flags.backend) };
    }
    // An existing run folder must be what this command would continue.
    const previous = fs.existsSync(path.join(out, 'manifest.json')) ? (readManifest(out) as ScaleOutManifest) : null;
    if (previous && flags.resume === undefined) {
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
    }
    if (flags.weights !== undefined && !previous?.shard) readManifest(String(flags.weights));
    if (!flags['dry-run']) refuseIfLocked(out);
    const workers = flags.workers !== undefined ? Number(flags.workers) : os.cpus().length;
    if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers must be an integer >= 1, got ${flags.workers}`);
    const backend = await initBackend(config.backend);
    validateStudyNames(config, backend.name);
    const jobs = planStudy(config, backend.name);
    const hash = planHash(jobs);

    if (previous?.shard && previous.planHash !== hash) {
      throw new UsageError(
        `the plan changed since ${out} was started (plan hash ${previous.planHash?.slice(0, 12)} there, ${hash.slice(0, 12)} now), so the shards would not merge; allowed: the study, backend and vicinal of the other shards, or a new --out`,
      );
    }
    let shard: ShardInfo | null = null;
    if (previous?.shard) {
      // A resumed shard keeps the assignment it started with, so it still fits the other shards.
      shard = previous.shard;
    } else if (shardSpec) {
      const cost = flags.weights !== undefined ? measuredCosts(jobs, String(flags.weights)) : estimateCosts(jobs);
      shard = shardInfo(assignShards(jobs, shardSpec.count, cost), shardSpec, os.hostname());
    }

    if (flags['dry-run']) {
      const mine = shard ? new Set(shard.jobIds) : null;
      const shown = mine ? jobs.filter((j) => mine.has(j.id)) : jobs;
      console.log(`${source}: ${jobs.length} jobs on backend ${backend.name}, plan ${hash.slice(0, 16)}`);
      if (shard) {
        console.log(
          `shard ${shard.index}/${shard.count}: ${shown.length} jobs, predicted ${shard.predictedSeconds.toFixed(1)} s of 1-worker time (every shard: ${shard.predictedSecondsAll.map((x) => x.toFixed(1)).join(', ')} s; costs: ${shard.costSource})`,
        );
      }
      for (const j of shown) console.log(`  ${j.id}  ${j.kind.padEnd(5)}  ${j.label}`);
      return EXIT.ok;
    }
    await refuseDefectiveBackend();
    if (fs.existsSync(out) && !previous && fs.readdirSync(out).some((f) => f !== LOCK_FILE && !f.startsWith(`${LOCK_FILE}.`))) {
      throw new UsageError(`--out ${out} exists and is not a run folder (no manifest.json)`);
    }
    const lock = acquireRunLock(out, `run ${source}${shard ? ` --shard ${shard.index}/${shard.count}` : ''}`);
    if (lock.tookOver) console.error(`vicinal: ${lock.tookOver}`);
    if (previous?.shard && flags.weights !== undefined) console.error(`vicinal: --weights ignored: ${out} keeps the assignment it started with`);
    const cacheDir = flags['no-cache'] ? null : flags.cache !== undefined ? String(flags.cache) : shard ? null : path.join('runs', '.cache');
    let outcome: RunOutcome;
    try {
      outcome = await runStudy({ config, source, runDir: out, workers, quiet: Boolean(flags.quiet), cacheDir, backend, shard });
    } finally {
      lock.release();
    }
    if (shard) {
      const n = outcome.share.length;
      console.log(
        `shard ${shard.index}/${shard.count}: run folder ${out} (${n - outcome.failures.length}/${n} jobs ok, ${outcome.reused} reused, ${outcome.manifest.wallSeconds?.toFixed(1)} s; predicted ${shard.predictedSeconds.toFixed(1)} s of 1-worker time)`,
      );
      console.log('when every shard has finished: vicinal merge SHARD_DIR... --out RUN');
      return outcome.failures.length > 0 ? reportFailures(outcome.failures) : EXIT.ok;
    }
    await finishRunReport(out, Boolean(flags.quiet), Boolean(flags.detail));
    const total = outcome.share.length;
    console.log(`run folder: ${out} (${total - outcome.failures.length}/${total} jobs ok, ${outcome.reused} reused, ${outcome.manifest.wallSeconds?.toFixed(1)} s)`);
    if (outcome.failures.length > 0) return reportFailures(outcome.failures);
    return EXIT.ok;
  },
};

function reportFailures(failures: { job: { label: string }; status: string; error?: string }[]): number {
  console.error(`${failures.length} job(s) did not succeed:`);
  for (const f of failures) console.error(`  ${f.job.label}: ${f.status}${f.error ? `: ${f.error}` : ''}`);
  return EXIT.failed;
}
