import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend/select';
import { loadOnnxFile, onnxClassifier } from '../../backend/onnx/file-model';
import { GraphBuilder } from '../../backend/onnx/proto';
import { readNpz, npzNames } from '../../data/readers/npz';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { saveModel } from '../../models/io';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { cli } from '../../suite/cli';
import { attackOnWasm, readJson } from './attack-in-process';
import { npyBytes, writeNpz } from '../data/file-writers';

/**
 * `vicinal attack --model FILE.onnx`: a small MNIST MLP trained here, saved
 * as a TF.js model and exported with `vicinal export --onnx`; the same
 * attack on both files must agree example by example.
 */
let dir: string;
let tfjsDir: string;
let onnxFile: string;
const N = 50;
const SQUARE = ['--attack', 'square', '--eps', '0.1', '--n', String(N), '--params', 'square.queries=200', '--seed', '3'];

test.before(async () => {
  await initBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-attack-onnx-'));
  const ds = loadDataset({ name: 'mnist', nTrain: 3000 });
  const model = buildModel({ arch: 'mlp', hidden: [32] }, ds.inputShape, 10, 0);
  trainModel(model, ds, erm({}, ds, new Rng(0)), { epochs: 2, evalEveryEpoch: false, seed: 0 });
  tfjsDir = path.join(dir, 'tfjs');
  await saveModel(model, tfjsDir, { identity: { dataset: ds.settings } });
  model.dispose();
  const code = await cli(['export', '--onnx', path.join(dir, 'onnx'), tfjsDir]);
  if (code !== 0) throw new Error(`export exited ${code}`);
  onnxFile = path.join(dir, 'onnx', 'model.onnx');
});

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test.serial('square on the .onnx file prints results and sanity flags and matches square on the TF.js model example by example; --save-adv keeps the inputs behind the outcomes', async (t) => {
  const onnxOut = path.join(dir, 'onnx.json');
  const tfjsOut = path.join(dir, 'tfjs.json');
  const adv = path.join(dir, 'adv.npz');
  const a = await attackOnWasm(['--model', onnxFile, '--data', 'mnist', ...SQUARE, '--out', onnxOut, '--save-adv', adv]);
  t.is(a.code, 0);
  t.regex(a.text, /clean accuracy [\d.]+% on 50 test examples/);
  t.regex(a.text, /square +linf +0\.1 +[\d.]+%/);
  t.regex(a.text, /sanity flags: /);
  t.notRegex(a.text, /model output: probabilities/, 'logits are not reported as probabilities');
  // The TF.js model without the sanity runs (they do not touch the attack's random stream).
  const b = await attackOnWasm(['--model', tfjsDir, '--data', 'mnist', ...SQUARE, '--out', tfjsOut, '--sanity=false']);
  t.is(b.code, 0);
  const onnx = readJson(onnxOut);
  const tfjs = readJson(tfjsOut);
  t.is(onnx.modelFormat, 'onnx');
  t.is(onnx.examples.length, N);
  t.is(onnx.summary.cleanAccuracy, tfjs.summary.cleanAccuracy);
  t.true(onnx.summary.cleanAccuracy > 0.6, `clean accuracy ${onnx.summary.cleanAccuracy}`);
  // Same seed, logits equal to float precision: the queries take the same path, so outcomes agree.
  // (A logit difference of ~1e-6 could flip a query's accept/reject on a near-tie; 98% allows one such example.)
  const key = 'square@linf:0.1.pred';
  let same = 0;
  for (let i = 0; i < N; i++) if (onnx.examples[i][key] === tfjs.examples[i][key]) same++;
  t.log(`square predictions: ${same}/${N} agree; robust accuracy onnx ${onnx.summary.attacks[0].robustAccuracy}, tfjs ${tfjs.summary.attacks[0].robustAccuracy}`);
  t.true(same >= 0.98 * N, `${same}/${N} agree`);
  t.true(onnx.summary.attacks[0].robustAccuracy < onnx.summary.cleanAccuracy, 'the attack breaks some examples');
  // Input gradients through the differentiated graph: the per-example gradient norms are the TF.js model's.
  for (let i = 0; i < N; i++) {
    const [g, h] = [onnx.examples[i].gradL1, tfjs.examples[i].gradL1];
    t.true(Math.abs(g - h) <= 1e-3 * Math.max(h, 1e-6), `example ${i}: gradL1 ${g} vs ${h}`);
  }

  // The saved adversarial inputs: right names, shapes and dtypes; in the eps ball and the bounds; and the
  // .onnx model's predictions on them are the predictions the results report.
  t.deepEqual(npzNames(adv).sort(), ['bounds', 'clean', 'cleanPred', 'index', 'label', 'square@linf:0.1', 'square@linf:0.1.pred']);
  const arr = readNpz(adv, { x: ['square@linf:0.1'], index: ['index'], label: ['label'] });
  t.deepEqual(arr.x.shape, [N, 28, 28, 1]);
  t.is(arr.x.dtype, 'float32');
  t.is(arr.index.dtype, 'int32');
  t.deepEqual(
    Array.from(arr.index.values),
    Array.from({ length: N }, (_, i) => i),
  );
  const ds = loadDataset({ name: 'mnist' });
  t.deepEqual(Array.from(arr.label.values), Array.from(ds.test.y.subarray(0, N)));
  let maxDev = 0;
  let outOfBox = 0;
  for (let i = 0; i < N * 784; i++) {
    const v = arr.x.values[i];
    maxDev = Math.max(maxDev, Math.abs(v - ds.test.x[i]));
    if (v < 0 || v > 1) outOfBox++;
  }
  t.true(maxDev <= 0.1 + 1e-6, `max |x_adv - x| = ${maxDev}`);
  t.true(maxDev > 0.05, 'the inputs were perturbed');
  t.is(outOfBox, 0);
  const m = loadOnnxFile(onnxFile);
  try {
    const f = onnxClassifier(m, [28, 28, 1], 10, 'mnist');
    const pred = tf.tidy(() =>
      f(tf.tensor(Float32Array.from(arr.x.values), [N, 28, 28, 1]))
        .argMax(1)
        .dataSync(),
    );
    t.deepEqual(
      Array.from(pred),
      onnx.examples.map((e: Record<string, number>) => e[key]),
    );
    // ... and the predictions the file keeps beside them.
    t.deepEqual(Array.from(readNpz(adv, { p: [key] }).p.values), Array.from(pred));
  } finally {
    m.dispose();
  }
});

