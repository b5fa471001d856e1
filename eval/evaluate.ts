import * as tf from '@tensorflow/tfjs';
import { buildAttack, buildTransferAttack } from '../attacks/registry';
import { Attack, AttackStageLog, mergeStageLogs } from '../attacks/types';
import { worstCaseCorrect } from '../attacks/worst-case';
import { engineModelOf } from '../backend/onnx/engine';
import { Classifier } from '../contract/classifier';
import { robustKey, worstCaseKey } from '../contract/keys';
import { AttackSummary, EvalJobResult, SanityFlag, SanityRunRecord } from '../contract/results';
import { Rng } from '../data/rng';
import { Dataset, inputSize } from '../data/types';
import { EvalConfig, EvalOptions, resolveEvalConfig, ResolvedEvalConfig } from './config';
import { mean } from './distribution';
import { PerExampleAttack, PerExampleData } from './export';
import { gradientNorms, ProbeOutput, runProbes } from './probes';
import { StageOutcome } from './confidence';
import { runSanity } from './sanity-runs';
import { checkBatchIndependence, checkDeterministic, checkMonotone, checkNoiseWeaker, checkOutputsAreLogits } from './sanity';

/** The evaluation part of an EvalJobResult (the runner adds identity, status, timing and environment). */
export type EvalCore = Omit<EvalJobResult, 'kind' | 'jobId' | 'trainJobId' | 'identity' | 'status' | 'error' | 'wallSeconds' | 'env'>;

export interface EvalDetails {
  result: EvalCore;
  perExample: PerExampleData;
  probes: ProbeOutput | null;
  config: ResolvedEvalConfig;
  /** Wall seconds per stage and per attack key. */
  seconds: Record<string, number>;
  /** On the onnx engine: per stage and attack key, the example rows through the network by kind of pass (load-independent cost). */
  passes?: Record<string, StagePasses>;
  /** Composite attacks (autoattack): per attack key, robust accuracy after each stage over all examples. */
  stageLogs?: Record<string, AttackStageLog[]>;
  /** With keepAdversarial k: per attack key, the adversarial inputs of the first k examples, [k, ...inputShape] row-major. */
  adversarial?: Record<string, Float32Array>;
}

/** evaluateModelDetailed's options beyond EvalOptions. */
export interface DetailedEvalOptions extends EvalOptions {
  /** Keep every attack's adversarial inputs of the first k examples (EvalDetails.adversarial); overrides the config's saveAdversarial. */
  keepAdversarial?: number;
  /**
   * The classifier is forward-only (a .onnx file): no input-gradient norms
   * (NaN per example; the clean loss comes from the logits) and only the
   * sanity checks that need no gradients.
   */
  gradientFree?: boolean;
}

interface Planned {
  attack: Attack;
  key: string;
  eps: number;
}

/**
 * Attacks a classifier on the first n test examples at every eps, with
 * every configured attack (and transfer attack), then the worst case per
 * eps, gradient-norm probes and the sanity checks. Returns the
 * EvalJobResult fields it owns plus per-example data.
 *
 * Robust correctness of an example = correct on the clean input AND after
 * the attack (the usual convention; an attack cannot "fix" an example).
 * Cost: one clean forward/backward pass, then per batch, attack and eps the
 * attack's own cost (PGD-40: 40 forward/backward passes). Attack loops read
 * nothing back per step; each attack call reads back once per batch.
 */
