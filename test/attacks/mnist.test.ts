import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateModelDetailed } from '../../eval/evaluate';
import { createAttack } from '../../attacks/registry';
import { Attack } from '../../attacks/types';
import { Rng } from '../../data/rng';
import { Dataset, inputSize } from '../../data/types';
import { asClassifier, evaluateAccuracy } from '../../models/predict';
import { Classifier } from '../../contract/classifier';
import { initBackend } from '../../backend/select';
import { trainedMnistMlp } from '../models/trained-mnist';

// One ERM MLP (256-256, 5 epochs of Adam on 8000 MNIST digits) shared by the tests of this file.
let dataset: Dataset;
let model: tf.LayersModel;
let f: Classifier;
let clean = 0;
const N = 250;

test.before(async () => {
  await initBackend('wasm');
  ({ dataset, model } = trainedMnistMlp(5));
  f = asClassifier(model);
  clean = evaluateAccuracy(f, dataset.test.x.subarray(0, N * 784), dataset.test.y.subarray(0, N), dataset.inputShape, 10);
});

test.after.always(() => model?.dispose());

/** Robust accuracy (clean-correct and still correct) of an attack on the first N test examples. */
function robustAccuracy(attack: Attack, eps: number, seed: number): number {
  const d = inputSize(dataset.inputShape);
  const x = tf.tensor(dataset.test.x.subarray(0, N * d), [N, ...dataset.inputShape]);
  const y = dataset.test.y.slice(0, N);
  const cleanPred = tf.tidy(() => tf.argMax(f(x), -1).dataSync());
  const out = attack.run(f, x, y, dataset.bounds, eps, new Rng(seed));
  let correct = 0;
  for (let i = 0; i < N; i++) if (cleanPred[i] === y[i] && out.pred[i] === y[i]) correct++;
  out.xAdv.dispose();
  x.dispose();
  return correct / N;
}

test('an ERM MLP reaches ~95% and falls to <= 5% under PGD-40 at linf eps 0.3 (Madry et al. protocol)', (t) => {
  t.true(clean >= 0.93, `clean accuracy ${clean}`);
  const acc = robustAccuracy(createAttack({ name: 'pgd' }, 'linf'), 0.3, 1);
  t.log(`clean ${clean}, PGD-40 at 0.3: ${acc}`);
  t.true(acc <= 0.05, `PGD-40 robust accuracy ${acc}`);
});

test('APGD-CE is at least as strong as PGD-40', (t) => {
  for (const eps of [0.05, 0.1, 0.3]) {
    const pgd = robustAccuracy(createAttack({ name: 'pgd' }, 'linf'), eps, 2);
    const apgd = robustAccuracy(createAttack({ name: 'apgd-ce' }, 'linf'), eps, 3);
    t.log(`eps ${eps}: PGD-40 ${pgd}, APGD-CE-100 ${apgd}`);
    // One example of slack for the random starts.
    t.true(apgd <= pgd + 1 / N, `eps ${eps}: APGD ${apgd} vs PGD ${pgd}`);
  }
});

test('evaluateModel: summaries, worst case, probes (train/test/vicinal) and no masking flags on an honest model', (t) => {
  const d = inputSize(dataset.inputShape);
  // Mixup-style vicinal points: convex combinations of training pairs with soft targets.
  const rng = new Rng(5);
  const nv = 40;
  const vx = new Float32Array(nv * d);
  const vt = new Float32Array(nv * 10);
  for (let i = 0; i < nv; i++) {
    const a = rng.int(dataset.train.n);
    const b = rng.int(dataset.train.n);
    const lam = rng.beta(1, 1);
    for (let j = 0; j < d; j++) vx[i * d + j] = lam * dataset.train.x[a * d + j] + (1 - lam) * dataset.train.x[b * d + j];
    vt[i * 10 + dataset.train.y[a]] += lam;
    vt[i * 10 + dataset.train.y[b]] += 1 - lam;
  }
  const before = tf.memory().numTensors;
  const r = evaluateModelDetailed(
    f,
    dataset,
    {
      attacks: [{ name: 'fgsm' }, { name: 'pgd' }, { name: 'noise' }],
      eps: [0.1, 0.3],
      nExamples: N,
      probePoints: 40,
      probes: { eps: [0.1], lipschitz: { steps: 5 } },
      sanity: { nExamples: 100 },
    },
    new Rng(0),
    { vicinal: { x: vx, targets: vt } },
  );
  t.is(tf.memory().numTensors, before);
  const res = r.result;
  t.log(JSON.stringify(r.seconds));
  t.log(res.flags.map((fl) => `${fl.check}: ${fl.message}`).join('\n') || 'no flags');
  t.is(res.n, N);
  t.true(Math.abs(res.cleanAccuracy - clean) < 1e-9);
  t.is(res.attacks.length, 6);
  t.is(res.cleanCorrect.length, N);
  for (const a of res.attacks) {
    const v = res.robustCorrect[`${a.attack}@${a.norm}:${a.eps}`];
    t.is(v.length, N);
    t.is(v.reduce((s, c) => s + c, 0) / N, a.robustAccuracy);
    t.true(a.robustAccuracy <= res.cleanAccuracy);
  }
  for (const w of res.worstCase) {
    const atEps = res.attacks.filter((a) => a.eps === w.eps);
    t.true(w.robustAccuracy <= Math.min(...atEps.map((a) => a.robustAccuracy)));
    t.deepEqual(w.attacks, ['fgsm', 'pgd', 'noise']);
  }
  const pgd03 = res.attacks.find((a) => a.attack === 'pgd' && a.eps === 0.3);
  t.true((pgd03?.robustAccuracy ?? 1) <= 0.05);
  for (const key of ['grad-l1/train', 'grad-l2/test', 'grad-l1/vicinal', 'loss/vicinal', 'local-lipschitz@linf:0.1', 'first-order/ratio@linf:0.1', 'margin', 'margin-first-order']) {
    t.truthy(res.probes[key], key);
  }
  t.is(res.probes['grad-l1/vicinal'].n, nv);
  t.true(res.probes['local-lipschitz@linf:0.1'].median >= res.probes['grad-l1/test'].median);
  const bad = [
    'gradient-masking',
    'noise-stronger',
    'zero-gradients',
    'nan-gradients',
    'large-eps-not-zero',
    'outputs-probabilities',
    'nondeterministic',
    'batch-dependence',
    'non-monotone',
    'out-of-ball',
  ];
  t.deepEqual(
    res.flags.filter((fl) => bad.includes(fl.check)),
    [],
  );
  t.is(r.perExample.attacks.length, 6);
});
