import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { apgdRun } from '../../attacks/apgd';
import { worstOfCandidates } from '../../attacks/base';
import { FgsmAttack } from '../../attacks/fgsm';
import { attackObjective } from '../../attacks/losses';
import { createAttack } from '../../attacks/registry';
import { Classifier } from '../../contract/classifier';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { scaleInvariantAttack, scaleLogits } from '../../eval/confidence';
import { EvalConfig } from '../../eval/config';
import { evaluateModelDetailed } from '../../eval/evaluate';
import { attackRows, confidenceChecks, largeBatchOutcome, runAccuracy } from '../../eval/sanity-runs';
import { trainedMnistMlpOnWasm } from '../models/trained-mnist';

// Every reuse of the sanity checks against recomputing, on a trained MNIST MLP (issue 22 part 3).
let dataset: Dataset;
let model: tf.LayersModel;
let f: Classifier;

test.before(async () => {
  ({ dataset, model, f } = await trainedMnistMlpOnWasm(3));
});

test.after.always(() => model?.dispose());

const M = 100;
const base: Omit<EvalConfig, 'attacks'> = { eps: [0.1], nExamples: M, batchSize: M, probes: { enabled: false }, sanity: { enabled: false, nExamples: M } };
const countingCalls = (g: Classifier): { g: Classifier; calls: () => number } => {
  let n = 0;
  return {
    g: (x) => {
      n++;
      return g(x);
    },
    calls: () => n,
  };
};
const diff = (a: Uint8Array, b: Uint8Array): number => a.reduce((s, v, i) => s + (v !== b[i] ? 1 : 0), 0);
const checks = (flags: { check: string }[]): string[] => flags.map((x) => x.check).sort();

/** The evaluation's own runs, then checks (a) and (b) with and without reuse. */
function confidenceBothWays(g: Classifier, attacks: EvalConfig['attacks']) {
  const details = evaluateModelDetailed(g, dataset, { ...base, attacks }, new Rng(7));
  const cleanCorrect = Uint8Array.from(details.result.cleanCorrect.slice(0, M));
  const run = (reuse: boolean) => confidenceChecks(g, dataset, details.config, details.perExample.attacks, cleanCorrect, M, new Rng(9), reuse);
  return { reused: run(true), full: run(false) };
}

test('scale invariance: DLR and margin attacks give the same outcomes on f and on c·f from the same seed; CE does not', (t) => {
  const rows = Array.from({ length: M }, (_, i) => i);
  for (const spec of [
    { name: 'apgd-dlr', params: { steps: 20 } },
    { name: 'pgd', params: { steps: 10, loss: 'margin' } },
  ]) {
    t.true(scaleInvariantAttack({ name: spec.name, norm: 'linf', params: spec.params }));
    const attack = createAttack(spec, 'linf');
    const onF = attackRows(f, attack, dataset, rows, M, 0.1, new Rng(3));
    for (const c of [100, 1 / 100]) {
      const onScaled = attackRows(scaleLogits(f, c), attack, dataset, rows, M, 0.1, new Rng(3));
      t.log(`${spec.name}: ${diff(onF, onScaled)} of ${M} outcomes differ at scale ${c}`);
      t.true(diff(onF, onScaled) <= 1, `${spec.name} at scale ${c}: outcomes may differ by float rounding only`);
    }
  }
  t.false(scaleInvariantAttack({ name: 'pgd', norm: 'linf', params: {} }));
  t.false(scaleInvariantAttack({ name: 'apgd-ce', norm: 'linf', params: {} }));
  t.false(scaleInvariantAttack({ name: 'autoattack', norm: 'linf', params: {} }));
  t.true(scaleInvariantAttack({ name: 'square', norm: 'linf', params: {} }), 'square ascends the margin by default');
  t.true(scaleInvariantAttack({ name: 'apgd-t', norm: 'linf', params: {} }));
});

test('check (a) reusing the scale-invariant attacks gives the flags and worst cases of re-running them', (t) => {
  const g = scaleLogits(f, 100);
  const { reused, full } = confidenceBothWays(g, [
    { name: 'pgd', params: { steps: 10 } },
    { name: 'fgsm', params: { loss: 'margin' } },
  ]);
  t.log(reused.flags.map((x) => x.message).join('\n'));
  const scaleRuns = (r: typeof reused) => r.runs.filter((x) => x.check === 'logit-scale-dependence');
  t.deepEqual(
    scaleRuns(reused).map((x) => [x.reran, x.reused]),
    [
      [['pgd'], ['fgsm']],
      [['pgd'], ['fgsm']],
    ],
  );
  t.deepEqual(
    scaleRuns(full).map((x) => [x.reran, x.reused]),
    [
      [['pgd', 'fgsm'], []],
      [['pgd', 'fgsm'], []],
    ],
  );
  t.deepEqual(checks(reused.flags), checks(full.flags));
  t.true(checks(reused.flags).includes('logit-scale-dependence'), 'the saturated CE attack drives the worst case at scale 1/100 only');
  reused.worstCase.forEach((w, k) => {
    t.is(w.scale, full.worstCase[k].scale);
    t.log(`scale ${w.scale}: ${diff(w.robust, full.worstCase[k].robust)} of ${M} worst-case outcomes differ (re-run's random starts)`);
    t.true(diff(w.robust, full.worstCase[k].robust) <= 2);
  });
});

