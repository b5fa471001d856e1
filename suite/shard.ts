/**
 * Scale-out: splitting one plan into N shards that run on separate machines
 * (or processes) and are merged afterwards (`vicinal merge`).
 *
 * Every shard computes the same plan and the same assignment, so no shard
 * needs to talk to another. The unit of assignment is one eval job plus the
 * train jobs it depends on (its own model; the source model of a transfer
 * attack). Units are assigned longest-first by estimated cost to the shard
 * where they add the least to the finish time (LPT scheduling). A train job
 * needed by units on several shards is run on each of them: training is
 * deterministic for a seed on one backend, and `vicinal merge` checks that
 * the copies are identical. Keeping units that share a train job together
 * instead would make the units of a transfer study as coarse as one whole
 * seed of one group (every scheme of it shares the ERM source model), which
 * balances badly; the duplicated source training is counted in the cost of
 * the shard that runs it, so the assignment prefers a shard that already has
 * it whenever that does not delay the finish.
 */
import { createHash } from 'crypto';
import { AttackSpec, attackCostOf, resolveAttackParams } from '../attacks/registry';
import type { Norm } from '../contract/norms';
import { EVAL_DEFAULTS } from '../eval/config';
import { MODEL_DEFAULTS } from '../models/build';
import { ADVERSARIAL_STEPS_DEFAULT } from '../models/schemes/adversarial';
import { resolveTrainConfig } from '../models/train';
import { UsageError } from '../contract/errors';
import { PlannedJob } from '../contract/results';
import { loadRun, ShardInfo } from '../contract/run-folder';
import { datasetDescriptor } from '../data/registry';
import { RESNET_DEFAULTS, resnetForwardFlops } from '../models/resnet';
import { stableStringify } from './hash';

export interface ShardSpec {
  /** 1-based. */
  index: number;
  count: number;
}

