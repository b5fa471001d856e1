import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { attackObjective, crossEntropyPerExample, dlrLoss, dlrTargetedLoss, largestLogits, marginLoss } from '../../attacks/losses';
import { Rng } from '../../data/rng';
import { initBackend } from '../../backend/select';

test.before(async () => {
  await initBackend('wasm');
});

// Host-side (float64) closed forms, written from the definitions.
const sortedDesc = (z: number[]) => [...z].sort((a, b) => b - a);
const rank = (z: number[], r: number) => sortedDesc(z)[Math.min(r, z.length) - 1];
const maxOther = (z: number[], c: number) => Math.max(...z.filter((_, j) => j !== c));
const hostMargin = (z: number[], y: number) => maxOther(z, y) - z[y];
const hostDlr = (z: number[], y: number) => (z.length < 3 ? hostMargin(z, y) : -(z[y] - maxOther(z, y)) / (rank(z, 1) - rank(z, 3) + 1e-12));
const hostDlrTargeted = (z: number[], y: number, t: number) => (z.length < 3 ? z[t] - z[y] : -(z[y] - z[t]) / (rank(z, 1) - (rank(z, 3) + rank(z, 4)) / 2 + 1e-12));
const hostCe = (z: number[], y: number) => {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0)) - z[y];
};

/** Rows of logits and labels, including ties, as [logits, label, target]. */
function cases(): [number[], number, number][] {
  const rng = new Rng(7);
  const out: [number[], number, number][] = [
    // Ties at the top: the label shares the largest logit (margin 0, DLR 0).
    [[3, 3, 1, 0], 0, 2],
    [[3, 3, 1, 0], 1, 3],
    // Three-way tie at the top, label below: the DLR denominator is only the epsilon.
    [[2, 2, 2, 0], 3, 0],
    // All equal.
    [[1, 1, 1, 1, 1], 2, 4],
    // Label ranks first, second and last.
    [[5, 1, 0.5, -2], 0, 1],
    [[1, 5, 0.5, -2], 0, 2],
    [[-3, 5, 0.5, 2], 0, 3],
    // Ties below the top.
    [[4, 1, 1, 1, 0], 1, 0],
    // Three classes (targeted DLR takes pi4 = pi3) and two (margin fallback).
    [[0.3, -1.2, 2.5], 1, 2],
    [[2.5, 0.3, -1.2], 0, 1],
    [[0.7, -0.4], 0, 1],
    [[0.7, -0.4], 1, 0],
  ];
  for (const k of [3, 4, 5, 10]) {
    for (let i = 0; i < 6; i++) {
      const z = Array.from({ length: k }, () => 6 * rng.uniform() - 3);
      const y = rng.int(k);
      out.push([z, y, (y + 1 + rng.int(k - 1)) % k]);
    }
  }
  return out;
}

/** Evaluates a per-row loss on one row of logits (float32 on the device). */
function onDevice(fn: (z: tf.Tensor2D, y: tf.Tensor1D, t: tf.Tensor1D) => tf.Tensor1D, z: number[], y: number, t: number): number {
  return tf.tidy(() => fn(tf.tensor2d([z]), tf.tensor1d([y], 'int32'), tf.tensor1d([t], 'int32')).dataSync()[0]);
}

const close = (a: number, b: number, rel = 2e-5) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

test('margin, DLR and targeted DLR match their closed forms on small logits, ties included', (t) => {
  const before = tf.memory().numTensors;
  for (const [z, y, tgt] of cases()) {
    const zf = z.map(Math.fround);
    const m = onDevice((a, b) => marginLoss(a, b), zf, y, tgt);
    const d = onDevice((a, b) => dlrLoss(a, b), zf, y, tgt);
    const dt = onDevice((a, b, c) => dlrTargetedLoss(a, b, c), zf, y, tgt);
    t.true(close(m, hostMargin(zf, y)), `margin ${zf} y=${y}: ${m} vs ${hostMargin(zf, y)}`);
    t.true(close(d, hostDlr(zf, y)), `dlr ${zf} y=${y}: ${d} vs ${hostDlr(zf, y)}`);
    t.true(close(dt, hostDlrTargeted(zf, y, tgt)), `dlr-t ${zf} y=${y} t=${tgt}: ${dt} vs ${hostDlrTargeted(zf, y, tgt)}`);
    // The attacker's objectives: untargeted the label's loss, targeted the target's.
    t.true(
      close(
        onDevice((a, b) => attackObjective('ce', a, b), zf, y, tgt),
        hostCe(zf, y),
      ),
    );
    t.true(
      close(
        onDevice((a, b, c) => attackObjective('ce', a, b, c), zf, y, tgt),
        -hostCe(zf, tgt),
      ),
    );
    t.true(
      close(
        onDevice((a, b, c) => attackObjective('margin', a, b, c), zf, y, tgt),
        -hostMargin(zf, tgt),
      ),
    );
    t.true(
      close(
        onDevice((a, b, c) => attackObjective('dlr', a, b, c), zf, y, tgt),
        hostDlrTargeted(zf, y, tgt),
      ),
    );
    t.true(
      close(
        onDevice((a, b) => attackObjective('dlr', a, b), zf, y, tgt),
        hostDlr(zf, y),
      ),
    );
  }
  // Exact values at the ties.
  t.is(
    onDevice((a, b) => dlrLoss(a, b), [3, 3, 1, 0], 0, 2),
    0,
  );
  t.is(
    onDevice((a, b) => marginLoss(a, b), [1, 1, 1, 1, 1], 2, 0),
    0,
  );
  t.true(onDevice((a, b) => dlrLoss(a, b), [2, 2, 2, 0], 3, 0) > 1e11);
  t.is(tf.memory().numTensors, before);
});

