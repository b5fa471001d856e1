/**
 * fashion-mnist: the original 60,000 + 10,000 images from Debian's
 * dataset-fashion-mnist, as published, with seeded stratified subsets; and
 * the one-line error (exit 2) where the package is missing.
 */
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset } from '../../data/registry';
import { needsSystemPackage } from '../system-deps';

const gate = needsSystemPackage('dataset-fashion-mnist', __filename);
const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');

const counts = (y: Int32Array) => {
  const c = new Array(10).fill(0);
  for (const v of y) c[v]++;
  return c;
};

gate.serial('the full sets as published: 60,000 / 10,000 images of 28x28 in [0, 1], 10 balanced classes, published order', (t) => {
  const ds = loadDataset({ name: 'fashion-mnist' });
  t.deepEqual([ds.train.n, ds.test.n, ds.train.x.length, ds.test.x.length], [60000, 10000, 60000 * 784, 10000 * 784]);
  t.deepEqual([ds.inputShape, ds.numClasses, ds.bounds], [[28, 28, 1], 10, { lo: 0, hi: 1 }]);
  t.deepEqual(counts(ds.train.y), new Array(10).fill(6000));
  t.deepEqual(counts(ds.test.y), new Array(10).fill(1000));
  // The first labels of the published files (ankle boot, T-shirt, T-shirt, dress, ...).
  t.deepEqual(Array.from(ds.train.y.subarray(0, 10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  t.deepEqual(Array.from(ds.test.y.subarray(0, 10)), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of ds.test.x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  t.deepEqual([lo, hi], [0, 1]);
  // Pixels are bytes / 255.
  t.true(Array.from(ds.train.x.subarray(0, 784)).every((v) => Number.isInteger(Math.round(v * 255)) && Math.abs(v * 255 - Math.round(v * 255)) < 1e-4));
  t.deepEqual(ds.settings, { name: 'fashion-mnist', seed: 0, nTrain: 60000, nTest: 10000, source: 'Debian dataset-fashion-mnist (60000 + 10000 images)' });
});

gate.serial('nTrain / nTest subsets: stratified, seeded, drawn from the published sets', (t) => {
  const full = loadDataset({ name: 'fashion-mnist' });
  const a = loadDataset({ name: 'fashion-mnist', nTrain: 10000, nTest: 2000, seed: 0 });
  t.deepEqual([a.train.n, a.test.n], [10000, 2000]);
  t.deepEqual(counts(a.train.y), new Array(10).fill(1000));
  t.deepEqual(counts(a.test.y), new Array(10).fill(200));
  const b = loadDataset({ name: 'fashion-mnist', nTrain: 10000, nTest: 2000, seed: 0 });
  t.deepEqual(a.train.y, b.train.y);
  t.deepEqual(a.test.x.subarray(0, 7840), b.test.x.subarray(0, 7840));
  t.notDeepEqual(loadDataset({ name: 'fashion-mnist', nTrain: 10000, nTest: 2000, seed: 1 }).train.y, a.train.y);
  // Every test image of the subset is one of the published test images with its label.
  const key = (x: Float32Array, i: number) => {
    let h = 0x811c9dc5;
    for (let j = i * 784; j < i * 784 + 784; j++) h = Math.imul(h ^ Math.round(x[j] * 255), 0x01000193) >>> 0;
    return h;
  };
  const index = new Map<number, number>();
  for (let i = 0; i < full.test.n; i++) index.set(key(full.test.x, i), full.test.y[i]);
  for (let i = 0; i < a.test.n; i++) t.is(index.get(key(a.test.x, i)), a.test.y[i]);
});

test('without the package: one line naming the package and the install command, exit 2, nothing written', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-fmnist-'));
  const cfg = path.join(dir, 'study.json');
  fs.writeFileSync(
    cfg,
    JSON.stringify({
      name: 'f',
      schemes: [{ name: 'erm' }],
      attacks: [{ name: 'fgsm' }],
      experiments: [{ dataset: { name: 'fashion-mnist', nTrain: 1000, nTest: 100 }, models: [{ arch: 'mlp', hidden: [8] }], eval: { eps: [0.1] } }],
    }),
  );
  const out = path.join(dir, 'run');
  const r = spawnSync(process.execPath, [CLI, 'run', cfg, '--out', out, '--backend', 'wasm', '--quiet'], { encoding: 'utf8', env: { ...process.env, VICINAL_FASHION_MNIST_DIR: dir } });
  t.is(r.status, 2, r.stderr);
  t.is(r.stderr.trim(), `vicinal: dataset "fashion-mnist" needs the Debian package dataset-fashion-mnist (${dir}/train-images-idx3-ubyte.gz not found): sudo apt-get install -y dataset-fashion-mnist`);
  t.false(fs.existsSync(out));
  fs.rmSync(dir, { recursive: true, force: true });
});
