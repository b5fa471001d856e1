/** Shared by the scale-out tests (shard.test.ts, slurm.test.ts): a tiny study, CLI calls, report comparison. */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { ScaleOutManifest } from '../../contract/run-folder';

export const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');

/** Two-moons, an 8-unit MLP, erm and mixup, 2 seeds, 3 epochs, FGSM only, no probes: 8 jobs, a few seconds. */
export function tinyStudy(extra: Record<string, unknown> = {}) {
  return {
    name: 'scale-out-test',
    backend: 'wasm',
    seeds: [0, 1],
    schemes: [{ name: 'erm' }, { name: 'mixup' }],
    attacks: [{ name: 'fgsm' }],
    probes: false,
    experiments: [
      {
        dataset: { name: 'moons', nTrain: 200, nTest: 100 },
        models: [{ arch: 'mlp', hidden: [8] }],
        train: { learningRate: 0.01, batchSize: 32, epochs: 3 },
        eval: { eps: [0.1, 0.3], nExamples: 60, probePoints: 20 },
      },
    ],
    ...extra,
  };
}

export function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeConfig(dir: string, cfg: unknown, name = 'study.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(cfg));
  return file;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI synchronously (stdout and stderr are pipes: not a TTY). */
export function cli(args: string[], env: NodeJS.ProcessEnv = process.env): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI as a child process (so several can run at once). */
export function cliAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The one error line of a refused command (tfjs may print its banner on stdout, never on stderr). */
export function errorLines(r: CliResult): string[] {
  return r.stderr.split('\n').filter((l) => l.trim() !== '');
}

// Fields of a result that measure time or place, not results (as in runner.test.ts).
const VOLATILE = new Set(['wallSeconds', 'stageSeconds', 'seconds', 'env']);
export function normaliseResult(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normaliseResult);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k]) => !VOLATILE.has(k))
        .map(([k, x]) => [k, normaliseResult(x)]),
    );
  }
  return v;
}

/** Every result file of a run folder, normalised, by file name. */
export function results(runDir: string): Map<string, unknown> {
  const dir = path.join(runDir, 'results');
  const out = new Map<string, unknown>();
  for (const f of fs.readdirSync(dir).sort()) out.set(f, normaliseResult(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))));
  return out;
}

/**
 * Header fields that describe one run's execution rather than its results
 * (where, when, how long, how many workers), and the per-seed job times.
 */
export const RUN_SPECIFIC_HEADER = ['dir', 'startedAt', 'endedAt', 'wallSeconds', 'jobSeconds', 'workers'];
const RUN_SPECIFIC_ANYWHERE = new Set(['trainWallSeconds', 'evalWallSeconds']);

/** The JSON report of a run folder (report/report.json) without its run-specific fields. */
export function summaryWithoutRunFields(runDir: string): unknown {
  const s = JSON.parse(fs.readFileSync(path.join(runDir, 'report', 'report.json'), 'utf8')) as { header: Record<string, unknown> };
  for (const k of RUN_SPECIFIC_HEADER) {
    if (!(k in s.header)) throw new Error(`report.json header has no field ${k}: update RUN_SPECIFIC_HEADER`);
    delete s.header[k];
  }
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          .filter(([k]) => !RUN_SPECIFIC_ANYWHERE.has(k))
          .map(([k, x]) => [k, strip(x)]),
      );
    return v;
  };
  return strip(s);
}

/** Per eval job: per-example clean and robust correctness. */
export function perExample(runDir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fs.readdirSync(path.join(runDir, 'results')).sort()) {
    const r = JSON.parse(fs.readFileSync(path.join(runDir, 'results', f), 'utf8'));
    if (r.kind === 'eval') out[r.jobId] = { clean: r.cleanCorrect, robust: r.robustCorrect };
  }
  return out;
}

export function manifest(runDir: string): ScaleOutManifest {
  return JSON.parse(fs.readFileSync(path.join(runDir, 'manifest.json'), 'utf8'));
}
