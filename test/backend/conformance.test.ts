import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { checkOpConformance, CONFORMANCE_RTOL, formatConformanceReport, OP_CASES, SPECIAL } from '../../backend/conformance';
import { registerWasmKernels, restoreStockWasmKernels } from '../../backend/kernels/wasm';
import { initBackend } from '../../backend/select';
import { BackendDefectError, refuseDefectiveBackend } from '../../backend/verify';

// These tests switch kernels and the global backend: each runs on its own.

test.before(async () => {
  await initBackend('wasm');
});

test.afterEach.always(async () => {
  registerWasmKernels();
  await tf.setBackend('wasm');
});

test.serial('the probe inputs reach tiny, subnormal, signed-zero and huge values', (t) => {
  const f32 = Float32Array.from(SPECIAL);
  t.true(f32.some((v) => Object.is(v, -0)) && f32.some((v) => Object.is(v, 0)));
  t.true(
    f32.some((v) => v > 0 && v < 1.1754944e-38),
    'a positive subnormal',
  );
  t.true(
    f32.some((v) => v < 0 && v > -1.1754944e-38),
    'a negative subnormal',
  );
  t.true(
    f32.some((v) => v > 0 && v <= 1e-8 && v >= 1.1754944e-38),
    'tiny normals',
  );
  t.true(f32.some((v) => v >= 1e38) && f32.some((v) => v <= -1e38), 'huge of both signs');
  t.true(f32.every((v) => Number.isFinite(v)));
});

test.serial('wasm with vicinal kernels agrees with cpu on every op and gradient; no leaks; backend restored', async (t) => {
  const before = tf.memory().numTensors;
  const r = await checkOpConformance();
  t.log(formatConformanceReport(r));
  t.is(r.backend, 'wasm');
  t.is(tf.getBackend(), 'wasm');
  t.is(tf.memory().numTensors, before);
  t.is(r.rtol, CONFORMANCE_RTOL);
  t.true(r.ok, r.failing.join(', '));
  t.is(r.rows.length, OP_CASES.length);
  for (const row of r.rows) t.true(row.n > 0 && row.mismatches === 0, row.op);
});

test.serial('every tfjs compute op the source calls is covered by a conformance case', (t) => {
  // Scan the TypeScript sources for tf.<op>( calls; compare with the ops the cases call.
  const root = path.join(__dirname, '..', '..', '..');
  const dirs = ['data', 'backend', 'models', 'attacks', 'eval', 'suite', 'reports'].filter((d) => fs.existsSync(path.join(root, d)));
  const called = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/\btf\.([a-zA-Z0-9]+)\(/g)) called.add(m[1]);
    }
  };
  for (const d of dirs) walk(path.join(root, d));
  const covered = new Set<string>();
  for (const c of OP_CASES) for (const m of c.run.toString().matchAll(/\btf\.([a-zA-Z0-9]+)\(/g)) covered.add(m[1]);
  // Not computations on values: tensor construction, memory, registry, autodiff drivers, shape-only ops, models, random draws (never compared across backends: vicinal draws from its own seeded Rng).
  const notCompute = new Set([
    'tidy',
    'keep',
    'dispose',
    'tensor',
    'tensor1d',
    'tensor2d',
    'tensor3d',
    'tensor4d',
    'scalar',
    'zeros',
    'zerosLike',
    'ones',
    'onesLike',
    'fill',
    'getKernel',
    'registerKernel',
    'unregisterKernel',
    'setBackend',
    'getBackend',
    'findBackend',
    'backend',
    'ready',
    'engine',
    'memory',
    'grad',
    'grads',
    'valueAndGrad',
    'valueAndGrads',
    'customGrad',
    'variableGrads',
    'sequential',
    'model',
    // a Functional model's symbolic input (models/resnet.ts): builds a graph, computes nothing
    'input',
    'loadLayersModel',
    'io',
    'reshape',
    'squeeze',
    'expandDims',
    'linspace',
    'randomUniform',
    'randomNormal',
    'variable',
    'buffer',
  ]);
  const missing = [...called].filter((op) => !notCompute.has(op) && !covered.has(op)).sort();
  t.deepEqual(missing, [], `tf ops called in the source without a conformance case: ${missing.join(', ')}`);
  t.true(called.has('sign') && covered.has('sign'));
});

test.serial('the stock wasm Sign is caught: 0 for tiny and subnormal inputs, and the backend is refused naming the op', async (t) => {
  restoreStockWasmKernels(['Sign']);
  const r = await checkOpConformance();
  t.false(r.ok);
  t.deepEqual(r.failing, ['sign', 'sign * eps (FGSM step)']);
  const row = r.rows.find((x) => x.op === 'sign')!;
  // every nonzero |x| < ~1e-7 (tiny and subnormal, both signs) differs
  const expected = SPECIAL.filter((v) => v !== 0 && Math.abs(Math.fround(v)) < 1.5e-7).length;
  t.true(row.mismatches >= expected - 2 && row.mismatches <= expected, `${row.mismatches} vs ${expected}`);
  t.regex(row.example ?? '', /cpu (1|-1), wasm 0/);
  t.regex(formatConformanceReport(r), /FAILING ops: sign/);
  const err = await t.throwsAsync(refuseDefectiveBackend(), { instanceOf: BackendDefectError });
  t.regex(err?.message ?? '', /backend "wasm" disagrees with the cpu reference \(op sign; op sign \* eps/);
  registerWasmKernels();
  const fixed = await refuseDefectiveBackend();
  t.true(fixed.ok);
});

test.serial('the stock wasm MaxPoolGrad is caught by the conformance check too (all-negative windows)', async (t) => {
  restoreStockWasmKernels(['MaxPoolGrad']);
  const r = await checkOpConformance();
  t.deepEqual(r.failing, ['grad maxPool']);
});

test.serial('cpu is its own reference: every case passes trivially and the report is deterministic', async (t) => {
  await tf.setBackend('cpu');
  const a = await checkOpConformance();
  const b = await checkOpConformance();
  t.true(a.ok);
  t.deepEqual(a, b);
  t.is(tf.getBackend(), 'cpu');
});

test.serial('vicinal doctor prints both checks; --stock exits 1 naming op sign', (t) => {
  const cli = path.join(__dirname, '..', '..', 'suite', 'cli.js');
  const ok = spawnSync(process.execPath, [cli, 'doctor', '--backend', 'wasm'], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stdout + ok.stderr);
  t.regex(ok.stdout, /all \d+ ops agree with cpu/);
  t.regex(ok.stdout, /backend ok/);
  const stock = spawnSync(process.execPath, [cli, 'doctor', '--backend', 'wasm', '--stock'], { encoding: 'utf8' });
  t.is(stock.status, 1);
  t.regex(stock.stdout, /FAILING ops: sign/);
  t.regex(stock.stdout, /backend REFUSED: op sign/);
});
