/**
 * Models from other tools: a folder as the TF.js converter writes it from a
 * Keras model (model.json with a Keras-style Functional or Sequential
 * topology under model_config, an InputLayer, sharded weights named
 * layer/kernel) loads and gives the original's logits; a final softmax is
 * detected and the attacks use log(p); layers outside the family are refused
 * by name with exit code 2.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend/select';
import { Classifier } from '../../contract/classifier';
import { loadForeignModel, loadModel, logOfProbabilities, looksLikeProbabilities } from '../../models/io';
import { writeNpz, npyBytes } from '../data/file-writers';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const SHAPE = [6, 6, 1];
const CLASSES = 3;
let dir: string;
let reference: tf.LayersModel;
let x: tf.Tensor;

/** The reference: conv 4 3x3 same relu - maxpool 2 - flatten - dense 16 relu - dropout - dense 3 (logits), built in TF.js. */
function buildReference(): tf.LayersModel {
  const input = tf.input({ shape: SHAPE, name: 'input_1' });
  let h = tf.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      name: 'conv2d',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: 2 }),
    })
    .apply(input) as tf.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.flatten({ name: 'flatten' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .dense({
      units: 16,
      activation: 'relu',
      name: 'dense',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: 4 }),
    })
    .apply(h) as tf.SymbolicTensor;
  h = tf.layers.dropout({ rate: 0.2, name: 'dropout' }).apply(h) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: CLASSES, name: 'dense_1', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }), biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 6 }) })
    .apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'model' });
}

