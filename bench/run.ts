/**
 * `npm run bench` / `vicinal bench`: throughput of the operations a study
 * spends its time in, for the suite's implementation and a naive baseline
 * (the obvious tfjs code: stock kernels, tf.grad of the loss, a read-back
 * every step) measured side by side in one run, plus the matMul ceiling and,
 * with --e2e, the wall time of the quick profile with 1 and 2 workers.
 */
import * as tf from '@tensorflow/tfjs';
import Benchmark from 'benchmark';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { table } from 'table';
import { pgdPerturb } from '../attacks/pgd';
import { lossInputGradient } from '../attacks/gradients';
import { buildModel } from '../models/build';
import { registerWasmKernels, restoreStockWasmKernels } from '../backend/kernels/wasm';
import { registerWasmMatMulFastPath, unregisterWasmMatMulFastPath } from '../backend/kernels/wasm-matmul';
import { crossEntropy } from '../models/loss';
import { asClassifier } from '../models/predict';
import { Rng } from '../data/rng';
import { initBackend } from '../backend/select';
import { BAKE_AFTER, engineClassifier, engineTrainClassifier, liveOnnxSessions, releaseOnnxModel, setOnnxEngineEnabled } from '../backend/onnx/engine';
import type { LayersModelLike } from '../backend/onnx/compile';
import { loadOrt } from '../backend/onnx/runtime';
import { BackendChoice, BackendInfo } from '../contract/results';
import { describeEnvironment } from '../backend/environment';
import { writeJsonAtomic } from '../contract/run-folder';
import { ImportedResnetOptions, ImportedResnetResult, runImportedResnet } from './imported-resnet';
import { resnetTrainFigures } from './resnet-train';
import { ATTACK_OVERHEAD_DEFAULTS, AttackOverheadFigure, AttackOverheadOptions, attackOverheadFigures } from './attack-overhead';
import { BENCH_MODEL_SPECS } from './script-args';

export interface BenchFigure {
  task: string;
  model: string;
  batch: number;
  /** naive: stock tfjs; vicinal: vicinal's tfjs path on the host backend; onnx: the onnx engine (backend/onnx/) */
  impl: 'naive' | 'vicinal' | 'onnx';
  meanMs: number;
  /** Relative margin of error of the mean, percent (95%). */
  rmePct: number;
  samples: number;
  examplesPerSec: number;
}

export interface BenchOptions {
  backend: BackendChoice;
  batches: number[];
  models: ('mlp' | 'cnn' | 'resnet20')[];
  /** Seconds per figure (benchmark.js maxTime). */
  maxTime: number;
  e2e: boolean;
  out: string;
  /** The exported ResNet-20 vs PyTorch (bench/imported-resnet.ts), with these settings over its defaults; absent or false: skipped. */
  importedResnet?: Partial<ImportedResnetOptions> | false;
  /** The iterative attacks' overhead over their network passes (bench/attack-overhead.ts) on o.models and o.batches, with these settings over its defaults; absent or false: skipped. */
  attackOverhead?: Partial<Omit<AttackOverheadOptions, 'batches'>> | false;
  /** false: only the attack-overhead tasks (no throughput figures, matMul ceiling or leak check). Default true. */
  throughput?: boolean;
}

function measure(name: string, fn: () => void, maxTime: number, warmUp = 1): { meanMs: number; rmePct: number; samples: number } {
  for (let i = 0; i < warmUp; i++) fn(); // warm-up: kernel set-up, first allocations
  const b = new Benchmark(name, fn, { maxTime, minSamples: 5, initCount: 1 });
  b.run();
  return { meanMs: b.stats.mean * 1000, rmePct: b.stats.rme, samples: b.stats.sample.length };
}

/** The fastest non-transposed matMul found over a few shapes: the ceiling a dense step can reach. */
export function matMulCeiling(maxTime: number): { shape: string; gflops: number }[] {
  const shapes: [number, number, number][] = [
    [128, 784, 256],
    [512, 784, 256],
    [256, 256, 256],
    [1024, 1024, 1024],
  ];
  return shapes.map(([m, k, n]) => {
    const a = tf.randomNormal([m, k]);
    const b = tf.randomNormal([k, n]);
    const r = measure(
      `matMul ${m}x${k}x${n}`,
      () => {
        const c = tf.matMul(a, b);
        c.dataSync();
        c.dispose();
      },
      maxTime,
    );
    a.dispose();
    b.dispose();
    return { shape: `[${m}x${k}]x[${k}x${n}]`, gflops: (2 * m * k * n) / (r.meanMs * 1e6) };
  });
}

