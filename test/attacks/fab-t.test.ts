import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { createAttack } from '../../attacks/registry';
import { boxHyperplaneStep } from '../../attacks/fab-t';
import { attackLabel } from '../../attacks/types';
import { Norm } from '../../contract/norms';
import { Rng } from '../../data/rng';
import { initBackend } from '../../backend/select';
import { linearWeights, smallModel, uniformRows } from './helpers';

test.before(async () => {
  await initBackend('wasm');
});

const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));

test('box-constrained hyperplane step: known answers in linf and l2, with and without the box binding', (t) => {
  const check = (t0: number[], w: number[], v: number, norm: Norm, want: number[]) => {
    const got = Array.from(boxHyperplaneStep(t0, w, v, 0, 1, norm));
    got.forEach((g, i) => t.true(Math.abs(g - want[i]) < 1e-12, `${norm} t=${t0} w=${w} v=${v}: got ${got}, want ${want}`));
  };
  // Free: linf moves every coordinate by |v| / ||w||_1 against sign(v w); l2 by v w / ||w||^2.
  check([0.5, 0.5], [1, 1], 0.8, 'linf', [-0.4, -0.4]);
  check([0.5, 0.5], [1, -1], -0.2, 'linf', [0.1, -0.1]);
  check([0.5, 0.5], [1, 2], 0.5, 'l2', [-0.1, -0.2]);
  // Coordinate 0 has room 0.1 only: it saturates and the others carry the rest.
  check([0.1, 0.5], [1, 1], 0.5, 'linf', [-0.1, -0.4]);
  check([0.1, 0.5], [1, 2], 1, 'l2', [-0.1, -0.45]);
  // Unreachable inside the box: the closest corner.
  check([0.1, 0.5], [1, 1], 0.8, 'linf', [-0.1, -0.5]);
  check([0.1, 0.5], [1, 2], 2, 'l2', [-0.1, -0.5]);
  // Zero weights never move; v = 0 is already on the hyperplane.
  check([0.5, 0.5, 0.5], [1, 0, 1], 0.4, 'l2', [-0.2, 0, -0.2]);
  check([0.3, 0.7], [2, -1], 0, 'linf', [0, 0]);
  // Random reachable cases: on the hyperplane, inside the box, and no shorter than the free optimum.
  const rng = new Rng(3);
  for (let r = 0; r < 50; r++) {
    const d = 1 + rng.int(20);
    const x = Array.from({ length: d }, () => rng.uniform());
    const w = Array.from({ length: d }, () => rng.normal());
    const v = 0.2 * rng.normal();
    for (const norm of ['linf', 'l2'] as Norm[]) {
      const s = boxHyperplaneStep(x, w, v, 0, 1, norm);
      const reach = s.reduce((a, si, i) => a + si * w[i], 0);
      const inBox = s.every((si, i) => x[i] + si >= -1e-12 && x[i] + si <= 1 + 1e-12);
      t.true(inBox, `${norm}: inside the box`);
      // Reachable iff the full corner reaches: then the step lands on the hyperplane.
      const corner = w.reduce((a, wi, i) => a + Math.abs(wi) * (wi * Math.sign(v) > 0 ? x[i] : 1 - x[i]), 0);
      if (corner < Math.abs(v)) continue;
      t.true(Math.abs(reach + v) < 1e-9, `${norm}: on the hyperplane (${reach} vs ${-v})`);
      const free = norm === 'linf' ? Math.abs(v) / w.reduce((a, wi) => a + Math.abs(wi), 0) : Math.abs(v) / Math.sqrt(w.reduce((a, wi) => a + wi * wi, 0));
      const len = norm === 'linf' ? Math.max(...Array.from(s, Math.abs)) : Math.sqrt(s.reduce((a, si) => a + si * si, 0));
      t.true(len >= free * (1 - 1e-9), `${norm}: no shorter than without the box`);
    }
  }
});

