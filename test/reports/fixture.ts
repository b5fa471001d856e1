/**
 * Synthetic run folders for the report tests: a manifest and result files
 * shaped exactly like the runner's, with per-example correctness drawn from a
 * seeded generator so accuracies, McNemar counts and worst cases are
 * consistent with each other.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng } from '../../data/rng';
import { BackendInfo } from '../../contract/results';
import { Distribution, Environment, EvalJobResult, PlannedJob, RunManifest, SanityFlag, TrainJobResult } from '../../contract/results';
import { LoadedRun, loadRun, resultPath, writeJsonAtomic } from '../../contract/run-folder';

export interface FixtureGroup {
  group: string;
  dataset: Record<string, number | string>;
  model: Record<string, unknown>;
  /** The train config the results record (ModelIdentity.train, seed added per job). Default { epochs: 3 }. */
  train?: Record<string, unknown>;
}

export interface FixtureOptions {
  dir?: string;
  name?: string;
  groups?: FixtureGroup[];
  schemes?: string[];
  seeds?: number[];
  /** Examples evaluated per model. */
  n?: number;
  attacks?: string[];
  eps?: number[];
  /** Clean accuracy of (group, scheme, seed). */
  clean?: (group: string, scheme: string, seed: number) => number;
  /** Robust accuracy of (group, scheme, attack, eps, seed); must not exceed clean. */
  robust?: (group: string, scheme: string, attack: string, eps: number, seed: number) => number;
  /** Probe names (default: what attacks/probes.ts emits). */
  probes?: string[];
  /** Probe medians (scaled into a distribution). */
  probe?: (group: string, scheme: string, probe: string, seed: number) => number;
  /** (scheme, seed) whose training diverged / whose eval failed / which has no result yet. */
  diverged?: { group?: string; scheme: string; seed: number }[];
  evalFailed?: { group?: string; scheme: string; seed: number }[];
  missing?: { group?: string; scheme: string; seed: number }[];
  flags?: { group?: string; scheme: string; seed: number; flag: SanityFlag }[];
  wallSeconds?: number;
  startedAt?: string;
  config?: Record<string, unknown>;
  /** Share of examples whose correctness is drawn independently per model (the rest share a per-example draw). Default 0.2. */
  independence?: number;
}

