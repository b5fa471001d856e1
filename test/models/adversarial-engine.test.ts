/**
 * PGD adversarial training on the onnx engine (models/schemes/adversarial.ts):
 * the inner PGD runs one call per iteration of the cross-entropy's step
 * graph with the weights as graph inputs (backend/onnx/step-graph.ts
 * weightsAsInputs), so the weights changing every batch build no new
 * session. Its perturbations must equal the tape path's on the same engine
 * within float rounding.
 */
import test from 'ava';
import { initBackend } from '../../backend/select';
import { engineModelOf, releaseOnnxModel } from '../../backend/onnx/engine';
import { LayersModelLike } from '../../backend/onnx/compile';
import { loadOrt } from '../../backend/onnx/runtime';
import { setStepGraphEnabled, Stepper } from '../../backend/onnx/step-graph';
import { engineClassifier } from '../../backend/onnx/engine';
import { maxRel } from '../../backend/onnx/check';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { buildModel } from '../../models/build';
import { adversarial } from '../../models/schemes/adversarial';
import { Scheme } from '../../models/schemes/types';
import { trainModel } from '../../models/train';
import { Classifier } from '../../contract/classifier';

let sessionsBuilt = 0;

test.before(async () => {
  const info = await initBackend('onnx');
  if (info.name !== 'onnx') throw new Error(`expected the onnx engine, got ${info.name}`);
  // every SyncSession constructs one native InferenceSession: count them
  const b = loadOrt()?.binding as unknown as { InferenceSession: new () => object };
  const Native = b.InferenceSession;
  b.InferenceSession = class extends Native {
    constructor() {
      super();
      sessionsBuilt++;
    }
  };
});

const BATCH = 32;

/** The first `steps` batches of MNIST as the training set (one epoch = `steps` steps). */
function mnistSteps(steps: number): Dataset {
  const full = loadDataset({ name: 'mnist' });
  const n = steps * BATCH;
  return { ...full, train: { x: full.train.x.subarray(0, n * 784), y: full.train.y.subarray(0, n), n }, test: { x: full.test.x.subarray(0, 784), y: full.test.y.subarray(0, 1), n: 1 } };
}

interface Run {
  /** each step's adversarial batch */
  batches: Float32Array[];
  clean: Float32Array[];
  sessions: number;
  /** engine calls made by the training batches' PGD (the training forward/backward excluded) */
  pgdCalls: number;
}

/** One epoch of pgd-at (PGD-7, eps 0.1) from the same initial weights, recording each step's perturbed batch. */
function train(ds: Dataset, stepGraph: boolean): Run {
  const model = buildModel({ arch: 'mlp', hidden: [16] }, ds.inputShape, ds.numClasses, 5);
  const base = adversarial({}, ds, new Rng(0));
  const run: Run = { batches: [], clean: [], sessions: 0, pgdCalls: 0 };
  const scheme: Scheme = {
    ...base,
    makeBatch: (ctx) => {
      const m = engineModelOf(ctx.model as Classifier);
      const r0 = m?.runs ?? 0;
      const b = base.makeBatch(ctx);
      run.pgdCalls += (m?.runs ?? 0) - r0;
      run.batches.push(b.x.dataSync() as Float32Array);
      run.clean.push(ctx.x.dataSync() as Float32Array);
      return b;
    },
  };
  setStepGraphEnabled(stepGraph);
  const s0 = sessionsBuilt;
  try {
    trainModel(model, ds, scheme, { epochs: 1, seed: 0, batchSize: BATCH, evalEveryEpoch: false });
  } finally {
    setStepGraphEnabled(true);
  }
  run.sessions = sessionsBuilt - s0;
  releaseOnnxModel(model as unknown as LayersModelLike);
  model.dispose();
  return run;
}

