import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Bounds } from '../data/types';
import { Classifier } from '../contract/classifier';
import { Norm } from '../contract/norms';
import { ApgdAttack, apgdCeDescriptor } from './apgd';
import { ApgdTargetedAttack, apgdTDescriptor } from './apgd-t';
import { validateAttackCall, requireInt } from './base';
import { crossEntropyPerExample } from './losses';
import { FAB_T_STANDARD, FabTargetedAttack, fabTDescriptor } from './fab-t';
import { SQUARE_SCHEDULES, SquareAttack, SquareSchedule, squareDescriptor } from './square';
import { Attack, AttackDescriptor, attackCost, AttackOutput, AttackRunOptions, AttackStageLog, assertInBall, STEPS_RULE, TARGET_CLASSES_RULE } from './types';

export interface AutoAttackSettings {
  norm: Norm;
  /** Iterations of APGD-CE, of each APGD-T run and of each FAB-T run. Standard version: 100. */
  steps: number;
  /** APGD-T's and FAB-T's target classes per example (capped at classes - 1). Standard version: 9. */
  targetClasses: number;
  /** Square's queries per example. Standard version: 5000. */
  queries: number;
  /** Square's initial window share. Standard version: 0.8. */
  pInit: number;
  /** Square's schedule (attacks/square.ts): "reference" in the standard version, or vicinal's stronger "vicinal-rescaled". */
  squareSchedule: SquareSchedule;
}

/** AutoAttack's standard version (Croce & Hein 2020): the budgets of its stages. */
export const AUTOATTACK_STANDARD = { steps: 100, targetClasses: 9, queries: 5000, pInit: 0.8, squareSchedule: 'reference' } as const;

/** "standard" when every budget is the standard version's, else "custom" (reports show it: "autoattack (standard)"). */
export function autoAttackVariant(s: Omit<AutoAttackSettings, 'norm'>): 'standard' | 'custom' {
  const std: Record<string, unknown> = AUTOATTACK_STANDARD;
  return Object.entries(std).every(([k, v]) => (s as unknown as Record<string, unknown>)[k] === v) ? 'standard' : 'custom';
}

/**
 * AutoAttack (Croce & Hein 2020), the standard version: APGD-CE (1 run
 * from a random start), then APGD-T (targeted DLR towards each of the top
 * `targetClasses` other classes, 1 run each), then FAB-T (the same targets,
 * 1 run each, a row broken only at distance <= eps), then Square (margin
 * loss, `queries` queries, the reference schedule), each stage attacking
 * only the rows that every earlier stage left correctly classified.
 * Untargeted only. Settings record `variant`: "standard" with the standard
 * budgets, else "custom" (reports label it "autoattack (standard)" or
 * "autoattack (custom)"; the result key stays "autoattack@<norm>:<eps>").
 *
 * The output is the per-example worst case over the stages: the point of
 * the stage that broke the row, or for a row that survived every stage the
 * stage point with the highest cross-entropy; misclassified clean rows are
 * returned unchanged. `log` holds the robust accuracy after each stage (the
 * first entry is the clean accuracy), so the last entry equals the share of
 * rows the output leaves correct. Settings record every stage's settings.
 */
export class AutoAttack implements Attack {
  readonly name = 'autoattack';
  readonly norm: Norm;
  readonly settings: Readonly<Record<string, unknown>>;
  /** The stages, in order. */
  readonly stages: readonly Attack[];

  constructor(settings: AutoAttackSettings) {
    requireInt('autoattack', 'steps', settings.steps, 1);
    requireInt('autoattack', 'targetClasses', settings.targetClasses, 1);
    requireInt('autoattack', 'queries', settings.queries, 1);
    const { norm, steps, targetClasses } = settings;
    this.norm = norm;
    this.stages = [
      new ApgdAttack({ norm, steps, restarts: 1, alpha: 0.75, rho: 0.75, randomStart: true, loss: 'ce' }),
      new ApgdTargetedAttack({ norm, steps, restarts: 1, targetClasses, alpha: 0.75, rho: 0.75, randomStart: true }),
      new FabTargetedAttack({ ...FAB_T_STANDARD, norm, steps, targetClasses }),
      new SquareAttack({ norm, queries: settings.queries, pInit: settings.pInit, loss: 'margin', schedule: settings.squareSchedule }),
    ];
    this.settings = { ...settings, variant: autoAttackVariant(settings), stages: this.stages.map((s) => ({ name: s.name, ...s.settings })) };
  }

