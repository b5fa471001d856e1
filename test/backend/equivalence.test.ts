import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import test from 'ava';
import { createAttack } from '../../attacks/registry';
import { registerWasmKernels, restoreStockWasmKernels } from '../../backend/kernels/wasm';
import { initBackend } from '../../backend/select';
import { Classifier } from '../../contract/classifier';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { trainedMnistMlp } from '../models/trained-mnist';

// End-to-end backend equivalence on an over-confident model: an ERM MLP (256-256, 3 epochs on
// 8,000 MNIST digits) whose logits are multiplied by 10. Its input gradients sit at 1e-23..1e-7
// on most test points: exactly where the stock wasm Sign returned 0 and left points unattacked.
const N = 200;
const SCALE = 10;
let dataset: Dataset;
let weights: { values: Float32Array; shape: number[] }[] = [];

test.before(async () => {
  await initBackend('wasm');
  const trained = trainedMnistMlp(3);
  dataset = trained.dataset;
  const model = trained.model;
  weights = model.getWeights().map((w) => ({ values: Float32Array.from(w.dataSync()), shape: w.shape }));
  model.dispose();
});

test.afterEach.always(async () => {
  registerWasmKernels();
  await tf.setBackend('wasm');
});

/** The trained MLP as a function of tensors created on the current backend, logits times SCALE. */
function scaledMlp(): { f: Classifier; dispose: () => void } {
  const w = weights.map((v) => tf.tensor(v.values, v.shape));
  const f: Classifier = (x) =>
    tf.tidy(() => {
      let h: tf.Tensor2D = tf.reshape(x, [x.shape[0], -1]);
      for (let i = 0; i < w.length; i += 2) {
        h = tf.add(tf.matMul(h, w[i] as tf.Tensor2D), w[i + 1]);
        if (i + 2 < w.length) h = tf.relu(h);
      }
      return tf.mul(h, SCALE);
    });
  return { f, dispose: () => tf.dispose(w) };
}

interface Outcome {
  fgsmPred: Int32Array;
  pgdRobust: number;
  clean: number;
}

/** FGSM at eps 0.1 (per-example predictions) and PGD-10 at eps 0.1 (robust accuracy) on the current backend. */
function attackHere(): Outcome {
  const { f, dispose } = scaledMlp();
  const x = tf.tensor(dataset.test.x.subarray(0, N * 784), [N, ...dataset.inputShape]);
  const y = dataset.test.y.slice(0, N);
  const cleanPred = tf.tidy(() => tf.argMax(f(x), -1).dataSync() as Int32Array);
  const fgsm = createAttack({ name: 'fgsm' }, 'linf').run(f, x, y, dataset.bounds, 0.1, new Rng(1));
  const pgd = createAttack({ name: 'pgd', params: { steps: 10, relStepSize: 0.25 } }, 'linf').run(f, x, y, dataset.bounds, 0.1, new Rng(2));
  let robust = 0;
  let clean = 0;
  for (let i = 0; i < N; i++) {
    if (cleanPred[i] === y[i]) clean++;
    if (cleanPred[i] === y[i] && pgd.pred[i] === y[i]) robust++;
  }
  tf.dispose([x, fgsm.xAdv, pgd.xAdv]);
  dispose();
  return { fgsmPred: fgsm.pred, pgdRobust: robust / N, clean: clean / N };
}

function agreement(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

test.serial('over-confident model: wasm and cpu agree on FGSM per example (>= 99.5%) and on PGD robust accuracy (<= 1 point)', async (t) => {
  const wasm = attackHere();
  await tf.setBackend('cpu');
  const cpu = attackHere();
  const agree = agreement(wasm.fgsmPred, cpu.fgsmPred);
  t.log(`clean ${wasm.clean} (wasm) ${cpu.clean} (cpu); FGSM eps 0.1 agreement ${(100 * agree).toFixed(1)}%; PGD-10 robust ${wasm.pgdRobust} (wasm) vs ${cpu.pgdRobust} (cpu)`);
  t.is(wasm.clean, cpu.clean);
  t.true(agree >= 0.995, `FGSM agreement ${agree}`);
  t.true(Math.abs(wasm.pgdRobust - cpu.pgdRobust) <= 0.01, `PGD ${wasm.pgdRobust} vs ${cpu.pgdRobust}`);
});

test.serial('the same comparison fails with the stock wasm Sign (the check is sensitive to the defect)', async (t) => {
  restoreStockWasmKernels(['Sign']);
  const stock = attackHere();
  await tf.setBackend('cpu');
  const cpu = attackHere();
  const agree = agreement(stock.fgsmPred, cpu.fgsmPred);
  t.log(`stock wasm Sign: FGSM agreement ${(100 * agree).toFixed(1)}%; PGD-10 robust ${stock.pgdRobust} (stock wasm) vs ${cpu.pgdRobust} (cpu)`);
  t.true(agree < 0.995 || Math.abs(stock.pgdRobust - cpu.pgdRobust) > 0.01);
});