test.serial('gradient attacks and probes on the .onnx file agree with the TF.js model example by example', async (t) => {
  const argv = ['--data', 'mnist', '--attack', 'fgsm,pgd', '--eps', '0.1', '--n', '30', '--params', 'pgd.steps=10', '--sanity=false', '--probes'];
  const onnxOut = path.join(dir, 'onnx-grad.json');
  const tfjsOut = path.join(dir, 'tfjs-grad.json');
  t.is((await attackOnWasm(['--model', onnxFile, ...argv, '--out', onnxOut])).code, 0);
  t.is((await attackOnWasm(['--model', tfjsDir, ...argv, '--out', tfjsOut])).code, 0);
  const onnx = readJson(onnxOut);
  const tfjs = readJson(tfjsOut);
  for (const key of ['fgsm@linf:0.1.pred', 'pgd@linf:0.1.pred']) {
    let same = 0;
    for (let i = 0; i < 30; i++) if (onnx.examples[i][key] === tfjs.examples[i][key]) same++;
    t.true(same >= 29, `${key}: ${same}/30 agree`);
  }
  t.true(onnx.summary.attacks[1].robustAccuracy < onnx.summary.cleanAccuracy, 'pgd breaks some examples');
  t.truthy(onnx.summary.probes, 'the probes ran');
});

