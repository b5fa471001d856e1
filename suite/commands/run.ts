import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend/select';
import type { Command } from '../cli';
import { loadStudy, validateStudy } from '../config';
import { EXIT, UsageError } from '../../contract/errors';
import { planStudy } from '../plan';
import { validateStudyNames } from '../validate';
import { runStudy } from '../runner';
import { readManifest } from '../../contract/run-folder';
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
    usage: 'vicinal run [quick|nightly|full|CONFIG.yaml|CONFIG.json] [options]',
    flags: {
      out: { kind: 'string', help: 'run folder (default runs/<study name>-<timestamp>); an existing run folder is resumed' },
      resume: { kind: 'string', help: 'resume the run folder RUN with the config stored in its manifest' },
      workers: { kind: 'number', help: `worker threads (default: number of cores, here ${os.cpus().length})` },
      backend: backendFlagSpec('compute backend, overrides the config', false),
      cache: { kind: 'string', help: 'trained-model cache folder shared by runs', default: path.join('runs', '.cache') },
      'no-cache': { kind: 'boolean', help: 'do not read or write the model cache' },
      'dry-run': { kind: 'boolean', help: 'validate the config and print the planned jobs, write nothing' },
      quiet: { kind: 'boolean', help: 'no progress display' },
      detail: { kind: 'boolean', help: 'the final terminal report prints every table, flag and setting' },
    },
  },
  async main(flags, positional) {
    let config;
    let source: string;
    let out: string;
    if (flags.resume !== undefined) {
      const dir = String(flags.resume);
      const m = readManifest(dir);
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
    const workers = flags.workers !== undefined ? Number(flags.workers) : os.cpus().length;
    if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers must be an integer >= 1, got ${flags.workers}`);
    const backend = await initBackend(config.backend);
    validateStudyNames(config);
    const jobs = planStudy(config, backend.name);
    if (flags['dry-run']) {
      console.log(`${source}: ${jobs.length} jobs on backend ${backend.name}`);
      for (const j of jobs) console.log(`  ${j.id}  ${j.kind.padEnd(5)}  ${j.label}`);
      return EXIT.ok;
    }
    await refuseDefectiveBackend();
    if (fs.existsSync(out) && !fs.existsSync(path.join(out, 'manifest.json')) && fs.readdirSync(out).length > 0) {
      throw new UsageError(`--out ${out} exists and is not a run folder (no manifest.json)`);
    }
    const outcome = await runStudy({
      config,
      source,
      runDir: out,
      workers,
      quiet: Boolean(flags.quiet),
      cacheDir: flags['no-cache'] ? null : String(flags.cache),
      backend,
    });
    await finishRunReport(out, Boolean(flags.quiet), Boolean(flags.detail));
    const total = outcome.manifest.jobs.length;
    console.log(`run folder: ${out} (${total - outcome.failures.length}/${total} jobs ok, ${outcome.reused} reused, ${outcome.manifest.wallSeconds?.toFixed(1)} s)`);
    if (outcome.failures.length > 0) {
      console.error(`${outcome.failures.length} job(s) did not succeed:`);
      for (const f of outcome.failures) console.error(`  ${f.job.label}: ${f.status}${f.error ? `: ${f.error}` : ''}`);
      return EXIT.failed;
    }
    return EXIT.ok;
  },
};
