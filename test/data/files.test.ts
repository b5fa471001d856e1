/**
 * The `files` dataset on real files: arrays written by numpy itself
 * (test/data/fixtures, see its README) and IDX / NPY / NPZ / CSV files written
 * here from the format specifications (file-writers.ts), read back value for
 * value; inferred and declared shape, bounds and class count; subsets; the
 * content hash in the study's job ids.
 */
import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UsageError } from '../../contract/errors';
import { filesContentHash } from '../../data/datasets/files';
import { DatasetSpec, loadDataset, resolveDatasetSpec } from '../../data/registry';
import { validateStudy } from '../../suite/config';
import { planStudy } from '../../suite/plan';
import { npyBytes, writeCsv, writeIdx, writeNpy, writeNpz } from './file-writers';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'data', 'fixtures');
const fx = (f: string) => path.join(FIXTURES, f);
let dir: string;
const tmp = (f: string) => path.join(dir, f);

/** What numpy wrote: x = arange(36).reshape(6, 2, 3) / 40 as float32, y = [0, 1, 2, 0, 1, 2]. */
const X = Float32Array.from({ length: 36 }, (_, i) => Math.fround(i / 40));
const Y = Int32Array.from([0, 1, 2, 0, 1, 2]);

test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-files-'));
});
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test('numpy .npy (float32, big-endian float64, int64, uint8) and .npz (savez, savez_compressed, keras-style names) read value for value', (t) => {
  const specs: DatasetSpec[] = [
    { name: 'files', train: { x: fx('x.npy'), y: fx('y.npy') }, test: { x: fx('x-be-f8.npy'), y: fx('y-u1.npy') } },
    { name: 'files', train: fx('xy.npz'), test: fx('xy-compressed.npz') },
    { name: 'files', train: fx('keras-style.npz'), test: fx('keras-style.npz') },
  ];
  for (const spec of specs) {
    const ds = loadDataset(spec);
    t.deepEqual(ds.train.x, X);
    t.deepEqual(ds.train.y, Y);
    t.deepEqual(ds.inputShape, [2, 3, 1], '[n, h, w] arrays become [h, w, 1] images');
    t.is(ds.numClasses, 3, 'largest label + 1');
    t.deepEqual(ds.bounds, { lo: 0, hi: 1 }, 'every value in [0, 1]');
  }
  const keras = loadDataset(specs[2]);
  t.is(keras.test.n, 3, 'x_test / y_test of the same archive');
  t.deepEqual(keras.test.x, X.subarray(0, 18));
  t.is(keras.settings.format, 'npz');
});

test('IDX, plain and gzipped, uint8 and float32, and 4-D [n, h, w, c] arrays', (t) => {
  const pixels = Uint8Array.from({ length: 5 * 4 * 4 }, (_, i) => (i * 37) % 256);
  const labels = [3, 0, 1, 2, 3];
  const plain = { x: writeIdx(tmp('img-idx3-ubyte'), [5, 4, 4], pixels), y: writeIdx(tmp('lab-idx1-ubyte'), [5], labels) };
  const gz = { x: writeIdx(tmp('img-idx3-ubyte.gz'), [5, 4, 4], pixels, { gzip: true }), y: writeIdx(tmp('lab-idx1-ubyte.gz'), [5], labels, { gzip: true }) };
  const a = loadDataset({ name: 'files', train: plain, test: gz, divideBy: 255 });
  t.is(a.settings.format, 'idx', 'format from the -ubyte names');
  t.deepEqual(a.train.x, a.test.x);
  t.deepEqual(
    Array.from(a.train.x.slice(0, 3)),
    [0, 37, 74].map((v) => Math.fround(v / 255)),
  );
  t.deepEqual(Array.from(a.test.y), labels);
  t.deepEqual([a.inputShape, a.numClasses, a.bounds], [[4, 4, 1], 4, { lo: 0, hi: 1 }]);
  // Without divideBy the bytes are used as they are: bounds become their range.
  const raw = loadDataset({ name: 'files', train: plain, test: plain });
  t.deepEqual(raw.bounds, { lo: Math.min(...pixels), hi: Math.max(...pixels) });
  t.true(raw.bounds.hi > 1);
  // float32 values and a channel dimension.
  const f = Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i - 5.5);
  const four = { x: writeIdx(tmp('f.idx'), [2, 2, 2, 3], f, { dtype: 'float32' }), y: writeIdx(tmp('f-labels.idx'), [2], [1, 0], { dtype: 'int32' }) };
  const c = loadDataset({ name: 'files', test: four });
  t.deepEqual([c.inputShape, c.bounds, c.train.n], [[2, 2, 3], { lo: -5.5, hi: 17.5 }, 0]);
  t.deepEqual(c.test.x, f);
});