/** The same step the slow way: every coordinate's breakpoint sorted, the level found by a scan. */
function stepBySorting(t: number[], w: number[], v: number, norm: Norm): number[] {
  const s = Math.sign(v);
  const coords = w.flatMap((wi, i) => {
    if (wi === 0) return [];
    const a = Math.abs(wi);
    const room = s * wi > 0 ? t[i] : 1 - t[i];
    return [{ i, a, room, at: norm === 'linf' ? room : room / a, slope: norm === 'linf' ? a : a * a }];
  });
  coords.sort((p, q) => p.at - q.at);
  let level = Infinity;
  let saturated = 0;
  for (let k = 0; k < coords.length; k++) {
    const rest = coords.slice(k).reduce((acc, c) => acc + c.slope, 0);
    const candidate = (Math.abs(v) - saturated) / rest;
    if (candidate <= coords[k].at) {
      level = candidate;
      break;
    }
    saturated += coords[k].a * coords[k].room;
  }
  const out = w.map(() => 0);
  for (const c of coords) out[c.i] = (s * w[c.i] > 0 ? -1 : 1) * Math.min(norm === 'linf' ? level : level * c.a, c.room);
  return out;
}

test('box-constrained hyperplane step: the selection agrees with sorting every breakpoint (ties, saturated and unreachable cases)', (t) => {
  const rng = new Rng(8);
  for (let r = 0; r < 300; r++) {
    const d = 1 + rng.int(40);
    // Many coordinates on the bounds (breakpoint 0), some weights repeated (equal breakpoints).
    const x = Array.from({ length: d }, () => (rng.uniform() < 0.4 ? (rng.uniform() < 0.5 ? 0 : 1) : rng.uniform()));
    const w = Array.from({ length: d }, () => (rng.uniform() < 0.1 ? 0 : rng.uniform() < 0.3 ? 0.5 : rng.normal()));
    const v = (rng.uniform() < 0.5 ? 0.05 : 2) * rng.normal();
    for (const norm of ['linf', 'l2'] as Norm[]) {
      const got = boxHyperplaneStep(x, w, v, 0, 1, norm);
      const want = stepBySorting(x, w, v, norm);
      const err = Math.max(0, ...want.map((wi, i) => Math.abs(wi - got[i])));
      t.true(err < 1e-12, `${norm} case ${r}: max difference ${err}`);
    }
  }
});

/** Host logits of a linear model at one row. */
function logits(W: Float32Array, b: Float32Array, d: number, k: number, x: ArrayLike<number>): number[] {
  return Array.from({ length: k }, (_, j) => {
    let s = b[j];
    for (let i = 0; i < d; i++) s += x[i] * W[i * k + j];
    return s;
  });
}

test('FAB-T on a linear model: one iteration lands at eta x the closed-form boundary distance to the runner-up; 100 iterations shrink it towards that distance', (t) => {
  const d = 6;
  const k = 4;
  const { model, f } = smallModel({ arch: 'linear' }, [d], k, 11);
  const { W, b } = linearWeights(model);
  const wide = { lo: -100, hi: 100 };
  const xs = uniformRows(8, d, { lo: 0, hi: 1 }, new Rng(2));
  const x = tf.tensor(xs, [8, d]);
  const y = Int32Array.from({ length: 8 }, (_, r) => {
    const z = logits(W, b, d, k, xs.subarray(r * d, (r + 1) * d));
    return z.indexOf(Math.max(...z));
  });
  for (const norm of ['linf', 'l2'] as Norm[]) {
    // The closed form: to reach f_t = f_y along the best direction costs |f_y - f_t| / ||w_y - w_t||_dual.
    const minimal = Array.from({ length: 8 }, (_, r) => {
      const z = logits(W, b, d, k, xs.subarray(r * d, (r + 1) * d));
      const t2 = z.map((v, j) => (j === y[r] ? -Infinity : v)).reduce((best, v, j, a) => (v > a[best] ? j : best), 0);
      let dual = 0;
      for (let i = 0; i < d; i++) {
        const dw = W[i * k + y[r]] - W[i * k + t2];
        dual = norm === 'linf' ? dual + Math.abs(dw) : dual + dw * dw;
      }
      return Math.abs(z[y[r]] - z[t2]) / (norm === 'linf' ? dual : Math.sqrt(dual));
    });
    const distances = (steps: number) => {
      const out = createAttack({ name: 'fab-t', params: { steps, targetClasses: 1 } }, norm).run(f, x, y, wide, 1000, new Rng(0));
      const adv = out.xAdv.dataSync();
      out.xAdv.dispose();
      t.true(
        out.success.every((s) => s === 1),
        `${norm} ${steps} steps: every row broken`,
      );
      return Array.from({ length: 8 }, (_, r) => {
        let n = 0;
        for (let i = 0; i < d; i++) {
          const a = Math.abs(adv[r * d + i] - xs[r * d + i]);
          n = norm === 'linf' ? Math.max(n, a) : n + a * a;
        }
        return norm === 'linf' ? n : Math.sqrt(n);
      });
    };
    const one = distances(1);
    one.forEach((v, r) => t.true(close(v, 1.05 * minimal[r], 1e-4), `${norm} row ${r}: ${v} vs 1.05 x ${minimal[r]}`));
    const many = distances(100);
    many.forEach((v, r) => {
      t.true(v >= minimal[r] * (1 - 1e-4), `${norm} row ${r}: ${v} not below the minimum ${minimal[r]}`);
      t.true(v <= minimal[r] * 1.01, `${norm} row ${r}: ${v} within 1% of the minimum ${minimal[r]}`);
    });
    t.log(`${norm}: worst ratio after 100 iterations ${Math.max(...many.map((v, r) => v / minimal[r])).toFixed(6)}`);
    // A ball smaller than every boundary distance: nothing broken, every row returned unchanged.
    const small = createAttack({ name: 'fab-t', params: { steps: 20, targetClasses: 3 } }, norm).run(f, x, y, wide, 0.5 * Math.min(...minimal), new Rng(0));
    t.true(small.success.every((s) => s === 0));
    t.deepEqual(Array.from(small.xAdv.dataSync()), Array.from(xs));
    small.xAdv.dispose();
  }
  x.dispose();
  model.dispose();
});

