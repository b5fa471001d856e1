import test from 'ava';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { initBackend } from '../../backend/select';

// Accuracy floors of plain ERM on the real MNIST digits (8,000 train / 2,000
// test), at the budgets docs/models-and-training.md reports. They fail if a kernel, the loss
// or the data pipeline is wrong in a way that still lets training run.
test.before(async () => {
  await initBackend('wasm');
});

test.serial('MNIST MLP 784-256-256-10, ERM, 10 epochs: >= 96% test accuracy', (t) => {
  const ds = loadDataset({ name: 'mnist' });
  const m = buildModel({ arch: 'mlp', hidden: [256, 256] }, ds.inputShape, 10, 0);
  const h = trainModel(m, ds, erm({}, ds, new Rng(0)), { learningRate: 1e-3, batchSize: 64, epochs: 10, seed: 0, evalEveryEpoch: false });
  const acc = h[h.length - 1].testAccuracy;
  t.log(`MNIST MLP test accuracy ${acc}`);
  t.true(acc >= 0.96);
});

test.serial('MNIST CNN conv16-pool-conv32-pool-dense, ERM, 3 epochs: >= 97% test accuracy', (t) => {
  const ds = loadDataset({ name: 'mnist' });
  const m = buildModel({ arch: 'cnn', filters: [16, 32] }, ds.inputShape, 10, 0);
  const h = trainModel(m, ds, erm({}, ds, new Rng(0)), { learningRate: 2e-3, batchSize: 64, epochs: 3, seed: 0, evalEveryEpoch: false });
  const acc = h[h.length - 1].testAccuracy;
  t.log(`MNIST CNN test accuracy ${acc}`);
  t.true(acc >= 0.97);
});