  run(f: Classifier, x: tf.Tensor, y: Int32Array, bounds: Bounds, eps: number, rng: Rng, options: AttackRunOptions = {}): AttackOutput {
    if (options.targets) throw new Error('autoattack: untargeted only; call it without targets');
    validateAttackCall(this.name, f, x, y, bounds, eps);
    const b = x.shape[0];
    const shape = x.shape.slice(1);
    const d = b ? x.size / b : 0;
    let t0 = Date.now();
    let pred = new Int32Array(0);
    let loss = new Float32Array(0);
    if (b > 0) {
      const clean = tf.tidy(() => {
        const logits = f(x);
        const labels = tf.oneHot(tf.tensor1d(y, 'int32'), logits.shape[1]).toFloat() as tf.Tensor2D;
        return tf.concat([tf.cast(tf.argMax(logits, -1), 'float32'), crossEntropyPerExample(logits, labels)]);
      });
      const v = clean.dataSync() as Float32Array;
      clean.dispose();
      pred = Int32Array.from(v.subarray(0, b));
      loss = v.slice(b);
    }
    const xHost = (x.dataSync() as Float32Array).slice();
    const out = xHost.slice();
    const robust = Uint8Array.from(pred, (p, i) => (p === y[i] ? 1 : 0));
    const count = () => robust.reduce((a, v) => a + v, 0);
    const log: AttackStageLog[] = [];
    const record = (stage: string, attacked: number) => {
      const r = count();
      log.push({ stage, robustAccuracy: b ? r / b : NaN, robust: r, n: b, attacked, seconds: (Date.now() - t0) / 1000, robustRows: robust.slice() });
    };
    record('clean', b);
    for (const stage of this.stages) {
      t0 = Date.now();
      const stageRng = rng.fork(stage.name);
      const rows: number[] = [];
      for (let i = 0; i < b; i++) if (robust[i]) rows.push(i);
      if (rows.length) {
        const sub = new Float32Array(rows.length * d);
        rows.forEach((row, i) => sub.set(xHost.subarray(row * d, (row + 1) * d), i * d));
        const xs = tf.tensor(sub, [rows.length, ...shape]);
        let o: AttackOutput;
        try {
          o = stage.run(
            f,
            xs,
            Int32Array.from(rows, (row) => y[row]),
            bounds,
            eps,
            stageRng,
          );
        } finally {
          xs.dispose();
        }
        const xv = o.xAdv.dataSync() as Float32Array;
        o.xAdv.dispose();
        rows.forEach((row, i) => {
          if (o.success[i] || o.loss[i] > loss[row]) {
            out.set(xv.subarray(i * d, (i + 1) * d), row * d);
            pred[row] = o.pred[i];
            loss[row] = o.loss[i];
          }
          if (o.success[i]) robust[row] = 0;
        });
      }
      record(stage.name, rows.length);
    }
    const success = Uint8Array.from(pred, (p, i) => (p !== y[i] ? 1 : 0));
    for (let i = 0; i < b; i++) {
      if (success[i] === robust[i]) throw new Error(`autoattack: row ${i} is counted ${robust[i] ? 'robust' : 'broken'} but predicted ${pred[i]} with label ${y[i]}`);
    }
    const xAdv = tf.tensor(out, x.shape);
    try {
      assertInBall(xAdv, x, eps, this.norm, bounds, this.name);
    } catch (e) {
      xAdv.dispose();
      throw e;
    }
    return { xAdv, success, loss, pred, log };
  }
}

/** The `autoattack` entry of the attack registry. */
export const autoattackDescriptor: AttackDescriptor = {
  name: 'autoattack',
  summary: 'AutoAttack standard version: APGD-CE, then APGD-T, FAB-T and Square on the survivors',
  family: 'composite',
  norms: ['linf', 'l2'],
  params: {
    steps: STEPS_RULE,
    targetClasses: TARGET_CLASSES_RULE,
    queries: { kind: 'int', min: 1, max: 1000000 },
    pInit: { kind: 'number', above: 0, max: 1 },
    squareSchedule: { kind: 'enum', values: SQUARE_SCHEDULES },
  },
  defaults: () => ({ ...AUTOATTACK_STANDARD }),
  // The clean forward pass, APGD-CE on every row, APGD-T, FAB-T and Square on the `survivors` share; each stage as its descriptor counts it.
  cost: (p, classes, survivors = 1) => {
    const ce = apgdCeDescriptor.cost({ steps: p.steps, restarts: 1, randomStart: true }, classes);
    const later = [
      apgdTDescriptor.cost({ steps: p.steps, restarts: 1, randomStart: true, targetClasses: p.targetClasses }, classes),
      fabTDescriptor.cost({ ...FAB_T_STANDARD, steps: p.steps, targetClasses: p.targetClasses }, classes),
      squareDescriptor.cost({ queries: p.queries, schedule: p.squareSchedule }, classes),
    ];
    const sum = (k: 'gradient' | 'forward') => later.reduce((a, c) => a + c[k], 0);
    return attackCost(ce.gradient + survivors * sum('gradient'), 1 + ce.forward + survivors * sum('forward'));
  },
  loss: () => null,
  // APGD-T (targeted DLR), FAB-T (a logit difference) and Square (margin) ignore the logits' scale.
  scaleInvariant: () => true,
  argmaxOnly: false,
  invariantCounterpart: () => null,
  make: (norm, p) =>
    new AutoAttack({
      norm,
      steps: p.steps as number,
      targetClasses: p.targetClasses as number,
      queries: p.queries as number,
      pInit: p.pInit as number,
      squareSchedule: p.squareSchedule as SquareSchedule,
    }),
};