test('the r largest logits come largest first, ties kept, ranks beyond the classes repeat the smallest', (t) => {
  const z = [0.5, 3, -1, 3, 2];
  const got = tf.tidy(() => largestLogits(tf.tensor2d([z]), 7).map((v) => v.dataSync()[0]));
  t.deepEqual(got, [3, 3, 2, 0.5, -1, -1, -1]);
});

test('DLR is invariant to scaling the logits (c > 0) and to shifting them; CE and the margin are not', (t) => {
  let checked = 0;
  for (const [z, y, tgt] of cases()) {
    if (z.length < 4 || rank(z, 1) - rank(z, 3) < 0.1 || rank(z, 1) - (rank(z, 3) + rank(z, 4)) / 2 < 0.1) continue;
    checked++;
    const base = onDevice((a, b) => dlrLoss(a, b), z, y, tgt);
    const baseT = onDevice((a, b, c) => dlrTargetedLoss(a, b, c), z, y, tgt);
    for (const c of [0.01, 0.5, 3, 100]) {
      const scaled = z.map((v) => c * v);
      t.true(
        close(
          onDevice((a, b) => dlrLoss(a, b), scaled, y, tgt),
          base,
          1e-4,
        ),
        `dlr x${c}`,
      );
      t.true(
        close(
          onDevice((a, b, cc) => dlrTargetedLoss(a, b, cc), scaled, y, tgt),
          baseT,
          1e-4,
        ),
        `dlr-t x${c}`,
      );
    }
    const shifted = z.map((v) => v + 7);
    t.true(
      close(
        onDevice((a, b) => dlrLoss(a, b), shifted, y, tgt),
        base,
        1e-4,
      ),
    );
  }
  t.true(checked >= 15, `${checked} rows checked`);
  // CE changes with the scale: a confident row's CE collapses to 0 at x100, and the margin scales.
  const z = [4, 1, 0.5, -1];
  const ce = (s: number) => tf.tidy(() => crossEntropyPerExample(tf.tensor2d([z.map((v) => s * v)]), tf.tensor2d([[1, 0, 0, 0]])).dataSync()[0]);
  t.true(ce(1) > 0.05);
  t.true(ce(100) < 1e-6);
  t.true(Math.abs(ce(100) - ce(1)) > 0.05);
  t.true(
    close(
      onDevice(
        (a, b) => marginLoss(a, b),
        z.map((v) => 100 * v),
        0,
        1,
      ),
      100 * hostMargin(z, 0),
    ),
  );
});

test('the gradients of margin and DLR reach the logits as the closed forms say (no saturation)', (t) => {
  const rng = new Rng(3);
  for (let i = 0; i < 10; i++) {
    const k = 5;
    const z = Array.from({ length: k }, () => Math.fround(4 * rng.uniform() - 2));
    const y = rng.int(k);
    const tgt = (y + 1 + rng.int(k - 1)) % k;
    for (const [name, dev, host] of [
      ['margin', (a: tf.Tensor2D, b: tf.Tensor1D) => marginLoss(a, b), (v: number[]) => hostMargin(v, y)],
      ['dlr', (a: tf.Tensor2D, b: tf.Tensor1D) => dlrLoss(a, b), (v: number[]) => hostDlr(v, y)],
      ['dlr-t', (a: tf.Tensor2D, b: tf.Tensor1D) => dlrTargetedLoss(a, b, tf.tensor1d([tgt], 'int32')), (v: number[]) => hostDlrTargeted(v, y, tgt)],
    ] as const) {
      const g = tf.tidy(() =>
        Array.from(
          tf
            .grad((zz: tf.Tensor) => tf.sum(dev(zz as tf.Tensor2D, tf.tensor1d([y], 'int32'))))(tf.tensor2d([z]))
            .dataSync(),
        ),
      );
      for (let j = 0; j < k; j++) {
        const h = 1e-4;
        const up = z.slice();
        const down = z.slice();
        up[j] += h;
        down[j] -= h;
        const fd = (host(up) - host(down)) / (2 * h);
        t.true(Math.abs(g[j] - fd) < 1e-3 * Math.max(1, Math.abs(fd)), `${name} d/dz${j}: ${g[j]} vs ${fd} at ${z}`);
      }
    }
  }
  // At x100 the CE gradient of a confident row underflows to exactly zero; the margin's does not.
  const z = tf.tensor2d([[400, 100, 50, -100]]);
  const y = tf.tensor1d([0], 'int32');
  const gce = tf
    .grad((zz: tf.Tensor) => tf.sum(attackObjective('ce', zz as tf.Tensor2D, y)))(z)
    .dataSync();
  const gm = tf
    .grad((zz: tf.Tensor) => tf.sum(attackObjective('margin', zz as tf.Tensor2D, y)))(z)
    .dataSync();
  t.deepEqual(Array.from(gce, Math.abs), [0, 0, 0, 0]);
  t.deepEqual(Array.from(gm), [-1, 1, 0, 0]);
  tf.dispose([z, y]);
});
