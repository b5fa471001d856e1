/**
 * An eval on the onnx engine records per stage the example rows that went
 * through the network (EvalDetails.passes, the result's stagePasses): for
 * attacks that never stop early they must equal the attack descriptor's
 * cost() times the examples, and an eval off the engine records none.
 */
import test from 'ava';
import { attackDescriptor, resolveAttackParams } from '../../attacks/registry';
import { engineClassifier } from '../../backend/onnx/engine';
import { LayersModelLike } from '../../backend/onnx/compile';
import { initBackend } from '../../backend/select';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { evaluateModelDetailed } from '../../eval/evaluate';
import { buildModel } from '../../models/build';
import { requireOnnxEngine } from '../backend/engine-setup';

test.before(requireOnnxEngine);

test('stage passes on the engine equal the attacks cost() per example; the clean pass is one gradient per example', (t) => {
  const dataset = loadDataset({ name: 'moons', nTest: 90 });
  const model = buildModel({ arch: 'mlp', hidden: [16] }, dataset.inputShape, 2, 3);
  const f = engineClassifier(model as unknown as LayersModelLike);
  const n = 90;
  // eps 1e-4: on an untrained model almost no row breaks, and neither attack stops early anyway (PGD has no early stop, FGSM is one step).
  const attacks = [{ name: 'fgsm' }, { name: 'pgd', params: { steps: 7 } }];
  const r = evaluateModelDetailed(f, dataset, { attacks, eps: [1e-4, 0.2], nExamples: n, batchSize: 40, probes: false, sanity: { enabled: false } }, new Rng(0));
  const passes = r.passes;
  if (!passes) return t.fail('no passes recorded on the engine');
  t.is(passes.clean.gradient, n);
  for (const a of attacks) {
    const cost = attackDescriptor(a.name).cost(resolveAttackParams(a, 'linf').params, 2);
    for (const eps of [1e-4, 0.2]) {
      const key = `${a.name}@linf:${eps}`;
      // per batch (3 batches of 40, 40, 10 rows) the attack's passes; the registry's scoring forward included
      t.deepEqual(passes[key], { gradient: cost.gradient * n, forward: cost.forward * n }, key);
    }
  }
});

test('an eval off the engine records no passes', async (t) => {
  await initBackend('cpu');
  try {
    const dataset = loadDataset({ name: 'moons', nTest: 20 });
    const model = buildModel({ arch: 'mlp', hidden: [8] }, dataset.inputShape, 2, 3);
    const r = evaluateModelDetailed((x) => model.predict(x) as never, dataset, { attacks: [{ name: 'fgsm' }], eps: [0.1], nExamples: 20, probes: false, sanity: { enabled: false } }, new Rng(0));
    t.is(r.passes, undefined);
  } finally {
    await initBackend('onnx');
  }
});
