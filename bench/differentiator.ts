/**
 * Side by side: the onnx engine's hand-written backward (compile.ts: save
 * graph + backward graph, two ORT runs) against the graph differentiator's
 * combined forward + backward graph of the same compiled forward (one ORT
 * run), for the bench's MLP and CNN. Session level, one thread, the same
 * inputs; attack mode with the weights baked in (the engine's steady state),
 * train mode with the weights as inputs.
 *
 *   npm run build --silent && node dist/bench/differentiator.js [mlp|cnn ...] [batch ...] [--max-time s]
 */
import * as tf from '@tensorflow/tfjs';
import Benchmark from 'benchmark';
import { compileModel, CompiledModel, LayersModelLike, Mode } from '../backend/onnx/compile';
import { differentiateCompiled } from '../backend/onnx/grad/own-model';
import { OrtData, SyncSession } from '../backend/onnx/runtime';
import { initBackend } from '../backend/select';
import { buildModel, ModelSpec } from '../models/build';

const SPECS: Record<string, ModelSpec> = { mlp: { arch: 'mlp', hidden: [256, 256] }, cnn: { arch: 'cnn', filters: [16, 32] } };

type Feeds = Record<string, [OrtData, readonly number[]]>;

function timeIt(fn: () => void, maxTime: number): { meanMs: number; rmePct: number; samples: number } {
  for (let i = 0; i < 2; i++) fn();
  const b = new Benchmark('x', fn, { maxTime, minSamples: 5, initCount: 1 });
  b.run();
  return { meanMs: b.stats.mean * 1000, rmePct: b.stats.rme, samples: b.stats.sample.length };
}

function handWritten(c: CompiledModel, mode: Mode, weights: Float32Array[]): (x: Feeds, dy: Float32Array, n: number) => void {
  const bake = mode === 'input';
  const build = (g: ReturnType<CompiledModel['save']>) => {
    if (bake) c.weights.forEach((w, i) => (g.consumes(w.name) ? g.bake(w.name, weights[i], w.shape) : undefined));
    return new SyncSession(g.encode());
  };
  const save = build(c.save(mode));
  const back = build(c.backward(mode));
  const wf: Feeds = {};
  c.weights.forEach((w, i) => {
    wf[w.name] = [weights[i], w.shape];
  });
  return (x, dy, n) => {
    const s = save.run({ ...x, ...wf });
    const res: Feeds = {};
    for (const r of c.residuals(mode)) res[r.name] = [s[r.name].data, s[r.name].dims];
    back.run({ ...res, ...wf, dlogits: [dy, [n, c.numClasses]] });
  };
}

/**
 * The differentiator's graphs: `split` runs its save graph, then its backward
 * graph (as a tfjs op must: logits first, the gradient when dy arrives);
 * else the combined graph in one run.
 */
function differentiated(c: CompiledModel, mode: Mode, weights: Float32Array[], split: boolean): (x: Feeds, dy: Float32Array, n: number) => void {
  const d = differentiateCompiled(c, mode, mode === 'input' ? weights : undefined);
  const s = new SyncSession(d.model);
  const save = new SyncSession(d.split.save);
  const back = new SyncSession(d.split.backward);
  const wf: Feeds = {};
  if (mode === 'train')
    c.weights.forEach((w, i) => {
      wf[w.name] = [weights[i], w.shape];
    });
  return (x, dy, n) => {
    if (!split) {
      s.run({ ...x, ...wf, dy: [dy, [n, c.numClasses]] });
      return;
    }
    const out = save.run({ ...x, ...wf });
    const res: Feeds = {};
    for (const r of d.split.residuals) res[r] = [out[r].data, out[r].dims];
    back.run({ ...res, ...x, ...wf, dy: [dy, [n, c.numClasses]] });
  };
}

async function main(): Promise<void> {
  await initBackend('cpu');
  const args = process.argv.slice(2);
  const mt = args.indexOf('--max-time');
  const maxTime = mt >= 0 ? Number(args[mt + 1]) : 3;
  const batches = args.filter((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--max-time').map(Number);
  const rows: string[] = [
    '| model | mode | batch | hand-written: save + backward, ms (±%, n) | differentiated: save + backward | ratio | differentiated: one graph | ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const only = args.filter((a) => a in SPECS);
  for (const [name, spec] of Object.entries(SPECS).filter(([k]) => !only.length || only.includes(k))) {
    const model = buildModel(spec, [28, 28, 1], 10, 1);
    const c = compileModel(model as unknown as LayersModelLike);
    const weights = c.weights.map((w) => Float32Array.from(model.layers[w.layerIndex].getWeights()[w.weightIndex].dataSync() as Float32Array));
    for (const mode of ['input', 'train'] as Mode[]) {
      const hw = handWritten(c, mode, weights);
      const df = differentiated(c, mode, weights, true);
      const dff = differentiated(c, mode, weights, false);
      for (const n of batches.length ? batches : [128]) {
        const x: Feeds = { x: [tf.tidy(() => tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', 1).dataSync() as Float32Array), [n, 28, 28, 1]] };
        const dy = tf.tidy(() => tf.randomNormal([n, 10], 0, 1, 'float32', 2).dataSync() as Float32Array);
        const a = timeIt(() => hw(x, dy, n), maxTime);
        const b = timeIt(() => df(x, dy, n), maxTime);
        const bf = timeIt(() => dff(x, dy, n), maxTime);
        const f = (r: typeof a) => `${r.meanMs.toFixed(2)} (±${r.rmePct.toFixed(1)}, ${r.samples})`;
        rows.push(
          `| ${name} | ${mode === 'input' ? 'input gradient (baked)' : 'weight gradients'} | ${n} | ${f(a)} | ${f(b)} | ${(b.meanMs / a.meanMs).toFixed(2)} | ${f(bf)} | ${(bf.meanMs / a.meanMs).toFixed(2)} |`,
        );
        console.log(rows[rows.length - 1]);
      }
    }
    model.dispose();
  }
  console.log(rows.join('\n'));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
