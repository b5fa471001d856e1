import * as tf from '@tensorflow/tfjs';
import { AttackContext, BaseAttack, requireInt } from './base';
import { APGD_DEFAULTS, APGD_PARAMS, ApgdRunSettings, apgdRun, apgdRunStepGraph, validateApgdSettings } from './apgd';
import { engineModelOf } from '../backend/onnx/engine';
import { stepperFor } from '../backend/onnx/step-graph';
import { runsOf } from './pgd';
import { AttackDescriptor, attackCost, TARGET_CLASSES_RULE } from './types';
import { dlrTargetedLoss } from './losses';
import { Norm } from '../contract/norms';

export interface ApgdTargetedSettings extends ApgdRunSettings {
  /**
   * How many target classes each example is attacked towards, one after the
   * other: the classes other than its label with the largest clean logits,
   * largest first. Capped at classes - 1. AutoAttack's standard version: 9.
   */
  targetClasses: number;
  /** Runs per target class (from random starts when randomStart). AutoAttack's standard version: 1. */
  restarts: number;
}

/**
 * Per row the classes other than its label, ordered by clean logit, largest
 * first (ties: lower class index first). `logits` is row-major [b, k].
 */
export function runnerUpClasses(logits: ArrayLike<number>, y: ArrayLike<number>, k: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let i = 0; i < y.length; i++) {
    const others: number[] = [];
    for (let j = 0; j < k; j++) if (j !== y[i]) others.push(j);
    others.sort((a, b) => logits[i * k + b] - logits[i * k + a] || a - b);
    out.push(Int32Array.from(others));
  }
  return out;
}

/** What a targeted search per runner-up class starts from, read once from the clean input. */
export interface TargetedStart {
  /** per row, the classes other than its label, by clean logit, largest first */
  order: Int32Array[];
  /** host copy of x, row-major */
  xHost: Float32Array;
  /** 1 where the clean input is already misclassified (those rows are left unchanged) */
  wrong: Uint8Array;
}

export function targetedStart(ctx: AttackContext): TargetedStart {
  const { x, y, numClasses: k } = ctx;
  const cleanLogits = tf.tidy(() => ctx.f(x));
  const z = cleanLogits.dataSync() as Float32Array;
  cleanLogits.dispose();
  const wrong = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) {
    let pred = 0;
    for (let j = 1; j < k; j++) if (z[i * k + j] > z[i * k + pred]) pred = j;
    if (pred !== y[i]) wrong[i] = 1;
  }
  return { order: runnerUpClasses(z, y, k), xHost: (x.dataSync() as Float32Array).slice(), wrong };
}

/**
 * APGD-T (Croce & Hein 2020): APGD on the targeted DLR loss,
 * -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12), run once per target
 * class t, the runner-up classes by clean logit in turn. Success is
 * untargeted (misclassified): the targets are a way to search, not the goal.
 * Each target's run attacks only the rows no earlier run has broken (and no
 * row misclassified on the clean input, which is returned unchanged). Per
 * row the output is the first misclassified point found, else the point of
 * highest targeted DLR over all runs.
 *
 * Cost: up to targetClasses x restarts x steps forward/backward passes on
 * the surviving rows, plus one read-back per run. Explicit targets
 * (AttackRunOptions.targets) are refused: the attack picks its own.
 */
export class ApgdTargetedAttack extends BaseAttack {
  readonly name = 'apgd-t';
  readonly norm: Norm;
  readonly settings: Readonly<ApgdTargetedSettings & { loss: 'dlr' }>;

  constructor(settings: ApgdTargetedSettings) {
    super();
    validateApgdSettings('apgd-t', settings);
    requireInt('apgd-t', 'restarts', settings.restarts, 1);
    requireInt('apgd-t', 'targetClasses', settings.targetClasses, 1);
    this.norm = settings.norm;
    this.settings = { ...settings, loss: 'dlr' };
  }

