/**
 * cifar10 / cifar100: the official binary versions, built here byte for byte
 * in their format (random pixels and labels), read back pixel by pixel
 * against the layout (label byte(s), then the R, G, B planes of 32x32, row by
 * row -> [32, 32, 3] rows / 255); both label modes of CIFAR-100; the one-line
 * errors (missing folder, wrong size, truncated record; exit 2, nothing
 * written); seeded stratified subsets; the content hash in the resolved spec.
 * fashion-mnist-32, the stand-in for CIFAR-shaped data, is checked where
 * Debian's dataset-fashion-mnist is installed.
 */
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UsageError } from '../../contract/errors';
import { decodeCifarRecords } from '../../data/datasets/cifar';
import { padToCifarShape } from '../../data/datasets/fashion-mnist-32';
import { defaultAttackEps, loadDataset, resolveDatasetSpec } from '../../data/registry';
import { needsSystemPackage } from '../system-deps';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const RECORD10 = 1 + 3072;
const RECORD100 = 2 + 3072;

/** Seeded bytes (xorshift32), so the files differ in every byte position. */
function randomBytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b[i] = s & 255;
  }
  return b;
}

/** n records in the official layout: label bytes (each mod its class count), then 3,072 random pixel bytes. */
function records(n: number, classes: number[], seed: number): Buffer {
  const lb = classes.length;
  const b = randomBytes(n * (lb + 3072), seed);
  for (let i = 0; i < n; i++) for (let k = 0; k < lb; k++) b[i * (lb + 3072) + k] %= classes[k];
  return b;
}

/** What the layout says pixel (row r, column c, channel ch) of record i is. */
const pixelOf = (raw: Buffer, record: number, labelBytes: number, i: number, r: number, c: number, ch: number) => raw[i * record + labelBytes + ch * 1024 + r * 32 + c] / 255;

function checkRecord(t: import('ava').ExecutionContext, x: Float32Array, row: number, raw: Buffer, record: number, labelBytes: number, i: number): boolean {
  for (let r = 0; r < 32; r++)
    for (let c = 0; c < 32; c++)
      for (let ch = 0; ch < 3; ch++) {
        if (x[row * 3072 + (r * 32 + c) * 3 + ch] !== Math.fround(pixelOf(raw, record, labelBytes, i, r, c, ch))) {
          t.fail(`record ${i} pixel (${r}, ${c}, ${ch})`);
          return false;
        }
      }
  return true;
}

/** Bitwise equality of two typed arrays (ava's deepEqual enumerates every element). */
const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-cifar-'));

/** A cifar-10-batches-bin folder of the official sizes; returns the raw bytes by file. */
function writeCifar10(dir: string): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'].forEach((f, k) => {
    files[f] = records(10_000, [10], k + 1);
    fs.writeFileSync(path.join(dir, f), files[f]);
  });
  return files;
}

function writeCifar100(dir: string): Record<string, Buffer> {
  const files = { 'train.bin': records(50_000, [20, 100], 11), 'test.bin': records(10_000, [20, 100], 12) };
  for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), b);
  return files;
}

/** The official-size folders, written once for the file's tests. */
const fixture = { dir: '', c10: '', c100: '', files10: {} as Record<string, Buffer>, files100: {} as Record<string, Buffer> };

test.before(() => {
  fixture.dir = tmp();
  fixture.c10 = path.join(fixture.dir, 'cifar-10-batches-bin');
  fixture.c100 = path.join(fixture.dir, 'cifar-100-binary');
  fs.mkdirSync(fixture.c10);
  fs.mkdirSync(fixture.c100);
  fixture.files10 = writeCifar10(fixture.c10);
  fixture.files100 = writeCifar100(fixture.c100);
});

test.after.always(() => {
  if (fixture.dir) fs.rmSync(fixture.dir, { recursive: true, force: true });
});

function withEnv<T>(key: string, value: string, f: () => T): T {
  const before = process.env[key];
  process.env[key] = value;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env[key];
    else process.env[key] = before;
  }
}

