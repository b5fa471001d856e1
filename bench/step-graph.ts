/**
 * What the engine's step graph (backend/onnx/step-graph.ts, one engine call
 * per attack iteration) saves: per-iteration time of PGD-40 and APGD-CE-100
 * through the step graph and through the tfjs-tape path on the same engine,
 * in network passes, i.e. divided by the time of one bare input gradient of
 * the CE (`input-grad`, the bench's figure) at the same batch. Untrained
 * MNIST-shaped MLP 256-256 and CNN 16-32, random inputs and labels, linf eps
 * 0.3, random start; APGD runs every iteration (no early stop). The variants
 * are interleaved round by round so that each sees the same machine load; the
 * median over rounds is reported.
 *
 *   npm run build --silent && node dist/bench/step-graph.js [--rounds 3] [--batches 128,512] [--models mlp,cnn] [--out FILE]
 *
 * With --outcomes it instead checks "no weaker evaluation": the quick
 * profile's eval attacks (fgsm, pgd, apgd-ce, apgd-dlr; eps 0.05-0.3; 500
 * test digits; probes and sanity off) on an ERM MNIST MLP 256-256 trained
 * --epochs, once through the step graph and once through the tape path on
 * the same engine, same seeds; prints each attack's robust accuracy both
 * ways and the per-example agreement.
 *
 *   node dist/bench/step-graph.js --outcomes [--epochs 3]
 *
 * bench/outcomes.ts does the same for every eval job of a finished run, on
 * its trained models, with each job's own config and seeds.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import { apgdRun, apgdRunStepGraph, apgdStepProblem, APGD_DEFAULTS } from '../attacks/apgd';
import { AttackContext } from '../attacks/base';
import { lossInputGradient } from '../attacks/gradients';
import { attackObjective } from '../attacks/losses';
import { pgdPerturb } from '../attacks/pgd';
import { engineClassifier, engineModelOf, releaseOnnxModel } from '../backend/onnx/engine';
import type { LayersModelLike } from '../backend/onnx/compile';
import { setStepGraphEnabled, stepperFor } from '../backend/onnx/step-graph';
import { initBackend } from '../backend/select';
import { Rng } from '../data/rng';
import { buildModel } from '../models/build';
import { loadDataset } from '../data/registry';
import { evaluateModelDetailed } from '../eval/evaluate';
import { asClassifier } from '../models/predict';
import { erm } from '../models/schemes/erm';
import { trainModel } from '../models/train';
import { BENCH_MODEL_SPECS, arg, median, timeMs } from './script-args';

/** The --outcomes check (see the module comment). */
function outcomes(): void {
  const dataset = loadDataset({ name: 'mnist' });
  const model = buildModel(BENCH_MODEL_SPECS.mlp, dataset.inputShape, dataset.numClasses, 0);
  trainModel(model, dataset, erm({}, dataset, new Rng(0)), { epochs: Number(arg('epochs', '3')), seed: 0, evalEveryEpoch: false });
  const f = asClassifier(model);
  const run = (on: boolean) => {
    setStepGraphEnabled(on);
    const t0 = Date.now();
    const r = evaluateModelDetailed(
      f,
      dataset,
      { attacks: ['fgsm', 'pgd', 'apgd-ce', 'apgd-dlr'].map((name) => ({ name })), eps: [0.05, 0.1, 0.2, 0.3], nExamples: 500, probes: { enabled: false }, sanity: { enabled: false } },
      new Rng(1),
    );
    setStepGraphEnabled(true);
    return { r, seconds: (Date.now() - t0) / 1000 };
  };
  const fast = run(true);
  const slow = run(false);
  console.log(`attack seconds: step graph ${fast.seconds.toFixed(1)}, tape ${slow.seconds.toFixed(1)}`);
  const slowRows = new Map(slow.r.perExample.attacks.map((p) => [p.key, p]));
  const slowAcc = new Map(slow.r.result.attacks.map((a) => [`${a.attack}@${a.norm}:${a.eps}`, a.robustAccuracy]));
  for (const p of fast.r.perExample.attacks) {
    const q = slowRows.get(p.key);
    const agree = q ? p.correct.filter((v, j) => v === q.correct[j]).length : NaN;
    const acc = (c: Uint8Array) => (100 * c.reduce((a, v) => a + v, 0)) / c.length;
    console.log(
      `${p.key.padEnd(22)} robust ${acc(p.correct).toFixed(1)}% (step graph) vs ${q ? acc(q.correct).toFixed(1) : '-'}% (tape, summary ${(100 * (slowAcc.get(p.key) ?? NaN)).toFixed(1)}%); ${agree}/${p.correct.length} examples agree`,
    );
  }
  model.dispose();
}

