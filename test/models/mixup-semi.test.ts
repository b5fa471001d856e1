import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { Rng } from '../../data/rng';
import { semiSupervisedSplit } from '../../data/split';
import { UnlabelledSet } from '../../data/types';
import { buildModel } from '../../models/build';
import { asClassifier } from '../../models/predict';
import { createScheme } from '../../models/schemes';
import { MIXUP_SEMI_ALPHA_DEFAULT, MixupSemiScheme, mixupSemiFromSplit } from '../../models/schemes/mixup-semi';
import { trainModel } from '../../models/train';
import { initBackend } from '../../backend/select';
import { contextFor, moons, range, weightsOf } from './scheme-helpers';

test.before(async () => {
  await initBackend('wasm');
});

const params = (k: number) => ({ alpha: MIXUP_SEMI_ALPHA_DEFAULT, lambdaPer: 'example' as const, labelledPerClass: k });

test('mixup-semi with 1 labelled example per class: trains on 2 labelled points, partners from a pool without labels', (t) => {
  const ds = moons(400, 100);
  const s = createScheme('mixup-semi', { labelledPerClass: 1 }, ds, new Rng(3)) as MixupSemiScheme;
  t.is(s.trainingSet.n, 2);
  t.deepEqual(Array.from(s.trainingSet.y).sort(), [0, 1]);
  t.is(s.pool.n, 398);
  t.deepEqual(Object.keys(s.pool).sort(), ['n', 'x']);
  t.false('y' in s.pool);
  t.deepEqual(s.settings, { alpha: 0.1, lambdaPer: 'example', labelledPerClass: 1, labelled: 2, pool: 398 });
  const model = buildModel({ arch: 'mlp', hidden: [16] }, ds.inputShape, 2, 0);
  tf.tidy(() => {
    const ctx = contextFor(s, ds, Int32Array.from([0, 1, 0, 1, 1, 0]), new Rng(1), asClassifier(model));
    const b = s.makeBatch(ctx);
    t.is(b.info!.partnerSource, 'pool');
    const x = ctx.x.arraySync() as number[][];
    const bx = b.x.arraySync() as number[][];
    b.info!.partner!.forEach((j, i) => {
      t.true(j >= 0 && j < s.pool.n);
      const lam = b.info!.lambda![i];
      for (let k = 0; k < 2; k++) t.true(Math.abs(bx[i][k] - (lam * x[i][k] + (1 - lam) * s.pool.x[j * 2 + k])) < 1e-5);
    });
    t.deepEqual(
      b.targets.arraySync(),
      Array.from(ctx.y, (c) => (c === 0 ? [1, 0] : [0, 1])),
      'one-hot label of the labelled point',
    );
  });
  const h = trainModel(model, ds, s, { epochs: 3, batchSize: 64, seed: 0, learningRate: 0.01 });
  t.true(h.every((r) => Number.isFinite(r.loss)));
  t.log(`k=1: test accuracy after 3 epochs ${h[2].testAccuracy}`);
  model.dispose();
});

test('mixup-semi never reads a pool label: only x and n of the pool are touched, even when a y is attached', (t) => {
  const ds = moons(300, 50);
  const split = semiSupervisedSplit(ds.train, 2, 2, 4, new Rng(1));
  const touched = new Set<string | symbol>();
  const trap = {
    x: split.unlabelled.x,
    n: split.unlabelled.n,
    get y(): Int32Array {
      throw new Error('a pool label was read');
    },
  };
  const pool = new Proxy(trap, {
    get(target, prop, receiver) {
      touched.add(prop);
      return Reflect.get(target, prop, receiver);
    },
  }) as UnlabelledSet;
  const s = mixupSemiFromSplit(params(4), split.labelled, pool, ds);
  const model = buildModel({ arch: 'mlp', hidden: [8] }, ds.inputShape, 2, 0);
  trainModel(model, ds, s, { epochs: 2, batchSize: 32, seed: 0, evalEveryEpoch: false });
  tf.tidy(() => {
    s.vicinity(0, 20, new Rng(0));
  });
  t.deepEqual([...touched].map(String).sort(), ['n', 'x']);
  model.dispose();
});

test('mixup-semi trains identically whether the pool carries the true labels, scrambled labels or none', (t) => {
  const ds = moons(300, 60);
  const k = 3;
  // The same split createScheme makes from Rng(7).
  const split = semiSupervisedSplit(ds.train, 2, 2, k, new Rng(7).fork('semi-split'));
  const inPool = new Uint8Array(ds.train.n).fill(1);
  split.labelledIndex.forEach((i) => (inPool[i] = 0));
  const trueLabels = Int32Array.from(
    range(ds.train.n).filter((i) => inPool[i] === 1),
    (i) => ds.train.y[i],
  );
  const perm = new Rng(99).permutation(trueLabels.length);
  const scrambled = Int32Array.from(perm, (j) => 1 - trueLabels[j]);
  t.not(Array.from(scrambled).join(), Array.from(trueLabels).join());
  const withLabels = (y: Int32Array) => Object.assign({ x: split.unlabelled.x, n: split.unlabelled.n }, { y }) as UnlabelledSet;
  const train = (s: ReturnType<typeof mixupSemiFromSplit>) => {
    const m = buildModel({ arch: 'mlp', hidden: [16] }, ds.inputShape, 2, 0);
    const h = trainModel(m, ds, s, { epochs: 2, batchSize: 32, seed: 5 });
    const w = weightsOf(m);
    m.dispose();
    return { w, acc: h.map((r) => r.testAccuracy) };
  };
  const viaCreate = train(createScheme('mixup-semi', { labelledPerClass: k }, ds, new Rng(7)) as MixupSemiScheme);
  const none = train(mixupSemiFromSplit(params(k), split.labelled, split.unlabelled, ds));
  const truth = train(mixupSemiFromSplit(params(k), split.labelled, withLabels(trueLabels), ds));
  const wrong = train(mixupSemiFromSplit(params(k), split.labelled, withLabels(scrambled), ds));
  t.deepEqual(none, viaCreate);
  t.deepEqual(truth, none);
  t.deepEqual(wrong, none);
  // The partners' labels would matter to any scheme that used them: the
  // labelled set is a small part of the data.
  t.is(split.labelled.n, 6);
});