test('the layout, by hand: label byte, then the R, G and B planes row by row, become [32, 32, 3] / 255', (t) => {
  const rec = Buffer.alloc(2 * RECORD10);
  rec[0] = 3;
  rec[RECORD10] = 7;
  // Record 0, pixel row 1 column 2: R 255, G 51, B 102. Record 1, pixel row 31 column 31: B 255.
  rec[1 + 0 * 1024 + 1 * 32 + 2] = 255;
  rec[1 + 1 * 1024 + 1 * 32 + 2] = 51;
  rec[1 + 2 * 1024 + 1 * 32 + 2] = 102;
  rec[RECORD10 + 1 + 2 * 1024 + 31 * 32 + 31] = 255;
  const set = decodeCifarRecords(rec, 1, 0, 10, 'hand');
  t.deepEqual(Array.from(set.y), [3, 7]);
  const at = (i: number, r: number, c: number, ch: number) => set.x[i * 3072 + (r * 32 + c) * 3 + ch];
  t.deepEqual([at(0, 1, 2, 0), at(0, 1, 2, 1), at(0, 1, 2, 2)], [1, Math.fround(0.2), Math.fround(0.4)]);
  t.is(at(1, 31, 31, 2), 1);
  t.is(
    set.x.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0),
    4,
  );
  // CIFAR-100: coarse byte first, fine second.
  const r100 = Buffer.alloc(RECORD100);
  r100[0] = 19;
  r100[1] = 99;
  t.deepEqual(Array.from(decodeCifarRecords(r100, 2, 0, 20, 'hand').y), [19]);
  t.deepEqual(Array.from(decodeCifarRecords(r100, 2, 1, 100, 'hand').y), [99]);
  t.throws(() => decodeCifarRecords(r100, 2, 1, 20, 'f.bin'), { instanceOf: UsageError, message: 'f.bin: label 99 of record 0 is out of range for 20 classes' });
});

test('a few hundred records: every pixel and label where the official layout puts it', (t) => {
  const raw = records(300, [10], 5);
  const set = decodeCifarRecords(raw, 1, 0, 10, 'r');
  t.is(set.n, 300);
  for (let i = 0; i < 300; i++) {
    t.is(set.y[i], raw[i * RECORD10]);
    if (!checkRecord(t, set.x, i, raw, RECORD10, 1, i)) return;
  }
});

test.serial('cifar10: the six files in order, labels and pixels as written, bounds [0, 1], default radii, content hash', (t) => {
  const dir = fixture.c10;
  const files = fixture.files10;
  withEnv('VICINAL_CIFAR10_DIR', dir, () => {
    const ds = loadDataset({ name: 'cifar10' });
    t.deepEqual([ds.train.n, ds.test.n, ds.inputShape, ds.numClasses, ds.bounds], [50_000, 10_000, [32, 32, 3], 10, { lo: 0, hi: 1 }]);
    // A few hundred records across every file: training row k of file b is record k % 10000 of data_batch_(b+1).
    for (let row = 0; row < 50_000; row += 173) {
      const raw = files[`data_batch_${Math.floor(row / 10_000) + 1}.bin`];
      t.is(ds.train.y[row], raw[(row % 10_000) * RECORD10]);
      if (!checkRecord(t, ds.train.x, row, raw, RECORD10, 1, row % 10_000)) return;
    }
    for (const row of [0, 1, 4999, 9999]) {
      t.is(ds.test.y[row], files['test_batch.bin'][row * RECORD10]);
      checkRecord(t, ds.test.x, row, files['test_batch.bin'], RECORD10, 1, row);
    }
    t.deepEqual(defaultAttackEps(ds, 'linf'), [2 / 255, 4 / 255, 8 / 255]);
    t.deepEqual(defaultAttackEps(ds, 'l2'), [0.25, 0.5]);
    const resolved = resolveDatasetSpec({ name: 'cifar10', nTrain: 100 });
    t.regex(String(resolved.contentHash), /^[0-9a-f]{64}$/);
    t.is(ds.settings.contentHash, String(resolved.contentHash));
    // Same spec, same arrays; a changed file changes the hash, and a planned hash that no longer matches is refused.
    t.true(same(loadDataset(resolved).train.x, loadDataset({ name: 'cifar10', nTrain: 100 }).train.x));
    const b = Buffer.from(files['test_batch.bin']);
    b[5000] ^= 1;
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), b);
    t.not(String(resolveDatasetSpec({ name: 'cifar10' }).contentHash), String(resolved.contentHash));
    const e = t.throws(() => loadDataset(resolved), { instanceOf: UsageError });
    t.regex(e?.message ?? '', /^dataset cifar10: the files in .* changed since the study was planned/);
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), files['test_batch.bin']);
    t.is(resolveDatasetSpec({ name: 'cifar10' }).contentHash, resolved.contentHash);
  });
});

