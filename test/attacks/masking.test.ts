import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { evaluateModel } from '../../eval/evaluate';
import { EvalConfig } from '../../eval/config';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { Classifier } from '../../contract/classifier';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { initBackend } from '../../backend/select';

let dataset: Dataset;
let model: tf.LayersModel;
let f: Classifier;

test.before(async () => {
  await initBackend('wasm');
  dataset = loadDataset({ name: 'moons' });
  model = buildModel({ arch: 'mlp', hidden: [32, 32] }, dataset.inputShape, dataset.numClasses, 0);
  trainModel(model, dataset, erm({}, dataset, new Rng(0)), { epochs: 20, seed: 0, evalEveryEpoch: false, learningRate: 0.01 });
  f = asClassifier(model);
});

test.after.always(() => model?.dispose());

// PGD with step 2.5 eps / steps: the Madry MNIST default (eps / 30, 40 steps,
// random start) travels only 4/3 eps, too little to reach the corners of the
// box in 2D, and is weaker than FGSM on moons, which the sanity checks rightly
// flag (see the note in attacks/registry.ts).
const config: EvalConfig = {
  attacks: [{ name: 'fgsm' }, { name: 'pgd', params: { relStepSize: 2.5 / 40 } }, { name: 'noise' }],
  eps: [0.1, 0.3, 0.5],
  nExamples: 300,
  probes: { enabled: false },
};

const MASKING = ['gradient-masking', 'noise-stronger', 'large-eps-not-zero'];

test('an honest model raises no masking or zero-gradient flags', (t) => {
  const r = evaluateModel(f, dataset, config, new Rng(0));
  t.log(`clean ${r.cleanAccuracy}; ${r.attacks.map((a) => `${a.attack}@${a.eps}=${a.robustAccuracy}`).join(' ')}`);
  t.true(r.cleanAccuracy > 0.95);
  const flags = r.flags.map((fl) => fl.check);
  t.false(flags.includes('zero-gradients'));
  t.deepEqual(
    flags.filter((c) => MASKING.includes(c)),
    [],
  );
});

test('a gradient-masked model (logits rounded: zero gradients) raises the zero-gradient and masking flags', (t) => {
  // Rounding to 1/100 keeps the predictions (up to ties) but its gradient is exactly zero.
  const masked: Classifier = (x) => tf.tidy(() => tf.div(tf.round(tf.mul(f(x), 100)), 100) as tf.Tensor2D);
  const r = evaluateModel(masked, dataset, config, new Rng(0));
  t.log(`clean ${r.cleanAccuracy}; ${r.attacks.map((a) => `${a.attack}@${a.eps}=${a.robustAccuracy}`).join(' ')}`);
  t.log(r.flags.map((fl) => `${fl.check}: ${fl.message}`).join('\n'));
  t.true(r.cleanAccuracy > 0.9);
  const flags = r.flags.map((fl) => fl.check);
  t.true(flags.includes('zero-gradients'));
  t.true(flags.includes('noise-stronger'));
});

test('the Madry step size (eps / 30, 40 steps from a random start) is weaker than FGSM on moons, and the check says so', (t) => {
  const madry = { name: 'pgd', params: { relStepSize: 1 / 30 } };
  const r = evaluateModel(f, dataset, { ...config, attacks: [{ name: 'fgsm' }, madry], eps: [0.3, 0.5], sanity: { stepsDoubling: false } }, new Rng(0));
  t.log(r.flags.map((fl) => `${fl.check}: ${fl.message}`).join('\n'));
  t.true(r.flags.some((fl) => fl.check === 'gradient-masking'));
});
