/**
 * The attack-overhead bench (bench/attack-overhead.ts): the passes it counts
 * through the engine are the passes the attacks make (the descriptors'
 * cost() where no row is broken), and its ratio is the measured time over
 * the counted passes at the measured per-pass times. Properties, not speed.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { engineClassifier, releaseOnnxModel } from '../../backend/onnx/engine';
import { LayersModelLike } from '../../backend/onnx/compile';
import { attackDescriptor, buildAttack, resolveAttackParams } from '../../attacks/registry';
import { ATTACK_OVERHEAD_TASKS, attackOverheadFigures, countPasses, formatAttackOverhead, overheadRatio } from '../../bench/attack-overhead';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { requireOnnxEngine } from '../backend/engine-setup';

test.before(requireOnnxEngine);

test.serial('the engine counts the passes cost() states for attacks that break no row (tiny eps, labels the clean predictions)', (t) => {
  const b = 6;
  const model = buildModel({ arch: 'mlp', hidden: [8] }, [5], 4, 0);
  const like = model as unknown as LayersModelLike;
  const f = engineClassifier(like);
  const rng = new Rng(2);
  const x = tf.tensor2d(
    Float32Array.from({ length: b * 5 }, () => rng.uniform()),
    [b, 5],
  );
  // Labelled with its own predictions and attacked at eps 1e-4 (a shift far below any margin of this model), no row can be broken: no early stop applies.
  const y = tf.tidy(() => tf.argMax(f(x), -1).dataSync() as Int32Array);
  const cases: [string, Record<string, unknown>][] = [
    ['pgd', { steps: 3 }],
    ['pgd', { steps: 2, restarts: 3 }],
    ['apgd-ce', { steps: 4 }],
    ['apgd-dlr', { steps: 5, restarts: 2 }],
    ['apgd-t', { steps: 3, targetClasses: 2 }],
    ['square', { queries: 7 }],
  ];
  for (const [name, params] of cases) {
    const r = resolveAttackParams({ name, params }, 'linf');
    const c = countPasses(like, b, () => buildAttack(r).run(f, x, y, { lo: 0, hi: 1 }, 1e-4, new Rng(1)));
    t.is(
      c.result.success.reduce((a, s) => a + s, 0),
      0,
      `${name}: nothing broken`,
    );
    c.result.xAdv.dispose();
    const cost = attackDescriptor(name).cost(r.params, 4);
    // The APGD step graph scores each run's last iterate inside its last momentum call (forward and
    // backward in one ORT run), so one forward pass per run of cost() is a gradient pass there.
    const runs = name === 'apgd-t' ? (params.targetClasses as number) : name.startsWith('apgd') ? ((params.restarts as number | undefined) ?? 1) : 0;
    t.deepEqual({ gradient: c.gradient, forward: c.forward }, { gradient: cost.gradient + runs, forward: cost.forward - runs }, `${name} ${JSON.stringify(params)}`);
  }
  x.dispose();
  releaseOnnxModel(like);
  model.dispose();
});

test('the overhead ratio is the measured time over the counted passes at the per-pass times', (t) => {
  t.is(overheadRatio(300, { gradient: 100, forward: 2 }, 2.5, 1), 300 / 252);
  t.is(overheadRatio(10, { gradient: 0, forward: 10 }, 99, 0.5), 2);
});

test.serial('the bench runs the eval attacks, counts their passes and reports the ratio as defined', (t) => {
  const logs: string[] = [];
  const figures = attackOverheadFigures({ arch: 'mlp', hidden: [16] }, 'mlp', { attacks: ['pgd-40', 'apgd-ce'], batches: [4], rounds: 2, eps: 0.05, trainSteps: 2 }, (l) => logs.push(l));
  t.deepEqual(
    figures.map((f) => f.task),
    ['pgd-40', 'apgd-ce'],
  );
  const pgd = figures[0];
  // PGD never stops early: 40 gradient passes and the final scoring (the engine states the number of classes: no one-row probe)
  t.deepEqual([pgd.gradientPasses, pgd.forwardPasses], [40, 1]);
  t.like(pgd.params, { steps: 40, randomStart: true, restarts: 1 });
  t.deepEqual(figures[1].params, resolveAttackParams(ATTACK_OVERHEAD_TASKS['apgd-ce'], 'linf').params);
  for (const f of figures) {
    t.is(f.roundsMs.length, 2);
    t.is(f.load.length, 2);
    t.true(f.meanMs > 0 && f.inputGradMs > 0 && f.forwardMs > 0 && f.stepGradMs > 0, JSON.stringify(f));
    t.is(f.overhead, f.meanMs / (f.gradientPasses * f.inputGradMs + f.forwardPasses * f.forwardMs));
    t.is(f.overheadVsStepGrad, f.meanMs / (f.gradientPasses * f.stepGradMs + f.forwardPasses * f.forwardMs));
    t.true(f.broken >= 0 && f.broken <= 1 && f.cleanAccuracy >= 0 && f.cleanAccuracy <= 1);
    t.is(f.meanMs, [...f.roundsMs].sort((a, b) => a - b).reduce((a, v) => a + v, 0) / 2, 'the median of two rounds');
  }
  t.true(figures[1].gradientPasses <= 101, 'APGD-CE: at most its 100 steps and the start');
  t.regex(formatAttackOverhead(figures), /overhead/);
  t.is(logs.length, 3);
});