test.serial('cifar10 subsets: stratified, seeded, each image one of the published ones with its label', (t) => {
  const dir = fixture.c10;
  const files = fixture.files10;
  withEnv('VICINAL_CIFAR10_DIR', dir, () => {
    const a = loadDataset({ name: 'cifar10', nTrain: 1000, nTest: 200, seed: 3 });
    const b = loadDataset({ name: 'cifar10', nTrain: 1000, nTest: 200, seed: 3 });
    const c = loadDataset({ name: 'cifar10', nTrain: 1000, nTest: 200, seed: 4 });
    t.deepEqual([a.train.n, a.test.n], [1000, 200]);
    t.true(same(a.train.x, b.train.x) && same(a.train.y, b.train.y) && same(a.test.y, b.test.y));
    t.false(same(a.train.y, c.train.y));
    // Stratified: each class's share of the subset is its share of the written files, within one image.
    const trainLabels = [1, 2, 3, 4, 5].flatMap((k) => Array.from({ length: 10_000 }, (_, i) => files[`data_batch_${k}.bin`][i * RECORD10]));
    for (let k = 0; k < 10; k++) {
      const share = trainLabels.filter((v) => v === k).length / 50_000;
      t.true(Math.abs(a.train.y.filter((v) => v === k).length - 1000 * share) <= 1, `class ${k}`);
    }
    // Every test image of the subset is a written record (found by its first 16 red bytes) with that record's label.
    const raw = files['test_batch.bin'];
    const index = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) index.set(raw.subarray(i * RECORD10 + 1, i * RECORD10 + 17).toString('hex'), i);
    for (let i = 0; i < a.test.n; i++) {
      const red = Buffer.from(Array.from({ length: 16 }, (_, p) => Math.round(a.test.x[i * 3072 + 3 * p] * 255)));
      const rec = index.get(red.toString('hex'));
      if (rec === undefined) return t.fail(`test image ${i} is not a written record`);
      t.is(a.test.y[i], raw[rec * RECORD10]);
      if (!checkRecord(t, a.test.x, i, raw, RECORD10, 1, rec)) return;
    }
  });
});

test.serial('cifar100: fine (100) or coarse (20) labels from the same records', (t) => {
  const files = fixture.files100;
  withEnv('VICINAL_CIFAR100_DIR', fixture.c100, () => {
    const fine = loadDataset({ name: 'cifar100' });
    const coarse = loadDataset({ name: 'cifar100', labels: 'coarse' });
    t.deepEqual([fine.numClasses, coarse.numClasses, fine.train.n, fine.test.n], [100, 20, 50_000, 10_000]);
    t.deepEqual([fine.settings.labels, coarse.settings.labels], ['fine', 'coarse']);
    for (let row = 0; row < 50_000; row += 211) {
      t.is(coarse.train.y[row], files['train.bin'][row * RECORD100]);
      t.is(fine.train.y[row], files['train.bin'][row * RECORD100 + 1]);
      if (!checkRecord(t, fine.train.x, row, files['train.bin'], RECORD100, 2, row)) return;
    }
    t.true(same(coarse.train.x, fine.train.x));
    for (const row of [0, 9999]) {
      t.is(fine.test.y[row], files['test.bin'][row * RECORD100 + 1]);
      checkRecord(t, fine.test.x, row, files['test.bin'], RECORD100, 2, row);
    }
    const e = t.throws(() => loadDataset({ name: 'cifar100', labels: 'super' }), { instanceOf: UsageError });
    t.is(e?.message, 'dataset cifar100: labels = "super": must be one of fine, coarse');
  });
});

