import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { createScheme } from '../../models/schemes';
import { euclidean, nearestNeighbours } from '../../models/schemes/knn';
import { knnAlpha, MixupKnnScheme } from '../../models/schemes/mixup-knn';
import { initBackend } from '../../backend/select';
import { contextFor, moons, range } from './scheme-helpers';

test.before(async () => {
  await initBackend('wasm');
});

function bruteForce(x: Float32Array, d: number, k: number): number[][] {
  const n = x.length / d;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => j)
      .filter((j) => j !== i)
      .map((j) => ({ j, dist: euclidean(x, d, i, j) }))
      .sort((a, b) => a.dist - b.dist || a.j - b.j)
      .slice(0, k)
      .map((e) => e.j),
  );
}

test('neighbours from blocked matMul + topk agree with brute force (self excluded, several blocks)', (t) => {
  const ds = moons(150, 10);
  const k = 5;
  const table = nearestNeighbours(ds.train.x.slice(), 2, k, 40);
  const want = bruteForce(ds.train.x, 2, k);
  for (let i = 0; i < 150; i++) {
    const got = Array.from(table.index.subarray(i * k, i * k + k));
    t.false(got.includes(i));
    t.deepEqual(got, want[i], `row ${i}`);
    for (let j = 0; j < k; j++) t.true(Math.abs(table.distance[i * k + j] - euclidean(ds.train.x, 2, i, got[j])) < 1e-6);
  }
  const all = Float64Array.from(table.distance).sort();
  t.true(Math.abs(table.medianDistance - (all[all.length / 2 - 1] + all[all.length / 2]) / 2) < 1e-9);
});

test('neighbours in 784 dimensions agree with brute force; duplicates count as neighbours at distance 0', (t) => {
  const rng = new Rng(4);
  const n = 60;
  const d = 784;
  const x = Float32Array.from({ length: n * d }, () => rng.uniform());
  x.copyWithin(5 * d, 3 * d, 4 * d); // row 5 duplicates row 3
  const k = 4;
  const table = nearestNeighbours(x, d, k, 25);
  const want = bruteForce(x, d, k);
  for (let i = 0; i < n; i++) t.deepEqual(Array.from(table.index.subarray(i * k, i * k + k)), want[i]);
  t.is(table.index[3 * k], 5);
  t.is(table.index[5 * k], 3);
  t.is(table.distance[3 * k], 0);
  // Cached per array and k.
  t.is(nearestNeighbours(x, d, k).seconds, 0);
});

test('mixup-knn partners are among the k neighbours of each point; label of x kept', (t) => {
  const ds = moons(300, 20);
  const s = createScheme('mixup-knn', { k: 4, alpha: 0.5 }, ds, new Rng(0)) as MixupKnnScheme;
  const nb = s.neighbours;
  t.is(s.settings.medianNeighbourDistance, nb.medianDistance);
  const model = buildModel({ arch: 'linear' }, ds.inputShape, 2, 0);
  const idx = Int32Array.from(new Rng(1).permutation(300).subarray(0, 100));
  tf.tidy(() => {
    const ctx = contextFor(s, ds, idx, new Rng(2), asClassifier(model));
    const b = s.makeBatch(ctx);
    const seen = new Set<string>();
    b.info!.partner!.forEach((j, i) => {
      const nbrs = Array.from(nb.index.subarray(idx[i] * 4, idx[i] * 4 + 4));
      t.true(nbrs.includes(j), `row ${idx[i]}: partner ${j} not in ${nbrs}`);
      seen.add(`${idx[i]}:${nbrs.indexOf(j)}`);
    });
    t.true(seen.size > 50);
    t.deepEqual(b.targets.argMax(1).dataSync(), Int32Array.from(ctx.y));
    const x = ctx.x.arraySync() as number[][];
    const bx = b.x.arraySync() as number[][];
    bx.forEach((r, i) => {
      const lam = b.info!.lambda![i];
      const j = b.info!.partner![i];
      for (let c = 0; c < 2; c++) t.true(Math.abs(r[c] - (lam * x[i][c] + (1 - lam) * ds.train.x[j * 2 + c])) < 1e-5);
    });
    const v = s.vicinity(7, 200, new Rng(3));
    const nbrs = Array.from(nb.index.subarray(7 * 4, 7 * 4 + 4));
    t.true(v.info!.partner!.every((j) => nbrs.includes(j)));
    t.is(new Set(v.info!.partner!).size, 4);
  });
  model.dispose();
});

test('alphaDistance: grow scales alpha up with the neighbour distance, shrink down, ratio clamped to [0.1, 10]', (t) => {
  t.is(knnAlpha(0.5, 'none', 3, 1), 0.5);
  t.is(knnAlpha(0.5, 'grow', 2, 1), 1);
  t.is(knnAlpha(0.5, 'shrink', 2, 1), 0.25);
  t.is(knnAlpha(1, 'grow', 0, 1), 0.1);
  t.is(knnAlpha(1, 'shrink', 0, 1), 10);
  t.is(knnAlpha(1, 'grow', 1000, 1), 10);
  // Far partners under "shrink" get lambda nearer 1 than under "grow".
  const ds = moons(300, 20);
  const model = buildModel({ arch: 'linear' }, ds.inputShape, 2, 0);
  const meanLam = (mode: string) =>
    tf.tidy(() => {
      const s = createScheme('mixup-knn', { alphaDistance: mode, k: 10 }, ds, new Rng(0)) as MixupKnnScheme;
      const b = s.makeBatch(contextFor(s, ds, range(300), new Rng(9), asClassifier(model)));
      const far: number[] = [];
      b.info!.partner!.forEach((j, i) => {
        if (euclidean(ds.train.x, 2, i, j) > 2 * s.neighbours.medianDistance) far.push(b.info!.lambda![i]);
      });
      return far.reduce((a, c) => a + c, 0) / far.length;
    });
  t.true(meanLam('shrink') > meanLam('grow'));
  model.dispose();
});
