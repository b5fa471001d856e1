/**
 * Issue 21 part 5: the CIFAR ResNet-20 exported by PyTorch
 * (bench/models/resnet20.onnx, made by `bench/pytorch/resnet20.py --export`)
 * through the onnx engine's file classifier with input gradients
 * (backend/onnx/file-model.ts), against PyTorch 1.13 CPU on the same machine
 * and thread count: the input gradient of the summed cross-entropy and
 * L-inf PGD-10 (eps 8/255, step 2.5 eps / 10, random start, [0, 1]) per
 * batch. Engine and PyTorch rounds alternate, since the machine is shared
 * and its load drifts; each round records the 1-minute load average.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadOnnxFile, onnxGradientClassifier } from '../backend/onnx/file-model';
import { loadOrt, ortThreads } from '../backend/onnx/runtime';
import { lossInputGradient } from '../attacks/gradients';
import { pgdPerturb } from '../attacks/pgd';
import { Rng } from '../data/rng';
import { median } from './script-args';

/** The committed export (bench/models/, next to the compiled bench/ under dist/). */
export const RESNET20_ONNX = path.join(__dirname, '..', '..', 'bench', 'models', 'resnet20.onnx');
const PYTORCH_SCRIPT = path.join(__dirname, '..', '..', 'bench', 'pytorch', 'resnet20.py');
const PYTHON = '/usr/bin/python3';
const EPS = 8 / 255;
const STEPS = 10;

export interface ImportedResnetOptions {
  batch: number;
  /** timed repetitions per figure and round, after one warm-up (median reported) */
  reps: number;
  /** engine / PyTorch alternations */
  rounds: number;
  /** also run PyTorch (when /usr/bin/python3 has torch) */
  pytorch: boolean;
}

export const IMPORTED_RESNET_DEFAULTS: ImportedResnetOptions = { batch: 128, reps: 5, rounds: 3, pytorch: true };

export interface Timing {
  medianMs: number;
  minMs: number;
  reps: number;
}

export interface ImportedResnetRound {
  engine: { inputGrad: Timing; pgd10: Timing };
  /** null when PyTorch did not run (see `pytorchSkipped`) */
  pytorch: { inputGrad: Timing; pgd10: Timing } | null;
  /** engine median / PyTorch median */
  ratio: { inputGrad: number; pgd10: number } | null;
  /** 1-minute load average before the engine and before PyTorch */
  load: { engine: number; pytorch: number | null };
}

export interface ImportedResnetResult {
  file: string;
  sha256: string;
  batch: number;
  threads: number;
  eps: number;
  steps: number;
  stepSize: number;
  torch: string | null;
  pytorchSkipped: string | null;
  rounds: ImportedResnetRound[];
  /** medians over rounds of the per-round ratios (null without PyTorch) */
  ratio: { inputGrad: number; pgd10: number } | null;
  /** fastest engine call over all rounds / fastest PyTorch call: the figure least moved by other processes' load */
  bestRatio: { inputGrad: number; pgd10: number } | null;
}

function timed(fn: () => void, reps: number): Timing {
  fn(); // warm-up: session set-up, first allocations
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[times.length >> 1], minMs: times[0], reps };
}

/** Why PyTorch cannot run here, or null when it can. */
function pytorchUnavailable(): string | null {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${PYTHON} has no torch`;
}

function runPytorch(o: ImportedResnetOptions, threads: number): { torch: string; inputGrad: Timing; pgd10: Timing } {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-resnet20-')), 'torch.json');
  // --reps: PyTorch's script times pgd-10 max(3, reps / 3) times; ask for 3x so both sides time `reps` PGD runs.
  const args = [PYTORCH_SCRIPT, '--threads', String(threads), '--batch', String(o.batch), '--reps', String(Math.max(o.reps, 3 * o.reps)), '--no-train', '--json', out];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').pop()}`);
  const j = JSON.parse(fs.readFileSync(out, 'utf8')) as { torch: string; input_grad: { median_ms: number; min_ms: number; reps: number }; pgd10: { median_ms: number; min_ms: number; reps: number } };
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  const t = (x: { median_ms: number; min_ms: number; reps: number }): Timing => ({ medianMs: x.median_ms, minMs: x.min_ms, reps: x.reps });
  return { torch: j.torch, inputGrad: t(j.input_grad), pgd10: t(j.pgd10) };
}

/**
 * Times the engine (and PyTorch, when present) on the exported ResNet-20;
 * needs onnxruntime-node. Progress goes to stderr.
 */
