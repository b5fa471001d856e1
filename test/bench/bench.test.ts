import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { formatBench, runBench } from '../../bench/run';
import { checkGradients } from '../../backend/gradient-check';

// The harness itself, not speed (speed is measured by `npm run bench`, never asserted).
test('bench measures every implementation (naive, vicinal wasm, onnx engine) of every task and leaves the verified kernels in place', async (t) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-bench-')), 'b.json');
  const r = await runBench({ backend: 'wasm', batches: [8], models: ['mlp'], maxTime: 0.05, e2e: false, out });
  const tasks = ['train-step', 'input-grad', 'fgsm', 'pgd-10'];
  t.deepEqual(r.figures.map((f) => `${f.task}/${f.impl}`).sort(), tasks.flatMap((k) => [`${k}/naive`, `${k}/onnx`, `${k}/vicinal`]).sort());
  for (const f of r.figures) t.true(f.meanMs > 0 && f.samples >= 5 && Number.isFinite(f.rmePct), JSON.stringify(f));
  const saved = JSON.parse(fs.readFileSync(out, 'utf8'));
  t.is(saved.backend.name, 'wasm');
  t.is(saved.figures.length, 3 * tasks.length);
  t.true(saved.ceiling.every((c: { gflops: number }) => c.gflops > 0));
  t.regex(formatBench(r.figures), /speed-up/);
  // Switching to the naive kernels and back must leave the backend correct.
  const report = await checkGradients();
  t.true(report.ok, report.failing.join(','));
  t.is(tf.getBackend(), 'wasm');
});
