import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import test from 'ava';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { registerWasmKernels, restoreStockWasmKernels } from '../../backend/kernels/wasm';
import { initBackend } from '../../backend/select';
import { BackendDefectError, refuseDefectiveBackend } from '../../backend/verify';
import { checkGradients, formatGradientReport, GradientCheckReport, TOL_VS_CPU, TOL_VS_FINITE_DIFF } from '../../backend/gradient-check';

// The doctor switches the global backend: every test runs on its own.

test.before(async () => {
  await initBackend('wasm');
});

test.afterEach.always(async () => {
  registerWasmKernels();
  await tf.setBackend('wasm');
});

function rowsOf(r: GradientCheckReport, kernel: string) {
  return r.rows.filter((row) => row.kernel === kernel);
}

test.serial('wasm with the patched kernels passes, covering every layer, quantity and awkward shape', async (t) => {
  const tensors = tf.memory().numTensors;
  const t0 = performance.now();
  const r = await checkGradients();
  const ms = performance.now() - t0;
  t.log(`checkGradients on wasm: ${ms.toFixed(0)} ms`);
  t.log(formatGradientReport(r));
  t.is(r.backend, 'wasm');
  t.is(tf.getBackend(), 'wasm', 'the backend is restored');
  t.is(tf.memory().numTensors, tensors, 'no tensor leaks');
  t.true(r.ok);
  t.deepEqual(r.failing, []);
  t.is(r.tolerance.vsCpu, TOL_VS_CPU);
  t.is(r.tolerance.vsFiniteDiff, TOL_VS_FINITE_DIFF);
  t.true(r.tolerance.description.length > 0);
  for (const row of r.rows) {
    t.true(row.ok, `${row.layer} ${row.shape}`);
    t.true(row.maxRelErrVsCpu <= TOL_VS_CPU && row.maxRelErrVsFiniteDiff <= TOL_VS_FINITE_DIFF);
    t.true(Number.isFinite(row.maxAbsErrVsCpu));
  }
  // coverage: every layer type; input and weight gradients; the kernels that matter
  const layers = new Set(r.rows.map((row) => row.layer));
  t.deepEqual([...layers].sort(), ['conv2d', 'dense', 'maxPool', 'relu', 'softmaxCrossEntropy']);
  for (const layer of ['dense', 'conv2d']) {
    const qs = new Set(r.rows.filter((row) => row.layer === layer).map((row) => row.quantity));
    t.deepEqual([...qs].sort(), ['input', 'weight'], layer);
  }
  for (const k of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'BatchMatMul']) {
    t.true(rowsOf(r, k).length >= 2, k);
  }
  // awkward shapes: batch > 1, channels > 1, H != W, stride 2 valid; and the MNIST CNN's shapes
  const shapes = r.rows.map((row) => row.shape).join('\n');
  t.regex(shapes, /x\[3,7,6,2\] w\[3,3,2,4\] stride 1 same/);
  t.regex(shapes, /x\[3,7,6,2\] w\[3,3,2,4\] stride 2 valid/);
  t.regex(shapes, /x\[3,6,4,3\] 2x2 stride 2 valid/);
  t.regex(shapes, /mnist x\[2,28,28,1\] w\[5,5,1,16\]/);
  t.regex(shapes, /mnist x\[1,14,14,16\] w\[5,5,16,32\]/);
  t.regex(shapes, /mnist x\[2,1568\] w\[1568,10\]/);
  // the start-up check must stay cheap (the target is well under 2 s; loose bound for loaded machines)
  t.true(ms < 10_000, `checkGradients took ${ms} ms`);
});

test.serial('the cpu backend passes its own check (finite differences only)', async (t) => {
  await tf.setBackend('cpu');
  const r = await checkGradients();
  t.is(r.backend, 'cpu');
  t.is(tf.getBackend(), 'cpu');
  t.true(r.ok, formatGradientReport(r));
  t.true(r.rows.every((row) => row.maxAbsErrVsCpu === 0));
  t.true(
    r.rows.some((row) => row.maxRelErrVsFiniteDiff > 0),
    'finite differences were actually evaluated',
  );
});