  protected perturb(ctx: AttackContext): tf.Tensor {
    if (ctx.targetClasses) throw new Error('apgd-t: picks its own target classes (the runner-up logits); call it without targets');
    const { x, y, numClasses: k } = ctx;
    const b = x.shape[0];
    const shape = x.shape.slice(1);
    const d = x.size / b;
    const { order, xHost, wrong: found } = targetedStart(ctx);
    const out = xHost.slice();
    const best = new Float64Array(b).fill(-Infinity);
    const nTargets = Math.min(this.settings.targetClasses, k - 1);
    const runs = this.settings.randomStart ? this.settings.restarts : 1;
    // On an engine classifier each APGD run goes through the step graph of the targeted DLR.
    const stepper = stepperFor(engineModelOf(ctx.f), { norm: this.norm, loss: 'dlr-targeted', targeted: true });
    const oneHot = (classes: Int32Array) => {
      const h = new Float32Array(classes.length * k);
      classes.forEach((c, i) => (h[i * k + c] = 1));
      return h;
    };
    for (let r = 0; r < nTargets; r++) {
      for (let rep = 0; rep < runs; rep++) {
        const rows: number[] = [];
        for (let i = 0; i < b; i++) if (!found[i]) rows.push(i);
        if (rows.length === 0) return tf.tensor(out, x.shape);
        const m = rows.length;
        const sub = new Float32Array(m * d);
        rows.forEach((row, i) => sub.set(xHost.subarray(row * d, (row + 1) * d), i * d));
        const [xs, scores] = tf.tidy(() => {
          const xb = tf.tensor(sub, [m, ...shape]);
          const yb = tf.tensor1d(
            Int32Array.from(rows, (row) => y[row]),
            'int32',
          );
          const tb = tf.tensor1d(
            Int32Array.from(rows, (row) => order[row][r]),
            'int32',
          );
          const cand = stepper
            ? apgdRunStepGraph(
                {
                  x: xb,
                  eps: ctx.eps,
                  bounds: ctx.bounds,
                  rng: ctx.rng,
                  numClasses: k,
                  t: oneHot(Int32Array.from(rows, (row) => order[row][r])),
                  u: oneHot(Int32Array.from(rows, (row) => y[row])),
                  dir: 1,
                  goal: Int32Array.from(rows, (row) => y[row]),
                  targeted: false,
                },
                this.settings,
                stepper,
              )
            : apgdRun(
                {
                  f: ctx.f,
                  x: xb,
                  eps: ctx.eps,
                  bounds: ctx.bounds,
                  rng: ctx.rng,
                  objective: (logits) => dlrTargetedLoss(logits, yb, tb),
                  succeeded: (logits) => tf.notEqual(tf.argMax(logits, -1), yb) as tf.Tensor1D,
                },
                this.settings,
              );
          return [cand.x, tf.concat([cand.objective, tf.cast(cand.success, 'float32')])];
        });
        const xv = xs.dataSync() as Float32Array;
        const sv = scores.dataSync() as Float32Array;
        xs.dispose();
        scores.dispose();
        rows.forEach((row, i) => {
          const success = sv[m + i] === 1;
          if (success || sv[i] > best[row]) {
            out.set(xv.subarray(i * d, (i + 1) * d), row * d);
            best[row] = sv[i];
            if (success) found[row] = 1;
          }
        });
      }
    }
    return tf.tensor(out, x.shape);
  }
}

/** Target classes per example: targetClasses, capped at classes - 1 (at least 1). */
export function targetCount(targetClasses: number, classes: number): number {
  return Math.max(1, Math.min(targetClasses, classes - 1));
}

/** The `apgd-t` entry of the attack registry. */
export const apgdTDescriptor: AttackDescriptor = {
  name: 'apgd-t',
  summary: 'APGD on the targeted DLR loss towards each runner-up class in turn (Croce & Hein 2020)',
  family: 'iterative',
  norms: ['linf', 'l2'],
  params: { ...APGD_PARAMS, targetClasses: TARGET_CLASSES_RULE },
  // AutoAttack's standard version: 9 target classes, 100 iterations and 1 run each.
  defaults: () => ({ ...APGD_DEFAULTS, targetClasses: 9 }),
  // The clean forward pass ordering the targets, per target and run an APGD run (steps gradients, one forward pass), the final scoring.
  cost: (p, classes) => {
    const runs = targetCount(p.targetClasses as number, classes) * runsOf(p);
    return attackCost(runs * (p.steps as number), runs + 2);
  },
  loss: () => 'dlr',
  scaleInvariant: () => true,
  argmaxOnly: false,
  invariantCounterpart: () => null,
  make: (norm, p) =>
    new ApgdTargetedAttack({
      norm,
      steps: p.steps as number,
      restarts: p.restarts as number,
      targetClasses: p.targetClasses as number,
      alpha: p.alpha as number,
      rho: p.rho as number,
      randomStart: p.randomStart as boolean,
    }),
};
