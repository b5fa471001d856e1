/**
 * Square on the onnx engine (attacks/square-engine.ts): its queries as
 * typed-array forwards with host scoring must give the tfjs path's
 * per-example results on the same engine and seed (margin and DLR bit for
 * bit: same draws, same float32 arithmetic; CE to float rounding of exp and
 * log), stay in the ball, and make the descriptor's number of forward passes.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { engineClassifier, engineModelOf, releaseOnnxModel } from '../../backend/onnx/engine';
import { LayersModelLike } from '../../backend/onnx/compile';
import { setStepGraphEnabled } from '../../backend/onnx/step-graph';
import { createAttack } from '../../attacks/registry';
import { attackObjective, AttackLoss } from '../../attacks/losses';
import { objectiveOnHost, successOnHost } from '../../attacks/square-engine';
import { squareDescriptor } from '../../attacks/square';
import { Rng } from '../../data/rng';
import { Norm } from '../../contract/norms';
import { trainedMnistMlp } from '../models/trained-mnist';

const N = 48;
const QUERIES = 40;

let model: tf.LayersModel;
let f: ReturnType<typeof engineClassifier>;
let xs: Float32Array;
let y: Int32Array;

test.before(async () => {
  const info = await initBackend('onnx');
  if (info.name !== 'onnx') throw new Error(`expected the onnx engine, got ${info.name}`);
  const trained = trainedMnistMlp(1, [32, 16]);
  model = trained.model;
  f = engineClassifier(model as unknown as LayersModelLike);
  xs = trained.dataset.test.x.slice(0, N * 784);
  y = trained.dataset.test.y.slice(0, N);
});

test.after.always(() => {
  releaseOnnxModel(model as unknown as LayersModelLike);
  model.dispose();
});

/** The id the next tfjs tensor gets (ids count up): tensors made in between tell whether queries went through tfjs. */
function nextTensorId(): number {
  const s = tf.scalar(0);
  s.dispose();
  return s.id + 1;
}

function runSquare(engine: boolean, norm: Norm, eps: number, params: Record<string, unknown>, targets?: Int32Array) {
  setStepGraphEnabled(engine);
  try {
    const id0 = nextTensorId();
    const runs0 = engineModelOf(f)?.runs ?? 0;
    const x = tf.tensor(xs, [N, 28, 28, 1]);
    const out = createAttack({ name: 'square', params }, norm).run(f, x, y, { lo: 0, hi: 1 }, eps, new Rng(7), targets ? { targets } : {});
    const adv = out.xAdv.dataSync() as Float32Array;
    out.xAdv.dispose();
    x.dispose();
    const forwards = (engineModelOf(f)?.runs ?? 0) - runs0;
    return { adv, success: out.success, forwards, tensors: nextTensorId() - id0 };
  } finally {
    setStepGraphEnabled(true);
  }
}

/** Largest per-row Linf or L2 size of adv - x, and whether adv stays inside [0, 1]. */
function ballAndBounds(adv: Float32Array, norm: Norm): { size: number; inBounds: boolean } {
  const d = 784;
  let size = 0;
  let inBounds = true;
  for (let r = 0; r < N; r++) {
    let s = 0;
    for (let k = r * d; k < (r + 1) * d; k++) {
      const v = adv[k] - xs[k];
      s = norm === 'linf' ? Math.max(s, Math.abs(v)) : s + v * v;
      if (!(adv[k] >= 0 && adv[k] <= 1)) inBounds = false;
    }
    size = Math.max(size, norm === 'linf' ? s : Math.sqrt(s));
  }
  return { size, inBounds };
}

const CASES: { norm: Norm; schedule: string; loss: AttackLoss; targeted?: boolean }[] = [
  { norm: 'linf', schedule: 'reference', loss: 'margin' },
  { norm: 'linf', schedule: 'vicinal-rescaled', loss: 'margin' },
  { norm: 'l2', schedule: 'reference', loss: 'margin' },
  { norm: 'l2', schedule: 'vicinal-rescaled', loss: 'margin' },
  { norm: 'linf', schedule: 'reference', loss: 'dlr' },
  { norm: 'l2', schedule: 'vicinal-rescaled', loss: 'dlr', targeted: true },
  { norm: 'linf', schedule: 'vicinal-rescaled', loss: 'margin', targeted: true },
  { norm: 'linf', schedule: 'reference', loss: 'ce' },
  { norm: 'l2', schedule: 'reference', loss: 'ce', targeted: true },
];