test.serial('bad folders: one line naming the file, what was expected and where to put it', (t) => {
  const dir = tmp();
  const missing = path.join(dir, 'nowhere');
  const where = (d: string) =>
    `extract the binary version (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) so that its cifar-10-batches-bin/ files lie in ${d}, or set VICINAL_CIFAR10_DIR to their folder`;
  const e = withEnv('VICINAL_CIFAR10_DIR', missing, () => t.throws(() => loadDataset({ name: 'cifar10' }), { instanceOf: UsageError }));
  t.is(e?.message, `dataset cifar10: folder ${missing} not found; ${where(missing)}`);
  fs.mkdirSync(path.join(dir, 'c10'));
  const c10 = path.join(dir, 'c10');
  const ok = Buffer.alloc(10_000 * RECORD10);
  for (let i = 1; i <= 5; i++) fs.writeFileSync(path.join(c10, `data_batch_${i}.bin`), ok);
  const expectWhere = `expected 10000 records of 3073 bytes (30730000 bytes); ${where(c10)}`;
  const errorOf = () => withEnv('VICINAL_CIFAR10_DIR', c10, () => t.throws(() => resolveDatasetSpec({ name: 'cifar10' }), { instanceOf: UsageError })?.message);
  t.is(errorOf(), `dataset cifar10: ${c10}/test_batch.bin not found (expected 10000 records); ${where(c10)}`);
  fs.writeFileSync(path.join(c10, 'test_batch.bin'), Buffer.alloc(10_001 * RECORD10));
  t.is(errorOf(), `dataset cifar10: ${c10}/test_batch.bin holds 10001 records; ${expectWhere}`);
  fs.writeFileSync(path.join(c10, 'test_batch.bin'), Buffer.alloc(10_000 * RECORD10 - 5));
  t.is(errorOf(), `dataset cifar10: ${c10}/test_batch.bin ends in a truncated record (9999 records of 3073 bytes + 3068 bytes); ${expectWhere}`);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('vicinal run without the files: one line, exit 2, nothing written', (t) => {
  const dir = tmp();
  const cfg = path.join(dir, 'study.json');
  fs.writeFileSync(
    cfg,
    JSON.stringify({
      name: 'c',
      schemes: [{ name: 'erm' }],
      attacks: [{ name: 'fgsm' }],
      experiments: [{ dataset: { name: 'cifar10', nTrain: 1000, nTest: 100 }, models: [{ arch: 'cnn' }], eval: { eps: [0.01] } }],
    }),
  );
  const out = path.join(dir, 'run');
  const c10 = path.join(dir, 'absent');
  const r = spawnSync(process.execPath, [CLI, 'run', cfg, '--out', out, '--backend', 'cpu', '--quiet'], { encoding: 'utf8', env: { ...process.env, VICINAL_CIFAR10_DIR: c10 } });
  t.is(r.status, 2, r.stderr);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, new RegExp(`experiments\\[0\\]\\.dataset: dataset cifar10: folder ${c10} not found; extract the binary version`));
  t.false(fs.existsSync(out));
  fs.rmSync(dir, { recursive: true, force: true });
});

const fmnist = needsSystemPackage('dataset-fashion-mnist', __filename);

test('the stand-in padding: a zero border of 2, the grey value in all three channels', (t) => {
  const x = new Float32Array(2 * 784).map((_, i) => ((i * 37) % 255) / 255 + 1e-3);
  const out = padToCifarShape({ x, y: Int32Array.from([4, 2]), n: 2 });
  t.is(out.x.length, 2 * 3072);
  for (let i = 0; i < 2; i++)
    for (let r = 0; r < 32; r++)
      for (let c = 0; c < 32; c++) {
        const inside = r >= 2 && r < 30 && c >= 2 && c < 30;
        const want = inside ? x[i * 784 + (r - 2) * 28 + (c - 2)] : 0;
        for (let ch = 0; ch < 3; ch++) if (out.x[i * 3072 + (r * 32 + c) * 3 + ch] !== want) return t.fail(`(${i}, ${r}, ${c}, ${ch})`);
      }
  t.deepEqual(Array.from(out.y), [4, 2]);
});

fmnist.serial('fashion-mnist-32, the stand-in: Fashion-MNIST padded to [32, 32, 3], same subsets and labels, named a stand-in', (t) => {
  const base = loadDataset({ name: 'fashion-mnist', nTrain: 500, nTest: 100, seed: 2 });
  const ds = loadDataset({ name: 'fashion-mnist-32', nTrain: 500, nTest: 100, seed: 2 });
  t.deepEqual([ds.inputShape, ds.numClasses, ds.bounds], [[32, 32, 3], 10, { lo: 0, hi: 1 }]);
  t.deepEqual([ds.train.y, ds.test.y], [base.train.y, base.test.y]);
  t.true(same(ds.test.x, padToCifarShape(base.test).x));
  t.regex(String(ds.settings.standIn), /stand-in/);
  t.is(ds.settings.name, 'fashion-mnist-32');
});