/** Parses `I/N` (1 <= I <= N, both integers). */
export function parseShard(raw: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(raw);
  const allowed = 'allowed: I/N with integers 1 <= I <= N (1-based, e.g. 1/3)';
  if (!m) throw new UsageError(`--shard must be I/N, got "${raw}"; ${allowed}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new UsageError(`--shard ${raw}: the shard count N must be >= 1; ${allowed}`);
  if (index < 1 || index > count) throw new UsageError(`--shard ${raw}: shard index ${index} is outside 1..${count}; ${allowed}`);
  return { index, count };
}

/** SHA-256 (hex) of the plan's sorted job ids: equal plans, equal hash (ids already hash every setting and the backend). */
export function planHash(jobs: readonly { id: string }[]): string {
  return createHash('sha256')
    .update(
      jobs
        .map((j) => j.id)
        .sort()
        .join('\n'),
    )
    .digest('hex');
}

// ---------------------------------------------------------------------------
// Cost model

/**
 * Share of examples assumed to survive a composite attack's first stage
 * (AutoAttack's APGD-CE): its later stages (APGD-T, FAB-T, Square) attack only those.
 */
const COMPOSITE_SURVIVORS = 0.25;

/** Input shape, classes and default sizes of a dataset spec, from the dataset registry (the cost model only needs sizes). */
function datasetSizes(spec: SpecLike['dataset']): { shape: number[]; classes: number; nTrain: number; nTest: number } {
  let d: ReturnType<typeof datasetDescriptor> | null = null;
  try {
    d = datasetDescriptor(String(spec?.name));
  } catch {
    // not a registered dataset: the fallbacks below
  }
  const declared = (spec as { shape?: unknown } | undefined)?.shape;
  // Files datasets read their shape from the files: a declared shape, else an assumed 100 features.
  const shape = d?.shape.inputShape ?? (Array.isArray(declared) && declared.every((x) => typeof x === 'number') ? (declared as number[]) : [100]);
  const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : Number.isFinite(Number(v)) && v !== undefined && v !== '' ? Number(v) : fallback);
  return {
    shape,
    classes: d?.shape.numClasses ?? 10,
    nTrain: num(spec?.nTrain, num(d?.params.nTrain?.default, 1000)),
    nTest: num(spec?.nTest, num(d?.params.nTest?.default, 1000)),
  };
}

/**
 * The measured ResNet-20 figures the ResNet rates are derived from: the onnx
 * engine (what `auto` picks without CUDA), one worker, one ORT thread, on the
 * 2-core AMD EPYC. FLOPs per example come from models/resnet.ts
 * (resnetForwardFlops: 81.1 MFLOP forward for ResNet-20 width 16 on 32x32x3).
 */
export const RESNET_ENGINE_MEASURED = {
  /**
   * Training images/s of ResNet-20 width 16 at batch 128 (one SGD step, BatchNorm in training mode):
   * 128 images over the median step of the nine idle rounds (557-650 ms, median 579 ms) of
   * bench/BASELINE.md "Re-measured on an idle machine (2026-12-05)",
   * `node dist/bench/resnet-train.js --batch 128 --reps 5` (commit f38d452).
   */
  trainImagesPerSec: 128 / 0.579,
  /**
   * Training images/s of PreAct ResNet-18 width 64 (the `cifar` profile's model) at batch 128 through
   * models/train.ts (crop-flip, momentum, weight decay 1e-4, step schedule): the median of three idle runs
   * (30.2, 30.7, 29.2 images/s on 1,280, 2,560 and 2,560 stand-in images after a warm-up epoch), commit 430cb91.
   * Its wider convolutions run at about 1.9x ResNet-20's GFLOP/s, so extrapolating ResNet-20 by FLOPs
   * overstated its training time that much.
   */
  preactTrainImagesPerSec: 30.2,
  /**
   * Milliseconds of PGD-10 (random start, 10 gradient steps) on a batch of 128 through the engine's
   * ResNet-20 (the PyTorch export; its projection shortcuts add about 1% of FLOPs): the median of the
   * least loaded run (load 4.0-4.5) in bench/BASELINE.md "Imported ResNet-20 (PyTorch export) vs
   * PyTorch 1.13 CPU", `node dist/suite/cli.js bench --models mlp --batches 128 --max-time 0.3 --resnet-rounds 3 --resnet-reps 5`.
   */
  pgd10Batch128Ms: 3340,
} as const;

/**
 * cifar-quick measured end to end on the engine (docs/profiles.md, "The cifar
 * profiles"): the Fashion-MNIST stand-in padded to 32x32x3 in place of
 * CIFAR-10 (same shapes and sizes, so the same FLOPs: 10,000 training and
 * 1,000 test images), 2 workers on 2 idle cores, commit 5fcf93c (2026-12-05):
 * `/usr/bin/time -v node dist/suite/cli.js run cifar-quick --set
 * 'experiments[0].dataset={"name":"fashion-mnist-32","nTrain":10000,"nTest":1000}'
 * --workers 2 --no-cache --out /tmp/cq`. Not used to fit any rate: the check
 * the ResNet rates are held to (test/suite/shard-resnet.test.ts).
 */
export const CIFAR_QUICK_MEASURED = {
  /** 10 min 51 s (/usr/bin/time; the manifest's own count: 645.9 s). */
  wallSeconds: 10 * 60 + 51,
  workers: 2,
  /** The result files' wallSeconds of the three training and the three eval jobs. */
  trainJobSeconds: [282.1, 290.4, 272.0],
  evalJobSeconds: [100.7, 103.1, 90.9],
} as const;

/** Forward FLOPs per example of the ResNet-20 the measurements timed. */
const RESNET20_FLOPS = resnetForwardFlops({ arch: 'resnet', depth: 20, width: 16 }, [32, 32, 3], 10);
/** Forward FLOPs per example of the PreAct ResNet-18 the measurement timed. */
const PREACT18_FLOPS = resnetForwardFlops({ arch: 'preact-resnet', depth: 18, width: 64 }, [32, 32, 3], 10);
/** Gradient-pass equivalents per example of the measured PGD-10, as the cost model counts an attack (attackPasses). */
const PGD10_PASSES = attackPasses({ name: 'pgd', params: { steps: 10 } }, 'linf', 10);
/** Seconds per GFLOP of attack work: the measured ResNet-20 PGD-10 (every ResNet's attack rate). */
const RESNET_EVAL_SEC_PER_GFLOP = RESNET_ENGINE_MEASURED.pgd10Batch128Ms / 1000 / ((128 * PGD10_PASSES * 3 * RESNET20_FLOPS) / 1e9);

/**
 * Per-architecture weights (one worker, the engine `auto` picks here: onnx): seconds per GFLOP of
 * training work (forward + backward + update at the training batch size) and
 * of attack work (forward + backward at the eval batch size: larger batches,
 * cheaper per FLOP), and the fixed cost of one training step or one attack
 * pass (dispatch, read-backs), which dominates small models. The MLP figures
 * are fitted to the median job times of a 1-worker `quick` run (two-moons
 * and MNIST MLP) on the shared 2-core machine, halved as a guess at an idle
 * machine (see docs/scale-out.md); the CNN's were scaled to the one
 * nightly CNN training job (33.4 s) and eval job (1,179.9 s) measured on an
 * idle machine in a run of bench/slices/nightly-cnn-erm-seed0.yaml
 * (docs/performance.md; 62 s and 1,484 s before, on a loaded machine). The ResNets'
 * are the measured ResNet-20 engine throughputs (RESNET_ENGINE_MEASURED) per
 * GFLOP (PreAct ResNets train at their own measured rate), with no per-step or per-pass term (the measured batch-128 figures
 * already include it): a ResNet job's estimate is its FLOPs times a rate,
 * so it scales with depth, width, epochs and examples as the FLOP count does.
 * Only ratios matter for the assignment; the absolute figures only for the
 * predictions that --dry-run prints and the manifests record.
 */
export const COST_WEIGHTS = {
  linear: { trainSecPerGflop: 0.167, evalSecPerGflop: 0.0233, stepSec: 0.0009, passSec: 0.0007 },
  mlp: { trainSecPerGflop: 0.167, evalSecPerGflop: 0.0233, stepSec: 0.0009, passSec: 0.0007 },
  cnn: { trainSecPerGflop: 0.0206, evalSecPerGflop: 0.0151, stepSec: 0.002, passSec: 0.002 },
  resnet: {
    trainSecPerGflop: 1e9 / (RESNET_ENGINE_MEASURED.trainImagesPerSec * 3 * RESNET20_FLOPS),
    evalSecPerGflop: RESNET_EVAL_SEC_PER_GFLOP,
    stepSec: 0,
    passSec: 0,
  },
  /** PreAct ResNets: their own measured training rate; the attack rate is ResNet-20's (not measured for PreAct). */
  preact: {
    trainSecPerGflop: 1e9 / (RESNET_ENGINE_MEASURED.preactTrainImagesPerSec * 3 * PREACT18_FLOPS),
    evalSecPerGflop: RESNET_EVAL_SEC_PER_GFLOP,
    stepSec: 0,
    passSec: 0,
  },
  /** Per job: worker dispatch, dataset build, model load/save. */
  jobSec: 0.5,
  /** Probes and sanity checks, in attack-pass equivalents per evaluated example. */
  probePasses: 40,
  sanityPasses: 30,
} as const;

/** Where each architecture's rate comes from, in a line (printed by --dry-run for the architectures a plan trains). */
export const COST_CALIBRATION: Record<ArchKey, string> = {
  linear: 'linear/MLP rates fitted to a 1-worker quick run (docs/scale-out.md)',
  mlp: 'linear/MLP rates fitted to a 1-worker quick run (docs/scale-out.md)',
  cnn: 'CNN rates scaled to one nightly CNN train and eval job measured on an idle machine (docs/performance.md)',
  preact: `PreAct ResNet rates: training at the measured PreAct ResNet-18 engine throughput, ${RESNET_ENGINE_MEASURED.preactTrainImagesPerSec} training images/s (idle, one worker); attacks at ResNet-20's PGD-10 rate per GFLOP (not measured for PreAct, likely high)`,
  resnet: `ResNet rates: FLOPs (models/resnet.ts) at the measured ResNet-20 engine throughput, ${RESNET_ENGINE_MEASURED.trainImagesPerSec.toFixed(1)} training images/s and PGD-10 in ${RESNET_ENGINE_MEASURED.pgd10Batch128Ms} ms per 128 images (bench/BASELINE.md: the training rate idle, PGD-10 on a shared 2-core machine; one worker); checked against cifar-quick measured end to end on the Fashion-MNIST stand-in, ${CIFAR_QUICK_MEASURED.wallSeconds} s wall with ${CIFAR_QUICK_MEASURED.workers} workers (docs/profiles.md)`,
};

type ArchKey = 'linear' | 'mlp' | 'cnn' | 'resnet' | 'preact';

interface SpecLike {
  dataset?: { name?: string; nTrain?: number; nTest?: number };
  model?: { arch?: string; hidden?: number[]; filters?: number[]; kernelSize?: number; depth?: number; width?: number };
  train?: { epochs?: number; batchSize?: number };
  scheme?: { name: string; params: Record<string, unknown> };
  eval?: { norm?: Norm; eps?: number[]; nExamples?: number; batchSize?: number; probePoints?: number };
  attacks?: AttackSpec[];
  probes?: boolean;
  transfer?: { attack?: AttackSpec; sourceTrainJobIds?: string[] } | null;
}

/** Forward FLOPs per example of a model on a dataset. */
export function forwardFlops(model: SpecLike['model'], dataset: SpecLike['dataset']): number {
  const ds = datasetSizes(dataset);
  const inSize = ds.shape.reduce((a, b) => a * b, 1);
  const arch = model?.arch ?? 'mlp';
  if (arch === 'resnet' || arch === 'preact-resnet') {
    const d = RESNET_DEFAULTS[arch];
    return resnetForwardFlops({ arch, depth: model?.depth ?? d.depth, width: model?.width ?? d.width }, ds.shape.length === 3 ? ds.shape : [32, 32, 3], ds.classes);
  }
  if (arch === 'cnn') {
    const [h, w, c] = ds.shape.length === 3 ? ds.shape : [28, 28, 1];
    const [f1, f2] = model?.filters ?? MODEL_DEFAULTS.filters;
    const k = model?.kernelSize ?? MODEL_DEFAULTS.kernelSize;
    const conv1 = 2 * h * w * k * k * c * f1;
    const h2 = Math.floor(h / 2);
    const w2 = Math.floor(w / 2);
    const conv2 = 2 * h2 * w2 * k * k * f1 * f2;
    const dense = 2 * Math.floor(h2 / 2) * Math.floor(w2 / 2) * f2 * ds.classes;
    return conv1 + conv2 + dense;
  }
  const widths = arch === 'mlp' ? [inSize, ...(model?.hidden ?? MODEL_DEFAULTS.hidden), ds.classes] : [inSize, ds.classes];
  let f = 0;
  for (let i = 1; i < widths.length; i++) f += 2 * widths[i - 1] * widths[i];
  return f;
}

/**
 * Gradient-pass equivalents per example of one attack at one epsilon, from
 * its descriptor's cost (attacks/types.ts AttackCost): a forward pass counts
 * a third of a gradient pass (forward + backward). `classes`: of the
 * dataset, bounding targeted runs.
 */
function attackPasses(a: AttackSpec, norm: Norm, classes: number): number {
  const c = attackCostOf(resolveAttackParams(a, norm), classes, COMPOSITE_SURVIVORS);
  return c.gradient + c.forward / 3;
}

function archOf(spec: SpecLike): ArchKey {
  const a = spec.model?.arch;
  if (a === 'resnet') return 'resnet';
  if (a === 'preact-resnet') return 'preact';
  return a === 'cnn' || a === 'linear' ? a : 'mlp';
}

/**
 * Estimated seconds of one job from its spec (eval jobs need the plan to
 * find their model's architecture). Deliberately simple: FLOPs times a
 * per-architecture rate plus per-step and per-job overheads.
 */
export function estimateJobSeconds(job: PlannedJob, byId: ReadonlyMap<string, PlannedJob>): number {
  const W = COST_WEIGHTS;
  const spec = job.spec as SpecLike;
  const ds = datasetSizes(spec.dataset);
  if (job.kind === 'train') {
    const arch = archOf(spec);
    const w = W[arch];
    const f = forwardFlops(spec.model, spec.dataset);
    const nTrain = spec.dataset?.nTrain ?? ds.nTrain;
    const nTest = spec.dataset?.nTest ?? ds.nTest;
    const { epochs, batchSize: bs } = resolveTrainConfig(spec.train ?? {});
    const steps = epochs * Math.ceil(nTrain / bs);
    // Adversarial training runs PGD (steps + 1 passes) per step.
    const sp = spec.scheme?.params ?? {};
    const factor = spec.scheme?.name === 'adversarial' ? 1 + (typeof sp.steps === 'number' ? sp.steps : ADVERSARIAL_STEPS_DEFAULT) : 1;
    const trainGflop = (epochs * nTrain * 3 * f * factor + epochs * nTest * f) / 1e9;
    return W.jobSec + steps * w.stepSec * factor + trainGflop * w.trainSecPerGflop;
  }
  const model = byId.get(job.trainJobId ?? (spec as { trainJobId?: string }).trainJobId ?? '');
  const mspec = (model?.spec ?? {}) as SpecLike;
  const arch = archOf(mspec);
  const w = W[arch];
  const f = forwardFlops(mspec.model, spec.dataset);
  const n = spec.eval?.nExamples ?? EVAL_DEFAULTS.nExamples;
  const bs = spec.eval?.batchSize ?? EVAL_DEFAULTS.batchSize;
  const batches = Math.ceil(n / bs);
  const eps = spec.eval?.eps?.length ?? 1;
  const norm = spec.eval?.norm ?? EVAL_DEFAULTS.norm;
  let passes = 1;
  for (const a of spec.attacks ?? []) passes += eps * attackPasses(a, norm, ds.classes);
  // A transfer attack: the attack on the source model, then one forward pass scoring it on the attacked model.
  if (spec.transfer && (spec.transfer.sourceTrainJobIds?.length ?? 0) > 0 && spec.transfer.attack) passes += eps * (attackPasses(spec.transfer.attack, norm, ds.classes) + 1 / 3);
  passes += W.sanityPasses;
  if (spec.probes) passes += W.probePasses;
  return W.jobSec + batches * passes * w.passSec + (n * passes * 3 * f * w.evalSecPerGflop) / 1e9;
}

export interface CostModel {
  /** Seconds per job id. */
  seconds: Map<string, number>;
  /** Where the figures come from, e.g. "per-architecture weights" or "measured in runs/x (30 of 36 jobs)". */
  source: string;
}

/** Costs from the per-architecture weights. */
export function estimateCosts(jobs: readonly PlannedJob[]): CostModel {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  return { seconds: new Map(jobs.map((j) => [j.id, estimateJobSeconds(j, byId)])), source: 'per-architecture weights' };
}

/**
 * Costs measured by an earlier run (`--weights RUN`): every job of this plan
 * that RUN finished ok takes RUN's wallSeconds; the others take the estimate
 * scaled by measured / estimated over the matched jobs of the same kind.
 * A RUN sharing no job with this plan is a UsageError (different study or
 * backend: its times would say nothing).
 */
export function measuredCosts(jobs: readonly PlannedJob[], runDir: string): CostModel {
  const run = loadRun(runDir);
  const est = estimateCosts(jobs).seconds;
  const seconds = new Map<string, number>();
  const ratio: Record<string, { m: number; e: number }> = { train: { m: 0, e: 0 }, eval: { m: 0, e: 0 } };
  for (const j of jobs) {
    const r = run.results.get(j.id);
    if (r && r.status === 'ok' && Number.isFinite(r.wallSeconds) && r.wallSeconds > 0) {
      seconds.set(j.id, r.wallSeconds);
      ratio[j.kind].m += r.wallSeconds;
      ratio[j.kind].e += est.get(j.id) as number;
    }
  }
  if (seconds.size === 0) {
    throw new UsageError(`--weights ${runDir}: none of its ${run.results.size} results is a job of this plan (another study or backend); allowed: a run folder of the same study`);
  }
  const both = { m: ratio.train.m + ratio.eval.m, e: ratio.train.e + ratio.eval.e };
  for (const j of jobs) {
    if (seconds.has(j.id)) continue;
    const r = ratio[j.kind].e > 0 ? ratio[j.kind] : both;
    seconds.set(j.id, (est.get(j.id) as number) * (r.m / r.e));
  }
  return { seconds, source: `measured in ${runDir} (${[...seconds.keys()].filter((id) => run.results.has(id)).length} of ${jobs.length} jobs)` };
}

/**
 * Predicted wall seconds of running `jobs` with `workers` workers, by
 * replaying the runner's dispatch (suite/runner.ts) on the estimated costs:
 * each free worker takes the first job in plan order whose dependencies have
 * finished. A dependency outside `jobs` (another shard's) counts as done.
 */
export function estimateWallSeconds(jobs: readonly PlannedJob[], seconds: ReadonlyMap<string, number>, workers: number): number {
  const inPlan = new Set(jobs.map((j) => j.id));
  const doneAt = new Map<string, number>();
  const queue = [...jobs];
  const free = new Array<number>(Math.max(1, workers)).fill(0);
  while (queue.length) {
    const w = free.indexOf(Math.min(...free));
    const now = free[w];
    const readyAt = (j: PlannedJob) => Math.max(0, ...j.dependsOn.filter((d) => inPlan.has(d)).map((d) => doneAt.get(d) ?? Infinity));
    // The first job ready now; else the worker waits for the earliest one to become ready.
    let idx = queue.findIndex((j) => readyAt(j) <= now);
    if (idx < 0) {
      const next = Math.min(...queue.map(readyAt));
      if (!Number.isFinite(next)) throw new Error(`jobs with unsatisfiable dependencies: ${queue.map((j) => j.label).join(', ')}`);
      idx = queue.findIndex((j) => readyAt(j) === next);
    }
    const job = queue.splice(idx, 1)[0];
    const start = Math.max(now, readyAt(job));
    free[w] = start + (seconds.get(job.id) ?? 0);
    doneAt.set(job.id, free[w]);
  }
  return Math.max(...free);
}

/** "4.31 h" from an hour on, else minutes and seconds. */
function hoursText(sec: number): string {
  return sec >= 3600 ? `${(sec / 3600).toFixed(2)} h` : `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
}

/**
 * What --dry-run says a plan will cost: one-worker time by job kind, the
 * predicted wall time with `workers` workers, and where the rates of the
 * architectures it trains come from.
 */
export function costEstimateLines(jobs: readonly PlannedJob[], cost: CostModel, workers: number): string[] {
  const byKind = { train: 0, eval: 0 };
  for (const j of jobs) byKind[j.kind] += cost.seconds.get(j.id) ?? 0;
  const wall = estimateWallSeconds(jobs, cost.seconds, workers);
  const archs = new Set<ArchKey>();
  for (const j of jobs) if (j.kind === 'train') archs.add(archOf(j.spec as SpecLike));
  const lines = [
    `estimated cost: ${hoursText(byKind.train + byKind.eval)} of 1-worker time (train ${hoursText(byKind.train)}, eval ${hoursText(byKind.eval)}); about ${hoursText(wall)} wall with ${workers} worker${workers === 1 ? '' : 's'} (costs: ${cost.source})`,
  ];
  for (const a of new Set([...archs].map((x) => COST_CALIBRATION[x]))) lines.push(`  calibration: ${a}`);
  return lines;
}

// ---------------------------------------------------------------------------
// Assignment

export interface Assignment {
  count: number;
  /** Per shard (index 0 = shard 1): its job ids in plan order, and its predicted seconds (sum of its jobs' costs). */
  shards: { jobIds: string[]; predictedSeconds: number }[];
  /** SHA-256 of the whole assignment: shards of one run must agree on it. */
  hash: string;
  costSource: string;
}

/**
 * Splits the plan into `count` shards (see the file comment). Deterministic:
 * ties break by plan order, then by the lower shard index.
 */
export function assignShards(jobs: readonly PlannedJob[], count: number, cost: CostModel): Assignment {
  const c = (id: string) => cost.seconds.get(id) ?? 0;
  const order = new Map(jobs.map((j, i) => [j.id, i]));
  const referenced = new Set<string>();
  const units: { ids: string[]; seconds: number; first: number }[] = [];
  for (const j of jobs) {
    if (j.kind !== 'eval') continue;
    const ids = [...new Set([...j.dependsOn, j.id])];
    for (const d of j.dependsOn) referenced.add(d);
    units.push({ ids, seconds: ids.reduce((a, id) => a + c(id), 0), first: order.get(j.id) as number });
  }
  // A train job no evaluation needs is a unit of its own.
  for (const j of jobs) if (j.kind === 'train' && !referenced.has(j.id)) units.push({ ids: [j.id], seconds: c(j.id), first: order.get(j.id) as number });
  units.sort((a, b) => b.seconds - a.seconds || a.first - b.first);

  const sets = Array.from({ length: count }, () => new Set<string>());
  const load = new Array<number>(count).fill(0);
  for (const u of units) {
    let best = 0;
    let bestFinish = Infinity;
    let bestAdded = Infinity;
    for (let s = 0; s < count; s++) {
      const added = u.ids.reduce((a, id) => a + (sets[s].has(id) ? 0 : c(id)), 0);
      const finish = load[s] + added;
      // Earliest finish; on a tie, the shard that already has more of the unit.
      if (finish < bestFinish - 1e-9 || (Math.abs(finish - bestFinish) <= 1e-9 && added < bestAdded)) {
        best = s;
        bestFinish = finish;
        bestAdded = added;
      }
    }
    for (const id of u.ids) {
      if (!sets[best].has(id)) {
        sets[best].add(id);
        load[best] += c(id);
      }
    }
  }
  const shards = sets.map((set, s) => ({
    jobIds: jobs.filter((j) => set.has(j.id)).map((j) => j.id),
    predictedSeconds: load[s],
  }));
  const hash = createHash('sha256')
    .update(stableStringify(shards.map((s) => s.jobIds)))
    .digest('hex');
  return { count, shards, hash, costSource: cost.source };
}

/** The manifest record of one shard of an assignment. */
export function shardInfo(a: Assignment, spec: ShardSpec, host: string): ShardInfo {
  const s = a.shards[spec.index - 1];
  return {
    index: spec.index,
    count: spec.count,
    jobIds: s.jobIds,
    assignmentHash: a.hash,
    costSource: a.costSource,
    predictedSeconds: Math.round(s.predictedSeconds * 10) / 10,
    predictedSecondsAll: a.shards.map((x) => Math.round(x.predictedSeconds * 10) / 10),
    host,
  };
}