export function evaluateModelDetailed(f: Classifier, dataset: Dataset, config: EvalConfig, rng: Rng, options: DetailedEvalOptions = {}): EvalDetails {
  const c = resolveEvalConfig(config, dataset, options);
  const seconds: Record<string, number> = {};
  const meter = passMeter(f);
  const progress = options.onProgress ?? (() => undefined);
  const timed = <T>(name: string, run: () => T): T => {
    const t0 = Date.now();
    const out = meter.count(name, run);
    seconds[name] = (seconds[name] ?? 0) + (Date.now() - t0) / 1000;
    return out;
  };
  const n = c.nExamples;
  progress({ stage: 'clean', detail: 'clean predictions and gradients', done: 0, total: 1 });
  const clean = timed('clean', () => cleanPass(f, dataset, n, c.batchSize, Boolean(options.gradientFree)));
  const stageLogs: Record<string, AttackStageLog[]> = {};
  const keep = Math.min(n, Math.max(0, options.keepAdversarial ?? c.saveAdversarial));
  const adversarial: Record<string, Float32Array> | undefined = keep > 0 ? {} : undefined;
  const perAttack = runAttacks(f, dataset, c, clean.correct, rng.fork('attacks'), options, progress, seconds, meter, stageLogs, adversarial && { rows: keep, byKey: adversarial });
  const summaries: AttackSummary[] = perAttack.map((r) => ({
    attack: r.attack,
    norm: r.norm,
    eps: r.eps,
    settings: { ...r.settings },
    n,
    robustAccuracy: mean(r.correct),
    meanLoss: mean(r.loss),
  }));
  const robustCorrect: Record<string, number[]> = {};
  for (const r of perAttack) robustCorrect[r.key] = Array.from(r.correct);
  const worst = worstCases(perAttack);

  let probes: ProbeOutput | null = null;
  if (c.probes.enabled && n > 0) {
    progress({ stage: 'probes', detail: 'gradient-norm probes', done: 0, total: 1 });
    const x = dataset.test.x.subarray(0, n * inputSize(dataset.inputShape));
    probes = timed('probes', () => runProbes(f, dataset, { x, y: dataset.test.y.subarray(0, n) }, c.norm, c.eps, c.probes, rng.fork('probes'), options.vicinal, c.batchSize));
  }
  const flags: SanityFlag[] = [];
  const sanityRuns: SanityRunRecord[] = [];
  if (c.sanity.enabled && n > 0) {
    progress({ stage: 'sanity', detail: 'sanity checks', done: 0, total: 1 });
    timed('sanity', () => {
      if (options.gradientFree) flags.push(...gradientFreeSanity(f, dataset, c, summaries, clean.accuracy, clean.logits));
      else {
        const r = runSanity(f, dataset, c, summaries, perAttack, clean.accuracy, clean.logits, clean.grads.l1, rng.fork('sanity'));
        flags.push(...r.flags);
        sanityRuns.push(...r.runs);
      }
    });
  }
  return {
    result: {
      cleanAccuracy: clean.accuracy,
      n,
      attacks: summaries,
      worstCase: worst.summary,
      probes: probes?.distributions ?? {},
      flags,
      cleanCorrect: Array.from(clean.correct),
      robustCorrect,
      ...(sanityRuns.length ? { sanityRuns } : {}),
    },
    perExample: {
      index: Int32Array.from({ length: n }, (_, i) => i),
      label: Int32Array.from(dataset.test.y.subarray(0, n)),
      cleanPred: clean.pred,
      cleanLoss: clean.grads.loss,
      gradL1: clean.grads.l1,
      gradL2: clean.grads.l2,
      attacks: perAttack,
      worstCase: worst.rows,
    },
    probes,
    config: c,
    seconds,
    ...(meter.passes ? { passes: meter.passes } : {}),
    ...(Object.keys(stageLogs).length ? { stageLogs } : {}),
    ...(adversarial ? { adversarial } : {}),
  };
}

/**
 * The sanity checks of a forward-only classifier: outputs look like logits,
 * deterministic and batch-independent outputs, accuracy monotone in eps and
 * noise no stronger than the other attacks. (The checks that run gradient
 * attacks or read input gradients cannot run.)
 */
function gradientFreeSanity(f: Classifier, dataset: Dataset, c: ResolvedEvalConfig, summaries: AttackSummary[], cleanAccuracy: number, cleanLogits: Float32Array): SanityFlag[] {
  const tol = c.sanity.tolerances;
  const m = Math.min(c.sanity.nExamples, c.nExamples);
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const flags: SanityFlag[] = [...checkOutputsAreLogits(cleanLogits, dataset.numClasses)];
  const bFirst = Math.min(m, c.batchSize);
  const xFirst = tf.tensor(dataset.test.x.subarray(0, bFirst * d), [bFirst, ...shape]);
  try {
    flags.push(...checkDeterministic(f, xFirst));
  } finally {
    xFirst.dispose();
  }
  flags.push(...checkBatchIndependence(f, dataset.test.x.subarray(0, m * d), shape, tol.batchLogits));
  flags.push(...checkMonotone(summaries, cleanAccuracy, tol.accuracy));
  flags.push(...checkNoiseWeaker(summaries, tol.accuracy));
  return flags;
}

