/**
 * What Square costs on the onnx engine against its floor: a Square run of
 * `--queries` queries (attacks/square.ts, margin, reference schedule) timed
 * against (1 + queries) bare engine forwards of the same batch (the clean
 * query plus one per query), once through the typed-array path
 * (square-engine.ts) and once through the tfjs path on the same engine
 * (setStepGraphEnabled(false)). Untrained MNIST-shaped MLP 256-256 and CNN
 * 16-32, seeded uniform inputs labelled with the model's own predictions (so
 * every row starts unbroken) and a tiny eps (so almost none breaks and every
 * query forwards the whole batch; the unbroken count is printed). The three
 * variants are interleaved round by round; the median over rounds is
 * reported, as a ratio to the forwards' time.
 *
 *   npm run build --silent && node dist/bench/square-engine.js [--queries 1000] [--rounds 1] [--batches 128,512] [--models mlp,cnn] [--norm linf|l2] [--variants forwards,engine,tfjs]
 */
import * as tf from '@tensorflow/tfjs';
import { createAttack } from '../attacks/registry';
import { engineClassifier, engineModelOf, releaseOnnxModel } from '../backend/onnx/engine';
import type { LayersModelLike } from '../backend/onnx/compile';
import { setStepGraphEnabled } from '../backend/onnx/step-graph';
import { initBackend } from '../backend/select';
import { Norm } from '../contract/norms';
import { Rng } from '../data/rng';
import { buildModel } from '../models/build';
import { BENCH_MODEL_SPECS, arg, median, timeMs } from './script-args';

async function main(): Promise<void> {
  const queries = Number(arg('queries', '1000'));
  const rounds = Number(arg('rounds', '1'));
  const batches = arg('batches', '128,512').split(',').map(Number);
  const models = arg('models', 'mlp,cnn').split(',');
  const norm = arg('norm', 'linf') as Norm;
  const variants = arg('variants', 'forwards,engine,tfjs').split(',');
  const info = await initBackend('onnx');
  if (info.name !== 'onnx') throw new Error(`square-engine bench: needs the onnx engine, got ${info.name}`);
  const eps = norm === 'linf' ? 1e-3 : 1e-2;
  console.log(`square ${norm} eps ${eps}, ${queries} queries, reference schedule, margin; ${rounds} round(s); median ms, ratio to ${queries + 1} forwards`);
  console.log('| model | batch | forwards ms | engine path ms | ratio | tfjs path ms | ratio | unbroken |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const arch of models) {
    const model = buildModel(BENCH_MODEL_SPECS[arch], [28, 28, 1], 10, 0);
    const f = engineClassifier(model as unknown as LayersModelLike);
    const m = engineModelOf(f);
    if (!m) throw new Error('square-engine bench: no engine model');
    for (const b of batches) {
      const rng = new Rng(1);
      const xs = Float32Array.from({ length: b * 784 }, () => rng.uniform());
      const x = tf.tensor(xs, [b, 28, 28, 1]);
      const y = new Int32Array(b);
      const z = m.forward(xs, b);
      for (let r = 0; r < b; r++) {
        let best = 0;
        for (let j = 1; j < 10; j++) if (z[r * 10 + j] > z[r * 10 + best]) best = j;
        y[r] = best;
      }
      const attack = createAttack({ name: 'square', params: { queries, loss: 'margin', schedule: 'reference' } }, norm);
      let unbroken = 0;
      const square = (engine: boolean) => () => {
        setStepGraphEnabled(engine);
        try {
          const out = attack.run(f, x, y, { lo: 0, hi: 1 }, eps, new Rng(2));
          out.xAdv.dispose();
          unbroken = b - out.success.reduce((a, v) => a + v, 0);
        } finally {
          setStepGraphEnabled(true);
        }
      };
      const forwards = () => {
        for (let q = 0; q <= queries; q++) m.forward(xs, b);
      };
      const t: Record<string, number[]> = { forwards: [], engine: [], tfjs: [] };
      for (let r = 0; r < rounds; r++) {
        if (variants.includes('forwards')) t.forwards.push(timeMs(forwards));
        if (variants.includes('engine')) t.engine.push(timeMs(square(true)));
        if (variants.includes('tfjs')) t.tfjs.push(timeMs(square(false)));
      }
      const base = median(t.forwards);
      const cell = (v: number[]) => (v.length ? `${median(v).toFixed(0)} | ${(median(v) / base).toFixed(3)}` : '- | -');
      console.log(`| ${arch} | ${b} | ${base.toFixed(0)} | ${cell(t.engine)} | ${cell(t.tfjs)} | ${unbroken}/${b} |`);
      x.dispose();
    }
    releaseOnnxModel(model as unknown as LayersModelLike);
    model.dispose();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
