import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { Rng } from '../../data/rng';
import { buildModel } from '../../models/build';
import { crossEntropy, oneHot } from '../../models/loss';
import { crossEntropyPerExample } from '../../attacks/losses';
import { asClassifier } from '../../models/predict';
import { createScheme, Scheme, SCHEME_DEFAULTS, SCHEME_NAMES, schemeDefaults } from '../../models/schemes';
import { mixRows } from '../../models/schemes/common';
import { trainModel } from '../../models/train';
import { initBackend } from '../../backend/select';
import { UsageError } from '../../contract/errors';
import { contextFor, meanAndSe, moons, range, trainedMlp, weightsOf } from './scheme-helpers';

test.before(async () => {
  await initBackend('wasm');
});

test('mixup (soft labels, Beta(a, a)) and mixup-asym (label of x, Beta(a+1, a)) have the same objective; Beta(a, a+1) does not', (t) => {
  const ds = moons(1000, 200);
  const { f, model } = trainedMlp(ds);
  const all = range(ds.train.n);
  const R = 100;
  for (const alpha of [1, 0.5]) {
    const mix = createScheme('mixup', { alpha, lambdaPer: 'example' }, ds, new Rng(0));
    const asym = createScheme('mixup-asym', { alpha }, ds, new Rng(0));
    const rng = new Rng(Math.round(alpha * 1000));
    // One Monte Carlo replicate: the mean loss over the whole training set,
    // each point mixed with a partner from a random permutation (uniform over
    // the training set), one lambda per point.
    const replicate = (s: Scheme) =>
      tf.tidy(() => {
        const b = s.makeBatch(contextFor(s, ds, all, rng.fork('rep'), f));
        return crossEntropy(f(b.x), b.targets).dataSync()[0];
      });
    // The reversed convention: weight on x ~ Beta(a, a + 1).
    const reversed = () =>
      tf.tidy(() => {
        const r = rng.fork('rev');
        const ctx = contextFor(asym, ds, all, r, f);
        const perm = r.permutation(ds.train.n);
        const lam = Float32Array.from({ length: ds.train.n }, () => r.beta(alpha, alpha + 1));
        return crossEntropy(f(mixRows(ctx.x, tf.gather(ctx.x, perm), lam)), oneHot(ctx.y, 2)).dataSync()[0];
      });
    const m = meanAndSe(Array.from({ length: R }, () => replicate(mix)));
    const a = meanAndSe(Array.from({ length: R }, () => replicate(asym)));
    const w = meanAndSe(Array.from({ length: R }, () => reversed()));
    const seMA = Math.hypot(m.se, a.se);
    const seMW = Math.hypot(m.se, w.se);
    t.log(
      `alpha ${alpha}: mixup ${m.mean.toFixed(4)} +- ${m.se.toFixed(4)}, asym ${a.mean.toFixed(4)} +- ${a.se.toFixed(4)}, ` +
        `reversed ${w.mean.toFixed(4)} +- ${w.se.toFixed(4)}; |mixup - asym| = ${(Math.abs(m.mean - a.mean) / seMA).toFixed(2)} SE, ` +
        `|mixup - reversed| = ${(Math.abs(m.mean - w.mean) / seMW).toFixed(1)} SE`,
    );
    t.true(Math.abs(m.mean - a.mean) <= 4 * seMA, `alpha ${alpha}: mixup ${m.mean} vs asym ${a.mean}`);
    t.true(Math.abs(m.mean - w.mean) > 4 * seMW, `alpha ${alpha}: mixup ${m.mean} vs reversed ${w.mean}`);
    t.true(w.mean > m.mean);
  }
  model.dispose();
});