const init = (cls: string) => ({ module: 'keras.initializers', class_name: cls, config: cls === 'GlorotUniform' ? { seed: null } : {}, registered_name: null });
const conv = {
  class_name: 'Conv2D',
  config: {
    name: 'conv2d',
    trainable: true,
    dtype: 'float32',
    filters: 4,
    kernel_size: [3, 3],
    strides: [1, 1],
    padding: 'same',
    data_format: 'channels_last',
    dilation_rate: [1, 1],
    groups: 1,
    activation: 'relu',
    use_bias: true,
    kernel_initializer: init('GlorotUniform'),
    bias_initializer: init('Zeros'),
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    bias_constraint: null,
  },
};
const pool = { class_name: 'MaxPooling2D', config: { name: 'max_pooling2d', trainable: true, dtype: 'float32', pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' } };
const flatten = { class_name: 'Flatten', config: { name: 'flatten', trainable: true, dtype: 'float32', data_format: 'channels_last' } };
const dense = (name: string, units: number, activation: string) => ({
  class_name: 'Dense',
  config: {
    name,
    trainable: true,
    dtype: 'float32',
    units,
    activation,
    use_bias: true,
    kernel_initializer: init('GlorotUniform'),
    bias_initializer: init('Zeros'),
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    bias_constraint: null,
  },
});
const dropout = { class_name: 'Dropout', config: { name: 'dropout', trainable: true, dtype: 'float32', rate: 0.2, noise_shape: null, seed: null } };
const inputLayer = { class_name: 'InputLayer', config: { batch_input_shape: [null, ...SHAPE], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' } };

/** Keras 2's Functional topology (as model.to_json() writes it and the TF.js converter keeps it under model_config). */
function functionalTopology(finalActivation = 'linear', className = 'Functional', extra: { class_name: string; config: { name: string; [k: string]: unknown } }[] = []): object {
  const chain: { class_name: string; config: { name: string; [k: string]: unknown } }[] = [
    inputLayer,
    conv,
    pool,
    flatten,
    dense('dense', 16, 'relu'),
    dropout,
    dense('dense_1', CLASSES, finalActivation),
    ...extra,
  ];
  const layers = chain.map((l, i) => ({ ...l, name: l.config.name, inbound_nodes: i === 0 ? [] : [[[chain[i - 1].config.name, 0, 0, {}]]] }));
  const last = chain[chain.length - 1].config.name;
  return {
    keras_version: '2.13.1',
    backend: 'tensorflow',
    model_config: { class_name: className, config: { name: 'model', trainable: true, layers, input_layers: [['input_1', 0, 0]], output_layers: [[last, 0, 0]] } },
    training_config: {
      loss: 'sparse_categorical_crossentropy',
      metrics: null,
      weighted_metrics: null,
      loss_weights: null,
      optimizer_config: { class_name: 'Custom>Adam', config: { name: 'Adam', learning_rate: 0.001 } },
    },
  };
}

/** Keras 2's Sequential topology: the InputLayer listed first. */
function sequentialTopology(finalActivation = 'linear'): object {
  return {
    keras_version: '2.13.1',
    backend: 'tensorflow',
    model_config: {
      class_name: 'Sequential',
      config: { name: 'sequential', layers: [inputLayer, conv, pool, flatten, dense('dense', 16, 'relu'), dropout, dense('dense_1', CLASSES, finalActivation)] },
    },
  };
}

const WEIGHT_NAMES = ['conv2d/kernel', 'conv2d/bias', 'dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias'];

/**
 * Writes a converter-style folder: model.json plus the reference's weights as
 * float32 split into `shards` files at byte offsets that cut through weights,
 * as tensorflowjs_converter's shard size does.
 */
function writeConverted(folder: string, topology: object, shards = 3): void {
  fs.mkdirSync(folder, { recursive: true });
  const weights = reference.getWeights();
  const bytes = Buffer.concat(weights.map((w) => Buffer.from((w.dataSync() as Float32Array).buffer.slice(0))));
  const cut = Math.ceil(bytes.length / shards) + 2; // not a multiple of 4: weights straddle shards
  const paths: string[] = [];
  for (let s = 0; s * cut < bytes.length; s++) {
    const name = `group1-shard${s + 1}of${shards}.bin`;
    fs.writeFileSync(path.join(folder, name), bytes.subarray(s * cut, (s + 1) * cut));
    paths.push(name);
  }
  const json = {
    format: 'layers-model',
    generatedBy: 'keras v2.13.1',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: topology,
    weightsManifest: [{ paths, weights: weights.map((w, i) => ({ name: WEIGHT_NAMES[i], shape: w.shape, dtype: 'float32' })) }],
  };
  fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(json));
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];

test.before(async () => {
  await initBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-foreign-'));
  reference = buildReference();
  x = tf.randomUniform([7, ...SHAPE], 0, 1, 'float32', 9);
});

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const className of ['Functional', 'Model']) {
  test(`a converter-style ${className} folder with an InputLayer and 3 weight shards gives the original's logits`, async (t) => {
    const folder = path.join(dir, `functional-${className}`);
    writeConverted(folder, functionalTopology('linear', className));
    t.is(fs.readdirSync(folder).filter((f) => f.endsWith('.bin')).length, 3);
    const { model, softmaxLayer } = await loadForeignModel(folder);
    t.is(softmaxLayer, null);
    t.deepEqual(model.inputs[0].shape, [null, ...SHAPE]);
    t.deepEqual(
      model.layers.map((l) => l.getClassName()),
      ['InputLayer', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dropout', 'Dense'],
    );
    const want = reference.predict(x) as tf.Tensor;
    const got = model.predict(x) as tf.Tensor;
    t.true(maxAbsDiff(want, got) <= 1e-6, `max |diff| ${maxAbsDiff(want, got)}`);
    t.false(looksLikeProbabilities(got.dataSync(), CLASSES), 'logits, not probabilities');
    // loadModel (used for vicinal's own models) reads the same folder, and model.json itself names it too.
    const plain = await loadModel(path.join(folder, 'model.json'));
    t.true(maxAbsDiff(want, plain.model.predict(x) as tf.Tensor) <= 1e-6);
  });
}

test('a Keras Sequential topology with an InputLayer loads with the same logits', async (t) => {
  const folder = path.join(dir, 'sequential');
  writeConverted(folder, sequentialTopology(), 2);
  const { model } = await loadForeignModel(folder);
  t.true(maxAbsDiff(reference.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor) <= 1e-6);
});

test('a final softmax (in the Dense layer, or as an Activation layer) is found, and the model then returns log p up to a per-row constant', async (t) => {
  const logits = reference.predict(x) as tf.Tensor;
  const variants: [string, object, string][] = [
    ['dense-softmax', functionalTopology('softmax'), 'dense_1'],
    ['sequential-softmax', sequentialTopology('softmax'), 'dense_1'],
    [
      'activation-softmax',
      functionalTopology('linear', 'Functional', [{ class_name: 'Activation', config: { name: 'activation', trainable: true, dtype: 'float32', activation: 'softmax' } }]),
      'activation',
    ],
    ['softmax-layer', functionalTopology('linear', 'Functional', [{ class_name: 'Softmax', config: { name: 'softmax', trainable: true, dtype: 'float32', axis: -1 } }]), 'softmax'],
  ];
  for (const [name, topology, layer] of variants) {
    const folder = path.join(dir, name);
    writeConverted(folder, topology);
    // As converted, the model outputs probabilities.
    const asIs = await loadModel(folder);
    const probs = asIs.model.predict(x) as tf.Tensor;
    t.true(looksLikeProbabilities(probs.dataSync(), CLASSES), name);
    const { model, softmaxLayer } = await loadForeignModel(folder);
    t.is(softmaxLayer, layer, name);
    const z = model.predict(x) as tf.Tensor;
    // The attacks see z, and log softmax(z) is the converted model's log p.
    t.true(maxAbsDiff(tf.logSoftmax(z), tf.log(probs)) <= 1e-5, name);
    t.true(maxAbsDiff(z, logits) <= 1e-6, name);
  }
});

test('looksLikeProbabilities and logOfProbabilities: rows >= 0 summing to 1 are probabilities; the wrapper returns their log', (t) => {
  t.true(looksLikeProbabilities([0.2, 0.8, 1, 0], 2));
  t.false(looksLikeProbabilities([0.2, 0.7, 1, 0], 2), 'a row sums to 0.9');
  t.false(looksLikeProbabilities([-0.2, 1.2], 2), 'a negative entry');
  t.false(looksLikeProbabilities([], 2));
  const p: Classifier = () =>
    tf.tensor2d([
      [0.25, 0.75],
      [1, 0],
    ]);
  const logp = logOfProbabilities(p)(tf.zeros([2, 1])).arraySync();
  t.true(Math.abs(logp[0][0] - Math.log(0.25)) < 1e-6 && Math.abs(logp[0][1] - Math.log(0.75)) < 1e-6);
  t.true(Number.isFinite(logp[1][1]) && logp[1][1] < -60, 'log 0 is floored, finite');
});

/** A test set for the reference model: npz with x [n, 6, 6, 1] in [0, 1] and the reference's own predictions as labels. */
function referenceData(file: string, n = 40): string {
  const xs = tf.randomUniform([n, ...SHAPE], 0, 1, 'float32', 11);
  const ys = tf.argMax(reference.predict(xs) as tf.Tensor, -1).dataSync() as Int32Array;
  return writeNpz(file, { x: npyBytes([n, ...SHAPE], xs.dataSync()), y: npyBytes([n], ys, 'int64') });
}

const cli = (args: string[]) => spawnSync(process.execPath, [CLI, 'attack', '--backend', 'wasm', ...args], { encoding: 'utf8' });

test("vicinal attack: a softmax model reports probabilities and gets exactly the logits model's results", (t) => {
  const data = referenceData(path.join(dir, 'ref.npz'));
  const outs: Record<string, { summary: { cleanAccuracy: number; attacks: { robustAccuracy: number; meanLoss: number }[] }; output: { kind: string; softmaxLayer: string | null } }> = {};
  for (const name of ['functional-Functional', 'dense-softmax']) {
    const out = path.join(dir, `${name}.json`);
    const r = cli(['--model', path.join(dir, name), '--data', `npz:${data}`, '--attack', 'fgsm,pgd', '--eps', '0.05,0.2', '--params', 'pgd.steps=10', '--out', out]);
    t.is(r.status, 0, r.stderr);
    if (name === 'dense-softmax') t.regex(r.stdout, /model output: probabilities \(softmax in layer "dense_1"\); the attacks use log\(p\)/);
    else t.notRegex(r.stdout, /model output/);
    outs[name] = JSON.parse(fs.readFileSync(out, 'utf8'));
  }
  const [a, b] = [outs['functional-Functional'], outs['dense-softmax']];
  t.is(a.output.kind, 'logits');
  t.deepEqual([b.output.kind, b.output.softmaxLayer], ['probabilities', 'dense_1']);
  t.is(a.summary.cleanAccuracy, 1, "labels are the reference's own predictions");
  t.deepEqual(
    b.summary.attacks.map((r) => r.robustAccuracy),
    a.summary.attacks.map((r) => r.robustAccuracy),
  );
  b.summary.attacks.forEach((r, i) => t.true(Math.abs(r.meanLoss - a.summary.attacks[i].meanLoss) < 1e-4, 'same cross-entropy: log p = z - logsumexp z'));
});

test('vicinal attack refuses models outside the family by layer name, and broken weights, with one line and exit 2', (t) => {
  const data = referenceData(path.join(dir, 'ref2.npz'), 10);
  const ln = { class_name: 'LayerNormalization', config: { name: 'layer_normalization', trainable: true, dtype: 'float32', axis: [1], epsilon: 0.001, center: true, scale: true } };
  const tanh = functionalTopology('tanh');
  const cases: [string, (folder: string) => void, RegExp][] = [
    [
      'layernorm',
      (f) => writeConverted(f, functionalTopology('linear', 'Functional', [ln])),
      /layer "layer_normalization" is LayerNormalization, outside the supported family \(InputLayer, Dense, Conv2D/,
    ],
    ['tanh', (f) => writeConverted(f, tanh), /layer "dense_1" \(Dense\) has activation "tanh", outside the supported family/],
    [
      'missing-shard',
      (f) => {
        writeConverted(f, functionalTopology());
        fs.rmSync(path.join(f, 'group1-shard2of3.bin'));
      },
      /weights file group1-shard2of3\.bin is missing/,
    ],
    [
      'truncated-shard',
      (f) => {
        writeConverted(f, functionalTopology());
        const p = path.join(f, 'group1-shard3of3.bin');
        fs.writeFileSync(p, fs.readFileSync(p).subarray(0, 10));
      },
      /hold \d+ bytes, the manifest describes \d+ \(truncated or from another model\)/,
    ],
    [
      'graph-model',
      (f) => {
        fs.mkdirSync(f);
        fs.writeFileSync(path.join(f, 'model.json'), JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
      },
      /format "graph-model" is not a TF\.js Layers model/,
    ],
  ];
  for (const [name, make, msg] of cases) {
    const folder = path.join(dir, `bad-${name}`);
    make(folder);
    const out = path.join(dir, `bad-${name}.json`);
    const r = cli(['--model', folder, '--data', `npz:${data}`, '--eps', '0.1', '--out', out]);
    t.is(r.status, 2, `${name}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, name);
    t.regex(lines[0], msg, name);
    t.regex(lines[0], /^vicinal: cannot load model from /, name);
    t.false(fs.existsSync(out), `${name}: nothing written`);
  }
});
