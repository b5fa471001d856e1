/**
 * `vicinal bench --models resnet20`: training throughput of the CIFAR
 * ResNet-20 (width 16, option-A shortcuts, 32x32x3 inputs, 10 classes) on the
 * onnx engine: one SGD step (momentum 0.9, weight decay 5e-4 as in
 * bench/pytorch/resnet20.py, BatchNorm on batch statistics, moving statistics
 * updated) per call, reported as images/s beside PyTorch's figure from that
 * script (see bench/BASELINE.md).
 */
import * as tf from '@tensorflow/tfjs';
import type { LayersModelLike } from '../backend/onnx/compile';
import { engineTrainClassifier, releaseOnnxModel } from '../backend/onnx/engine';
import { initBackend } from '../backend/select';
import { buildModel } from '../models/build';
import { crossEntropy } from '../models/loss';

export interface ResNetTrainFigure {
  task: 'train-step';
  model: 'resnet20';
  batch: number;
  impl: 'onnx';
  meanMs: number;
  rmePct: number;
  samples: number;
  examplesPerSec: number;
}

/** `measure` is the harness's benchmark.js timer (bench/run.ts). */
export function resnetTrainFigures(batches: number[], measure: (name: string, fn: () => void) => { meanMs: number; rmePct: number; samples: number }): ResNetTrainFigure[] {
  const model = buildModel({ arch: 'resnet', depth: 20, width: 16 }, [32, 32, 3], 10, 0);
  const like = model as unknown as LayersModelLike;
  const forward = engineTrainClassifier(like);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const figures: ResNetTrainFigure[] = [];
  for (const batch of batches) {
    const x = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 1);
    const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10).toFloat() as tf.Tensor2D;
    const opt = tf.train.momentum(0.01, 0.9);
    const r = measure(`train-step resnet20 b${batch} onnx`, () => {
      tf.tidy(() => {
        // models/train.ts's decayed step: the loss's gradients plus 5e-4 w, the model's trainable weights only.
        const { value, grads } = tf.variableGrads(() => crossEntropy(forward(x), y), trainable);
        opt.applyGradients(Object.fromEntries(trainable.map((v) => [v.name, tf.add(grads[v.name], tf.mul(v, 5e-4))])));
        value.dataSync();
      });
    });
    figures.push({ task: 'train-step', model: 'resnet20', batch, impl: 'onnx', ...r, examplesPerSec: (batch * 1000) / r.meanMs });
    process.stderr.write(`  train-step       resnet20 b${batch} onnx    ${r.meanMs.toFixed(1)} ms ±${r.rmePct.toFixed(1)}% (${((batch * 1000) / r.meanMs).toFixed(1)} images/s)\n`);
    opt.dispose();
    tf.dispose([x, y]);
  }
  releaseOnnxModel(like);
  model.dispose();
  return figures;
}

/**
 * `node dist/bench/resnet-train.js [--batch 128] [--reps 5]`: the same step timed as
 * bench/pytorch/resnet20.py times PyTorch's (one warm-up, then `reps` calls; median and min),
 * for an interleaved side-by-side on a shared machine.
 */
async function main(): Promise<void> {
  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const batch = arg('batch', 128);
  const reps = arg('reps', 5);
  await initBackend('onnx');
  const times: number[] = [];
  resnetTrainFigures([batch], (_name, fn) => {
    fn(); // warm-up: session creation, first allocations
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      fn();
      times.push(performance.now() - t0);
    }
    return { meanMs: times.reduce((a, b) => a + b, 0) / reps, rmePct: NaN, samples: reps };
  });
  times.sort((a, b) => a - b);
  const median = times[Math.floor(reps / 2)];
  console.log(JSON.stringify({ batch, reps, median_ms: median, min_ms: times[0], train_images_per_s: (batch * 1000) / median }));
}

if (require.main === module) void main();
