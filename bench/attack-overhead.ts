/**
 * The bench's attack-overhead tasks (issue 22): each iterative attack as
 * the eval jobs run it (the registry's resolveAttackParams + buildAttack,
 * then Attack.run on the engine classifier) timed beside a plain forward
 * pass and a bare input gradient of the CE on the same model and batch, and
 * its overhead ratio
 *
 *   ratio = attack ms / (G x input-grad ms + F x forward ms)
 *
 * where G and F are the gradient and forward passes the measured run really
 * made, counted by the engine (OnnxModel.passRows, rows over the batch: a
 * pass over the survivors of a targeted stage counts as its share of one).
 * A ratio of 1 means the attack costs exactly its network passes; what is
 * above is the attack's own bookkeeping, read-backs and copies.
 *
 * The model is the bench's architecture briefly trained (`trainSteps` Adam
 * steps on real MNIST) and the batch the first test digits, so that at
 * `eps` a share of the rows survives and the attacks' early stops do not
 * cut their runs short (the share broken is reported). Each round measures
 * every figure once, in turn, so that all of them see the same machine
 * load; a figure is the median over rounds.
 */
import * as tf from '@tensorflow/tfjs';
import { table } from 'table';
import * as fs from 'fs';
import * as inspector from 'inspector';
import * as os from 'os';
import { lossInputGradient } from '../attacks/gradients';
import { AttackSpec, buildAttack, resolveAttackParams } from '../attacks/registry';
import { Attack } from '../attacks/types';
import { BAKE_AFTER, engineClassifier, engineTrainClassifier, onnxModelFor, releaseOnnxModel } from '../backend/onnx/engine';
import { Stepper } from '../backend/onnx/step-graph';
import type { LayersModelLike } from '../backend/onnx/compile';
import { loadDataset } from '../data/registry';
import { Rng } from '../data/rng';
import { EVAL_DEFAULTS } from '../eval/defaults';
import { buildModel, ModelSpec } from '../models/build';
import { crossEntropy } from '../models/loss';
import { median } from './script-args';

/** The attacks as the eval jobs run them (issue 22): name in the bench -> registry spec. */
export const ATTACK_OVERHEAD_TASKS: Record<string, AttackSpec> = {
  'apgd-ce': { name: 'apgd-ce', params: { steps: 100 } },
  'apgd-dlr': { name: 'apgd-dlr', params: { steps: 100 } },
  'apgd-t': { name: 'apgd-t', params: { steps: 100, targetClasses: 9 } },
  square: { name: 'square', params: { queries: 1000 } },
  'pgd-40': { name: 'pgd', params: { steps: 40 } },
};

export interface AttackOverheadOptions {
  /** Keys of ATTACK_OVERHEAD_TASKS. */
  attacks: string[];
  batches: number[];
  /** Timed rounds; each figure is the median over them. */
  rounds: number;
  /** Linf radius of the attacks. */
  eps: number;
  /** Adam steps (batch 128, lr 1e-3) on MNIST before measuring. */
  trainSteps: number;
  /** Writes a V8 CPU profile of the timed attack runs only (no training, warm-up or reference passes) to this file; read it with bench/cpu-profile-groups.ts. */
  profile?: string;
}

export const ATTACK_OVERHEAD_DEFAULTS: AttackOverheadOptions = { attacks: Object.keys(ATTACK_OVERHEAD_TASKS), batches: [128, 512], rounds: 1, eps: 0.05, trainSteps: 300 };

