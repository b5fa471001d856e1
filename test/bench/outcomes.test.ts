/**
 * bench/outcomes.ts: the per-example comparison, the eval job's attack
 * config, and the eval path (evaluateModelDetailed, several eps, both norms)
 * through the step graph against the tfjs tape on a briefly trained tiny MLP.
 * The attack-level equality (createAttack on one batch, MLP and CNN, targeted
 * too) is test/backend/onnx-step-graph.test.ts; this one covers what the
 * eval job adds: batching, per-key seeds, the worst case.
 */
import test from 'ava';
import { adversarialRow, attackConfigOfSpec, compareOutcomes, explainDifference, stepGraphVsTape } from '../../bench/outcomes';
import { releaseOnnxModel } from '../../backend/onnx/engine';
import { LayersModelLike } from '../../backend/onnx/compile';
import { stepGraphEnabled } from '../../backend/onnx/step-graph';
import { initBackend } from '../../backend/select';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { EvalConfig } from '../../eval/config';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { loadStudy } from '../../suite/config';
import { evalConfigOfSpec, EvalJob } from '../../suite/job-spec';
import { planStudy } from '../../suite/plan';

test('compareOutcomes: robust accuracy both ways, the differing examples and the difference in points', (t) => {
  const a = [
    { key: 'pgd@linf:0.1', correct: Uint8Array.from([1, 0, 1, 1]) },
    { key: 'fgsm@linf:0.1', correct: Uint8Array.from([1, 1, 1, 0]) },
  ];
  const b = [
    { key: 'fgsm@linf:0.1', correct: Uint8Array.from([1, 1, 1, 0]) },
    { key: 'pgd@linf:0.1', correct: Uint8Array.from([0, 0, 1, 0]) },
  ];
  t.deepEqual(compareOutcomes(a, b), [
    { key: 'pgd@linf:0.1', n: 4, stepGraph: 0.75, tape: 0.25, differ: 2, differIndices: [0, 3], points: 50 },
    { key: 'fgsm@linf:0.1', n: 4, stepGraph: 0.75, tape: 0.75, differ: 0, differIndices: [], points: 0 },
  ]);
  t.throws(() => compareOutcomes(a, b.slice(0, 1)), { message: /pgd@linf:0.1/ });
});

test('attackConfigOfSpec: every eval job of the shipped profiles attacks as evalConfigOfSpec says, probes, sanity checks and transfer off', (t) => {
  let jobs = 0;
  for (const profile of ['quick', 'nightly', 'full']) {
    for (const job of planStudy(loadStudy(profile).config, 'onnx').filter((j): j is EvalJob => j.kind === 'eval')) {
      jobs++;
      t.deepEqual(attackConfigOfSpec(job.spec), { ...evalConfigOfSpec(job.spec), probes: false, sanity: { enabled: false }, transfer: [] }, job.id);
    }
  }
  t.true(jobs > 0);
});

