/**
 * Where an eval job's APGD loses what the bench's PGD loop does not (issue
 * 22). Times, on one briefly trained MNIST MLP and the same test digits,
 * interleaved round by round so that every variant sees the same machine load:
 *
 *  - eval:     APGD-CE through the eval path (evaluateModelDetailed, one eps,
 *              the quick profile's 500 examples in batches of 250);
 *  - apgd:     ApgdAttack.run on one batch of 250 (the eval path minus its bookkeeping);
 *  - pgd-250:  the bench's PGD loop (pgdPerturb, CE, no random start) for as many steps, batch 250;
 *  - pgd-512:  the same at the bench's batch of 512;
 *  - grad-250: as many bare input gradients of the CE at batch 250 (the network plus the loss).
 *
 * Every figure is milliseconds per gradient evaluation per 250 examples.
 * With --job it instead runs one whole eval job of the quick profile's
 * MNIST experiment (fgsm, pgd, apgd-ce, apgd-dlr at four eps on 500
 * examples, probes and sanity checks; the model trained for --epochs) and
 * prints its seconds per stage and the engine's ORT runs.
 * With --confidence ATTACKS_JSON it runs the eval job's attacks (sanity
 * off) and then the confidence checks twice, reusing what the attacks
 * computed and re-running everything, and prints each one's ORT runs and
 * seconds (eval/sanity-runs.ts confidenceChecks).
 * With --only NAME it runs one variant, and with --profile FILE it writes a
 * V8 CPU profile of the timed rounds only (not of training or warm-up; read
 * it with bench/cpu-profile-groups.ts).
 *
 *   npm run build --silent && node dist/bench/eval-vs-bench.js [--backend onnx] [--rounds 3] [--steps 100] [--eps 0.1] [--only eval|apgd|pgd-250|pgd-512|grad-250] [--profile FILE]
 *   node dist/bench/eval-vs-bench.js --job [--epochs 10] [--backend onnx]
 *   node dist/bench/eval-vs-bench.js --confidence '[{"name":"autoattack"}]' [--epochs 10] [--n 200] [--eps 0.05,0.1]
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as inspector from 'inspector';
import * as os from 'os';
import { ApgdAttack } from '../attacks/apgd';
import { lossInputGradient } from '../attacks/gradients';
import { pgdPerturb } from '../attacks/pgd';
import { onnxModelFor } from '../backend/onnx/engine';
import type { LayersModelLike } from '../backend/onnx/compile';
import { initBackend } from '../backend/select';
import { BackendChoice } from '../contract/results';
import { loadDataset } from '../data/registry';
import { Rng } from '../data/rng';
import { EvalConfig } from '../eval/config';
import { evaluateModelDetailed } from '../eval/evaluate';
import { confidenceChecks } from '../eval/sanity-runs';
import { buildModel } from '../models/build';
import { asClassifier } from '../models/predict';
import { erm } from '../models/schemes/erm';
import { trainModel } from '../models/train';
import { median } from './script-args';

function flag(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

async function main(argv: string[]): Promise<void> {
  const backend = await initBackend(flag(argv, 'backend', 'onnx') as BackendChoice);
  const rounds = Number(flag(argv, 'rounds', '3'));
  const steps = Number(flag(argv, 'steps', '100'));
  const eps = Number(flag(argv, 'eps', '0.1'));
  const only = flag(argv, 'only', '');
  const dataset = loadDataset({ name: 'mnist' });
  const model = buildModel({ arch: 'mlp', hidden: [256, 256] }, dataset.inputShape, dataset.numClasses, 0);
  trainModel(model, dataset, erm({}, dataset, new Rng(0)), { epochs: Number(flag(argv, 'epochs', '1')), seed: 0, evalEveryEpoch: false });
  const f = asClassifier(model);
  const ortRuns = () => (backend.name === 'onnx' ? onnxModelFor(model as unknown as LayersModelLike).runs : NaN);
  if (argv.includes('--confidence')) {
    const n = Number(flag(argv, 'n', '200'));
    const attacks = JSON.parse(flag(argv, 'confidence', '[]')) as EvalConfig['attacks'];
    const t0 = Date.now();
    const r0 = ortRuns();
    const details = evaluateModelDetailed(
      f,
      dataset,
      { attacks, eps: flag(argv, 'eps', '0.05,0.1').split(',').map(Number), nExamples: n, probes: { enabled: false }, sanity: { enabled: false } },
      new Rng(1),
    );
    console.log(`backend ${backend.name}; attacks: ${ortRuns() - r0} ORT runs, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const cleanCorrect = Uint8Array.from(details.result.cleanCorrect.slice(0, n));
    for (const reuse of [true, false]) {
      const t1 = Date.now();
      const r1 = ortRuns();
      const out = confidenceChecks(f, dataset, details.config, details.perExample.attacks, cleanCorrect, n, new Rng(2), reuse);
      console.log(
        `confidence checks at eps ${out.eps}, ${reuse ? 'reusing' : 're-running all'}: ${ortRuns() - r1} ORT runs, ${((Date.now() - t1) / 1000).toFixed(1)} s, load ${os.loadavg()[0].toFixed(1)}; ` +
          `worst case per scale ${out.worstCase.map((w) => `${w.scale}: ${w.robust.reduce((a, v) => a + v, 0)}`).join(', ')}; flags: ${out.flags.map((x) => x.check).join(', ') || 'none'}`,
      );
      for (const run of out.runs) console.log(`  ${run.check} ${run.at}: reran ${run.reran.join(', ') || '-'}; reused ${run.reused.join(', ') || '-'}`);
    }
    model.dispose();
    return;
  }
  if (argv.includes('--job')) {
    const runs0 = backend.name === 'onnx' ? onnxModelFor(model as unknown as LayersModelLike).runs : 0;
    const r = evaluateModelDetailed(
      f,
      dataset,
      { attacks: ['fgsm', 'pgd', 'apgd-ce', 'apgd-dlr'].map((name) => ({ name })), eps: [0.05, 0.1, 0.2, 0.3], nExamples: 500, probes: true, probePoints: 200 },
      new Rng(1),
    );
    const runs = backend.name === 'onnx' ? onnxModelFor(model as unknown as LayersModelLike).runs - runs0 : NaN;
    const total = Object.values(r.seconds).reduce((a, b) => a + b, 0);
    console.log(
      `backend ${backend.name}, load ${os
        .loadavg()
        .map((v) => v.toFixed(1))
        .join(' ')}; ORT runs ${runs}; seconds ${total.toFixed(1)}`,
    );
    for (const [k, v] of Object.entries(r.seconds)) console.log(`${k.padEnd(22)} ${v.toFixed(2).padStart(7)} s  ${((100 * v) / total).toFixed(1).padStart(5)}%`);
    console.log(`worst case: ${r.result.worstCase.map((w) => `${w.eps}: ${w.robustAccuracy}`).join(', ')}; flags: ${r.result.flags.map((x) => x.check).join(', ') || 'none'}`);
    model.dispose();
    return;
  }
  const d = 784;
  const batchOf = (b: number) => tf.tensor(dataset.test.x.subarray(0, b * d), [b, 28, 28, 1]);
  const labelsOf = (b: number) => tf.oneHot(tf.tensor1d(dataset.test.y.slice(0, b), 'int32'), 10).toFloat() as tf.Tensor2D;
  const x250 = batchOf(250);
  const x512 = batchOf(512);
  const y250 = labelsOf(250);
  const y512 = labelsOf(512);
  const apgd = new ApgdAttack({ norm: 'linf', steps, restarts: 1, alpha: 0.75, rho: 0.75, randomStart: true, loss: 'ce' });
  const bounds = dataset.bounds;
  const timeMs = (fn: () => void): number => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  // ms per gradient evaluation per 250 examples; APGD evaluates `steps` gradients per run (plus one forward)
  const variants: Record<string, () => number> = {
    eval: () => {
      const r = evaluateModelDetailed(
        f,
        dataset,
        { attacks: [{ name: 'apgd-ce', params: { steps } }], eps: [eps], nExamples: 500, batchSize: 250, probes: { enabled: false }, sanity: { enabled: false } },
        new Rng(1),
      );
      return (1000 * Object.entries(r.seconds).find(([k]) => k.startsWith('apgd-ce'))![1]) / (2 * steps);
    },
    apgd: () =>
      timeMs(() => {
        const out = apgd.run(f, x250, dataset.test.y.slice(0, 250), bounds, eps, new Rng(1));
        out.xAdv.dispose();
      }) / steps,
    'pgd-250': () =>
      timeMs(() => {
        const adv = pgdPerturb(f, x250, y250, bounds, { norm: 'linf', eps, stepSize: 0.01, steps, randomStart: false }, new Rng(0));
        adv.dataSync();
        adv.dispose();
      }) / steps,
    'pgd-512': () =>
      (timeMs(() => {
        const adv = pgdPerturb(f, x512, y512, bounds, { norm: 'linf', eps, stepSize: 0.01, steps, randomStart: false }, new Rng(0));
        adv.dataSync();
        adv.dispose();
      }) /
        steps) *
      (250 / 512),
    'grad-250': () =>
      timeMs(() => {
        for (let s = 0; s < steps; s++) {
          const g = lossInputGradient(f, x250, y250);
          g.dataSync();
          g.dispose();
        }
      }) / steps,
  };
  const names = only ? [only] : Object.keys(variants);
  for (const n of names) if (!variants[n]) throw new Error(`unknown variant "${n}"; allowed: ${Object.keys(variants).join(', ')}`);
  // warm-up: sessions, baked weights, kernels
  for (const n of names) variants[n]();
  const profile = flag(argv, 'profile', '');
  const session = profile ? new inspector.Session() : null;
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => (session as inspector.Session).post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  if (session) {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
    await post('Profiler.start');
  }
  const ms: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) for (const n of names) (ms[n] ??= []).push(variants[n]());
  if (session) {
    const { profile: data } = (await post('Profiler.stop')) as { profile: object };
    fs.writeFileSync(profile, JSON.stringify(data));
    session.disconnect();
  }
  const base = median(ms[names.includes('grad-250') ? 'grad-250' : names[0]]);
  console.log(
    `backend ${backend.name}, ${rounds} rounds of ${steps} steps, eps ${eps}, load ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  for (const n of names)
    console.log(`${n.padEnd(9)} ${median(ms[n]).toFixed(2).padStart(7)} ms/step/250  (${(median(ms[n]) / base).toFixed(2)}x grad-250; rounds ${ms[n].map((v) => v.toFixed(1)).join(', ')})`);
  tf.dispose([x250, x512, y250, y512]);
  model.dispose();
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
