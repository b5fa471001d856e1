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
import { AttackSummary, SanityFlag } from '../contract/results';
import { Rng } from '../data/rng';
import { Dataset, inputSize } from '../data/types';
import { ResolvedEvalConfig } from './config';
import { mean } from './distribution';
import { confidenceConfoundFlags } from './confidence';
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

/** Robust-correct share of an attack run on the first m examples (clean-correct and still correct). */
export function runAccuracy(f: Classifier, attack: Attack, dataset: Dataset, m: number, bs: number, eps: number, cleanCorrect: ArrayLike<number>, rng: Rng): { accuracy: number; success: Uint8Array } {
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const success = new Uint8Array(m);
  let correct = 0;
  for (let s = 0; s < m; s += bs) {
    const e = Math.min(m, s + bs);
    const xb = tf.tensor(dataset.test.x.subarray(s * d, e * d), [e - s, ...shape]);
    try {
      const out = attack.run(f, xb, dataset.test.y.slice(s, e), dataset.bounds, eps, rng.fork(`${s}`));
      out.xAdv.dispose();
      for (let r = 0; r < e - s; r++) {
        success[s + r] = out.success[r];
        if (cleanCorrect[s + r] && !out.success[r]) correct++;
      }
    } finally {
      xb.dispose();
    }
  }
  return { accuracy: m ? correct / m : NaN, success };
}

export function runSanity(
  f: Classifier,
  dataset: Dataset,
  c: ResolvedEvalConfig,
  summaries: AttackSummary[],
  perAttack: PerExampleAttack[],
  cleanAccuracy: number,
  cleanLogits: Float32Array,
  gradL1: Float32Array,
  rng: Rng,
): SanityFlag[] {
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
    const whole = runAccuracy(f, single, dataset, m, Math.min(bs, m), midEps, cleanCorrect, rng.fork('batch-a'));
    const small = runAccuracy(f, single, dataset, m, Math.max(1, Math.ceil(Math.min(bs, m) / 3)), midEps, cleanCorrect, rng.fork('batch-b'));
    flags.push(...checkOutcomeBatchIndependence(whole.success, small.success, `${single.name} at eps ${midEps}`, tol.batchOutcomes));
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

  flags.push(...confidenceChecks(f, dataset, c, perAttack, cleanCorrect, m, rng.fork('confidence')));

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
    }
  }
  return flags;
}

/**
 * The confidence-confound checks (eval/confidence.ts) at the eps whose
 * worst-case robust accuracy on the sanity subset is nearest half the clean
 * accuracy.
 */
function confidenceChecks(f: Classifier, dataset: Dataset, c: ResolvedEvalConfig, perAttack: PerExampleAttack[], cleanCorrect: Uint8Array, m: number, rng: Rng): SanityFlag[] {
  const epsList = c.eps.filter((e) => e > 0);
  if (!epsList.length || m === 0) return [];
  const rows = (name: string, norm: string, eps: number) => perAttack.find((r) => r.attack === name && r.norm === norm && r.eps === eps)?.correct.subarray(0, m);
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
  const robustOn = (g: Classifier, attack: Attack, e: number, tag: string): Uint8Array => {
    const { success } = runAccuracy(g, attack, dataset, m, c.batchSize, e, cleanCorrect, rng.fork(tag));
    return Uint8Array.from(success, (s, i) => (cleanCorrect[i] && !s ? 1 : 0));
  };
  return confidenceConfoundFlags(f, eps, c.attacks, robust, robustOn);
}