interface CleanPass {
  logits: Float32Array;
  pred: Int32Array;
  correct: Uint8Array;
  accuracy: number;
  grads: ReturnType<typeof gradientNorms>;
}

/** Clean logits, predictions, correctness, loss and input-gradient norms of the first n test examples. */
function cleanPass(f: Classifier, dataset: Dataset, n: number, bs: number, gradientFree = false): CleanPass {
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const k = dataset.numClasses;
  const x = dataset.test.x.subarray(0, n * d);
  const y = dataset.test.y.subarray(0, n);
  const logits = new Float32Array(n * k);
  for (let s = 0; s < n; s += bs) {
    const e = Math.min(n, s + bs);
    const z = tf.tidy(() => f(tf.tensor(x.subarray(s * d, e * d), [e - s, ...shape])));
    logits.set(z.dataSync() as Float32Array, s * k);
    z.dispose();
  }
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    pred[i] = best;
  }
  const correct = Uint8Array.from(pred, (p, i) => (p === y[i] ? 1 : 0));
  return { logits, pred, correct, accuracy: n ? mean(correct) : NaN, grads: gradientFree ? lossWithoutGradients(logits, y, k) : gradientNorms(f, x, shape, y, k, bs) };
}

/** Cross-entropy from the logits, with NaN gradient norms: what a forward-only classifier gives. */
function lossWithoutGradients(logits: Float32Array, y: ArrayLike<number>, k: number): ReturnType<typeof gradientNorms> {
  const n = y.length;
  const loss = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, logits[i * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits[i * k + j] - mx);
    loss[i] = mx + Math.log(s) - logits[i * k + y[i]];
  }
  const nan = () => new Float32Array(n).fill(NaN);
  return { loss, l1: nan(), l2: nan(), linf: nan() };
}

/** Every configured and transfer attack at every eps, batch by batch: per-example predictions, losses and robust correctness. */
function runAttacks(
  f: Classifier,
  dataset: Dataset,
  c: ResolvedEvalConfig,
  cleanCorrect: Uint8Array,
  attackRng: Rng,
  options: EvalOptions,
  progress: NonNullable<EvalOptions['onProgress']>,
  seconds: Record<string, number>,
  meter: PassMeter,
  stageLogs: Record<string, AttackStageLog[]>,
  adversarial?: { rows: number; byKey: Record<string, Float32Array> },
): RunRecord[] {
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const n = c.nExamples;
  const bs = c.batchSize;
  // Resolved once, by resolveEvalConfig: built as they are.
  const attacks: Attack[] = c.attacks.map(buildAttack);
  for (const t of c.transfer) {
    attacks.push(buildTransferAttack(t.source, (options.sources as Record<string, Classifier>)[t.source], t.attack));
  }
  const planned: Planned[] = [];
  for (const a of attacks) for (const eps of c.eps) planned.push({ attack: a, eps, key: robustKey(a.name, a.norm, eps) });
  const perAttack: RunRecord[] = planned.map((p) => ({
    key: p.key,
    attack: p.attack.name,
    norm: p.attack.norm,
    eps: p.eps,
    settings: p.attack.settings,
    pred: new Int32Array(n),
    loss: new Float32Array(n),
    correct: new Uint8Array(n),
  }));
  const totalRuns = planned.length * Math.ceil(n / bs);
  let runs = 0;
  for (let s = 0; s < n; s += bs) {
    const e = Math.min(n, s + bs);
    const xb = tf.tensor(dataset.test.x.subarray(s * d, e * d), [e - s, ...shape]);
    const yb = dataset.test.y.slice(s, e);
    try {
      planned.forEach((p, i) => {
        const ta = Date.now();
        progress({ stage: 'attack', detail: p.key, done: runs++, total: totalRuns });
        const out = meter.count(p.key, () => p.attack.run(f, xb, yb, dataset.bounds, p.eps, attackRng.fork(`${p.key}#${s}`)));
        // Read back only the batches that hold kept rows.
        if (adversarial && s < adversarial.rows) {
          const rows = Math.min(e, adversarial.rows) - s;
          const kept = (adversarial.byKey[p.key] ??= new Float32Array(adversarial.rows * d));
          kept.set((out.xAdv.dataSync() as Float32Array).subarray(0, rows * d), s * d);
        }
        out.xAdv.dispose();
        const rec = perAttack[i];
        if (out.log) {
          stageLogs[p.key] = mergeStageLogs(stageLogs[p.key], out.log);
          keepStageRows(rec, out.log, s, n);
        }
        rec.pred.set(out.pred, s);
        rec.loss.set(out.loss, s);
        for (let r = 0; r < e - s; r++) rec.correct[s + r] = cleanCorrect[s + r] && out.pred[r] === yb[r] ? 1 : 0;
        seconds[p.key] = (seconds[p.key] ?? 0) + (Date.now() - ta) / 1000;
      });
    } finally {
      xb.dispose();
    }
  }
  return perAttack;
}