/** One attack's figure at one model and batch. */
export interface AttackOverheadFigure {
  task: string;
  model: string;
  batch: number;
  /** Median ms of one Attack.run over the rounds. */
  meanMs: number;
  /** Gradient and forward passes the run made, in batches (rows / batch). */
  gradientPasses: number;
  forwardPasses: number;
  /** Median ms of one input gradient / one forward pass at this batch, measured in the same rounds. */
  inputGradMs: number;
  forwardMs: number;
  /** meanMs / (gradientPasses * inputGradMs + forwardPasses * forwardMs) */
  overhead: number;
  /**
   * Median ms of one bare step-graph gradient (backend/onnx/step-graph.ts
   * "eval" of the CE: forward, loss and input gradient in one ORT run on
   * typed arrays), the fastest gradient pass the engine makes, and the ratio
   * against it in place of input-grad: the floor an attack could reach.
   */
  stepGradMs: number;
  overheadVsStepGrad: number;
  /** Share of the rows the attack broke (clean errors included). */
  broken: number;
  /** Share of the rows classified correctly before the attack. */
  cleanAccuracy: number;
  /** Every round's ms, and the load average (1 min) at its start. */
  roundsMs: number[];
  load: number[];
  params: Record<string, unknown>;
}

/** The overhead ratio as defined above: measured ms over what the counted passes cost at the measured per-pass times. */
export function overheadRatio(ms: number, passes: { gradient: number; forward: number }, inputGradMs: number, forwardMs: number): number {
  return ms / (passes.gradient * inputGradMs + passes.forward * forwardMs);
}