export function runImportedResnet(options: Partial<ImportedResnetOptions> = {}): ImportedResnetResult {
  const o = { ...IMPORTED_RESNET_DEFAULTS, ...options };
  if (!loadOrt()) throw new Error('imported-resnet bench: onnxruntime-node is not available');
  const bytes = fs.readFileSync(RESNET20_ONNX);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const threads = ortThreads();
  const model = loadOnnxFile(RESNET20_ONNX);
  const f = onnxGradientClassifier(model, [32, 32, 3], 10, 'cifar10');
  const x = tf.randomUniform([o.batch, 32, 32, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([o.batch], 0, 10, 'int32', 2), 10).toFloat() as tf.Tensor2D;
  const stepSize = (2.5 * EPS) / STEPS;
  const skipped = o.pytorch ? pytorchUnavailable() : 'not asked for';
  let torch: string | null = null;
  const rounds: ImportedResnetRound[] = [];
  try {
    for (let r = 0; r < o.rounds; r++) {
      const loadEngine = os.loadavg()[0];
      const inputGrad = timed(() => {
        const g = lossInputGradient(f, x, y);
        g.dataSync();
        g.dispose();
      }, o.reps);
      const rng = new Rng(r);
      const pgd10 = timed(() => {
        const adv = pgdPerturb(f, x, y, { lo: 0, hi: 1 }, { norm: 'linf', eps: EPS, stepSize, steps: STEPS, randomStart: true }, rng);
        adv.dataSync();
        adv.dispose();
      }, o.reps);
      const engine = { inputGrad, pgd10 };
      let pytorch: ImportedResnetRound['pytorch'] = null;
      let loadTorch: number | null = null;
      if (!skipped) {
        loadTorch = os.loadavg()[0];
        const p = runPytorch(o, threads);
        torch = p.torch;
        pytorch = { inputGrad: p.inputGrad, pgd10: p.pgd10 };
      }
      const ratio = pytorch ? { inputGrad: inputGrad.medianMs / pytorch.inputGrad.medianMs, pgd10: pgd10.medianMs / pytorch.pgd10.medianMs } : null;
      rounds.push({ engine, pytorch, ratio, load: { engine: loadEngine, pytorch: loadTorch } });
      process.stderr.write(
        `  resnet20.onnx b${o.batch} round ${r + 1}/${o.rounds}: engine input-grad ${inputGrad.medianMs.toFixed(0)} ms, pgd-10 ${pgd10.medianMs.toFixed(0)} ms (load ${loadEngine.toFixed(1)})` +
          (pytorch && ratio
            ? `; pytorch ${pytorch.inputGrad.medianMs.toFixed(0)} ms, ${pytorch.pgd10.medianMs.toFixed(0)} ms (load ${(loadTorch as number).toFixed(1)}); ratio ${ratio.inputGrad.toFixed(2)}x, ${ratio.pgd10.toFixed(2)}x\n`
            : `; pytorch skipped (${skipped})\n`),
      );
    }
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
  const ratios = rounds.map((r) => r.ratio).filter((r) => r !== null);
  const ratio = ratios.length ? { inputGrad: median(ratios.map((r) => r.inputGrad)), pgd10: median(ratios.map((r) => r.pgd10)) } : null;
  const best = (side: (x: ImportedResnetRound) => { inputGrad: Timing; pgd10: Timing } | null, task: 'inputGrad' | 'pgd10') =>
    Math.min(...rounds.map((x) => (side(x) as { inputGrad: Timing; pgd10: Timing })[task].minMs));
  const bestRatio = ratio
    ? {
        inputGrad: best((x) => x.engine, 'inputGrad') / best((x) => x.pytorch, 'inputGrad'),
        pgd10: best((x) => x.engine, 'pgd10') / best((x) => x.pytorch, 'pgd10'),
      }
    : null;
  return { file: 'bench/models/resnet20.onnx', sha256, batch: o.batch, threads, eps: EPS, steps: STEPS, stepSize, torch, pytorchSkipped: skipped, rounds, ratio, bestRatio };
}

/** A few lines for the terminal. */
export function formatImportedResnet(r: ImportedResnetResult): string {
  const med = (pick: (x: ImportedResnetRound) => number) => median(r.rounds.map(pick)).toFixed(1);
  const lines = [
    `imported ResNet-20 (${r.file}, sha256 ${r.sha256.slice(0, 16)}…), batch ${r.batch}, ${r.threads} thread(s), ${r.rounds.length} round(s), medians over rounds:`,
    `  engine  input-grad ${med((x) => x.engine.inputGrad.medianMs)} ms, pgd-10 ${med((x) => x.engine.pgd10.medianMs)} ms`,
  ];
  if (r.ratio) {
    lines.push(
      `  pytorch ${r.torch} input-grad ${med((x) => (x.pytorch as NonNullable<ImportedResnetRound['pytorch']>).inputGrad.medianMs)} ms, pgd-10 ${med((x) => (x.pytorch as NonNullable<ImportedResnetRound['pytorch']>).pgd10.medianMs)} ms`,
    );
    lines.push(`  engine / pytorch: input-grad ${r.ratio.inputGrad.toFixed(2)}x, pgd-10 ${r.ratio.pgd10.toFixed(2)}x (median of per-round ratios)`);
    const b = r.bestRatio as NonNullable<ImportedResnetResult['bestRatio']>;
    lines.push(`  engine / pytorch, fastest calls: input-grad ${b.inputGrad.toFixed(2)}x, pgd-10 ${b.pgd10.toFixed(2)}x`);
  } else lines.push(`  pytorch skipped: ${r.pytorchSkipped}`);
  return lines.join('\n');
}