async function main(): Promise<void> {
  if (process.argv.includes('--outcomes')) {
    const info = await initBackend('onnx');
    if (info.name !== 'onnx') throw new Error(`step-graph bench: needs the onnx engine, got ${info.name}`);
    outcomes();
    return;
  }
  const rounds = Number(arg('rounds', '3'));
  const batches = arg('batches', '128,512').split(',').map(Number);
  const models = arg('models', 'mlp,cnn').split(',');
  const out = arg('out', '');
  const info = await initBackend('onnx');
  if (info.name !== 'onnx') throw new Error(`step-graph bench: needs the onnx engine, got ${info.name}`);
  const eps = 0.3;
  const bounds = { lo: 0, hi: 1 };
  const rows: Record<string, number | string>[] = [];
  for (const arch of models) {
    const model = buildModel(BENCH_MODEL_SPECS[arch], [28, 28, 1], 10, 0);
    const f = engineClassifier(model as unknown as LayersModelLike);
    const stepper = stepperFor(engineModelOf(f), { norm: 'linf', loss: 'ce', targeted: false });
    if (!stepper) throw new Error('step-graph bench: no stepper for the engine classifier');
    for (const batch of batches) {
      const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
      const yc = tf.randomUniform([batch], 0, 10, 'int32', 2) as tf.Tensor1D;
      const y = tf.oneHot(yc, 10).toFloat() as tf.Tensor2D;
      const ctx: AttackContext = {
        f,
        x,
        y: yc.dataSync() as Int32Array,
        labelClasses: yc,
        labels: y,
        lossTargets: y,
        targetClasses: null,
        direction: 1,
        loss: 'ce',
        objective: (z) => attackObjective('ce', z, yc, null),
        succeeded: (z) => tf.tidy(() => tf.notEqual(tf.argMax(z, -1), yc) as tf.Tensor1D),
        bounds,
        eps,
        norm: 'linf',
        numClasses: 10,
        rng: new Rng(0),
      };
      const apgdSettings = { ...APGD_DEFAULTS, norm: 'linf' as const };
      const variants: Record<string, { steps: number; run: () => void }> = {
        'input-grad': {
          steps: 1,
          run: () => {
            const g = lossInputGradient(f, x, y);
            g.dataSync();
            g.dispose();
          },
        },
        'pgd-40 tape': {
          steps: 40,
          run: () => {
            setStepGraphEnabled(false);
            const a = pgdPerturb(f, x, y, bounds, { norm: 'linf', eps, steps: 40, loss: 'ce' }, new Rng(3));
            setStepGraphEnabled(true);
            a.dataSync();
            a.dispose();
          },
        },
        'pgd-40 step graph': {
          steps: 40,
          run: () => {
            const a = pgdPerturb(f, x, y, bounds, { norm: 'linf', eps, steps: 40, loss: 'ce' }, new Rng(3));
            a.dataSync();
            a.dispose();
          },
        },
        'apgd-ce-100 tape': {
          steps: 100,
          run: () => {
            const c = apgdRun({ ...ctx, rng: new Rng(3) }, apgdSettings, false);
            c.x.dataSync();
            tf.dispose([c.x, c.objective, c.success]);
          },
        },
        'apgd-ce-100 step graph': {
          steps: 100,
          run: () => {
            const c = apgdRunStepGraph(apgdStepProblem({ ...ctx, rng: new Rng(3) }), apgdSettings, stepper, false);
            c.x.dataSync();
            tf.dispose([c.x, c.objective, c.success]);
          },
        },
      };
      const times: Record<string, number[]> = {};
      for (const [name, v] of Object.entries(variants)) {
        v.run(); // warm-up: sessions, baking
        times[name] = [];
      }
      for (let r = 0; r < rounds; r++) {
        for (const [name, v] of Object.entries(variants)) {
          const reps = name === 'input-grad' ? 10 : 1;
          times[name].push(timeMs(() => Array.from({ length: reps }, () => v.run())) / reps / v.steps);
        }
      }
      const grad = median(times['input-grad']);
      for (const [name, v] of Object.entries(variants)) {
        const ms = median(times[name]);
        rows.push({ model: arch, batch, variant: name, msPerIteration: ms, networkPasses: ms / grad, rounds });
        process.stderr.write(`${arch} b${batch} ${name.padEnd(24)} ${ms.toFixed(2)} ms/iteration  ${(ms / grad).toFixed(2)} input-grads  (steps ${v.steps})\n`);
      }
      tf.dispose([x, yc, y]);
    }
    releaseOnnxModel(model as unknown as LayersModelLike);
    model.dispose();
  }
  if (out) fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), backend: info, rows }, null, 2)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