test.serial('--data npz:test.npz (test-only file data) works with a .onnx model: the clean results are those of the same digits from mnist', async (t) => {
  const ds = loadDataset({ name: 'mnist' });
  const npz = path.join(dir, 'test.npz');
  // 28x28 images without a channel axis, labels as int64: the file takes its inputShape from the model.
  writeNpz(npz, { x: npyBytes([N, 28, 28], ds.test.x.subarray(0, N * 784)), y: npyBytes([N], ds.test.y.subarray(0, N), 'int64') });
  const fromFile = path.join(dir, 'file.json');
  const fromMnist = path.join(dir, 'mnist.json');
  const a = await attackOnWasm(['--model', onnxFile, '--data', `npz:${npz}`, '--attack', 'noise', '--eps', '0.1', '--n', String(N), '--out', fromFile]);
  t.is(a.code, 0);
  const b = await attackOnWasm(['--model', onnxFile, '--data', 'mnist', '--attack', 'noise', '--eps', '0.1', '--n', String(N), '--out', fromMnist]);
  t.is(b.code, 0);
  const f = readJson(fromFile);
  const m = readJson(fromMnist);
  t.is(f.dataset.name, 'files');
  t.deepEqual(
    f.examples.map((e: Record<string, number>) => [e.label, e.cleanPred]),
    m.examples.map((e: Record<string, number>) => [e.label, e.cleanPred]),
  );
  t.is(f.summary.cleanAccuracy, m.summary.cleanAccuracy);
  // The literal form, relative to the working directory, through the real CLI.
  const r = spawnSync(
    process.execPath,
    [
      path.join(__dirname, '..', '..', 'suite', 'cli.js'),
      'attack',
      '--model',
      'onnx/model.onnx',
      '--data',
      'npz:test.npz',
      '--attack',
      'square',
      '--eps',
      '0.1',
      '--n',
      '10',
      '--params',
      'square.queries=20',
      '--sanity=false',
      '--backend',
      'wasm',
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /clean accuracy [\d.]+% on 10 test examples/);
  t.regex(r.stdout, /square +linf +0\.1 +[\d.]+%/);
});

test.serial('an .onnx file that outputs probabilities is detected, reported, and attacked through its log: the same outcomes as its logits', async (t) => {
  // The trained MLP's weights as a graph ending in a Softmax, written with the graph builder.
  const n = 20;
  const probsFile = path.join(dir, 'probs.onnx');
  const tfModel = await tf.loadLayersModel(tf.io.fromMemory(readSaved(tfjsDir)));
  const w = tfModel.getWeights().map((v) => Float32Array.from(v.dataSync() as Float32Array));
  tfModel.dispose();
  const g = new GraphBuilder('probs');
  let h = g.op('Flatten', [g.input('x', 'float32', ['N', 28, 28, 1])], { axis: 1 });
  h = g.op('Relu', [g.op('Add', [g.op('MatMul', [h, g.float32(w[0], [784, 32])]), g.float32(w[1], [32])])]);
  h = g.op('Add', [g.op('MatMul', [h, g.float32(w[2], [32, 10])]), g.float32(w[3], [10])]);
  g.output(g.op('Softmax', [h], { axis: 1 }), 'p', 'float32', ['N', 10]);
  fs.writeFileSync(probsFile, g.encode());
  const argv = ['--data', 'mnist', '--attack', 'square', '--eps', '0.1', '--n', String(n), '--params', 'square.queries=100', '--sanity=false'];
  const pOut = path.join(dir, 'probs.json');
  const zOut = path.join(dir, 'logits.json');
  const a = await attackOnWasm(['--model', probsFile, ...argv, '--out', pOut]);
  t.is(a.code, 0);
  t.regex(a.text, /model output: probabilities \(every row of the first \d+ test outputs is >= 0 and sums to 1\); the attacks use log\(p\)/);
  t.is((await attackOnWasm(['--model', onnxFile, ...argv, '--out', zOut])).code, 0);
  const p = readJson(pOut);
  const z = readJson(zOut);
  t.is(p.output.kind, 'probabilities');
  t.is(z.output.kind, 'logits');
  // log softmax differs from the logits by a per-row constant: same predictions, margins and cross-entropy.
  let same = 0;
  for (let i = 0; i < n; i++) if (p.examples[i]['square@linf:0.1.pred'] === z.examples[i]['square@linf:0.1.pred']) same++;
  t.true(same >= 0.95 * n, `${same}/${n} agree`);
  for (let i = 0; i < n; i++) t.true(Math.abs(p.examples[i].cleanLoss - z.examples[i].cleanLoss) < 1e-3);
});

/** The artifacts of a saved TF.js model folder, for tf.io.fromMemory. */
function readSaved(folder: string): tf.io.ModelArtifacts {
  const json = readJson(path.join(folder, 'model.json'));
  const bin = fs.readFileSync(path.join(folder, 'weights.bin'));
  return { modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) };
}