test('FAB-T on an MLP: outputs in the ball and the bounds, success matches predictions, unbroken rows unchanged, deterministic, settings recorded', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [16] }, [6, 6, 1], 5, 3);
  const bounds = { lo: 0, hi: 1 };
  const xs = uniformRows(16, 36, bounds, new Rng(4));
  const x = tf.tensor(xs, [16, 6, 6, 1]);
  const y = tf.tidy(() => Int32Array.from(tf.argMax(f(x), -1).dataSync()));
  y[0] = (y[0] + 1) % 5; // misclassified from the start: returned unchanged, counted broken
  for (const norm of ['linf', 'l2'] as Norm[]) {
    const eps = norm === 'linf' ? 0.12 : 0.6;
    const attack = createAttack({ name: 'fab-t', params: { steps: 15, targetClasses: 3 } }, norm);
    t.like(attack.settings, { norm, steps: 15, targetClasses: 3, restarts: 1, alphaMax: 0.1, eta: 1.05, beta: 0.9 });
    t.is(attackLabel(attack.name, attack.settings), 'fab-t');
    const runs = [0, 1].map(() => {
      const out = attack.run(f, x, y, bounds, eps, new Rng(9));
      const adv = Array.from(out.xAdv.dataSync());
      out.xAdv.dispose();
      return { adv, success: Array.from(out.success), pred: Array.from(out.pred) };
    });
    t.deepEqual(runs[0], runs[1], `${norm}: same seed, same result`);
    const { adv, success, pred } = runs[0];
    let broken = 0;
    for (let r = 0; r < 16; r++) {
      t.is(success[r] === 1, pred[r] !== y[r], `${norm} row ${r}: success iff misclassified`);
      let n = 0;
      for (let i = 0; i < 36; i++) {
        const v = adv[r * 36 + i];
        t.true(v >= 0 && v <= 1);
        const a = Math.abs(v - xs[r * 36 + i]);
        n = norm === 'linf' ? Math.max(n, a) : n + a * a;
      }
      t.true((norm === 'linf' ? n : Math.sqrt(n)) <= eps * (1 + 1e-5));
      if (!success[r] || r === 0) t.deepEqual(adv.slice(r * 36, (r + 1) * 36), Array.from(xs.subarray(r * 36, (r + 1) * 36)), `${norm} row ${r} unchanged`);
      broken += success[r];
    }
    t.log(`${norm} eps ${eps}: ${broken - 1}/15 broken`);
    t.true(broken > 1 && broken < 16, `${norm}: the test's eps breaks some rows but not all (${broken})`);
    t.throws(() => attack.run(f, x, y, bounds, eps, new Rng(0), { targets: y }), { message: /targets/ });
  }
  x.dispose();
  model.dispose();
});