test.serial('pgd-at on the engine: the step graph (weights as inputs) gives the tape path perturbations within float rounding, one engine call per PGD iteration', (t) => {
  const steps = 4;
  const ds = mnistSteps(steps);
  const fast = train(ds, true);
  const slow = train(ds, false);
  t.is(fast.batches.length, steps);
  for (let s = 0; s < steps; s++) {
    // the perturbations (x_adv - x): a sign flip of a near-zero gradient coordinate would move one coordinate by 2 step sizes
    let worst = 0;
    let moved = 0;
    for (let i = 0; i < fast.batches[s].length; i++) {
      worst = Math.max(worst, Math.abs(fast.batches[s][i] - slow.batches[s][i]));
      if (Math.abs(fast.batches[s][i] - fast.clean[s][i]) > 0.05) moved++;
    }
    t.log(`step ${s + 1}: max |x_adv(step graph) - x_adv(tape)| ${worst.toExponential(1)}, ${moved} coordinates moved by > eps / 2`);
    t.true(worst <= 1e-6, `step ${s + 1}: ${worst}`);
    t.true(moved > fast.batches[s].length / 10, 'the attack moves the inputs (the comparison is not vacuous)');
  }
  t.is(fast.pgdCalls, steps * 7, 'one engine call per PGD iteration');
  t.is(slow.pgdCalls, steps * 7 * 2, 'the tape path: a forward-save and a backward run per iteration');
});

test.serial('pgd-at on the engine builds its step graph session once, however many steps (no rebuild per weight version)', (t) => {
  const short = train(mnistSteps(2), true);
  const long = train(mnistSteps(20), true);
  t.log(`ORT sessions built: ${short.sessions} over 2 steps, ${long.sessions} over 20 steps`);
  t.is(long.sessions, short.sessions);
  // the engine's own training and input-gradient sessions plus one step graph, nothing per step
  t.true(long.sessions <= 8, `${long.sessions}`);
});

test.serial('a step graph with the weights as inputs equals the baked one (pgd, eval, apgd), also after the weights change, in one session', (t) => {
  const model = buildModel({ arch: 'cnn', filters: [4, 8] }, [28, 28, 1], 10, 2);
  const m = engineModelOf(engineClassifier(model as unknown as LayersModelLike));
  if (!m) throw new Error('no engine model');
  const n = 3;
  const rng = new Rng(6);
  const x0 = Float32Array.from({ length: n * 784 }, () => rng.uniform());
  const x = x0.map((v) => Math.min(1, Math.max(0, v + 0.05 * (rng.uniform() - 0.5))));
  const g = Float32Array.from({ length: n * 784 }, () => rng.normal());
  const tRows = Float32Array.from({ length: n * 10 }, (_, i) => (i % 10 === Math.floor(i / 10) ? 1 : 0));
  const inp = { x, x0, t: tRows, step: Float32Array.of(0.01, 0.02, 0.03), dir: 1 as const, eps: 0.1, lo: 0, hi: 1 };
  const outputs = (s: Stepper) => {
    const p = s.step(inp);
    const e = s.evaluate(x, tRows, 1);
    const a = s.momentum({ ...inp, xPrev: x0, g, a: 0.75 });
    return [p.xNext, p.loss, p.logits, e.loss, e.logits, e.grad, a.xNext, a.loss, a.grad];
  };
  const inputs = new Stepper(m, 'linf', 'dlr', true);
  for (const version of ['initial', 'changed']) {
    if (version === 'changed') model.setWeights(model.getWeights().map((w) => tf.mul(w, 1.1)));
    const want = outputs(new Stepper(m, 'linf', 'dlr'));
    const s0 = sessionsBuilt;
    const got = outputs(inputs);
    // built on first use (each build also loads the differentiator's shape probe), never again
    if (version === 'initial') t.true(sessionsBuilt - s0 > 0);
    else t.is(sessionsBuilt - s0, 0, 'new weights, no new session');
    t.log(`${version}: max rel difference ${Math.max(...got.map((v, i) => maxRel(v, want[i]))).toExponential(1)}`);
    // the baked graph is constant-folded by onnxruntime: float rounding differs (the DLR ratio amplifies it)
    got.forEach((v, i) => t.true(maxRel(v, want[i]) <= 1e-4, `${version} output ${i}: ${maxRel(v, want[i])}`));
  }
  releaseOnnxModel(model as unknown as LayersModelLike);
  model.dispose();
});
