import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateModelDetailed } from '../../eval/evaluate';
import { VicinalSource } from '../../eval/probes';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { Classifier } from '../../contract/classifier';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { initBackend } from '../../backend/select';
import { UsageError } from '../../contract/errors';

let dataset: Dataset;
const models: tf.LayersModel[] = [];
let target: Classifier;
let source: Classifier;

test.before(async () => {
  await initBackend('wasm');
  dataset = loadDataset({ name: 'moons', nTest: 300 });
  for (const seed of [0, 1]) {
    const m = buildModel({ arch: 'mlp', hidden: [32, 32] }, dataset.inputShape, 2, seed);
    trainModel(m, dataset, erm({}, dataset, new Rng(seed)), { epochs: 15, seed, evalEveryEpoch: false, learningRate: 0.01 });
    models.push(m);
  }
  [target, source] = models.map(asClassifier);
});

test.after.always(() => models.forEach((m) => m.dispose()));

test('transfer attacks from another model are weaker than white-box PGD; vicinal points come from a draw callback', (t) => {
  // A vicinity in the style of scheme.vicinity(point, n, rng): Gaussian jitter of a training point, its one-hot label.
  let calls = 0;
  const vicinal: VicinalSource = {
    size: dataset.train.n,
    draw: (point, n, rng) => {
      calls++;
      const x = new Float32Array(n * 2);
      const tg = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) {
        x[2 * i] = dataset.train.x[2 * point] + 0.1 * rng.normal();
        x[2 * i + 1] = dataset.train.x[2 * point + 1] + 0.1 * rng.normal();
        tg[2 * i + dataset.train.y[point]] = 1;
      }
      return { x: tf.tensor2d(x, [n, 2]), targets: tf.tensor2d(tg, [n, 2]) };
    },
  };
  const before = tf.memory().numTensors;
  const progress: string[] = [];
  const r = evaluateModelDetailed(
    target,
    dataset,
    {
      attacks: [{ name: 'pgd', params: { relStepSize: 2.5 / 40 } }],
      eps: [0.2, 0.4],
      nExamples: 300,
      transfer: [{ source: 'seed1', attack: { name: 'pgd', params: { relStepSize: 2.5 / 40 } } }],
      probePoints: 40,
      probes: { vicinalPerPoint: 5, lipschitz: { steps: 3 } },
      sanity: { enabled: false },
    },
    new Rng(0),
    { sources: { seed1: source }, vicinal, onProgress: (p) => progress.push(p.stage) },
  );
  t.is(tf.memory().numTensors, before);
  t.is(calls, 8);
  t.is(r.result.probes['grad-l2/vicinal'].n, 40);
  const acc = (attack: string, eps: number) => r.result.attacks.find((a) => a.attack === attack && a.eps === eps)?.robustAccuracy ?? NaN;
  for (const eps of [0.2, 0.4]) {
    t.log(`eps ${eps}: white-box ${acc('pgd', eps)}, transfer ${acc('transfer:seed1', eps)}`);
    t.true(acc('transfer:seed1', eps) >= acc('pgd', eps) - 0.01);
    t.true(acc('transfer:seed1', eps) < r.result.cleanAccuracy);
  }
  t.deepEqual(
    r.result.worstCase.map((w) => w.attacks),
    [
      ['pgd', 'transfer:seed1'],
      ['pgd', 'transfer:seed1'],
    ],
  );
  t.true(progress.includes('attack') && progress.includes('probes'));
  t.is(r.result.attacks.find((a) => a.attack === 'transfer:seed1')?.settings.source, 'seed1');
});

test('evaluation config errors are UsageErrors', (t) => {
  const bad: [object, RegExp][] = [
    [{ attacks: [{ name: 'pgd' }], eps: [0.1], transfer: [{ source: 'nope', attack: { name: 'pgd' } }] }, /transfer source "nope" has no model/],
    [{ attacks: [], eps: [0.1] }, /non-empty list/],
    [{ attacks: [{ name: 'pgd' }, { name: 'pgd' }], eps: [0.1] }, /listed twice/],
    [{ attacks: [{ name: 'pgd' }], eps: [0.1], nExamples: 0 }, /nExamples 0/],
    [{ attacks: [{ name: 'pgd' }], eps: [-1] }, /eps value -1/],
    [{ attacks: [{ name: 'pgd' }], eps: [0.1], norm: 'l7' }, /allowed: linf, l2/],
  ];
  for (const [config, msg] of bad) {
    const e = t.throws(() => evaluateModelDetailed(target, dataset, config as never, new Rng(0)), { instanceOf: UsageError });
    t.regex(e?.message ?? '', msg);
  }
});
