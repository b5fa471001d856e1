/**
 * The extra attack runs behind the sanity checks (batch-size dependence,
 * large eps, doubled steps) and the checks they feed (eval/sanity.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { FgmAttack } from '../attacks/fgm';
import { FgsmAttack } from '../attacks/fgsm';
import { PgdAttack } from '../attacks/pgd';
import { createAttack } from '../attacks/registry';
import { Attack } from '../attacks/types';
import { Classifier } from '../contract/classifier';
import { AttackSummary, SanityFlag, SanityRunRecord } from '../contract/results';
import { Rng } from '../data/rng';
import { Dataset, inputSize } from '../data/types';
import { ResolvedEvalConfig } from './config';
import { mean } from './distribution';
import { ConfidenceOutcome, confidenceConfound, RobustOn, StageOutcome } from './confidence';
import { PerExampleAttack } from './export';
import {
  checkBatchIndependence,
  checkDeterministic,
  checkGradients,
  checkIterativeVsSingleStep,
  checkLargeEps,
  checkMonotone,
  checkNoiseWeaker,
  checkOutcomeBatchIndependence,
  checkOutputsAreLogits,
  checkStepsDoubling,
} from './sanity';

/**
 * Random restarts of the large-eps check. A ball that holds the whole box
 * contains examples of every class, but PGD is local: in low dimensions it
 * stalls in a box corner the model still classifies correctly (measured on
 * two-moons: one start leaves about half the points). Each restart runs on
 * the survivors only, so the cost stays near one run when the attack works.
 */
const LARGE_EPS_RESTARTS = 10;

/** Examples among the first m that are clean-correct and survive every restart of `attack` at `eps`. */
function largeEpsSurvivors(f: Classifier, attack: Attack, dataset: Dataset, m: number, bs: number, eps: number, cleanCorrect: ArrayLike<number>, rng: Rng): number {
  const d = inputSize(dataset.inputShape);
  let alive: number[] = [];
  for (let i = 0; i < m; i++) if (cleanCorrect[i]) alive.push(i);
  for (let r = 0; r < LARGE_EPS_RESTARTS && alive.length > 0; r++) {
    const next: number[] = [];
    for (let s = 0; s < alive.length; s += bs) {
      const rows = alive.slice(s, s + bs);
      const xs = new Float32Array(rows.length * d);
      rows.forEach((row, k) => xs.set(dataset.test.x.subarray(row * d, (row + 1) * d), k * d));
      const xb = tf.tensor(xs, [rows.length, ...dataset.inputShape]);
      try {
        const out = attack.run(
          f,
          xb,
          Int32Array.from(rows, (row) => dataset.test.y[row]),
          dataset.bounds,
          eps,
          rng.fork(`${r}:${s}`),
        );
        out.xAdv.dispose();
        rows.forEach((row, k) => {
          if (!out.success[k]) next.push(row);
        });
      } finally {
        xb.dispose();
      }
    }
    alive = next;
  }
  return alive.length;
}

/** Per-row success of an attack on the test rows `rows`, in batches of bs (batch i draws from rng.fork of its first position). */
export function attackRows(f: Classifier, attack: Attack, dataset: Dataset, rows: readonly number[], bs: number, eps: number, rng: Rng): Uint8Array {
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const success = new Uint8Array(rows.length);
  for (let s = 0; s < rows.length; s += bs) {
    const part = rows.slice(s, s + bs);
    const xs = new Float32Array(part.length * d);
    part.forEach((row, k) => xs.set(dataset.test.x.subarray(row * d, (row + 1) * d), k * d));
    const xb = tf.tensor(xs, [part.length, ...shape]);
    try {
      const out = attack.run(
        f,
        xb,
        Int32Array.from(part, (row) => dataset.test.y[row]),
        dataset.bounds,
        eps,
        rng.fork(`${s}`),
      );
      out.xAdv.dispose();
      success.set(out.success, s);
    } finally {
      xb.dispose();
    }
  }
  return success;
}

/** Robust-correct share of an attack run on the first m examples (clean-correct and still correct). */
export function runAccuracy(f: Classifier, attack: Attack, dataset: Dataset, m: number, bs: number, eps: number, cleanCorrect: ArrayLike<number>, rng: Rng): { accuracy: number; success: Uint8Array } {
  const success = attackRows(
    f,
    attack,
    dataset,
    Array.from({ length: m }, (_, i) => i),
    bs,
    eps,
    rng,
  );
  let correct = 0;
  for (let i = 0; i < m; i++) if (cleanCorrect[i] && !success[i]) correct++;
  return { accuracy: m ? correct / m : NaN, success };
}

/** What the sanity checks flag, and per check that runs attacks what it ran and what it reused (EvalJobResult.sanityRuns). */
export interface SanityOutcome {
  flags: SanityFlag[];
  runs: SanityRunRecord[];
}