test.serial(
  'the eval path gives the same per-example outcomes through the step graph and the tape: fgsm, pgd, apgd-ce, apgd-dlr, apgd-t (linf) and pgd, apgd-ce, apgd-dlr, apgd-t (l2) on a briefly trained MLP',
  async (t) => {
    const info = await initBackend('onnx');
    t.is(info.name, 'onnx');
    const dataset = loadDataset({ name: 'mnist', nTrain: 600, nTest: 120 });
    const model = buildModel({ arch: 'mlp', hidden: [32] }, dataset.inputShape, dataset.numClasses, 0);
    trainModel(model, dataset, erm({}, dataset, new Rng(0)), { epochs: 2, batchSize: 32, seed: 0, evalEveryEpoch: false });
    const f = asClassifier(model);
    const iterative = (steps: number) => ({ steps });
    const configs: EvalConfig[] = [
      {
        norm: 'linf',
        eps: [0.02, 0.05, 0.1],
        attacks: [
          { name: 'fgsm' },
          { name: 'pgd', params: iterative(10) },
          { name: 'apgd-ce', params: iterative(20) },
          { name: 'apgd-dlr', params: iterative(20) },
          { name: 'apgd-t', params: { steps: 10, targetClasses: 2 } },
        ],
      },
      {
        norm: 'l2',
        eps: [0.5, 1],
        attacks: [
          { name: 'pgd', params: iterative(10) },
          { name: 'apgd-ce', params: iterative(20) },
          { name: 'apgd-dlr', params: iterative(20) },
          { name: 'apgd-t', params: { steps: 10, targetClasses: 2 } },
        ],
      },
    ];
    for (const config of configs) {
      const c: EvalConfig = { ...config, nExamples: 100, batchSize: 40, probes: false, sanity: { enabled: false } };
      const r = stepGraphVsTape(f, dataset, c, () => new Rng(7).fork('eval'), 100);
      t.true(stepGraphEnabled(), 'the step graph is on again afterwards');
      // the toggle took: the step graph makes about half the engine calls of the tape (forward-save + backward per iteration)
      t.true(r.engineRuns.stepGraph < 0.7 * r.engineRuns.tape, `engine calls ${r.engineRuns.stepGraph} (step graph) vs ${r.engineRuns.tape} (tape)`);
      t.is(r.rows.length, (c.attacks.length + 1) * c.eps.length, 'every attack@eps and the worst case per eps');
      const clean = r.stepGraph.result.cleanAccuracy;
      for (const row of r.rows) {
        t.log(`${row.key}: ${(100 * row.stepGraph).toFixed(0)}% (step graph) vs ${(100 * row.tape).toFixed(0)}% (tape), clean ${(100 * clean).toFixed(0)}%, ${row.differ} differ`);
        for (const i of r.stepGraph.adversarial?.[row.key] ? row.differIndices : []) {
          // allowed only as float rounding: both paths' gradients agree to rounding, and the example ended near the decision boundary
          const d = 784;
          const e = explainDifference(f, dataset, 40, i, adversarialRow(r.stepGraph, row.key, i, d), adversarialRow(r.tape, row.key, i, d), dataset.test.y[i]);
          t.log(`  example ${i}: ${JSON.stringify(e)}`);
          t.true(e.cleanGradient.maxRelDiff <= 1e-4, `${row.key} example ${i}: gradients differ beyond rounding`);
          t.true(Math.min(Math.abs(e.margin.stepGraph), Math.abs(e.margin.tape)) <= 0.1, `${row.key} example ${i}: not at the decision boundary`);
        }
        t.true(row.differ <= 1, `${row.key}: ${row.differ} outcomes differ`);
      }
      // not vacuous: at the largest eps every attack turns some correct examples
      const largest = Math.max(...c.eps);
      for (const row of r.rows.filter((x) => x.key.endsWith(`:${largest}`))) t.true(row.stepGraph < clean - 0.05, `${row.key} lowers accuracy`);
    }
    // explainDifference on known inputs: one pixel moved by 0.25; the clean gradients of the two paths agree to rounding
    const x0 = dataset.test.x.slice(3 * 784, 4 * 784);
    const x1 = x0.slice();
    x1[400] = x1[400] > 0.5 ? x1[400] - 0.25 : x1[400] + 0.25;
    const e = explainDifference(f, dataset, 40, 3, x0, x1, dataset.test.y[3]);
    t.is(e.pixelsDiffer, 1);
    t.true(Math.abs(e.maxPixelDiff - 0.25) < 1e-6);
    t.true(e.cleanGradient.maxRelDiff <= 1e-4, `clean gradients: ${JSON.stringify(e.cleanGradient)}`);
    const same = explainDifference(f, dataset, 40, 3, x0, x0, dataset.test.y[3]);
    t.is(same.pixelsDiffer, 0);
    t.is(same.margin.stepGraph, same.margin.tape);
    releaseOnnxModel(model as unknown as LayersModelLike);
    model.dispose();
  },
);
