import test from 'ava';
import { DATASET_NAMES, DATASET_SPEC_KEYS, DATASETS, DatasetSpec, datasetDescriptor, datasetSpecFromSettings, defaultAttackEps, isPointsDataset, loadDataset } from '../../data/registry';
import { UsageError } from '../../contract/errors';
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
  t.deepEqual(
    sa,
    Array.from({ length: 50 }, () => b.uniform()),
  );
  t.notDeepEqual(
    sa,
    Array.from({ length: 50 }, () => c.uniform()),
  );
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
  for (const [a, b] of [
    [0.3, 2],
    [2, 5],
    [1.1, 0.1],
  ]) {
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
  t.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => i),
  );
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
  t.deepEqual(
    [...s.train.x, ...s.test.x].sort((a, b) => a - b),
    [...data.x],
  );
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

test('bad dataset specs are rejected with the field named (UsageError, one line)', (t) => {
  const cases: [DatasetSpec, string][] = [
    [{ name: 'cifar' }, 'unknown dataset "cifar"; allowed: moons, circles, mnist, fashion-mnist, fashion-mnist-32, cifar10, cifar100, files'],
    [{ name: 'mnist', nTrain: 9000, nTest: 2000 }, 'dataset mnist: mnist has 10000 digits; nTrain + nTest = 11000 is too many'],
    [{ name: 'moons', noise: -1 }, 'dataset moons: noise = -1: must be >= 0'],
    [{ name: 'moons', nTrain: 2.5 }, 'dataset moons: nTrain = 2.5: must be an integer >= 1'],
    [{ name: 'circles', factor: 0 }, 'dataset circles: factor = 0: must be > 0'],
    [{ name: 'mnist', noise: 0.1 }, 'dataset mnist: noise = 0.1: unknown key; dataset mnist takes seed, nTrain, nTest'],
    [{ name: 'fashion-mnist', nTrain: 60001 }, 'dataset fashion-mnist: nTrain = 60001: must be an integer in [1, 60000]'],
    [{ name: 'files' }, 'dataset files: test: required for dataset files'],
  ];
  for (const [spec, message] of cases) {
    const e = t.throws(() => loadDataset(spec), { instanceOf: UsageError }, JSON.stringify(spec));
    t.is(e?.message, message);
  }
});

test('the registry: one descriptor per dataset, and the names, spec keys and 2-D check derive from it', (t) => {
  t.deepEqual(
    [...DATASET_NAMES],
    DATASETS.map((d) => d.name),
  );
  t.deepEqual([...DATASET_NAMES], ['moons', 'circles', 'mnist', 'fashion-mnist', 'fashion-mnist-32', 'cifar10', 'cifar100', 'files']);
  t.deepEqual(DATASET_SPEC_KEYS.moons, ['name', 'seed', 'nTrain', 'nTest', 'noise']);
  t.deepEqual(DATASET_SPEC_KEYS.circles, ['name', 'seed', 'nTrain', 'nTest', 'noise', 'factor']);
  for (const d of DATASETS) {
    t.is(datasetDescriptor(d.name), d);
    for (const [k, p] of Object.entries(d.params)) t.true(p.help.length > 0, `${d.name}.${k} is documented`);
  }
  // Every built dataset matches what its descriptor declares, and rebuilds from its recorded settings.
  for (const spec of [
    { name: 'moons', nTrain: 50, nTest: 20, seed: 4 },
    { name: 'circles', nTrain: 40, nTest: 10, factor: 0.3 },
    { name: 'mnist', nTrain: 100, nTest: 50 },
  ]) {
    const ds = loadDataset(spec);
    const shape = datasetDescriptor(spec.name).shape;
    t.deepEqual([ds.inputShape, ds.numClasses, ds.bounds], [shape.inputShape, shape.numClasses, shape.bounds]);
    const again = loadDataset(datasetSpecFromSettings(ds.settings) as DatasetSpec);
    t.deepEqual(again.test.x, ds.test.x, spec.name);
    t.deepEqual(again.settings, ds.settings);
  }
  t.true(isPointsDataset(loadDataset({ name: 'moons', nTrain: 10, nTest: 10 }).settings));
  t.true(isPointsDataset({ name: 'circles' }));
  t.false(isPointsDataset({ name: 'mnist', nTrain: 8000 }));
  t.false(isPointsDataset({ name: 'fashion-mnist' }));
  t.true(isPointsDataset({ name: 'files', inputShape: '2' }));
  t.false(isPointsDataset({ name: 'files', inputShape: '28x28x1' }));
  t.false(isPointsDataset({ name: 'unknown' }));
});

test('default attack radii come from the dataset descriptors', (t) => {
  const moonsDs = loadDataset({ name: 'moons', nTrain: 10, nTest: 10 });
  t.deepEqual(defaultAttackEps(moonsDs, 'linf'), [0.05, 0.1, 0.2]);
  const mnistDs = loadDataset({ name: 'mnist', nTrain: 100, nTest: 50 });
  t.deepEqual(defaultAttackEps(mnistDs, 'linf'), [0.1, 0.2, 0.3]);
  t.deepEqual(defaultAttackEps(mnistDs, 'l2'), [0.5, 1, 2]);
  // files: mnist's radii in units of the input range.
  t.deepEqual(defaultAttackEps({ ...mnistDs, name: 'files', bounds: { lo: 0, hi: 255 } }, 'linf'), [25.5, 51, 76.5]);
});
