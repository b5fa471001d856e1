import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { localLipschitz } from '../../eval/probes';
import { createAttack } from '../../attacks/registry';
import { pgdPerturb } from '../../attacks/pgd';
import { Rng } from '../../data/rng';
import { initBackend } from '../../backend/select';
import { randomLabels, smallModel, uniformRows } from './helpers';

test.before(async () => {
  await initBackend('wasm');
});

const bounds = { lo: 0, hi: 1 };

test('no leaks: the tensor count is the same after 1 and after 100 iterations (PGD, APGD-CE/DLR/T, FAB-T, Square, AutoAttack, noise, restarts, Lipschitz ascent)', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [16] }, [8], 3, 1);
  const rng = new Rng(0);
  const x = tf.tensor2d(uniformRows(32, 8, bounds, rng), [32, 8]);
  const y = randomLabels(32, 3, rng);
  const targets = tf.oneHot(tf.tensor1d(y, 'int32'), 3).toFloat() as tf.Tensor2D;
  const base = tf.memory().numTensors;
  const after = (fn: () => void): number => {
    fn();
    return tf.memory().numTensors - base;
  };
  for (const [name, params] of [
    ['pgd', (steps: number) => ({ steps })],
    ['pgd', (steps: number) => ({ steps, restarts: 3 })],
    ['apgd-ce', (steps: number) => ({ steps })],
    ['noise', (steps: number) => ({ draws: steps })],
    ['pgd', (steps: number) => ({ steps, loss: 'dlr' })],
    ['apgd-dlr', (steps: number) => ({ steps })],
    ['apgd-t', (steps: number) => ({ steps, targetClasses: 2 })],
    ['square', (steps: number) => ({ queries: steps })],
    ['fab-t', (steps: number) => ({ steps, targetClasses: 2, restarts: 2 })],
    ['autoattack', (steps: number) => ({ steps, targetClasses: 2, queries: steps })],
  ] as const) {
    const counts = [1, 100].map((steps) =>
      after(() => {
        const out = createAttack({ name, params: params(steps) }, 'linf').run(f, x, y, bounds, 0.1, rng);
        out.xAdv.dispose();
      }),
    );
    t.deepEqual(counts, [0, 0], `${name} ${JSON.stringify(params(1))}`);
  }
  const raw = [1, 100].map((steps) => after(() => pgdPerturb(f, x, targets, bounds, { norm: 'l2', eps: 0.5, steps }, rng).dispose()));
  t.deepEqual(raw, [0, 0]);
  const xs = uniformRows(8, 8, bounds, rng);
  const ys = randomLabels(8, 3, rng);
  const lip = [1, 30].map((steps) => after(() => localLipschitz(f, xs, ys, [8], 3, bounds, 0.1, 'linf', { steps })));
  t.deepEqual(lip, [0, 0]);
  tf.dispose([x, targets]);
  model.dispose();
});

test('no leaks when double backprop is unavailable (max pooling) and the probe falls back to finite differences', (t) => {
  const { model, f } = smallModel({ arch: 'cnn', filters: [2, 2], kernelSize: 3 }, [8, 8, 1], 3, 2);
  const rng = new Rng(1);
  const x = uniformRows(4, 64, bounds, rng);
  const y = randomLabels(4, 3, rng);
  const base = tf.memory().numTensors;
  const r = localLipschitz(f, x, y, [8, 8, 1], 3, bounds, 0.1, 'linf', { steps: 2 });
  t.is(r.method, 'finite-difference');
  t.is(tf.memory().numTensors, base);
  model.dispose();
});