/**
 * The sanity checks of a classifier with gradients. Where a check needs an
 * attack outcome the evaluation already computed, it takes it instead of
 * re-running the attack: the batch-size check's large-batch FGSM/FGM run
 * (a configured single-step attack with the same settings, deterministic),
 * the doubled-steps check's base PGD run, the confidence checks' outcomes
 * of scale-invariant attacks and stages (eval/confidence.ts); `runs` says
 * which.
 */
export function runSanity(
  f: Classifier,
  dataset: Dataset,
  c: ResolvedEvalConfig,
  summaries: AttackSummary[],
  perAttack: (PerExampleAttack & { stages?: StageOutcome[] })[],
  cleanAccuracy: number,
  cleanLogits: Float32Array,
  gradL1: Float32Array,
  rng: Rng,
): SanityOutcome {
  const tol = c.sanity.tolerances;
  const m = c.sanity.nExamples;
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const k = dataset.numClasses;
  const bs = c.batchSize;
  const cleanCorrect = new Uint8Array(m);
  for (let i = 0; i < m; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (cleanLogits[i * k + j] > cleanLogits[i * k + best]) best = j;
    cleanCorrect[i] = best === dataset.test.y[i] ? 1 : 0;
  }
  const flags: SanityFlag[] = [];
  const runs: SanityRunRecord[] = [];
  flags.push(...checkGradients(gradL1, tol.zeroGradientShare));
  flags.push(...checkOutputsAreLogits(cleanLogits, k));
  const xs = dataset.test.x.subarray(0, m * d);
  const xFirst = tf.tensor(dataset.test.x.subarray(0, Math.min(m, bs) * d), [Math.min(m, bs), ...shape]);
  try {
    flags.push(...checkDeterministic(f, xFirst));
  } finally {
    xFirst.dispose();
  }
  flags.push(...checkBatchIndependence(f, xs, shape, tol.batchLogits));
  // A deterministic attack's outcomes at two batch sizes.
  const single: Attack = c.norm === 'linf' ? new FgsmAttack() : new FgmAttack();
  const midEps = [...c.eps].sort((a, b) => a - b)[Math.floor(c.eps.length / 2)];
  if (midEps > 0 && m > 1) {
    const label = `${single.name} at ${c.norm} eps ${midEps}`;
    const evaluated = largeBatchOutcome(single, perAttack, midEps, m, dataset.test.y);
    const whole = evaluated ?? runAccuracy(f, single, dataset, m, Math.min(bs, m), midEps, cleanCorrect, rng.fork('batch-a')).success;
    const small = runAccuracy(f, single, dataset, m, Math.max(1, Math.ceil(Math.min(bs, m) / 3)), midEps, cleanCorrect, rng.fork('batch-b'));
    const smallRun = `${single.name}, batches of ${Math.max(1, Math.ceil(Math.min(bs, m) / 3))}`;
    runs.push({
      check: 'batch-dependence',
      at: label,
      reran: evaluated ? [smallRun] : [`${single.name}, batches of ${Math.min(bs, m)}`, smallRun],
      reused: evaluated ? [`${single.name}, batches of ${bs}`] : [],
    });
    flags.push(...checkOutcomeBatchIndependence(whole, small.success, label, { norm: c.norm, eps: midEps }, tol.batchOutcomes));
  }
  flags.push(...checkMonotone(summaries, cleanAccuracy, tol.accuracy));
  flags.push(...checkIterativeVsSingleStep(summaries, tol.accuracy));
  flags.push(...checkNoiseWeaker(summaries, tol.accuracy));

  // PGD as configured (else the registry default) for the large-eps and doubled-steps runs.
  const pgdSpec = c.attacks.find((a) => a.name === 'pgd' && a.norm === c.norm);
  const pgd = createAttack({ name: 'pgd', params: pgdSpec ? { ...pgdSpec.params, norm: c.norm } : { norm: c.norm } }, c.norm) as PgdAttack;
  // The large-eps run scales its step with eps whatever absolute step the user set: a step
  // tuned for eps 0.1 cannot cross a ball of radius 1 in 40 steps.
  const { stepSize: _absolute, ...relative } = pgd.settings;
  // The margin loss: this check asks whether the ball reaches other classes, not whether CE saturates (eval/confidence.ts asks that).
  const pgdLarge = new PgdAttack({ ...relative, randomStart: true, restarts: 1, loss: 'margin' });
  const survivors = largeEpsSurvivors(f, pgdLarge, dataset, m, bs, c.sanity.largeEps, cleanCorrect, rng.fork('large-eps'));
  flags.push(...checkLargeEps(survivors / m, m, c.sanity.largeEps, c.norm, `pgd-${pgd.settings.steps} (margin loss, up to ${LARGE_EPS_RESTARTS} random restarts)`, tol.accuracy));
  runs.push({ check: 'large-eps-not-zero', at: `${c.norm} eps ${c.sanity.largeEps}`, reran: [`pgd-${pgd.settings.steps} (margin loss, restarts on the survivors)`], reused: [] });

  const confidence = confidenceChecks(f, dataset, c, perAttack, cleanCorrect, m, rng.fork('confidence'));
  flags.push(...confidence.flags);
  runs.push(...confidence.runs);

  if (c.sanity.stepsDoubling) {
    // The eps whose PGD robust accuracy is nearest half the clean accuracy: where more steps would show most.
    const pgdRuns = perAttack.filter((r) => r.attack === 'pgd' && r.norm === c.norm && r.eps > 0);
    const accOn = (r: PerExampleAttack) => mean(r.correct.subarray(0, m));
    const cleanM = mean(cleanCorrect);
    let eps: number;
    let baseAcc: number;
    if (pgdRuns.length) {
      const pick = pgdRuns.reduce((a, b) => (Math.abs(accOn(b) - cleanM / 2) < Math.abs(accOn(a) - cleanM / 2) ? b : a));
      eps = pick.eps;
      baseAcc = accOn(pick);
    } else {
      eps = midEps;
      baseAcc = runAccuracy(f, pgd, dataset, m, bs, eps, cleanCorrect, rng.fork('steps-base')).accuracy;
    }
    if (eps > 0) {
      const doubled = new PgdAttack({ ...pgd.settings, steps: 2 * pgd.settings.steps, stepSize: pgd.stepSizeAt(eps) });
      const acc2 = runAccuracy(f, doubled, dataset, m, bs, eps, cleanCorrect, rng.fork('steps-doubled')).accuracy;
      flags.push(...checkStepsDoubling(baseAcc, acc2, m, pgd.settings.steps, eps, c.norm, tol.steps));
      const base = `pgd-${pgd.settings.steps}`;
      runs.push({
        check: 'steps-not-converged',
        at: `${c.norm} eps ${eps}`,
        reran: pgdRuns.length ? [`pgd-${2 * pgd.settings.steps}`] : [base, `pgd-${2 * pgd.settings.steps}`],
        reused: pgdRuns.length ? [base] : [],
      });
    }
  }
  return { flags, runs };
}

