import test from 'ava';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { semiSupervisedSplit, stratifiedSplit } from '../../data/split';
import { makeMoons } from '../../data/moons';

const counts = (y: Int32Array, k: number) => {
  const c = new Array(k).fill(0);
  for (const v of y) c[v]++;
  return c;
};

test('Rng: same seed gives the same stream, different seeds differ', (t) => {
  const a = new Rng(7);
  const b = new Rng(7);
  const c = new Rng(8);
  const sa = Array.from({ length: 50 }, () => a.uniform());
  t.deepEqual(sa, Array.from({ length: 50 }, () => b.uniform()));
  t.notDeepEqual(sa, Array.from({ length: 50 }, () => c.uniform()));
  t.true(sa.every((u) => u >= 0 && u < 1));
});

test('Rng: normal and gamma/beta moments match their closed forms', (t) => {
  const r = new Rng(1);
  const n = 200000;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    s += z;
    s2 += z * z;
  }
  t.true(Math.abs(s / n) < 0.01);
  t.true(Math.abs(s2 / n - 1) < 0.02);
  // Beta(a, b): mean a/(a+b), variance ab/((a+b)^2 (a+b+1)); a < 1 exercises the gamma boost.
  for (const [a, b] of [[0.3, 2], [2, 5], [1.1, 0.1]]) {
    let m = 0;
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      const x = r.beta(a, b);
      m += x;
      m2 += x * x;
    }
    const mean = m / n;
    const variance = m2 / n - mean * mean;
    t.true(Math.abs(mean - a / (a + b)) < 0.005, `Beta(${a},${b}) mean ${mean}`);
    t.true(Math.abs(variance - (a * b) / ((a + b) ** 2 * (a + b + 1))) < 0.003, `Beta(${a},${b}) var ${variance}`);
  }
});

test('Rng.permutation is a permutation and is seeded', (t) => {
  const p = new Rng(3).permutation(1000);
  t.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  t.deepEqual(p, new Rng(3).permutation(1000));
});

test('moons: seeded, balanced, bit-identical for the same seed', (t) => {
  const a = loadDataset({ name: 'moons', seed: 5, nTrain: 200, nTest: 100 });
  const b = loadDataset({ name: 'moons', seed: 5, nTrain: 200, nTest: 100 });
  const c = loadDataset({ name: 'moons', seed: 6, nTrain: 200, nTest: 100 });
  t.deepEqual(a.train.x, b.train.x);
  t.deepEqual(a.test.y, b.test.y);
  t.notDeepEqual(a.train.x, c.train.x);
  t.deepEqual(counts(a.train.y, 2), [100, 100]);
  t.deepEqual(a.bounds, { lo: -3, hi: 3 });
  for (const v of a.train.x) t.true(v > a.bounds.lo && v < a.bounds.hi);
});

test('moons without noise lie exactly on the two half circles', (t) => {
  const m = makeMoons(100, 0, new Rng(0));
  for (let i = 0; i < m.n; i++) {
    const [x, y] = [m.x[2 * i], m.x[2 * i + 1]];
    const r = m.y[i] === 0 ? Math.hypot(x, y) : Math.hypot(x - 1, y - 0.5);
    t.true(Math.abs(r - 1) < 1e-6);
    t.true(m.y[i] === 0 ? y >= -1e-6 : y <= 0.5 + 1e-6);
  }
});

test('circles: two radii', (t) => {
  const d = loadDataset({ name: 'circles', noise: 0, nTrain: 100, nTest: 10, factor: 0.3 });
  for (let i = 0; i < d.train.n; i++) {
    const r = Math.hypot(d.train.x[2 * i], d.train.x[2 * i + 1]);
    t.true(Math.abs(r - (d.train.y[i] === 0 ? 1 : 0.3)) < 1e-6);
  }
});

test('mnist: 8000/2000 stratified split of real digits in [0, 1], deterministic', (t) => {
  const a = loadDataset({ name: 'mnist', seed: 0 });
  t.is(a.train.n, 8000);
  t.is(a.test.n, 2000);
  t.is(a.train.x.length, 8000 * 784);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of a.test.x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  t.true(lo >= 0 && hi <= 1 && hi > 0.9);
  // Stratified: each class's test share is within one example of its overall share.
  const all = counts(a.train.y, 10).map((c, k) => c + counts(a.test.y, 10)[k]);
  counts(a.test.y, 10).forEach((c, k) => t.true(Math.abs(c - (all[k] * 2000) / 10000) <= 1, `class ${k}`));
  const b = loadDataset({ name: 'mnist', seed: 0 });
  t.deepEqual(a.train.y, b.train.y);
  t.deepEqual(a.test.x.subarray(0, 7840), b.test.x.subarray(0, 7840));
  const c = loadDataset({ name: 'mnist', seed: 1 });
  t.notDeepEqual(a.test.y, c.test.y);
});

test('stratifiedSplit keeps every example exactly once', (t) => {
  const data = { x: Float32Array.from({ length: 30 }, (_, i) => i), y: Int32Array.from({ length: 30 }, (_, i) => (i < 20 ? 0 : 1)), n: 30 };
  const s = stratifiedSplit(data, 1, 2, 9, new Rng(0));
  t.deepEqual([...s.train.x, ...s.test.x].sort((a, b) => a - b), [...data.x]);
  t.deepEqual(counts(s.test.y, 2), [6, 3]);
  for (let i = 0; i < s.test.n; i++) t.is(s.test.y[i], s.test.x[i] < 20 ? 0 : 1);
});

test('semi-supervised split: k labelled per class, the rest unlabelled without labels', (t) => {
  const d = loadDataset({ name: 'moons', nTrain: 1000, nTest: 10 });
  const s = semiSupervisedSplit(d.train, 2, 2, 1, new Rng(0));
  t.deepEqual(counts(s.labelled.y, 2), [1, 1]);
  t.is(s.unlabelled.n, 998);
  t.false('y' in s.unlabelled);
  // The labelled rows are the training rows they claim to be.
  s.labelledIndex.forEach((row, i) => {
    t.is(s.labelled.y[i], d.train.y[row]);
    t.is(s.labelled.x[2 * i], d.train.x[2 * row]);
  });
  t.throws(() => semiSupervisedSplit(d.train, 2, 2, 0, new Rng(0)), { message: /integer >= 1/ });
});

test('bad dataset specs are rejected with the field named', (t) => {
  t.throws(() => loadDataset({ name: 'cifar' }), { message: /unknown dataset "cifar"; allowed: moons, circles, mnist/ });
  t.throws(() => loadDataset({ name: 'mnist', nTrain: 9000, nTest: 2000 }), { message: /too many/ });
  t.throws(() => loadDataset({ name: 'moons', noise: -1 }), { message: /noise must be >= 0/ });
});