test('CSV: the named label column anywhere, every other column an input, CRLF and quotes accepted', (t) => {
  const file = tmp('data.csv');
  fs.writeFileSync(file, '"a","class",b,c\r\n0.5,1,0.25,1\r\n0,0,1,0.75\r\n\r\n1,2,0,0\r\n');
  const ds = loadDataset({ name: 'files', train: file, test: file, labelColumn: 'class' });
  t.deepEqual(ds.inputShape, [3]);
  t.deepEqual(Array.from(ds.train.x), [0.5, 0.25, 1, 0, 1, 0.75, 1, 0, 0]);
  t.deepEqual(Array.from(ds.train.y), [1, 0, 2]);
  // A declared shape reshapes each row: 6 columns as 2 x 3 x 1 images.
  const wide = writeCsv(
    tmp('wide.csv'),
    ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'label'],
    [
      [0, 1, 2, 3, 4, 5, 0],
      [5, 4, 3, 2, 1, 0, 1],
    ],
  );
  const img = loadDataset({ name: 'files', test: wide, inputShape: [2, 3, 1], bounds: [0, 10] });
  t.deepEqual([img.inputShape, img.bounds, img.numClasses], [[2, 3, 1], { lo: 0, hi: 10 }, 2]);
  t.deepEqual(Array.from(img.test.x.subarray(6)), [5, 4, 3, 2, 1, 0]);
});

test("npz written here: stored and deflated entries with numpy's zip64 local headers, custom array names", (t) => {
  const x = Float32Array.from({ length: 8 }, (_, i) => i / 8);
  for (const deflate of [false, true]) {
    const file = writeNpz(tmp(`custom-${deflate}.npz`), { images: npyBytes([4, 2], x), labels: npyBytes([4], [0, 1, 1, 0], 'int64') }, deflate);
    const ds = loadDataset({ name: 'files', test: file, arrays: { x: 'images', y: 'labels' } });
    t.deepEqual(ds.test.x, x);
    t.deepEqual(Array.from(ds.test.y), [0, 1, 1, 0]);
  }
});

test('declared numClasses, bounds and inputShape are checked against every value', (t) => {
  const x = writeNpy(tmp('cx.npy'), [4, 2], [0, 0.5, 1, 0.25, 0.75, 0, 0.5, 0.5]);
  const y = writeNpy(tmp('cy.npy'), [4], [0, 1, 2, 1], 'int64');
  const base: DatasetSpec = { name: 'files', test: { x, y } };
  t.is(loadDataset({ ...base, numClasses: 5 }).numClasses, 5, 'more classes than the labels show');
  const problems: [Partial<DatasetSpec>, RegExp][] = [
    [{ numClasses: 2 }, /cy\.npy: label 2 at row 2 is out of range for 2 classes$/],
    [{ bounds: [0, 0.9] }, /cx\.npy: value 1 is outside the declared bounds \[0, 0\.9\]$/],
    [{ inputShape: [3] }, /cx\.npy: shape mismatch: inputShape \[3\] has 3 values per example, the file has 2 \(shape \[4, 2\]\)$/],
    [{ divideBy: 0 }, /^dataset files: divideBy = 0: must be > 0$/],
    [{ format: 'csv' }, /^dataset files: test = .*: csv keeps inputs and labels in one file: give its path$/],
    [{ labelColumn: 'y' }, /^dataset files: labelColumn = "y": applies to csv only$/],
    [{ contentHash: 'abc' }, /^dataset files: contentHash = "abc": must be 64 lowercase hex digits/],
  ];
  for (const [extra, msg] of problems) {
    const e = t.throws(() => loadDataset({ ...base, ...extra }), { instanceOf: UsageError }, JSON.stringify(extra));
    t.regex(e?.message ?? '', msg);
    t.false((e?.message ?? '').includes('\n'));
  }
});

test('nTrain / nTest take seeded stratified subsets; the same seed gives the same rows', (t) => {
  const n = 60;
  const x = Float32Array.from({ length: n * 2 }, (_, i) => (i % 97) / 97);
  const y = Int32Array.from({ length: n }, (_, i) => (i < 30 ? 0 : i < 50 ? 1 : 2)); // 30 / 20 / 10
  const file = writeNpz(tmp('strat.npz'), { x: npyBytes([n, 2], x), y: npyBytes([n], y, 'int64') });
  const a = loadDataset({ name: 'files', train: file, test: file, nTrain: 30, seed: 1 });
  const counts = [0, 0, 0];
  for (const v of a.train.y) counts[v]++;
  t.deepEqual(counts, [15, 10, 5]);
  t.is(a.test.n, n, 'nTest not given: all');
  t.deepEqual(loadDataset({ name: 'files', train: file, test: file, nTrain: 30, seed: 1 }).train.x, a.train.x);
  t.notDeepEqual(loadDataset({ name: 'files', train: file, test: file, nTrain: 30, seed: 2 }).train.y, a.train.y);
  t.is(loadDataset({ name: 'files', train: file, test: file, nTrain: 500 }).train.n, n, 'at most: a larger nTrain keeps every example');
});