/**
 * The large-batch outcome of the batch-size check from the evaluation: a
 * configured attack with the same name, norm and settings as `single`
 * (deterministic: no random start) ran at `eps` in batches of the eval's
 * batch size; per row of the first m its success (prediction changed from
 * the label), or null when none ran.
 */
export function largeBatchOutcome(single: Attack, perAttack: PerExampleAttack[], eps: number, m: number, y: ArrayLike<number>): Uint8Array | null {
  const rec = perAttack.find((r) => r.attack === single.name && r.norm === single.norm && r.eps === eps && JSON.stringify((r as { settings?: unknown }).settings) === JSON.stringify(single.settings));
  if (!rec || rec.pred.length < m) return null;
  return Uint8Array.from({ length: m }, (_, i) => (rec.pred[i] !== y[i] ? 1 : 0));
}

/**
 * The confidence-confound checks (eval/confidence.ts) at the eps whose
 * worst-case robust accuracy on the sanity subset is nearest half the clean
 * accuracy. `reuse` false re-runs every attack on the rescaled logits
 * (tests compare the two).
 */
export function confidenceChecks(
  f: Classifier,
  dataset: Dataset,
  c: ResolvedEvalConfig,
  perAttack: (PerExampleAttack & { stages?: StageOutcome[] })[],
  cleanCorrect: Uint8Array,
  m: number,
  rng: Rng,
  reuse = true,
): ConfidenceOutcome & { eps: number } {
  const epsList = c.eps.filter((e) => e > 0);
  if (!epsList.length || m === 0) return { flags: [], runs: [], worstCase: [], eps: NaN };
  const find = (name: string, norm: string, eps: number) => perAttack.find((r) => r.attack === name && r.norm === norm && r.eps === eps);
  const rows = (name: string, norm: string, eps: number) => find(name, norm, eps)?.correct.subarray(0, m);
  const worstAt = (eps: number): number => {
    const vs = c.attacks.map((a) => rows(a.name, a.norm, eps)).filter((v): v is Uint8Array => v !== undefined);
    if (!vs.length) return NaN;
    let alive = 0;
    for (let i = 0; i < m; i++) if (vs.every((v) => v[i])) alive++;
    return alive / m;
  };
  const half = mean(cleanCorrect) / 2;
  const eps = epsList.reduce((a, b) => (Math.abs(worstAt(b) - half) < Math.abs(worstAt(a) - half) ? b : a));
  const robust = c.attacks.map((a) => rows(a.name, a.norm, eps) ?? new Uint8Array(m));
  const stages = c.attacks.map((a) => find(a.name, a.norm, eps)?.stages?.map((s) => ({ stage: s.stage, robust: s.robust.subarray(0, m) })));
  const robustOn: RobustOn = (g, attack, e, tag, only) => {
    const rowsRun = only ?? Array.from({ length: m }, (_, i) => i);
    const success = attackRows(g, attack, dataset, rowsRun, c.batchSize, e, rng.fork(tag));
    return Uint8Array.from(success, (s, i) => (cleanCorrect[rowsRun[i]] && !s ? 1 : 0));
  };
  return { ...confidenceConfound(f, eps, c.attacks, robust, robustOn, { reuse, stages }), eps };
}