export const BACKEND: BackendInfo = { requested: 'auto', name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', gpu: false, tfjsVersion: '4.22.0', patchedKernels: [] };
export const ENV: Environment = { backend: BACKEND, node: 'v20.0.0', platform: 'linux test x64', cpus: 'Test CPU', cores: 2, vicinalVersion: '0.1.0', gitCommit: 'abcdef0123456789' };

export const DEFAULT_GROUPS: FixtureGroup[] = [{ group: 'moons/mlp-16x16', dataset: { name: 'moons', seed: 0, nTrain: 200, nTest: 200, noise: 0.1 }, model: { arch: 'mlp', hidden: [16, 16] } }];

/** The probe names attacks/probes.ts emits (for eps 0.1 and 0.2, linf). */
export function defaultProbes(eps: number[]): string[] {
  const out: string[] = [];
  for (const fam of ['grad-l1', 'grad-l2', 'loss']) for (const w of ['train', 'test', 'vicinal']) out.push(`${fam}/${w}`);
  for (const e of eps) {
    out.push(`local-lipschitz@linf:${e}`);
    for (const k of ['predicted', 'measured', 'ratio']) out.push(`first-order/${k}@linf:${e}`);
  }
  out.push('margin', 'margin-first-order');
  return out;
}

const created: string[] = [];

/** A fresh temporary folder, removed by `cleanupFixtures`. */
export function tmpDir(prefix = 'vicinal-report-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(d);
  return d;
}

/** Removes every folder made by `tmpDir` (register with test.after.always). */
export function cleanupFixtures(): void {
  for (const d of created.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

function matches(list: { group?: string; scheme: string; seed: number }[] | undefined, group: string, scheme: string, seed: number): boolean {
  return (list ?? []).some((x) => x.scheme === scheme && x.seed === seed && (x.group === undefined || x.group === group));
}

/** Per-example correctness with P(correct) = acc, sharing a per-example uniform u across models (monotone in acc). */
function correctness(shared: Float64Array, acc: number, rng: Rng, independence: number): number[] {
  return Array.from(shared, (u) => {
    const v = rng.uniform() < independence ? rng.uniform() : u;
    return v < acc ? 1 : 0;
  });
}

function dist(median: number, n: number): Distribution {
  return { n, mean: median * 1.1, q05: median * 0.3, q25: median * 0.7, median, q75: median * 1.4, q95: median * 2.5 };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** Writes a run folder and returns it loaded. */
export function makeRun(o: FixtureOptions = {}): LoadedRun {
  const dir = o.dir ?? tmpDir('vicinal-report-');
  const groups = o.groups ?? DEFAULT_GROUPS;
  const schemes = o.schemes ?? ['erm', 'mixup', 'mixup-asym'];
  const seeds = o.seeds ?? [0, 1, 2];
  const n = o.n ?? 300;
  const attacks = o.attacks ?? ['fgsm', 'pgd'];
  const eps = o.eps ?? [0.1, 0.2];
  const independence = o.independence ?? 0.2;
  const clean = o.clean ?? ((_g, s, seed) => (s === 'erm' ? 0.9 : 0.88) + 0.01 * ((seed % 3) - 1));
  const robust =
    o.robust ??
    ((g, s, a, e, seed) => {
      const base = clean(g, s, seed);
      const drop = (a === 'pgd' ? 1.6 : 1.2) * e * (s === 'erm' ? 2.5 : 1.5);
      return Math.max(0.02, base - drop);
    });
  const probe = o.probe ?? ((_g, s, p, seed) => (p.startsWith('grad-l1') ? 2 : 0.5) * (s === 'erm' ? 1 : 0.6) * (p.endsWith('vicinal') ? 0.8 : 1) * (1 + 0.02 * seed));

  const jobs: PlannedJob[] = [];
  const results: (TrainJobResult | EvalJobResult)[] = [];
  for (const g of groups) {
    const shared = new Float64Array(n);
    const rg = new Rng(7);
    for (let i = 0; i < n; i++) shared[i] = rg.uniform();
    for (const seed of seeds) {
      for (const scheme of schemes) {
        const base = `${g.group}/${scheme}/seed${seed}`;
        const trainId = `t${jobs.length.toString(16).padStart(6, '0')}`;
        const evalId = `e${jobs.length.toString(16).padStart(6, '0')}`;
        const identity = { dataset: g.dataset, model: g.model, scheme: { name: scheme.replace(/\(.*$/, ''), settings: {} }, train: { ...(g.train ?? { epochs: 3 }), seed }, seed };
        jobs.push({
          id: trainId,
          kind: 'train',
          label: base,
          group: g.group,
          schemeLabel: scheme,
          seed,
          dependsOn: [],
          spec: { dataset: g.dataset, model: g.model, scheme: { name: scheme.replace(/\(.*$/, ''), params: {} }, seed },
        });
        jobs.push({ id: evalId, kind: 'eval', label: `${base}/eval`, group: g.group, schemeLabel: scheme, seed, trainJobId: trainId, dependsOn: [trainId], spec: { trainJobId: trainId, seed } });
        if (matches(o.missing, g.group, scheme, seed)) continue;
        const div = matches(o.diverged, g.group, scheme, seed);
        const rng = new Rng(1000 * seed + schemes.indexOf(scheme) + 17 * groups.indexOf(g));
        const cleanVec = correctness(shared, clean(g.group, scheme, seed), rng, independence);
        const cleanAcc = mean(cleanVec);
        results.push({
          kind: 'train',
          jobId: trainId,
          identity,
          status: div ? 'diverged' : 'ok',
          ...(div ? { error: 'training diverged in epoch 2: mean loss is NaN' } : {}),
          history: [{ epoch: 1, loss: 0.5, trainAccuracy: 0.8, testAccuracy: 0.8, seconds: 1 }],
          cleanAccuracy: div ? null : cleanAcc,
          wallSeconds: 10,
          env: ENV,
        });
        if (div) continue;
        if (matches(o.evalFailed, g.group, scheme, seed)) {
          results.push({
            kind: 'eval',
            jobId: evalId,
            trainJobId: trainId,
            identity,
            status: 'failed',
            error: 'attack crashed',
            cleanAccuracy: cleanAcc,
            n,
            attacks: [],
            worstCase: [],
            probes: {},
            flags: [],
            cleanCorrect: [],
            robustCorrect: {},
            wallSeconds: 1,
            env: ENV,
          });
          continue;
        }
        const summaries = [];
        const robustCorrect: Record<string, number[]> = {};
        for (const a of attacks) {
          for (const e of eps) {
            const target = Math.min(robust(g.group, scheme, a, e, seed), clean(g.group, scheme, seed));
            // Robust implies clean-correct: survive with prob target/clean among the clean-correct ones.
            const keep = correctness(shared, target, rng, independence).map((v, i) => (v && cleanVec[i] ? 1 : 0));
            robustCorrect[`${a}@linf:${e}`] = keep;
            summaries.push({
              attack: a,
              norm: 'linf' as const,
              eps: e,
              settings: a === 'pgd' ? { steps: 40, stepSize: e / 16, randomStart: true } : a === 'autoattack' ? { steps: 100, variant: 'standard' } : {},
              n,
              robustAccuracy: mean(keep),
              meanLoss: 0.3 + e,
            });
          }
        }
        const worstCase = eps.map((e) => {
          const all = attacks.map((a) => robustCorrect[`${a}@linf:${e}`]);
          const w = all[0].map((_, i) => (all.every((v) => v[i]) ? 1 : 0));
          return { norm: 'linf' as const, eps: e, robustAccuracy: mean(w), attacks: [...attacks] };
        });
        const probes: Record<string, Distribution> = {};
        for (const p of o.probes ?? defaultProbes(eps)) probes[p] = dist(probe(g.group, scheme, p, seed), 200);
        results.push({
          kind: 'eval',
          jobId: evalId,
          trainJobId: trainId,
          identity,
          status: 'ok',
          cleanAccuracy: cleanAcc,
          n,
          attacks: summaries,
          worstCase,
          probes,
          flags: (o.flags ?? []).filter((f) => f.scheme === scheme && f.seed === seed && (f.group === undefined || f.group === g.group)).map((f) => f.flag),
          cleanCorrect: cleanVec,
          robustCorrect,
          wallSeconds: 5,
          env: ENV,
        });
      }
    }
  }
  const startedAt = o.startedAt ?? '2025-01-01T00:00:00.000Z';
  const wall = o.wallSeconds ?? 100;
  const manifest: RunManifest = {
    vicinal: '0.1.0',
    config: { name: o.name ?? 'fixture', seeds, ...(o.config ?? {}) },
    source: 'fixture.yaml',
    jobs,
    env: ENV,
    startedAt,
    endedAt: new Date(Date.parse(startedAt) + wall * 1000).toISOString(),
    wallSeconds: wall,
    workers: 2,
  };
  fs.mkdirSync(dir, { recursive: true });
  writeJsonAtomic(path.join(dir, 'manifest.json'), manifest);
  for (const r of results) writeJsonAtomic(resultPath(dir, r.jobId), r);
  return loadRun(dir);
}