/** Example rows through the network during one stage, by kind of pass (OnnxModel.passRows). */
export interface StagePasses {
  gradient: number;
  forward: number;
}

/** Counts, per stage, the passes `f`'s engine model makes (every classifier wrapping it included); no counts off the engine. */
interface PassMeter {
  passes: Record<string, StagePasses> | null;
  count<T>(stage: string, run: () => T): T;
}

function passMeter(f: Classifier): PassMeter {
  const rows = engineModelOf(f)?.passRows;
  if (!rows) return { passes: null, count: (_stage, run) => run() };
  const passes: Record<string, StagePasses> = {};
  return {
    passes,
    count(stage, run) {
      const g0 = rows.gradient;
      const f0 = rows.forward;
      const out = run();
      const p = (passes[stage] ??= { gradient: 0, forward: 0 });
      p.gradient += rows.gradient - g0;
      p.forward += rows.forward - f0;
      return out;
    },
  };
}

/** One attack at one eps over the evaluated examples, with what the sanity checks may reuse. */
export type RunRecord = PerExampleAttack & {
  settings: Readonly<Record<string, unknown>>;
  /** A composite attack's per-example survival after each stage ("clean" first), from its stage logs. */
  stages?: StageOutcome[];
};

/** Copies a composite's per-row stage survival of the batch starting at row `s` into the record. */
function keepStageRows(rec: RunRecord, log: AttackStageLog[], s: number, n: number): void {
  if (log.some((l) => !l.robustRows)) return;
  rec.stages ??= log.map((l) => ({ stage: l.stage, robust: new Uint8Array(n) }));
  if (rec.stages.length !== log.length) return;
  log.forEach((l, k) => (rec.stages as StageOutcome[])[k].robust.set(l.robustRows as Uint8Array, s));
}

/** Per (norm, eps): the examples that survive every attack, as a summary and per example. */
function worstCases(perAttack: PerExampleAttack[]): { summary: EvalCore['worstCase']; rows: PerExampleData['worstCase'] } {
  const summary: EvalCore['worstCase'] = [];
  const rows: PerExampleData['worstCase'] = [];
  const groups = new Map<string, PerExampleAttack[]>();
  for (const r of perAttack) {
    const g = `${r.norm}:${r.eps}`;
    groups.set(g, [...(groups.get(g) ?? []), r]);
  }
  for (const list of groups.values()) {
    const correct = worstCaseCorrect(list.map((r) => r.correct));
    const { norm, eps } = list[0];
    summary.push({ norm, eps, robustAccuracy: mean(correct), attacks: list.map((r) => r.attack) });
    rows.push({ key: worstCaseKey(norm, eps), norm, eps, correct });
  }
  return { summary, rows };
}

/** evaluateModelDetailed without the per-example extras: the EvalJobResult fields. */
export function evaluateModel(f: Classifier, dataset: Dataset, config: EvalConfig, rng: Rng, options: EvalOptions = {}): EvalCore {
  return evaluateModelDetailed(f, dataset, config, rng, options).result;
}