test.serial('the stock wasm MaxPoolGrad is caught and named', async (t) => {
  restoreStockWasmKernels(['MaxPoolGrad']);
  const r = await checkGradients();
  t.is(tf.getBackend(), 'wasm');
  t.false(r.ok);
  t.deepEqual(r.failing, ['MaxPoolGrad']);
  const pool = rowsOf(r, 'MaxPoolGrad');
  t.true(pool.length >= 4);
  // every pooling row fails against cpu, by a wide margin (not a tolerance artefact)
  for (const row of pool) t.true(row.maxRelErrVsCpu > 100 * TOL_VS_CPU, `${row.shape}: ${row.maxRelErrVsCpu}`);
  // ... and the finite differences alone catch it too (rows with ties are cpu-only)
  t.true(pool.filter((row) => !/ties/.test(row.shape)).every((row) => row.maxRelErrVsFiniteDiff > TOL_VS_FINITE_DIFF));
  // the other kernels (ours included) still pass
  t.true(r.rows.filter((row) => row.kernel !== 'MaxPoolGrad').every((row) => row.ok));
  t.regex(formatGradientReport(r), /FAILING kernels: MaxPoolGrad/);

  const err = await t.throwsAsync(refuseDefectiveBackend(), { instanceOf: BackendDefectError });
  t.regex(err?.message ?? '', /backend "wasm".*gradient MaxPoolGrad/);
  t.deepEqual((err as BackendDefectError).verification.gradients.failing, ['MaxPoolGrad']);

  registerWasmKernels();
  const fixed = await refuseDefectiveBackend();
  t.true(fixed.ok);
});

test.serial('the fully stock wasm backend is reported, not crashed: missing Conv2DBackpropFilter and wrong MaxPoolGrad', async (t) => {
  restoreStockWasmKernels();
  t.falsy(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  const r = await checkGradients();
  t.is(tf.getBackend(), 'wasm');
  t.false(r.ok);
  t.deepEqual([...r.failing].sort(), ['Conv2DBackpropFilter', 'MaxPoolGrad']);
  for (const row of rowsOf(r, 'Conv2DBackpropFilter')) {
    t.false(row.ok);
    t.regex(row.error ?? '', /Conv2DBackpropFilter.*not registered/);
  }
  // the stock Conv2DBackpropInput is slow but correct
  t.true(rowsOf(r, 'Conv2DBackpropInput').every((row) => row.ok));
  const text = formatGradientReport(r);
  t.regex(text, /FAIL/);
  t.regex(text, /FAILING kernels: .*Conv2DBackpropFilter/);
});

test.serial('the report is deterministic', async (t) => {
  const a = await checkGradients();
  const b = await checkGradients();
  t.deepEqual(a, b);
});

test.serial('vicinal doctor: exit 0 on the patched wasm backend, exit 1 naming the kernels with --stock', (t) => {
  const cli = path.join(__dirname, '..', '..', 'suite', 'cli.js');
  const ok = spawnSync(process.execPath, [cli, 'doctor', '--backend', 'wasm'], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, /all \d+ gradients ok/);
  const stock = spawnSync(process.execPath, [cli, 'doctor', '--backend', 'wasm', '--stock'], { encoding: 'utf8' });
  t.is(stock.status, 1);
  t.regex(stock.stdout, /FAILING kernels: .*Conv2DBackpropFilter.*MaxPoolGrad/);
  const cpu = spawnSync(process.execPath, [cli, 'doctor', '--backend', 'cpu', '--stock'], { encoding: 'utf8' });
  t.is(cpu.status, 2);
  t.regex(cpu.stderr, /--stock applies to the wasm backend/);
});
