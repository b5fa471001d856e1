import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdversarialExamples, adversarialArrays, npyBytes, npzBytes, readAdversarialExamples } from '../../eval/adversarial-examples';
import { parseNpy } from '../../data/readers/npy';
import { npzNames, readNpz } from '../../data/readers/npz';

let dir: string;
test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-adv-npz-'));
});
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test('npy: the header is padded to a multiple of 64 bytes and the reader gets back shape, dtype and values (float32 and negative int32)', (t) => {
  for (const shape of [[3], [2, 3], [1, 5, 5, 1], [0, 4]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = Float32Array.from({ length: n }, (_, i) => (i - 2.5) / 7);
    const bytes = npyBytes({ dtype: 'float32', shape, values: f });
    const headerEnd = 10 + bytes.readUInt16LE(8);
    t.is(headerEnd % 64, 0);
    t.is(bytes[headerEnd - 1], 0x0a, 'the header ends in a newline');
    const back = parseNpy(new Uint8Array(bytes), 'f.npy');
    t.deepEqual(back.shape, shape);
    t.is(back.dtype, 'float32');
    t.deepEqual(Array.from(back.values), Array.from(f));
  }
  const ints = Int32Array.from([-2147483648, -1, 0, 7, 2147483647]);
  const back = parseNpy(new Uint8Array(npyBytes({ dtype: 'int32', shape: [5], values: ints })), 'i.npy');
  t.is(back.dtype, 'int32');
  t.deepEqual(Array.from(back.values), Array.from(ints));
  t.throws(() => npyBytes({ dtype: 'int32', shape: [4], values: ints }), { message: /5 values for shape \(4\)/ });
});

test('npz: adversarial arrays named by result key with their predictions, plus clean, index, label and bounds, round-trip through the readers (CRC-checked); k keeps the first k', (t) => {
  const n = 3;
  const shape = [2, 2, 1];
  const a = Float32Array.from({ length: n * 4 }, (_, i) => i / 10);
  const b = Float32Array.from({ length: n * 4 }, (_, i) => 1 - i / 10);
  const clean = Float32Array.from({ length: n * 4 }, (_, i) => (i % 5) / 5);
  const set: AdversarialExamples = {
    inputShape: shape,
    bounds: { lo: 0, hi: 1 },
    index: Int32Array.from([4, 9, 11]),
    label: Int32Array.from([0, 3, 9]),
    clean,
    cleanPred: Int32Array.from([0, 3, 2]),
    adversarial: { 'pgd@linf:0.1': a, 'square@l2:0.5': b },
    pred: { 'pgd@linf:0.1': Int32Array.from([1, 3, 2]), 'square@l2:0.5': Int32Array.from([0, 0, 2]) },
  };
  const file = path.join(dir, 'adv.npz');
  fs.writeFileSync(file, npzBytes(adversarialArrays(set)));
  t.deepEqual(npzNames(file), ['pgd@linf:0.1', 'pgd@linf:0.1.pred', 'square@l2:0.5', 'square@l2:0.5.pred', 'clean', 'cleanPred', 'index', 'label', 'bounds']);
  const back = readNpz(file, { a: ['pgd@linf:0.1'], b: ['square@l2:0.5'], index: ['index'], label: ['label'] });
  t.deepEqual(back.a.shape, [n, ...shape]);
  t.deepEqual(Array.from(back.a.values), Array.from(a));
  t.deepEqual(Array.from(back.b.values), Array.from(b));
  t.deepEqual(back.index.shape, [n]);
  t.is(back.index.dtype, 'int32');
  const whole = readAdversarialExamples(file);
  t.deepEqual(whole.inputShape, shape);
  t.deepEqual(whole.bounds, { lo: 0, hi: 1 });
  for (const k of ['index', 'label', 'clean', 'cleanPred'] as const) t.deepEqual(Array.from(whole[k]), Array.from(set[k]), k);
  for (const k of Object.keys(set.adversarial)) {
    t.deepEqual(Array.from(whole.adversarial[k]), Array.from(set.adversarial[k]), k);
    t.deepEqual(Array.from(whole.pred[k]), Array.from(set.pred[k]), k);
  }
  // Equal content gives equal bytes (no timestamps).
  t.deepEqual(npzBytes(adversarialArrays(set)), fs.readFileSync(file));
  // The first k examples only.
  const first2 = path.join(dir, 'adv2.npz');
  fs.writeFileSync(first2, npzBytes(adversarialArrays(set, 2)));
  const two = readAdversarialExamples(first2);
  t.deepEqual(Array.from(two.index), [4, 9]);
  t.deepEqual(Array.from(two.adversarial['square@l2:0.5']), Array.from(b.subarray(0, 8)));
  t.deepEqual(Array.from(two.pred['pgd@linf:0.1']), [1, 3]);
  t.throws(() => adversarialArrays(set, 4), { message: /cannot keep 4 of 3/ });
});

test("npz: a corrupted entry is caught by the reader's CRC check, so the writer's CRCs are the ones that matter", (t) => {
  const bytes = npzBytes({ x: { dtype: 'float32', shape: [4], values: Float32Array.from([1, 2, 3, 4]) } });
  const file = path.join(dir, 'bad.npz');
  const bad = Buffer.from(bytes);
  bad[30 + 'x.npy'.length + 128 + 1] ^= 0xff; // a byte of the data, after the 128-byte .npy header
  fs.writeFileSync(file, bad);
  t.throws(() => readNpz(file, { x: ['x'] }), { message: /CRC-32 mismatch/ });
  fs.writeFileSync(file, bytes);
  t.deepEqual(Array.from(readNpz(file, { x: ['x'] }).x.values), [1, 2, 3, 4]);
});