for (const { norm, schedule, loss, targeted } of CASES) {
  test.serial(`${norm} ${schedule} ${loss}${targeted ? ' targeted' : ''}: the engine path gives the tfjs path's results, in the ball, with the descriptor's forward count`, (t) => {
    const eps = norm === 'linf' ? 0.08 : 1.2;
    const params = { queries: QUERIES, loss, schedule };
    const targets = targeted ? Int32Array.from(y, (v) => (v + 3) % 10) : undefined;
    const fast = runSquare(true, norm, eps, params, targets);
    const slow = runSquare(false, norm, eps, params, targets);
    const broken = fast.success.reduce((a, v) => a + v, 0);
    t.log(`${broken}/${N} broken, ${fast.forwards} forwards, ${fast.tensors} tfjs tensors made (engine path) vs ${slow.forwards}, ${slow.tensors} (tfjs path)`);
    // the engine path's queries make no tfjs tensor (only run()'s setup, probe and final scoring do)
    t.true(fast.tensors <= 100 && slow.tensors > 5 * QUERIES, 'the two paths are the two implementations');
    t.true(broken > 0 && broken < N, `${broken}/${N} broken: the comparison needs both outcomes`);
    t.deepEqual(fast.success, slow.success, 'per-example success');
    let maxDiff = 0;
    let differing = 0;
    for (let i = 0; i < fast.adv.length; i++) {
      const dv = Math.abs(fast.adv[i] - slow.adv[i]);
      if (dv > 0) differing++;
      maxDiff = Math.max(maxDiff, dv);
    }
    // margin and DLR: bit for bit; CE: exp and log from JS instead of the tfjs backend, equal up to their rounding
    if (loss === 'ce') t.true(maxDiff <= 1e-6, `max |adv diff| ${maxDiff}`);
    else t.is(differing, 0, `${differing} coordinates differ (max ${maxDiff})`);
    const { size, inBounds } = ballAndBounds(fast.adv, norm);
    t.true(size <= eps * (1 + 1e-5), `perturbation ${size} > eps ${eps}`);
    t.true(inBounds, 'inside [0, 1]');
    // the clean query, the queries, the final scoring (the descriptor's forward cost while some row is unbroken),
    // (an engine model states its number of classes: no one-row probe pass)
    const cost = squareDescriptor.cost({ queries: QUERIES }, 10);
    t.is(fast.forwards, cost.forward);
    t.is(slow.forwards, cost.forward);
  });
}

test.serial('early stop: once every row is broken no further query runs, on both paths alike', (t) => {
  const params = { queries: 200, loss: 'margin', schedule: 'reference' };
  const fast = runSquare(true, 'linf', 0.5, params);
  const slow = runSquare(false, 'linf', 0.5, params);
  t.is(
    fast.success.reduce((a, v) => a + v, 0),
    N,
    'eps 0.5 breaks every row',
  );
  t.deepEqual(fast.adv, slow.adv);
  t.is(fast.forwards, slow.forwards);
  t.true(fast.forwards < squareDescriptor.cost(params, 10).forward, `${fast.forwards} forwards: the search stopped early`);
});

test.serial('host objective and success equal attackObjective and the argmax test on logits with ties (margin, DLR bit for bit; CE within 1e-6)', (t) => {
  const rng = new Rng(3);
  const m = 64;
  const k = 10;
  const logits = new Float32Array(m * k);
  // coarse values so that ties (in the maximum, the runner-up and the third) are common
  for (let i = 0; i < logits.length; i++) logits[i] = Math.round(rng.uniform() * 8) * 0.75 - 3;
  const classes = Int32Array.from({ length: m }, () => rng.int(k));
  const targets = Int32Array.from(classes, (c) => (c + 1 + rng.int(k - 1)) % k);
  for (const loss of ['margin', 'dlr', 'ce'] as AttackLoss[]) {
    for (const tg of [null, targets]) {
      const host = new Float32Array(m);
      objectiveOnHost(loss, logits, k, classes, tg, host);
      const ref = tf.tidy(() => {
        const z = tf.tensor2d(logits, [m, k]);
        return attackObjective(loss, z, tf.tensor1d(classes, 'int32'), tg ? tf.tensor1d(tg, 'int32') : null).dataSync() as Float32Array;
      });
      let maxDiff = 0;
      for (let r = 0; r < m; r++) maxDiff = Math.max(maxDiff, Math.abs(host[r] - ref[r]));
      if (loss === 'ce') t.true(maxDiff <= 1e-6, `${loss} targeted=${tg !== null}: ${maxDiff}`);
      else t.deepEqual(host, Float32Array.from(ref), `${loss} targeted=${tg !== null}`);
      const ok = new Uint8Array(m);
      successOnHost(logits, k, classes, tg, ok);
      const refOk = tf.tidy(() => {
        const pred = tf.argMax(tf.tensor2d(logits, [m, k]), -1);
        return (tg ? tf.equal(pred, tf.tensor1d(tg, 'int32')) : tf.notEqual(pred, tf.tensor1d(classes, 'int32'))).dataSync() as Uint8Array;
      });
      t.deepEqual(ok, Uint8Array.from(refOk));
    }
  }
});