test('mixup batch: inputs and one-hot labels mixed with the same lambda; soft-target loss = lam CE(y1) + (1-lam) CE(y2)', (t) => {
  const ds = moons(300, 50);
  const model = buildModel({ arch: 'mlp', hidden: [16] }, ds.inputShape, 2, 3);
  const f = asClassifier(model);
  for (const lambdaPer of ['example', 'batch'] as const) {
    const s = createScheme('mixup', { alpha: 0.7, lambdaPer }, ds, new Rng(0));
    tf.tidy(() => {
      const ctx = contextFor(s, ds, range(64), new Rng(5), f);
      const b = s.makeBatch(ctx);
      const lam = b.info!.lambda!;
      const partner = b.info!.partner!;
      t.is(b.info!.partnerSource, 'batch');
      t.deepEqual(
        Array.from(partner).sort((p, q) => p - q),
        Array.from(range(64)),
        'partners are a permutation of the batch',
      );
      if (lambdaPer === 'batch') t.true(lam.every((v) => v === lam[0]));
      else t.true(new Set(lam).size > 32);
      const x = ctx.x.arraySync() as number[][];
      const bx = b.x.arraySync() as number[][];
      const tg = b.targets.arraySync() as number[][];
      for (let i = 0; i < 64; i++) {
        const j = partner[i];
        for (let k = 0; k < 2; k++) t.true(Math.abs(bx[i][k] - (lam[i] * x[i][k] + (1 - lam[i]) * x[j][k])) < 1e-5);
        for (let c = 0; c < 2; c++) {
          const want = lam[i] * (ctx.y[i] === c ? 1 : 0) + (1 - lam[i]) * (ctx.y[j] === c ? 1 : 0);
          t.true(Math.abs(tg[i][c] - want) < 1e-6);
        }
      }
      const logits = f(b.x);
      const soft = crossEntropyPerExample(logits, b.targets).arraySync();
      const ce1 = crossEntropyPerExample(logits, oneHot(ctx.y, 2)).arraySync();
      const ce2 = crossEntropyPerExample(
        logits,
        oneHot(
          Int32Array.from(partner, (j) => ctx.y[j]),
          2,
        ),
      ).arraySync();
      for (let i = 0; i < 64; i++) {
        const want = lam[i] * ce1[i] + (1 - lam[i]) * ce2[i];
        t.true(Math.abs(soft[i] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `row ${i}: ${soft[i]} vs ${want}`);
      }
    });
  }
  model.dispose();
});

test('mixup-asym batch: inputs mixed with lambda on x, one-hot label of x, one lambda per example by default', (t) => {
  const ds = moons(300, 50);
  const model = buildModel({ arch: 'mlp', hidden: [8] }, ds.inputShape, 2, 3);
  const s = createScheme('mixup-asym', { alpha: 0.1 }, ds, new Rng(0));
  t.deepEqual(s.settings, { alpha: 0.1, lambdaPer: 'example' });
  tf.tidy(() => {
    const ctx = contextFor(s, ds, range(128), new Rng(8), asClassifier(model));
    const b = s.makeBatch(ctx);
    const lam = b.info!.lambda!;
    const partner = b.info!.partner!;
    t.deepEqual(b.targets.arraySync(), oneHot(ctx.y, 2).arraySync());
    const x = ctx.x.arraySync() as number[][];
    const bx = b.x.arraySync() as number[][];
    for (let i = 0; i < 128; i++) {
      for (let k = 0; k < 2; k++) t.true(Math.abs(bx[i][k] - (lam[i] * x[i][k] + (1 - lam[i]) * x[partner[i]][k])) < 1e-5);
    }
    // Beta(1.1, 0.1): most weights near 1 (the label's own input dominates).
    t.true(lam.filter((v) => v > 0.9).length > 0.6 * 128);
  });
  model.dispose();
});

test('label-smoothing targets are (1 - eps) onehot + eps / K with unchanged inputs', (t) => {
  const ds = moons(100, 20);
  const model = buildModel({ arch: 'linear' }, ds.inputShape, 2, 0);
  const s = createScheme('label-smoothing', {}, ds, new Rng(0));
  t.deepEqual(s.settings, { eps: 0.1 });
  tf.tidy(() => {
    const ctx = contextFor(s, ds, range(10), new Rng(1), asClassifier(model));
    const b = s.makeBatch(ctx);
    t.deepEqual(b.x.dataSync(), ctx.x.dataSync());
    const tg = b.targets.arraySync() as number[][];
    tg.forEach((row, i) => row.forEach((v, c) => t.true(Math.abs(v - ((ctx.y[i] === c ? 0.9 : 0) + 0.05)) < 1e-6)));
  });
  model.dispose();
});

test('gaussian-noise adds N(0, sigma^2) to the inputs and clips to the bounds', (t) => {
  const base = moons(400, 20);
  const model = buildModel({ arch: 'linear' }, base.inputShape, 2, 0);
  const f = asClassifier(model);
  const s = createScheme('gaussian-noise', {}, base, new Rng(0));
  t.deepEqual(s.settings, { sigma: 0.1 }, 'moons default');
  t.deepEqual(schemeDefaults('gaussian-noise', 'mnist'), { sigma: 0.1 });
  tf.tidy(() => {
    const ctx = contextFor(s, base, range(400), new Rng(2), f);
    const d = tf.sub(s.makeBatch(ctx).x, ctx.x).dataSync() as Float32Array;
    const m = d.reduce((a, b) => a + b, 0) / d.length;
    const sd = Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / d.length);
    t.true(Math.abs(m) < 4 * (0.1 / Math.sqrt(d.length)), `mean ${m}`);
    t.true(Math.abs(sd - 0.1) < 0.01, `sd ${sd}`);
  });
  // Tight bounds: the clip binds.
  const tight = { ...base, bounds: { lo: -0.5, hi: 1 } };
  const s2 = createScheme('gaussian-noise', { sigma: 1 }, tight, new Rng(0));
  tf.tidy(() => {
    const v = s2.makeBatch(contextFor(s2, tight, range(200), new Rng(3), f)).x.dataSync();
    t.true(v.every((x) => x >= -0.5 && x <= 1));
    t.true(v.some((x) => x === 1) && v.some((x) => x === -0.5));
  });
  model.dispose();
});

