/**
 * What the step graph saves the probes and adversarial training on the onnx
 * engine, interleaved round by round in one process (each variant sees the
 * same machine load, in alternating order; medians over rounds):
 *
 * - probes: runProbes (the eval's probe stage: gradient norms, local
 *   Lipschitz at each eps, first-order check, margins) on an ERM MNIST MLP
 *   256-256 trained 1 epoch on the engine, linf, eps 0.1 and 0.3, 200 points,
 *   through the step graph vs the tape path on the same engine.
 * - pgd-at: `steps` training steps of the adversarial scheme (PGD-7, eps 0.1,
 *   batch 128, MNIST MLP 256-256) per variant: "tape" (the inner PGD on the
 *   tfjs tape, two engine runs per iteration), "baked" (the step graph with
 *   the weights baked in: rebuilt every step), "inputs" (the step graph with
 *   the weights as inputs, the scheme's default). Also counts the ORT
 *   sessions each variant builds.
 *
 *   npm run build --silent && node dist/bench/probes-engine.js [--rounds 3] [--steps 20]
 */
import * as tf from '@tensorflow/tfjs';
import { pgdPerturb, PgdConfig } from '../attacks/pgd';
import { engineModelOf, releaseOnnxModel } from '../backend/onnx/engine';
import type { LayersModelLike } from '../backend/onnx/compile';
import { loadOrt } from '../backend/onnx/runtime';
import { setStepGraphEnabled } from '../backend/onnx/step-graph';
import { initBackend } from '../backend/select';
import { loadDataset } from '../data/registry';
import { Rng } from '../data/rng';
import { Dataset } from '../data/types';
import { runProbes } from '../eval/probes';
import { buildModel } from '../models/build';
import { oneHot } from '../models/loss';
import { asClassifier } from '../models/predict';
import { adversarial } from '../models/schemes/adversarial';
import { erm } from '../models/schemes/erm';
import { Scheme } from '../models/schemes/types';
import { trainModel } from '../models/train';
import { arg, median } from './script-args';

/** Counts ORT session builds (every SyncSession constructs one native InferenceSession). */
function countSessionBuilds(): () => number {
  const ort = loadOrt();
  if (!ort) throw new Error('onnxruntime-node is not available');
  const b = ort.binding as unknown as { InferenceSession: new () => object };
  const Native = b.InferenceSession;
  let built = 0;
  b.InferenceSession = class extends (Native as new () => object) {
    constructor() {
      super();
      built++;
    }
  } as unknown as typeof Native;
  return () => built;
}

async function main(): Promise<void> {
  const rounds = Number(arg('rounds', '3'));
  const steps = Number(arg('steps', '20'));
  await initBackend('onnx');
  const builds = countSessionBuilds();
  const full = loadDataset({ name: 'mnist' });
  const batch = 128;
  const d = 784;
  const small: Dataset = {
    ...full,
    train: { x: full.train.x.subarray(0, steps * batch * d), y: full.train.y.subarray(0, steps * batch), n: steps * batch },
    test: { x: full.test.x.subarray(0, 10 * d), y: full.test.y.subarray(0, 10), n: 10 },
  };

  // the probe stage's model
  const probeModel = buildModel({ arch: 'mlp', hidden: [256, 256] }, full.inputShape, full.numClasses, 0);
  trainModel(probeModel, full, erm({}, full, new Rng(0)), { epochs: 1, seed: 0, evalEveryEpoch: false });
  const f = asClassifier(probeModel);
  const test = { x: full.test.x.subarray(0, 500 * d), y: full.test.y.subarray(0, 500) };

  const base = adversarial({}, small, new Rng(0));
  const cfgOf = (weightsAsInputs: boolean): PgdConfig => ({
    norm: 'linf',
    eps: 0.1,
    steps: 7,
    stepSize: (base.settings as { stepSize: number }).stepSize,
    randomStart: true,
    loss: 'ce',
    weightsAsInputs,
  });
  const bakedScheme: Scheme = {
    ...base,
    makeBatch: ({ x, y, rng, model }) => {
      const targets = oneHot(y, small.numClasses);
      return { x: pgdPerturb(model, x, targets, small.bounds, cfgOf(false), rng), targets };
    },
  };
  const times: Record<string, number[]> = {};
  const counts: Record<string, string> = {};
  const record = (k: string, ms: number) => (times[k] ??= []).push(ms);
  for (let r = 0; r < rounds; r++) {
    // the order alternates round by round (neither variant always runs first)
    for (const fast of r % 2 ? [true, false] : [false, true]) {
      setStepGraphEnabled(fast);
      const runs0 = engineModelOf(f)?.runs ?? 0;
      const t0 = process.hrtime.bigint();
      runProbes(f, full, test, 'linf', [0.1, 0.3], {}, new Rng(1));
      record(`probes ${fast ? 'step graph' : 'tape'}`, Number(process.hrtime.bigint() - t0) / 1e6);
      counts[`probes ${fast ? 'step graph' : 'tape'}`] = `${(engineModelOf(f)?.runs ?? 0) - runs0} engine calls`;
      setStepGraphEnabled(true);
    }
    for (const variant of r % 2 ? (['inputs', 'baked', 'tape'] as const) : (['tape', 'baked', 'inputs'] as const)) {
      const model = buildModel({ arch: 'mlp', hidden: [256, 256] }, small.inputShape, small.numClasses, 0);
      setStepGraphEnabled(variant !== 'tape');
      const b0 = builds();
      const t0 = process.hrtime.bigint();
      trainModel(model, small, variant === 'baked' ? bakedScheme : base, { epochs: 1, seed: 0, batchSize: batch, evalEveryEpoch: false });
      record(`pgd-at ${variant}`, Number(process.hrtime.bigint() - t0) / 1e6 / steps);
      counts[`pgd-at ${variant}`] = `${builds() - b0} ORT sessions built over ${steps} steps`;
      setStepGraphEnabled(true);
      releaseOnnxModel(model as unknown as LayersModelLike);
      model.dispose();
    }
    console.error(`round ${r + 1}/${rounds} done`);
  }
  for (const [k, v] of Object.entries(times))
    console.log(
      `${k.padEnd(20)} median ${k.startsWith('probes') ? `${(median(v) / 1000).toFixed(2)} s` : `${median(v).toFixed(0)} ms/step`} (${v.map((x) => x.toFixed(0)).join(', ')} ms)  ${counts[k]}`,
    );
  tf.disposeVariables();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
