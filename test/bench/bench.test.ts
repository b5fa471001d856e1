import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { formatBench, runBench } from '../../bench/run';
import { checkGradients } from '../../backend/gradient-check';
import { formatImportedResnet, ImportedResnetResult } from '../../bench/imported-resnet';

// The harness itself, not speed (speed is measured by `npm run bench`, never asserted).
test('bench measures every implementation (naive, vicinal wasm, onnx engine) of every task and leaves the verified kernels in place', async (t) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-bench-')), 'b.json');
  const r = await runBench({ backend: 'wasm', batches: [8], models: ['mlp'], maxTime: 0.05, e2e: false, out, importedResnet: { batch: 2, reps: 1, rounds: 2 } });
  const tasks = ['train-step', 'forward', 'input-grad', 'fgsm', 'pgd-10'];
  t.deepEqual(r.figures.map((f) => `${f.task}/${f.impl}`).sort(), tasks.flatMap((k) => [`${k}/naive`, `${k}/onnx`, `${k}/vicinal`]).sort());
  for (const f of r.figures) t.true(f.meanMs > 0 && f.samples >= 5 && Number.isFinite(f.rmePct), JSON.stringify(f));
  const saved = JSON.parse(fs.readFileSync(out, 'utf8'));
  t.is(saved.backend.name, 'wasm');
  t.is(saved.figures.length, 3 * tasks.length);
  t.true(saved.ceiling.every((c: { gflops: number }) => c.gflops > 0));
  t.regex(formatBench(r.figures), /speed-up/);
  // The exported ResNet-20 task: its file identified, one engine timing per round, PyTorch or why not.
  const ir = saved.importedResnet;
  t.deepEqual(ir, JSON.parse(JSON.stringify(r.importedResnet)));
  t.regex(ir.sha256, /^[0-9a-f]{64}$/);
  t.like(ir, { batch: 2, threads: 1, steps: 10, eps: 8 / 255, stepSize: (2.5 * 8) / 255 / 10 });
  t.is(ir.rounds.length, 2);
  for (const round of ir.rounds) {
    t.true(round.engine.inputGrad.medianMs > 0 && round.engine.pgd10.medianMs > round.engine.inputGrad.minMs, JSON.stringify(round.engine));
    t.is(round.pytorch === null, ir.pytorchSkipped !== null);
    if (round.pytorch) t.is(round.ratio.pgd10, round.engine.pgd10.medianMs / round.pytorch.pgd10.medianMs);
  }
  const fastest = (side: 'engine' | 'pytorch') => Math.min(...ir.rounds.map((x: Record<string, { inputGrad: { minMs: number } }>) => x[side].inputGrad.minMs));
  if (!ir.pytorchSkipped) t.is(ir.bestRatio.inputGrad, fastest('engine') / fastest('pytorch'));
  else t.is(ir.bestRatio, null);
  t.regex(formatImportedResnet(r.importedResnet as ImportedResnetResult), ir.pytorchSkipped ? /pytorch skipped/ : /engine \/ pytorch/);
  // Switching to the naive kernels and back must leave the backend correct.
  const report = await checkGradients();
  t.true(report.ok, report.failing.join(','));
  t.is(tf.getBackend(), 'wasm');
});