test('vicinity: n draws around a training point for every scheme, no leaked tensors', (t) => {
  const ds = moons(200, 20);
  const model = buildModel({ arch: 'mlp', hidden: [8] }, ds.inputShape, 2, 0);
  const f = asClassifier(model);
  for (const name of SCHEME_NAMES) {
    const s = createScheme(name, name === 'mixup-semi' ? { labelledPerClass: 3 } : {}, ds, new Rng(0));
    const point = name === 'mixup-semi' ? 4 : 17;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const v = s.vicinity(point, 50, new Rng(1), f);
      t.deepEqual(v.x.shape, [50, 2], name);
      t.deepEqual(v.targets.shape, [50, 2], name);
      const sums = tf.sum(v.targets, 1).dataSync();
      t.true(
        sums.every((x) => Math.abs(x - 1) < 1e-6),
        `${name}: targets are distributions`,
      );
      const px = s.trainingSet.x.subarray(point * 2, point * 2 + 2);
      const x = v.x.arraySync() as number[][];
      if (name === 'erm' || name === 'label-smoothing')
        t.true(
          x.every((r) => r[0] === px[0] && r[1] === px[1]),
          name,
        );
      if (v.info?.lambda) {
        const lam = v.info.lambda;
        const src = v.info.partnerSource === 'pool' ? (s as unknown as { pool: { x: Float32Array } }).pool.x : s.trainingSet.x;
        x.forEach((r, i) => {
          const j = v.info!.partner![i];
          for (let k = 0; k < 2; k++) t.true(Math.abs(r[k] - (lam[i] * px[k] + (1 - lam[i]) * src[j * 2 + k])) < 1e-5, name);
        });
      }
    });
    t.is(tf.memory().numTensors, before, `${name} leaks no tensors`);
  }
  t.throws(() => createScheme('adversarial', {}, ds, new Rng(0)).vicinity(0, 5, new Rng(0)), { instanceOf: UsageError, message: /depends on the model/ });
  t.throws(() => createScheme('mixup', {}, ds, new Rng(0)).vicinity(200, 5, new Rng(0)), { instanceOf: UsageError, message: /point must be an integer in \[0, 199\]/ });
  model.dispose();
});

test('createScheme rejects bad names and parameters with a one-line UsageError naming field, value and allowed values', (t) => {
  const ds = moons(100, 20);
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['mixup-foo', {}, /unknown scheme "mixup-foo"; allowed: erm, mixup, mixup-asym, mixup-semi, mixup-knn, label-smoothing, gaussian-noise, adversarial/],
    ['erm', { alpha: 1 }, /scheme erm: unknown parameter "alpha"; allowed: none/],
    ['mixup', { alhpa: 1 }, /scheme mixup: unknown parameter "alhpa"; allowed: alpha, lambdaPer/],
    ['mixup', { alpha: 0 }, /scheme mixup: alpha must be a number > 0, got 0/],
    ['mixup-asym', { alpha: -1 }, /alpha must be a number > 0, got -1/],
    ['mixup', { alpha: 'big' }, /alpha must be a number > 0, got "big"/],
    ['mixup', { lambdaPer: 'step' }, /lambdaPer must be one of batch, example, got "step"/],
    ['gaussian-noise', { sigma: -0.1 }, /sigma must be a number >= 0, got -0.1/],
    ['label-smoothing', { eps: 1 }, /eps must be a number in \[0, 1\), got 1/],
    ['label-smoothing', { eps: -0.01 }, /eps must be a number in \[0, 1\), got -0.01/],
    ['mixup-knn', { k: 0 }, /scheme mixup-knn: k must be an integer in \[1, 99\]/],
    ['mixup-knn', { k: 2.5 }, /k must be an integer/],
    ['mixup-knn', { alphaDistance: 'far' }, /alphaDistance must be one of none, grow, shrink, got "far"/],
    ['mixup-semi', { labelledPerClass: 0 }, /labelledPerClass must be an integer in \[1, 49\]/],
    ['mixup-semi', { labelledPerClass: 50 }, /labelledPerClass must be an integer in \[1, 49\].*got 50/],
    ['adversarial', { eps: 0 }, /scheme adversarial: eps must be a number in \(0, 6\]/],
    ['adversarial', { steps: 0 }, /steps must be an integer in \[1, 1000\], got 0/],
    ['adversarial', { mixRatio: 1.5 }, /mixRatio must be a number in \[0, 1\], got 1.5/],
    ['adversarial', { stepSize: -1 }, /stepSize must be a number > 0, got -1/],
  ];
  for (const [name, params, re] of cases) {
    const e = t.throws(() => createScheme(name, params, ds, new Rng(0)), { instanceOf: UsageError }, `${name} ${JSON.stringify(params)}`);
    t.regex(e!.message, re);
    t.false(e!.message.includes('\n'));
  }
  // Numeric strings (from flags) are accepted.
  t.is(createScheme('mixup', { alpha: '0.4' }, ds, new Rng(0)).settings.alpha, 0.4);
});

