import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildModel } from '../../models/build';
import { loadModel, saveModel } from '../../models/io';
import { initBackend } from '../../backend/select';

test.before(async () => {
  await initBackend('wasm');
});

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

for (const arch of ['linear', 'mlp', 'cnn'] as const) {
  test(`${arch}: same seed gives identical weights, another seed different ones`, (t) => {
    const shape = [28, 28, 1];
    const a = buildModel({ arch, hidden: [32, 16], filters: [4, 8] }, shape, 10, 3);
    const b = buildModel({ arch, hidden: [32, 16], filters: [4, 8] }, shape, 10, 3);
    const c = buildModel({ arch, hidden: [32, 16], filters: [4, 8] }, shape, 10, 4);
    t.deepEqual(weightsOf(a), weightsOf(b));
    t.notDeepEqual(weightsOf(a), weightsOf(c));
    // Layers within one model get distinct initialisations.
    const kernels = a.getWeights().filter((w) => w.shape.length > 1);
    if (kernels.length > 1) t.notDeepEqual(Array.from(kernels[0].dataSync().slice(0, 8)), Array.from(kernels[1].dataSync().slice(0, 8)));
  });

  test(`${arch}: outputs logits, not probabilities`, (t) => {
    const m = buildModel({ arch, hidden: [32], filters: [4, 8] }, [28, 28, 1], 10, 0);
    const x = tf.randomUniform([6, 28, 28, 1], 0, 1, 'float32', 1);
    const y = m.predict(x) as tf.Tensor;
    t.deepEqual(y.shape, [6, 10]);
    const v = y.dataSync();
    const rowSums = tf.sum(y, -1).dataSync();
    t.true(
      Array.from(v).some((z) => z < 0),
      'logits take negative values',
    );
    t.true(
      Array.from(rowSums).some((s) => Math.abs(s - 1) > 1e-3),
      'rows do not sum to 1',
    );
    t.is(m.layers[m.layers.length - 1].getConfig().activation, 'linear');
  });
}

test('save/load round trip in TF.js Layers format gives identical logits', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-io-'));
  const m = buildModel({ arch: 'cnn', filters: [4, 8] }, [28, 28, 1], 10, 1);
  await saveModel(m, dir, { note: 'hello' });
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  t.is(json.format, 'layers-model');
  t.deepEqual(json.weightsManifest[0].paths, ['./weights.bin']);
  const bytes = json.weightsManifest[0].weights.reduce((s: number, w: { shape: number[] }) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
  t.is(fs.statSync(path.join(dir, 'weights.bin')).size, bytes);
  t.deepEqual(fs.readdirSync(dir).sort(), ['model.json', 'weights.bin'], 'no temporary files left');
  // The weights file is the float32 weights concatenated in manifest order.
  const raw = new Float32Array(fs.readFileSync(path.join(dir, 'weights.bin')).buffer.slice(0));
  t.deepEqual(Array.from(raw.slice(0, 5)), Array.from(m.getWeights()[0].dataSync().slice(0, 5)));
  const { model, metadata } = await loadModel(dir);
  t.deepEqual(metadata, { note: 'hello' });
  const x = tf.randomUniform([5, 28, 28, 1], 0, 1, 'float32', 2);
  t.deepEqual((model.predict(x) as tf.Tensor).dataSync(), (m.predict(x) as tf.Tensor).dataSync());
});

test('loading a missing or corrupt model is a clear error', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-io-'));
  await t.throwsAsync(loadModel(dir), { message: /model.json is missing/ });
  fs.writeFileSync(path.join(dir, 'model.json'), '{ not json');
  await t.throwsAsync(loadModel(dir), { message: /not valid JSON/ });
});
