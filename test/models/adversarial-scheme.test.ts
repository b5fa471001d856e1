import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { pgdPerturb } from '../../attacks/pgd';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { oneHot } from '../../models/loss';
import { crossEntropyPerExample } from '../../attacks/losses';
import { createScheme } from '../../models/schemes';
import { initBackend } from '../../backend/select';
import { contextFor, moons, range, trainedMlp } from './scheme-helpers';

test.before(async () => {
  await initBackend('wasm');
});

/** Moons squeezed into tight bounds so that the bounds clip binds. */
function boxedMoons(): Dataset {
  const ds = moons(400, 100);
  const lo = -0.5;
  const hi = 1.0;
  const clip = (x: Float32Array) => x.map((v) => Math.min(hi, Math.max(lo, v)));
  return { ...ds, bounds: { lo, hi }, train: { ...ds.train, x: clip(ds.train.x) }, test: { ...ds.test, x: clip(ds.test.x) } };
}

test('adversarial batch: inside the eps-ball and the bounds, higher loss than clean, exactly pgdPerturb', (t) => {
  const ds = boxedMoons();
  const { f, model } = trainedMlp(ds, [32, 32], 15);
  const eps = 0.1;
  const s = createScheme('adversarial', { eps }, ds, new Rng(0));
  tf.tidy(() => {
    const ctx = contextFor(s, ds, range(400), new Rng(3), f);
    const b = s.makeBatch(ctx);
    t.true(b.info!.perturbed!.every((v) => v === 1));
    const dev = tf.max(tf.abs(tf.sub(b.x, ctx.x))).dataSync()[0];
    t.true(dev <= eps + 1e-6, `max deviation ${dev}`);
    t.true(dev > eps * 0.9, 'the attack uses its budget');
    const v = b.x.dataSync();
    t.true(v.every((x) => x >= ds.bounds.lo && x <= ds.bounds.hi));
    t.true(
      v.some((x) => x === ds.bounds.hi || x === ds.bounds.lo),
      'the clip binds somewhere',
    );
    const y = oneHot(ctx.y, 2);
    const clean = tf.mean(crossEntropyPerExample(f(ctx.x), y)).dataSync()[0];
    const adv = tf.mean(crossEntropyPerExample(f(b.x), y)).dataSync()[0];
    t.log(`mean CE clean ${clean.toFixed(4)}, adversarial (eps ${eps}) ${adv.toFixed(4)}`);
    t.true(adv > clean * 1.5, `adv ${adv} vs clean ${clean}`);
    t.deepEqual(b.targets.arraySync(), y.arraySync());
    // Same stream, same result as the one PGD implementation.
    const direct = pgdPerturb(f, ctx.x, y, ds.bounds, { norm: 'linf', eps, steps: 7, stepSize: (2.5 * eps) / 7, randomStart: true }, new Rng(3));
    t.deepEqual(b.x.dataSync(), direct.dataSync());
  });
  model.dispose();
});

test('adversarial mixRatio 0.5 replaces exactly half the batch and leaves the rest clean', (t) => {
  const ds = boxedMoons();
  const { f, model } = trainedMlp(ds, [16], 5);
  const s = createScheme('adversarial', { eps: 0.2, steps: 3, mixRatio: 0.5 }, ds, new Rng(0));
  tf.tidy(() => {
    const ctx = contextFor(s, ds, range(100), new Rng(4), f);
    const b = s.makeBatch(ctx);
    const p = b.info!.perturbed!;
    t.is(
      p.reduce((a, c) => a + c, 0),
      50,
    );
    const x = ctx.x.arraySync() as number[][];
    const bx = b.x.arraySync() as number[][];
    let moved = 0;
    bx.forEach((r, i) => {
      const same = r[0] === x[i][0] && r[1] === x[i][1];
      if (!p[i]) t.true(same, `clean row ${i} changed`);
      else {
        if (!same) moved++;
        t.true(Math.max(Math.abs(r[0] - x[i][0]), Math.abs(r[1] - x[i][1])) <= 0.2 + 1e-6);
      }
    });
    t.true(moved >= 45);
    const v = s.vicinity(3, 10, new Rng(1), f);
    t.is(
      v.info!.perturbed!.reduce((a, c) => a + c, 0),
      5,
    );
  });
  model.dispose();
});