test('defaults are exported and recorded in settings', (t) => {
  const ds = moons(1000, 20);
  // mixup keeps the paper's alpha 1; mixup-asym defaults to 0.2 (alpha 1 costs it 1.8 points on MNIST).
  t.deepEqual(SCHEME_DEFAULTS.mixup, { alpha: 1, lambdaPer: 'batch' });
  t.deepEqual(SCHEME_DEFAULTS['mixup-asym'], { alpha: 0.2, lambdaPer: 'example' });
  t.deepEqual(schemeDefaults('adversarial', 'mnist'), { eps: 0.1, steps: 7, stepSize: (2.5 * 0.1) / 7, mixRatio: 1 });
  t.deepEqual(schemeDefaults('mixup-semi', 'mnist'), { alpha: 0.1, lambdaPer: 'example', labelledPerClass: 'floor(0.9 * size of the smallest class)' });
  // mixup-semi's default label count follows the training set: 90% of the smallest class.
  t.is(createScheme('mixup-semi', {}, ds, new Rng(0)).settings.labelledPerClass, 450);
  t.like(createScheme('mixup-semi', {}, moons(200, 20), new Rng(0)).settings, { labelledPerClass: 90, labelled: 180, pool: 20 });
  t.deepEqual(createScheme('adversarial', {}, ds, new Rng(0)).settings, { eps: 0.1, steps: 7, stepSize: 0.25 / 7, mixRatio: 1, norm: 'linf', randomStart: true });
  for (const name of SCHEME_NAMES) {
    const s = createScheme(name, {}, ds, new Rng(0));
    t.is(s.name, name);
    for (const [k, v] of Object.entries(schemeDefaults(name, 'moons'))) {
      if (k === 'labelledPerClass') continue; // a formula, checked above
      t.deepEqual(s.settings[k], v, `${name}.${k}`);
    }
  }
});

test('seeded: same seed gives the same batches and the same trained weights for every scheme; another seed differs', (t) => {
  const ds = moons(200, 40);
  const train = (name: string, seed: number) => {
    const s = createScheme(name, name === 'mixup-semi' ? { labelledPerClass: 5 } : {}, ds, new Rng(seed).fork('scheme'));
    const m = buildModel({ arch: 'mlp', hidden: [8] }, ds.inputShape, 2, 0);
    trainModel(m, ds, s, { epochs: 2, batchSize: 64, seed, evalEveryEpoch: false });
    const w = weightsOf(m);
    m.dispose();
    return w;
  };
  for (const name of SCHEME_NAMES) {
    if (name === 'erm') continue;
    t.deepEqual(train(name, 1), train(name, 1), name);
  }
  t.notDeepEqual(train('mixup', 1), train('mixup', 2));
  // Batches: same Rng seed, same inputs and lambdas.
  const model = buildModel({ arch: 'linear' }, ds.inputShape, 2, 0);
  const s = createScheme('mixup', {}, ds, new Rng(0));
  const draw = (seed: number) => tf.tidy(() => Array.from(s.makeBatch(contextFor(s, ds, range(32), new Rng(seed), asClassifier(model))).x.dataSync()));
  t.deepEqual(draw(4), draw(4));
  t.notDeepEqual(draw(4), draw(5));
  model.dispose();
});