/** Passes of one call through the engine model behind `f`, in batches of `batch` rows. */
export function countPasses<T>(model: LayersModelLike, batch: number, fn: () => T): { result: T; gradient: number; forward: number } {
  const rows = onnxModelFor(model).passRows;
  const g0 = rows.gradient;
  const f0 = rows.forward;
  const result = fn();
  return { result, gradient: (rows.gradient - g0) / batch, forward: (rows.forward - f0) / batch };
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Mean ms of `fn` over at least `minReps` calls and `minMs` milliseconds. */
function perCallMs(fn: () => void, minReps = 5, minMs = 200): number {
  const t0 = nowMs();
  let reps = 0;
  while (reps < minReps || nowMs() - t0 < minMs) {
    fn();
    reps++;
  }
  return (nowMs() - t0) / reps;
}

/** `spec` with its budget cut to a few passes: a warm-up that builds every session the full run uses. */
function warmUpSpec(spec: AttackSpec): AttackSpec {
  const p = { ...(spec.params ?? {}) };
  if ('steps' in p) p.steps = 3;
  if ('queries' in p) p.queries = 5;
  if ('targetClasses' in p) p.targetClasses = 1;
  return { name: spec.name, params: p };
}

/**
 * Trains the bench's `arch` model briefly on MNIST and measures every
 * attack of `o` at every batch on the engine; `log` gets one line per figure.
 */
export function attackOverheadFigures(spec: ModelSpec, arch: string, o: AttackOverheadOptions, log: (line: string) => void = () => {}): AttackOverheadFigure[] {
  for (const a of o.attacks) if (!ATTACK_OVERHEAD_TASKS[a]) throw new Error(`unknown attack-overhead task "${a}"; allowed: ${Object.keys(ATTACK_OVERHEAD_TASKS).join(', ')}`);
  const dataset = loadDataset({ name: 'mnist' });
  const d = dataset.inputShape.reduce((a, b) => a * b, 1);
  const model = buildModel(spec, dataset.inputShape, dataset.numClasses, 0);
  const like = model as unknown as LayersModelLike;
  const trainF = engineTrainClassifier(like);
  const opt = tf.train.adam(1e-3);
  const rng = new Rng(0);
  for (let s = 0; s < o.trainSteps; s++) {
    tf.tidy(() => {
      const idx = Int32Array.from({ length: 128 }, () => rng.int(dataset.train.y.length));
      const rows = new Float32Array(128 * d);
      idx.forEach((j, i) => rows.set(dataset.train.x.subarray(j * d, (j + 1) * d), i * d));
      const xb = tf.tensor(rows, [128, ...dataset.inputShape]);
      const yb = tf
        .oneHot(
          tf.tensor1d(
            Int32Array.from(idx, (j) => dataset.train.y[j]),
            'int32',
          ),
          dataset.numClasses,
        )
        .toFloat() as tf.Tensor2D;
      opt.minimize(() => crossEntropy(trainF(xb), yb));
    });
  }
  opt.dispose();
  // What the eval job's classifier is on the engine (models/predict.ts asClassifier).
  const f = engineClassifier(like);
  const figures: AttackOverheadFigure[] = [];
  const attacks: Record<string, { attack: Attack; warm: Attack; params: Record<string, unknown> }> = {};
  for (const a of o.attacks) {
    const r = resolveAttackParams(ATTACK_OVERHEAD_TASKS[a], EVAL_DEFAULTS.norm);
    attacks[a] = { attack: buildAttack(r), warm: buildAttack(resolveAttackParams(warmUpSpec(ATTACK_OVERHEAD_TASKS[a]), EVAL_DEFAULTS.norm)), params: r.params };
  }
  for (const batch of o.batches) {
    if (batch > dataset.test.y.length) throw new Error(`attack-overhead: batch ${batch} exceeds the ${dataset.test.y.length} MNIST test digits`);
    const x = tf.tensor(dataset.test.x.subarray(0, batch * d), [batch, ...dataset.inputShape]);
    const y = dataset.test.y.slice(0, batch);
    const yHot = tf.oneHot(tf.tensor1d(y, 'int32'), dataset.numClasses).toFloat() as tf.Tensor2D;
    const forward = () => {
      const z = f(x);
      z.dataSync();
      z.dispose();
    };
    const inputGrad = () => {
      const g = lossInputGradient(f, x, yHot);
      g.dataSync();
      g.dispose();
    };
    const stepper = new Stepper(onnxModelFor(like), EVAL_DEFAULTS.norm, 'ce');
    const xHost = x.dataSync() as Float32Array;
    const tHost = yHot.dataSync() as Float32Array;
    const stepGrad = () => {
      stepper.evaluate(xHost, tHost, 1);
    };
    const clean = tf.tidy(() => tf.argMax(f(x), -1).dataSync() as Int32Array);
    const cleanAccuracy = clean.reduce((acc, p, i) => acc + (p === y[i] ? 1 : 0), 0) / batch;
    // warm-up: baked sessions (BAKE_AFTER calls), step graphs, kernels
    for (let i = 0; i < BAKE_AFTER + 2; i++) {
      forward();
      inputGrad();
      stepGrad();
    }
    for (const a of o.attacks) attacks[a].warm.run(f, x, y, dataset.bounds, o.eps, new Rng(1)).xAdv.dispose();
    const ms: Record<string, number[]> = { forward: [], 'input-grad': [], 'step-grad': [] };
    const load: number[] = [];
    const passes: Record<string, { gradient: number; forward: number }> = {};
    const broken: Record<string, number> = {};
    const reference = () => {
      ms.forward.push(perCallMs(forward));
      ms['input-grad'].push(perCallMs(inputGrad));
      ms['step-grad'].push(perCallMs(stepGrad));
    };
    const attackRound = () => {
      for (const a of o.attacks) {
        const t0 = nowMs();
        const c = countPasses(like, batch, () => attacks[a].attack.run(f, x, y, dataset.bounds, o.eps, new Rng(1)));
        (ms[a] ??= []).push(nowMs() - t0);
        c.result.xAdv.dispose();
        const p = { gradient: c.gradient, forward: c.forward };
        // same seed, same run: the passes cannot differ between rounds
        if (passes[a] && (passes[a].gradient !== p.gradient || passes[a].forward !== p.forward)) throw new Error(`attack-overhead: ${a} made different passes in two rounds`);
        passes[a] = p;
        broken[a] = c.result.success.reduce((acc, s) => acc + s, 0) / batch;
      }
    };
    if (o.profile) {
      // the profile holds the attack runs only: the reference passes are timed first
      for (let round = 0; round < o.rounds; round++) reference();
      const session = new inspector.Session();
      session.connect();
      // inspector's post calls back synchronously on the main thread
      const post = (method: string, params: object = {}): unknown => {
        let out: unknown = null;
        session.post(method, params, (err, res) => {
          if (err) throw err;
          out = res;
        });
        return out;
      };
      post('Profiler.enable');
      post('Profiler.setSamplingInterval', { interval: 200 });
      post('Profiler.start');
      for (let round = 0; round < o.rounds; round++) {
        load.push(os.loadavg()[0]);
        attackRound();
      }
      const { profile } = post('Profiler.stop') as { profile: object };
      const file = o.batches.length > 1 ? o.profile.replace(/(\.cpuprofile)?$/, `-${arch}-b${batch}.cpuprofile`) : o.profile;
      fs.writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      log(`  wrote ${file}`);
    } else {
      for (let round = 0; round < o.rounds; round++) {
        load.push(os.loadavg()[0]);
        reference();
        attackRound();
      }
    }
    const fwdMs = median(ms.forward);
    const gradMs = median(ms['input-grad']);
    const stepGradMs = median(ms['step-grad']);
    log(
      `  attack-overhead ${arch} b${batch}: forward ${fwdMs.toFixed(2)} ms, input-grad ${gradMs.toFixed(2)} ms, step-graph gradient ${stepGradMs.toFixed(2)} ms, clean accuracy ${(100 * cleanAccuracy).toFixed(1)}%`,
    );
    for (const a of o.attacks) {
      const meanMs = median(ms[a]);
      const overhead = overheadRatio(meanMs, passes[a], gradMs, fwdMs);
      figures.push({
        task: a,
        model: arch,
        batch,
        meanMs,
        gradientPasses: passes[a].gradient,
        forwardPasses: passes[a].forward,
        inputGradMs: gradMs,
        forwardMs: fwdMs,
        overhead,
        stepGradMs,
        overheadVsStepGrad: overheadRatio(meanMs, passes[a], stepGradMs, fwdMs),
        broken: broken[a],
        cleanAccuracy,
        roundsMs: ms[a],
        load,
        params: attacks[a].params,
      });
      log(
        `  ${a.padEnd(9)} ${arch} b${batch}: ${meanMs.toFixed(0)} ms, G ${passes[a].gradient.toFixed(2)} F ${passes[a].forward.toFixed(2)}, ratio ${overhead.toFixed(2)} (${overheadRatio(meanMs, passes[a], stepGradMs, fwdMs).toFixed(2)} vs step-graph gradients), broken ${(100 * broken[a]).toFixed(1)}%`,
      );
    }
    tf.dispose([x, yHot]);
  }
  releaseOnnxModel(like);
  model.dispose();
  return figures;
}

/** The attack-overhead figures as a table. */
export function formatAttackOverhead(figures: AttackOverheadFigure[]): string {
  const rows: string[][] = [['attack', 'model', 'batch', 'ms', 'G', 'F', 'input-grad ms', 'forward ms', 'passes ms', 'overhead', 'step-grad ms', 'vs step-grad', 'broken', 'load']];
  for (const r of figures) {
    rows.push([
      r.task,
      r.model,
      String(r.batch),
      r.meanMs.toFixed(0),
      r.gradientPasses.toFixed(2),
      r.forwardPasses.toFixed(2),
      r.inputGradMs.toFixed(2),
      r.forwardMs.toFixed(2),
      (r.gradientPasses * r.inputGradMs + r.forwardPasses * r.forwardMs).toFixed(0),
      `${r.overhead.toFixed(2)}x`,
      r.stepGradMs.toFixed(2),
      `${r.overheadVsStepGrad.toFixed(2)}x`,
      `${(100 * r.broken).toFixed(1)}%`,
      r.load.map((v) => v.toFixed(1)).join('/'),
    ]);
  }
  return table(rows);
}