test('content hash: the same bytes hash the same under another name; one changed byte changes it; a planned hash that no longer matches is refused', (t) => {
  const a = writeNpz(tmp('h1.npz'), { x: npyBytes([2, 2], [0, 1, 1, 0]), y: npyBytes([2], [0, 1], 'int64') });
  fs.copyFileSync(a, tmp('h2.npz'));
  const h1 = filesContentHash({ name: 'files', test: a });
  t.regex(h1, /^[0-9a-f]{64}$/);
  t.is(filesContentHash({ name: 'files', test: tmp('h2.npz') }), h1);
  t.not(filesContentHash({ name: 'files', train: a, test: a }), h1, 'roles are part of the hash');
  const resolved = resolveDatasetSpec({ name: 'files', test: tmp('h2.npz') });
  t.is(resolved.contentHash, h1);
  t.is(loadDataset(resolved).settings.contentHash, h1);
  const bytes = fs.readFileSync(tmp('h2.npz'));
  bytes[bytes.length - 40] ^= 1;
  fs.writeFileSync(tmp('h2.npz'), bytes);
  t.not(filesContentHash({ name: 'files', test: tmp('h2.npz') }), h1);
  t.throws(() => loadDataset(resolved), { instanceOf: UsageError, message: /^dataset files: the files changed since the study was planned/ });
});

test('a study on files: the planner hashes the content, so changing a file changes the train job ids (and a missing train file is refused)', (t) => {
  const n = 20;
  const x = Float32Array.from({ length: n * 2 }, (_, i) => (i % 7) / 7);
  const y = Int32Array.from({ length: n }, (_, i) => i % 2);
  const train = writeNpz(tmp('study-train.npz'), { x: npyBytes([n, 2], x), y: npyBytes([n], y, 'int64') });
  const testFile = writeNpz(tmp('study-test.npz'), { x: npyBytes([n, 2], x), y: npyBytes([n], y, 'int64') });
  const study = (dataset: object) => ({ name: 'f', schemes: [{ name: 'erm' }], attacks: [{ name: 'fgsm' }], experiments: [{ dataset, models: [{ arch: 'mlp', hidden: [4] }], eval: { eps: [0.1] } }] });
  const config = validateStudy(study({ name: 'files', train, test: testFile }), 's.json');
  const hash = config.experiments[0].dataset.contentHash;
  t.regex(hash ?? '', /^[0-9a-f]{64}$/);
  const before = planStudy(config, 'wasm');
  t.deepEqual(
    planStudy(validateStudy(study({ name: 'files', train, test: testFile }), 's.json'), 'wasm').map((j) => j.id),
    before.map((j) => j.id),
    'same files, same ids',
  );
  x[0] = 0.5;
  writeNpz(train, { x: npyBytes([n, 2], x), y: npyBytes([n], y, 'int64') });
  const after = planStudy(validateStudy(study({ name: 'files', train, test: testFile }), 's.json'), 'wasm');
  const trainIds = (jobs: typeof before) => jobs.filter((j) => j.kind === 'train').map((j) => j.id);
  t.notDeepEqual(trainIds(after), trainIds(before));
  // Re-validating the planned config (as a resumed run does) refuses the changed file.
  t.throws(() => validateStudy(JSON.parse(JSON.stringify(config)), 'manifest.json'), {
    instanceOf: UsageError,
    message: /^manifest\.json: experiments\[0\]\.dataset: dataset files: the files changed since this study was planned/,
  });
  t.throws(() => validateStudy(study({ name: 'files', test: testFile }), 's.json'), {
    instanceOf: UsageError,
    message: 's.json: invalid field experiments[0].dataset.train = missing: training needs a train file',
  });
  t.throws(() => validateStudy(study({ name: 'files', train, test: testFile, colour: 1 }), 's.json'), {
    instanceOf: UsageError,
    message: /^s\.json: invalid field experiments\[0\]\.dataset\.colour = 1: unknown key; dataset files takes train, test, format/,
  });
});
