/**
 * Bad data files through the CLI: `vicinal attack --data FORMAT:FILE` on a
 * wrong magic number, a truncated file, a shape mismatch, labels out of
 * range, NaN... exits 2 with one line naming the file and the problem, and
 * writes nothing. Good files of every format attack fine.
 */
import test from 'ava';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { initBackend } from '../../backend/select';
import { buildModel } from '../../models/build';
import { saveModel } from '../../models/io';
import { idxBytes, npyBytes, writeCsv, writeIdx, writeNpy, writeNpz } from './file-writers';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'data', 'fixtures');
let dir: string;
let modelDir: string;
const tmp = (f: string) => path.join(dir, f);

/** Six 2x3 examples in [0, 1] with labels 0..2, like the numpy fixtures. */
const X = Array.from({ length: 36 }, (_, i) => i / 40);
const Y = [0, 1, 2, 0, 1, 2];

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, 'attack', '--backend', 'wasm', '--model', modelDir, ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs at most `k` CLI processes at a time. */
async function pool<T, R>(items: T[], k: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: k }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]);
      }
    }),
  );
  return out;
}

test.before(async () => {
  await initBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-files-cli-'));
  modelDir = tmp('model');
  // A model for [2, 3, 1] inputs and 3 classes that records no dataset.
  const m = buildModel({ arch: 'mlp', hidden: [8] }, [2, 3, 1], 3, 0);
  await saveModel(m, modelDir, {});
  m.dispose();
});
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test('good files of every format attack fine from the CLI (exit 0, results written)', async (t) => {
  const fx = (f: string) => path.join(FIXTURES, f);
  const csv = writeCsv(
    tmp('good.csv'),
    ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'label'],
    Y.map((y, i) => [...X.slice(6 * i, 6 * i + 6), y]),
  );
  const idx = {
    x: writeIdx(
      tmp('good-images-idx3-ubyte.gz'),
      [6, 2, 3],
      X.map((v) => Math.round(v * 255)),
      { gzip: true },
    ),
    y: writeIdx(tmp('good-labels-idx1-ubyte.gz'), [6], Y, { gzip: true }),
  };
  const datas = [
    `npz:${fx('xy-compressed.npz')}`,
    fx('keras-style.npz'),
    `npy:${fx('x.npy')},${fx('y.npy')}`,
    `csv:${csv}`,
    JSON.stringify({ name: 'files', test: idx, divideBy: 255 }),
    `idx:${idx.x},${idx.y}`,
  ];
  const results = await pool(datas, 3, (data) => run(['--data', data, '--attack', 'fgsm', '--eps', '0.1', '--out', tmp(`good-${datas.indexOf(data)}.json`)]));
  results.forEach((r, i) => {
    t.is(r.status, 0, `${datas[i]}: ${r.stderr}`);
    const doc = JSON.parse(fs.readFileSync(tmp(`good-${i}.json`), 'utf8'));
    t.is(doc.dataset.name, 'files');
    t.is(doc.dataset.inputShape, '2x3x1', "the model's input shape");
    t.is(doc.summary.n, i === 1 ? 3 : 6, datas[i]);
    t.regex(doc.dataset.contentHash, /^[0-9a-f]{64}$/);
  });
  const [idxJson, idxFlag] = [4, 5].map((i) => JSON.parse(fs.readFileSync(tmp(`good-${i}.json`), 'utf8')).dataset);
  t.deepEqual([idxJson.lo, idxJson.hi, idxFlag.lo, idxFlag.hi], [0, 1, 0, Math.round((35 / 40) * 255)], 'divideBy 255 gives [0, 1]; the raw bytes their range');
});

