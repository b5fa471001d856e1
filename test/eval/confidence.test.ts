import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { Classifier } from '../../contract/classifier';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { attackLoss, scaleInvariantCounterpart, scaleLogits } from '../../eval/confidence';
import { EvalConfig } from '../../eval/config';
import { evaluateModel } from '../../eval/evaluate';
import { trainedMnistMlpOnWasm } from '../models/trained-mnist';

// The confidence confound: an ERM MNIST MLP whose logits are multiplied by 100 has the same
// predictions, so the same true robustness, but CE attacks see a saturated loss.
let dataset: Dataset;
let model: tf.LayersModel;
let f: Classifier;

test.before(async () => {
  ({ dataset, model, f } = await trainedMnistMlpOnWasm(3));
});

test.after.always(() => model?.dispose());

const base: Omit<EvalConfig, 'attacks'> = { eps: [0.1], nExamples: 100, batchSize: 100, probes: { enabled: false }, sanity: { nExamples: 100, stepsDoubling: false } };
const checksOf = (flags: { check: string }[]) => flags.map((x) => x.check).filter((c) => c === 'logit-scale-dependence' || c === 'ce-saturation');

test('the losses of attacks and their scale-invariant counterparts', (t) => {
  t.is(attackLoss({ name: 'pgd', norm: 'linf', params: {} }), 'ce', 'the registry default, as the settings record it');
  t.is(attackLoss({ name: 'noise', norm: 'linf', params: {} }), null);
  t.is(attackLoss({ name: 'pgd', norm: 'linf', params: { loss: 'ce' } }), 'ce');
  t.is(attackLoss({ name: 'apgd-ce', norm: 'linf', params: {} }), 'ce');
  t.is(attackLoss({ name: 'apgd-t', norm: 'linf', params: {} }), 'dlr');
  t.deepEqual(scaleInvariantCounterpart({ name: 'pgd', norm: 'linf', params: { loss: 'ce', steps: 10 } }), { name: 'pgd', params: { loss: 'margin', steps: 10, norm: 'linf' } });
  t.deepEqual(scaleInvariantCounterpart({ name: 'apgd-ce', norm: 'l2', params: { steps: 50 } }), { name: 'apgd-dlr', params: { steps: 50, norm: 'l2' } });
  t.is(scaleInvariantCounterpart({ name: 'noise', norm: 'linf', params: {} }), null);
  t.is(scaleInvariantCounterpart({ name: 'pgd', norm: 'linf', params: { loss: 'margin' } }), null);
});

test('scaling the logits changes no prediction', (t) => {
  const x = tf.tensor(dataset.test.x.subarray(0, 50 * 784), [50, 28, 28, 1]);
  const a = tf.tidy(() => tf.argMax(f(x), -1).dataSync());
  const b = tf.tidy(() => tf.argMax(scaleLogits(f, 100)(x), -1).dataSync());
  x.dispose();
  t.deepEqual(Array.from(a), Array.from(b));
});

test('on logits x100 under CE-PGD alone both confound flags fire', (t) => {
  const r = evaluateModel(scaleLogits(f, 100), dataset, { ...base, attacks: [{ name: 'pgd', params: { steps: 20 } }] }, new Rng(1));
  t.log(r.attacks.map((a) => `${a.attack}@${a.eps}=${a.robustAccuracy}`).join(' '));
  t.log(
    r.flags
      .filter((x) => checksOf([x]).length)
      .map((x) => `${x.check}: ${x.message}`)
      .join('\n'),
  );
  t.deepEqual(checksOf(r.flags).sort(), ['ce-saturation', 'logit-scale-dependence']);
  // each carries the norm and the ε it was checked at, the very double of the configured list
  const eps = r.flags.filter((x) => checksOf([x]).length).map((x) => x.eps);
  t.is(new Set(eps).size, 1);
  t.true((base.eps as number[]).includes(eps[0] as number));
  for (const x of r.flags.filter((y) => checksOf([y]).length)) {
    t.is(x.norm, 'linf');
    t.true(x.message.includes(`linf eps ${x.eps} `), x.message);
  }
});

test('on the same model under the autoattack preset neither flag fires', (t) => {
  const r = evaluateModel(scaleLogits(f, 100), dataset, { ...base, attacks: [{ name: 'autoattack', params: { steps: 20, targetClasses: 3, queries: 300 } }] }, new Rng(2));
  t.log(r.attacks.map((a) => `${a.attack}@${a.eps}=${a.robustAccuracy}`).join(' '));
  t.log(r.flags.map((x) => `${x.check}: ${x.message}`).join('\n'));
  t.deepEqual(checksOf(r.flags), []);
});