test('check (a) on autoattack re-runs only its CE stage, and the invariant stages on the rows they never saw; same flags as re-running it whole', (t) => {
  const g = scaleLogits(f, 100);
  const { reused, full } = confidenceBothWays(g, [{ name: 'autoattack', params: { steps: 20, targetClasses: 3, queries: 200 } }]);
  const scaleRuns = reused.runs.filter((x) => x.check === 'logit-scale-dependence');
  t.log(scaleRuns.map((x) => `${x.at}: reran ${x.reran.join(', ')}; reused ${x.reused.join(', ')}`).join('\n'));
  for (const r of scaleRuns) {
    t.regex(r.reran[0], /^autoattack:apgd-ce \(\d+ of 100 rows\)$/, 'the CE stage on the clean-correct rows');
    t.deepEqual(r.reused, ['autoattack:apgd-t', 'autoattack:fab-t', 'autoattack:square']);
    // the invariant stages ran only on some rows, if at all
    for (const s of r.reran.slice(1)) t.regex(s, /^autoattack:(apgd-t|fab-t|square) \(\d+ of 100 rows\)$/);
  }
  t.deepEqual(
    full.runs.filter((x) => x.check === 'logit-scale-dependence').map((x) => x.reran),
    [['autoattack'], ['autoattack']],
  );
  t.deepEqual(checks(reused.flags), checks(full.flags));
  reused.worstCase.forEach((w, k) => {
    t.log(`scale ${w.scale}: ${diff(w.robust, full.worstCase[k].robust)} of ${M} worst-case outcomes differ`);
    t.true(diff(w.robust, full.worstCase[k].robust) <= 2);
  });
});

test('check (b) reusing a configured scale-invariant counterpart gives the flag of re-running it', (t) => {
  const g = scaleLogits(f, 100);
  const { reused, full } = confidenceBothWays(g, [
    { name: 'apgd-ce', params: { steps: 20 } },
    { name: 'apgd-dlr', params: { steps: 20 } },
  ]);
  const ce = (r: typeof reused) => r.runs.filter((x) => x.check === 'ce-saturation').map((x) => [x.reran, x.reused]);
  t.deepEqual(ce(reused), [[[], ['apgd-ce', 'apgd-dlr']]]);
  t.deepEqual(ce(full), [[['apgd-dlr'], ['apgd-ce']]]);
  t.log(reused.flags.map((x) => x.message).join('\n'));
  t.true(checks(reused.flags).includes('ce-saturation'), 'APGD-CE is saturated on 100·f, APGD-DLR is not');
  t.deepEqual(checks(reused.flags), checks(full.flags));
});

test('the batch-size check reuses a configured FGSM run: the same outcomes as re-running it', (t) => {
  const details = evaluateModelDetailed(f, dataset, { ...base, eps: [0.05, 0.1, 0.2], nExamples: 150, batchSize: 150, attacks: [{ name: 'fgsm' }] }, new Rng(7));
  const cleanCorrect = Uint8Array.from(details.result.cleanCorrect);
  const single = new FgsmAttack();
  const reused = largeBatchOutcome(single, details.perExample.attacks, 0.1, M, dataset.test.y);
  if (!reused) return t.fail('the configured fgsm run was not found');
  const rerun = runAccuracy(f, single, dataset, M, M, 0.1, cleanCorrect, new Rng(1)).success;
  t.deepEqual(Array.from(reused), Array.from(rerun), 'the evaluated batch of 150 and a re-run batch of 100 agree row by row');
  t.true(reused.some((v) => v === 1) && reused.some((v) => v === 0));
  t.is(largeBatchOutcome(new FgsmAttack('margin'), details.perExample.attacks, 0.1, M, dataset.test.y), null, 'other settings: nothing to reuse');
  const withSanity = evaluateModelDetailed(
    f,
    dataset,
    { ...base, eps: [0.05, 0.1, 0.2], nExamples: 150, batchSize: 150, attacks: [{ name: 'fgsm' }], sanity: { nExamples: M, stepsDoubling: false } },
    new Rng(7),
  );
  t.deepEqual(
    withSanity.result.sanityRuns?.find((r) => r.check === 'batch-dependence'),
    { check: 'batch-dependence', at: 'fgsm at linf eps 0.1', reran: ['fgsm, batches of 34'], reused: ['fgsm, batches of 150'] },
  );
});

test('APGD runs and restarts stop once every row is misclassified, with the same points as running on', (t) => {
  const b = 60;
  const x = tf.tensor(dataset.test.x.subarray(0, b * 784), [b, 28, 28, 1]);
  const y = tf.tensor1d(dataset.test.y.slice(0, b), 'int32');
  const settings = { norm: 'linf' as const, steps: 40, alpha: 0.75, rho: 0.75, randomStart: true };
  const run = (stop: boolean) => {
    const counted = countingCalls(f);
    const rng = new Rng(5);
    const xs = tf.tidy(() =>
      worstOfCandidates(
        3,
        () =>
          apgdRun(
            {
              f: counted.g,
              x,
              eps: 0.3,
              bounds: dataset.bounds,
              rng,
              objective: (z) => attackObjective('ce', z, y, null),
              succeeded: (z) => tf.notEqual(tf.argMax(z, -1), y) as tf.Tensor1D,
            },
            settings,
            stop,
          ),
        stop,
      ),
    );
    const data = xs.dataSync().slice();
    xs.dispose();
    return { data, calls: counted.calls() };
  };
  const stopped = run(true);
  const full = run(false);
  tf.dispose([x, y]);
  t.log(`classifier calls: ${stopped.calls} with the stop, ${full.calls} without`);
  t.true(stopped.calls < full.calls / 3, 'at eps 0.3 every digit falls within a few iterations');
  t.deepEqual(stopped.data, full.data, 'the same adversarial points, bit for bit');
});