test('bad files: one line naming the file and the problem, exit code 2, nothing written', async (t) => {
  const x = npyBytes([6, 2, 3], X);
  const y = npyBytes([6], Y, 'int64');
  const npy = (name: string, bytes: Buffer) => {
    fs.writeFileSync(tmp(name), bytes);
    return tmp(name);
  };
  const goodX = npy('x.npy', x);
  const goodY = npy('y.npy', y);
  const goodLabels = writeIdx(tmp('ok-labels-idx1-ubyte'), [6], Y);
  const stored = fs.readFileSync(path.join(FIXTURES, 'xy.npz'));
  const flipped = Buffer.from(stored);
  flipped[200] ^= 0xff; // inside x.npy's stored bytes
  const nanX = [...X];
  nanX[16] = NaN;
  const rows = Y.map((label, i) => [...X.slice(6 * i, 6 * i + 6), label]);
  const cases: [string, string, RegExp][] = [
    ['idx wrong magic', `idx:${npy('npy-as-images-idx3-ubyte', x)},${goodLabels}`, /npy-as-images-idx3-ubyte: bad magic number 0x934e554d: not an IDX file/],
    [
      'idx truncated',
      `idx:${npy(
        'short-images-idx3-ubyte',
        idxBytes(
          [6, 2, 3],
          X.map(() => 1),
        ).subarray(0, 30),
      )},${goodLabels}`,
      /short-images-idx3-ubyte: truncated: the header says shape \[6, 2, 3\] of uint8 \(52 bytes\), the file has 30$/,
    ],
    [
      'gzip truncated',
      `idx:${npy(
        'cut-images-idx3-ubyte.gz',
        zlib
          .gzipSync(
            idxBytes(
              [6, 2, 3],
              X.map(() => 1),
            ),
          )
          .subarray(0, 25),
      )},${goodLabels}`,
      /cut-images-idx3-ubyte\.gz: corrupt or truncated gzip data/,
    ],
    ['npy wrong magic', `npy:${npy('text.npy', Buffer.from('x,y\n1,2\n'))},${goodY}`, /text\.npy: bad magic number 0x782c790a312c: not a \.npy file/],
    ['npy truncated', `npy:${npy('cut.npy', x.subarray(0, x.length - 10))},${goodY}`, /cut\.npy: truncated: the header says shape \(6, 2, 3\) of float32 \(272 bytes\), the file has 262$/],
    ['npy fortran order', `npy:${path.join(FIXTURES, 'x-fortran.npy')},${goodY}`, /x-fortran\.npy: Fortran-order arrays are not supported/],
    ['npz truncated', `npz:${npy('half.npz', stored.subarray(0, 300))}`, /half\.npz: truncated: the zip directory at the end of the \.npz is missing$/],
    ['npz corrupt entry', `npz:${npy('flipped.npz', flipped)}`, /flipped\.npz:x\.npy: CRC-32 mismatch: the entry is corrupt$/],
    ['npz without the arrays', `npz:${writeNpz(tmp('names.npz'), { a: x, b: y })}`, /names\.npz: no array "x" or "x_test" \(holds: a, b\); name it with arrays: \{ x: NAME \}$/],
    ['label count mismatch', `npy:${goodX},${writeNpy(tmp('five.npy'), [5], Y.slice(0, 5), 'int64')}`, /five\.npy: shape mismatch: 5 labels for 6 examples \(.*x\.npy\)$/],
    [
      'values per example',
      `npy:${writeNpy(
        tmp('seven.npy'),
        [6, 7],
        Array.from({ length: 42 }, () => 0.5),
      )},${goodY}`,
      /seven\.npy: shape mismatch: inputShape \[2, 3, 1\] has 6 values per example, the file has 7 \(shape \[6, 7\]\) \(inputShape is the model's\)$/,
    ],
    ['label out of range', `npy:${goodX},${writeNpy(tmp('big-label.npy'), [6], [0, 5, 2, 0, 1, 2], 'int64')}`, /big-label\.npy: label 5 at row 1 is out of range for 3 classes$/],
    ['label not an index', `npy:${goodX},${writeNpy(tmp('half-label.npy'), [6], [1.5, 0, 2, 0, 1, 2], 'float64')}`, /half-label\.npy: label 1\.5 at row 0 is not a class index \(an integer >= 0\)$/],
    ['NaN input', `npy:${writeNpy(tmp('nan.npy'), [6, 2, 3], nanX)},${goodY}`, /nan\.npy: NaN at row 2 \(value 4 of the example\)$/],
    [
      'csv NaN',
      `csv:${writeCsv(
        tmp('nan.csv'),
        ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'label'],
        rows.map((r, i) => (i === 1 ? [r[0], 'NaN', ...r.slice(2)] : r)),
      )}`,
      /nan\.csv: line 3, column "p1": "NaN" is not a finite number$/,
    ],
    [
      'csv ragged row',
      `csv:${writeCsv(
        tmp('ragged.csv'),
        ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'label'],
        rows.map((r, i) => (i === 0 ? r.slice(1) : r)),
      )}`,
      /ragged\.csv: line 2: 6 columns, the header has 7$/,
    ],
    [
      'csv without the label column',
      `csv:${writeCsv(tmp('nolabel.csv'), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'class'], rows)}`,
      /nolabel\.csv: no column "label" in the header \(columns: p0, p1, p2, p3, p4, p5, class\); name the label column with labelColumn$/,
    ],
    ['outside declared bounds', JSON.stringify({ name: 'files', test: { x: goodX, y: goodY }, bounds: [0, 0.5] }), /x\.npy: value 0\.875 is outside the declared bounds \[0, 0\.5\]$/],
    ['missing file', `npz:${tmp('nowhere.npz')}`, /nowhere\.npz: no such file$/],
  ];
  const results = await pool(cases, 4, ([name, data]) => run(['--data', data, '--eps', '0.1', '--out', tmp(`out-${name.replace(/ /g, '-')}.json`)]));
  results.forEach((r, i) => {
    const [name, , msg] = cases[i];
    t.is(r.status, 2, `${name}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    t.is(lines.length, 1, `${name}: one line`);
    t.regex(lines[0], /^vicinal: /, name);
    t.regex(lines[0], msg, name);
    t.false(fs.existsSync(tmp(`out-${name.replace(/ /g, '-')}.json`)), `${name}: nothing written`);
  });
});

test('--data: unknown names and malformed FORMAT:FILE are refused with what is allowed', async (t) => {
  const cases: [string, RegExp][] = [
    ['cifar', /^vicinal: unknown dataset "cifar"; allowed: moons, circles, mnist, fashion-mnist, fashion-mnist-32, cifar10, cifar100, FORMAT:FILE for test data from files/],
    ['npy:only-one.npy', /^vicinal: option --data npy: takes the inputs file and the labels file, e\.g\. npy:x\.npy,y\.npy$/],
    ['{"name": "files"}', /^vicinal: dataset files: test: required for dataset files$/],
  ];
  const results = await pool(cases, 3, ([data]) => run(['--data', data]));
  results.forEach((r, i) => {
    t.is(r.status, 2, cases[i][0]);
    t.regex(r.stderr.trim(), cases[i][1]);
  });
});