function modelFlopsPerExample(model: tf.LayersModel): number {
  // Forward multiply-adds of dense and conv layers; a training step is about 3x.
  let flops = 0;
  for (const layer of model.layers) {
    const w = layer.getWeights()[0];
    if (!w) continue;
    const out = layer.outputShape as number[];
    if (w.shape.length === 2) flops += 2 * w.shape[0] * w.shape[1];
    if (w.shape.length === 4) flops += 2 * w.shape[0] * w.shape[1] * w.shape[2] * w.shape[3] * out[1] * out[2];
  }
  return flops;
}

/**
 * The leak check of the onnx engine: RSS, tfjs tensors and live ORT sessions
 * after 10 and after 1,000 PGD steps through the engine (MNIST MLP, batch
 * 128). Not a timed test: it is printed and saved with the figures.
 */
export function onnxLeakCheck(): Record<string, number> {
  const model = buildModel(BENCH_MODEL_SPECS.mlp, [28, 28, 1], 10, 0);
  const f = engineClassifier(model as unknown as LayersModelLike);
  const x = tf.randomUniform([128, 28, 28, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([128], 0, 10, 'int32', 2), 10).toFloat() as tf.Tensor2D;
  const steps = (n: number) => {
    const adv = pgdPerturb(f, x, y, { lo: 0, hi: 1 }, { norm: 'linf', eps: 0.3, stepSize: 0.01, steps: n, randomStart: false }, new Rng(0));
    adv.dataSync();
    adv.dispose();
  };
  const snap = () => {
    (global as { gc?: () => void }).gc?.();
    return { rssMB: process.memoryUsage().rss / 2 ** 20, tensors: tf.memory().numTensors, sessions: liveOnnxSessions() };
  };
  steps(10);
  const a = snap();
  steps(1000);
  const b = snap();
  releaseOnnxModel(model as unknown as LayersModelLike);
  const c = snap();
  tf.dispose([x, y]);
  model.dispose();
  return {
    rssAfter10MB: a.rssMB,
    rssAfter1000MB: b.rssMB,
    tensorsAfter10: a.tensors,
    tensorsAfter1000: b.tensors,
    sessionsAfter1000: b.sessions,
    sessionsAfterRelease: c.sessions,
  };
}

export async function runBench(o: BenchOptions): Promise<{
  figures: BenchFigure[];
  ceiling: { shape: string; gflops: number }[];
  e2e: Record<string, number>[];
  backend: BackendInfo;
  importedResnet: ImportedResnetResult | null;
  attackOverhead: AttackOverheadFigure[];
}> {
  const backend = await initBackend(o.backend);
  const figures: BenchFigure[] = [];
  // Under the onnx engine the tfjs ops run on a host backend (wasm here): the
  // naive and vicinal columns measure that host, the onnx column the engine.
  const wasm = tf.getBackend() === 'wasm';
  const onnx = loadOrt() !== null;
  setOnnxEngineEnabled(false);
  // The naive baseline uses the stock wasm kernels wherever one exists: the
  // stock BatchMatMul, Conv2DBackpropInput and MaxPoolGrad (whose defect does
  // not reach a relu-pool CNN's gradients). Conv2DBackpropFilter has no stock
  // kernel, so both sides use vicinal's.
  const setImpl = (impl: 'naive' | 'vicinal') => {
    if (!wasm) return;
    if (impl === 'naive') {
      unregisterWasmMatMulFastPath();
      restoreStockWasmKernels(['Conv2DBackpropInput', 'MaxPoolGrad']);
    } else {
      registerWasmKernels();
      registerWasmMatMulFastPath();
    }
  };
  const extra: Record<string, number> = {};
  const throughput = o.throughput !== false;
  for (const arch of throughput ? o.models : []) {
    if (arch === 'resnet20') figures.push(...(onnx ? resnetTrainFigures(o.batches, (name, fn) => measure(name, fn, o.maxTime, 2)) : []));
    if (arch === 'resnet20') continue;
    const model = buildModel(BENCH_MODEL_SPECS[arch], [28, 28, 1], 10, 0);
    const f = asClassifier(model);
    const fe = onnx ? engineClassifier(model as unknown as LayersModelLike) : null;
    const fet = onnx ? engineTrainClassifier(model as unknown as LayersModelLike) : null;
    const bounds = { lo: 0, hi: 1 };
    for (const batch of o.batches) {
      const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
      const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10).toFloat() as tf.Tensor2D;
      const add = (task: string, impl: 'naive' | 'vicinal' | 'onnx', fn: () => void) => {
        if (impl === 'onnx' && !onnx) return;
        setImpl(impl === 'naive' ? 'naive' : 'vicinal');
        // The engine bakes the weights into its attack-mode sessions once they have been unchanged
        // for BAKE_AFTER calls (as in every attack after its first steps); the training-step task
        // just changed them, so warm up past the rebuild and measure the steady state.
        const r = measure(`${task} ${arch} b${batch} ${impl}`, fn, o.maxTime, impl === 'onnx' ? BAKE_AFTER + 2 : 1);
        figures.push({ task, model: arch, batch, impl, ...r, examplesPerSec: (batch * 1000) / r.meanMs });
        process.stderr.write(`  ${task.padEnd(16)} ${arch} b${batch} ${impl.padEnd(7)} ${r.meanMs.toFixed(1)} ms ±${r.rmePct.toFixed(1)}%\n`);
      };
      // Training step (Adam).
      const optN = tf.train.adam(1e-3);
      add('train-step', 'naive', () => {
        const { value, grads } = tf.variableGrads(() => crossEntropy(model.predict(x) as tf.Tensor2D, y));
        optN.applyGradients(grads as unknown as Parameters<typeof optN.applyGradients>[0]);
        value.dataSync();
        value.dispose();
        tf.dispose(grads);
      });
      const optV = tf.train.adam(1e-3);
      add('train-step', 'vicinal', () => {
        tf.tidy(() => {
          optV.minimize(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y));
        });
      });
      const optE = tf.train.adam(1e-3);
      add('train-step', 'onnx', () => {
        tf.tidy(() => {
          optE.minimize(() => crossEntropy((fet as (x: tf.Tensor) => tf.Tensor2D)(x), y));
        });
      });
      // Forward pass (logits only).
      add('forward', 'naive', () => {
        const z = model.predict(x) as tf.Tensor;
        z.dataSync();
        z.dispose();
      });
      add('forward', 'vicinal', () => {
        const z = f(x);
        z.dataSync();
        z.dispose();
      });
      add('forward', 'onnx', () => {
        const z = (fe as (x: tf.Tensor) => tf.Tensor2D)(x);
        z.dataSync();
        z.dispose();
      });
      // Input gradient of the loss.
      add('input-grad', 'naive', () => {
        const g = tf.grad((xi: tf.Tensor) => crossEntropy(model.predict(xi) as tf.Tensor2D, y))(x);
        g.dataSync();
        g.dispose();
      });
      add('input-grad', 'vicinal', () => {
        const g = lossInputGradient(f, x, y);
        g.dataSync();
        g.dispose();
      });
      add('input-grad', 'onnx', () => {
        const g = lossInputGradient(fe as (x: tf.Tensor) => tf.Tensor2D, x, y);
        g.dataSync();
        g.dispose();
      });
      // FGSM: one signed gradient step, projected.
      add('fgsm', 'naive', () => {
        const g = tf.grad((xi: tf.Tensor) => crossEntropy(model.predict(xi) as tf.Tensor2D, y))(x);
        const adv = tf.clipByValue(tf.add(x, tf.mul(tf.sign(g), 0.3)), 0, 1);
        adv.dataSync();
        tf.dispose([g, adv]);
      });
      add('fgsm', 'vicinal', () => {
        const adv = pgdPerturb(f, x, y, bounds, { norm: 'linf', eps: 0.3, stepSize: 0.3, steps: 1, randomStart: false }, new Rng(0));
        adv.dataSync();
        adv.dispose();
      });
      add('fgsm', 'onnx', () => {
        const adv = pgdPerturb(fe as (x: tf.Tensor) => tf.Tensor2D, x, y, bounds, { norm: 'linf', eps: 0.3, stepSize: 0.3, steps: 1, randomStart: false }, new Rng(0));
        adv.dataSync();
        adv.dispose();
      });
      // PGD: 10 steps per call, reported per step.
      const steps = 10;
      add('pgd-10', 'naive', () => {
        let xa = x.clone();
        for (let s = 0; s < steps; s++) {
          const g = tf.grad((xi: tf.Tensor) => crossEntropy(model.predict(xi) as tf.Tensor2D, y))(xa);
          const next = tf.tidy(() => tf.clipByValue(tf.minimum(tf.maximum(tf.add(xa, tf.mul(tf.sign(g), 0.01)), tf.sub(x, 0.3)), tf.add(x, 0.3)), 0, 1));
          next.dataSync(); // the obvious loop reads back every step
          tf.dispose([g, xa]);
          xa = next;
        }
        xa.dispose();
      });
      add('pgd-10', 'vicinal', () => {
        const adv = pgdPerturb(f, x, y, bounds, { norm: 'linf', eps: 0.3, stepSize: 0.01, steps, randomStart: false }, new Rng(0));
        adv.dataSync();
        adv.dispose();
      });
      add('pgd-10', 'onnx', () => {
        const adv = pgdPerturb(fe as (x: tf.Tensor) => tf.Tensor2D, x, y, bounds, { norm: 'linf', eps: 0.3, stepSize: 0.01, steps, randomStart: false }, new Rng(0));
        adv.dataSync();
        adv.dispose();
      });
      optN.dispose();
      optV.dispose();
      optE.dispose();
      tf.dispose([x, y]);
      const step = figures.find((r) => r.task === 'train-step' && r.model === arch && r.batch === batch && r.impl === 'vicinal') as BenchFigure;
      extra[`${arch}-b${batch}-train-gflops`] = (3 * modelFlopsPerExample(model) * batch) / (step.meanMs * 1e6);
    }
    if (onnx) releaseOnnxModel(model as unknown as LayersModelLike);
    model.dispose();
  }
  setImpl('vicinal');
  let onnxLeak: Record<string, number> | null = null;
  if (throughput && onnx && o.models.some((m) => m !== 'resnet20')) {
    onnxLeak = onnxLeakCheck();
    process.stderr.write(
      `  onnx engine leak check (MLP b128 PGD): RSS ${onnxLeak.rssAfter10MB.toFixed(0)} MB after 10 steps, ${onnxLeak.rssAfter1000MB.toFixed(0)} MB after 1000; ` +
        `tensors ${onnxLeak.tensorsAfter10} -> ${onnxLeak.tensorsAfter1000}; ORT sessions ${onnxLeak.sessionsAfter1000}, ${onnxLeak.sessionsAfterRelease} after release\n`,
    );
  }
  setOnnxEngineEnabled(backend.name === 'onnx');
  const attackOverhead =
    onnx && o.attackOverhead
      ? o.models
          .filter((m) => m !== 'resnet20')
          .flatMap((arch) =>
            attackOverheadFigures(BENCH_MODEL_SPECS[arch], arch, { ...ATTACK_OVERHEAD_DEFAULTS, ...o.attackOverhead, batches: o.batches }, (line) => process.stderr.write(`${line}\n`)),
          )
      : [];
  const ceiling = throughput ? matMulCeiling(o.maxTime) : [];
  const e2e: Record<string, number>[] = [];
  if (o.e2e) {
    for (const workers of [1, 2]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-bench-'));
      const t0 = Date.now();
      const r = spawnSync(
        process.execPath,
        [path.join(__dirname, '..', 'suite', 'cli.js'), 'run', 'quick', '--out', dir, '--workers', String(workers), '--no-cache', '--quiet', '--backend', backend.name],
        {
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      const seconds = (Date.now() - t0) / 1000;
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { peakRssMB?: number };
      e2e.push({ workers, seconds, exitCode: r.status ?? -1, peakRssMB: manifest.peakRssMB ?? NaN });
      process.stderr.write(`  quick profile, ${workers} worker(s): ${seconds.toFixed(1)} s\n`);
    }
  }
  const importedResnet = onnx && o.importedResnet ? runImportedResnet(o.importedResnet) : null;
  const result = { figures, ceiling, e2e, backend, trainGflops: extra, onnxLeak, importedResnet, attackOverhead, env: describeEnvironment(backend), settings: o, date: new Date().toISOString() };
  writeJsonAtomic(o.out, result);
  return { figures, ceiling, e2e, backend, importedResnet, attackOverhead };
}

export function formatBench(figures: BenchFigure[]): string {
  const withOnnx = figures.some((f) => f.impl === 'onnx');
  const rows: string[][] = [
    ['task', 'model', 'batch', 'naive ms (±%, n)', 'vicinal ms (±%, n)', 'vicinal ex/s', 'speed-up', ...(withOnnx ? ['onnx ms (±%, n)', 'onnx vs vicinal', 'onnx vs naive'] : [])],
  ];
  const keys = [...new Set(figures.map((f) => `${f.task}|${f.model}|${f.batch}`))];
  for (const k of keys) {
    const [task, model, batch] = k.split('|');
    const pick = (impl: string) => figures.find((f) => `${f.task}|${f.model}|${f.batch}` === k && f.impl === impl);
    const n = pick('naive');
    const v = pick('vicinal');
    // A task measured on the engine alone (the ResNet-20 training step) has '-' in the tfjs columns.
    const cell = (f?: BenchFigure) => (f ? `${f.meanMs.toFixed(1)} (±${f.rmePct.toFixed(1)}, ${f.samples})` : '-');
    const ratio = (a?: BenchFigure, b?: BenchFigure) => (a && b ? `${(a.meanMs / b.meanMs).toFixed(2)}x` : '-');
    const e = withOnnx ? pick('onnx') : undefined;
    const onnxCells = withOnnx ? (e ? [cell(e), ratio(v, e), ratio(n, e)] : ['-', '-', '-']) : [];
    rows.push([task, model, batch, cell(n), cell(v), v ? v.examplesPerSec.toFixed(0) : '-', ratio(n, v), ...onnxCells]);
  }
  return table(rows);
}
