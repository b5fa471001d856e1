import test from 'ava';
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { ATTACK_NAMES, attackNorms, attackParamNames, createAttack, createTransferAttack } from '../../attacks/registry';
import { ATTACK_LOSSES } from '../../attacks/losses';
import { Attack, assertInBallArrays, AttackBoundsError, assertInBall } from '../../attacks/types';
import { Norm } from '../../contract/norms';
import { WorstCaseAttack } from '../../attacks/worst-case';
import { Rng } from '../../data/rng';
import { inputSize } from '../../data/types';
import { initBackend } from '../../backend/select';
import { smallModel, uniformRows, randomLabels } from './helpers';

test.before(async () => {
  await initBackend('wasm');
});

// Every registry attack, plus the ways of running them that are not registry entries.
const KINDS = [...ATTACK_NAMES, 'pgd-targeted', 'square-targeted', 'transfer', 'worst-case'] as const;
type Kind = (typeof KINDS)[number];

/**
 * Small budgets: the property is about the geometry of the output, not the
 * attack's strength. Set for whichever of these parameters an attack takes.
 */
const SMALL_BUDGET: Record<string, number> = { steps: 3, restarts: 2, draws: 3, queries: 12, targetClasses: 2 };

function registryAttack(name: string, norm: Norm, loss: string): { attack: Attack; norm: Norm } {
  const names = attackParamNames(name);
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(SMALL_BUDGET)) if (names.includes(k)) params[k] = v;
  if (names.includes('loss')) params.loss = loss;
  const norms = attackNorms(name);
  const n = norms.includes(norm) ? norm : norms[0];
  return { attack: createAttack({ name, params }, n), norm: n };
}

function makeAttack(kind: Kind, norm: Norm, loss: string, source: ReturnType<typeof smallModel>): { attack: Attack; norm: Norm } {
  switch (kind) {
    case 'pgd-targeted':
      return registryAttack('pgd', norm, loss);
    case 'square-targeted':
      return registryAttack('square', norm, loss);
    case 'transfer':
      return { attack: createTransferAttack('other', source.f, { name: 'pgd', params: { steps: 2 } }, norm), norm };
    case 'worst-case':
      return { attack: new WorstCaseAttack([createAttack({ name: 'noise', params: { draws: 2 } }, norm), createAttack({ name: 'pgd', params: { steps: 2 } }, norm)]), norm };
    default:
      return registryAttack(kind, norm, loss);
  }
}

test('every attack returns points inside the eps-ball and the bounds, and never mutates its inputs', (t) => {
  const models = [smallModel({ arch: 'linear' }, [3], 3, 1), smallModel({ arch: 'mlp', hidden: [6] }, [2, 2, 1], 2, 2), smallModel({ arch: 'mlp', hidden: [5, 5] }, [4], 4, 3)];
  const sources = [smallModel({ arch: 'linear' }, [3], 3, 11), smallModel({ arch: 'linear' }, [2, 2, 1], 2, 12), smallModel({ arch: 'linear' }, [4], 4, 13)];
  const before = tf.memory().numTensors;
  fc.assert(
    fc.property(
      fc.constantFrom(...KINDS),
      fc.constantFrom<Norm>('linf', 'l2'),
      fc.constantFrom(...ATTACK_LOSSES),
      fc.integer({ min: 0, max: models.length - 1 }),
      fc.integer({ min: 1, max: 7 }),
      fc.double({ min: -3, max: 2, noNaN: true }),
      fc.double({ min: 0.05, max: 4, noNaN: true }),
      fc.oneof(fc.constant(0), fc.double({ min: 0, max: 3, noNaN: true })),
      fc.integer({ min: 0, max: 1e6 }),
      (kind, normChoice, loss, mi, n, lo, width, eps, seed) => {
        const m = models[mi];
        const { attack, norm } = makeAttack(kind, normChoice, loss, sources[mi]);
        const shape = (m.model.inputs[0].shape as number[]).slice(1);
        const k = (m.model.outputs[0].shape as number[])[1];
        const d = inputSize(shape);
        const bounds = { lo, hi: lo + width };
        const rng = new Rng(seed);
        const x = uniformRows(n, d, bounds, rng);
        // Some inputs exactly on the bounds.
        if (n > 1) x[0] = bounds.lo;
        if (n > 1) x[d] = Math.fround(bounds.hi) <= bounds.hi ? Math.fround(bounds.hi) : bounds.lo;
        const y = randomLabels(n, k, rng);
        const xCopy = x.slice();
        const yCopy = y.slice();
        const targets = kind.endsWith('-targeted') ? Int32Array.from(y, (v) => (v + 1) % k) : undefined;
        const xt = tf.tensor(x, [n, ...shape]);
        const out = attack.run(m.f, xt, y, bounds, eps, rng, targets ? { targets } : {});
        const adv = out.xAdv.dataSync() as Float32Array;
        const xBack = xt.dataSync() as Float32Array;
        assertInBallArrays(adv, Float32Array.from(x), d, eps, norm, bounds, kind);
        t.deepEqual(out.xAdv.shape, xt.shape);
        t.deepEqual(Array.from(xBack), Array.from(Float32Array.from(xCopy)));
        t.deepEqual(Array.from(y), Array.from(yCopy));
        t.is(out.success.length, n);
        t.is(out.loss.length, n);
        for (let i = 0; i < n; i++) {
          t.is(out.success[i], targets ? (out.pred[i] === targets[i] ? 1 : 0) : out.pred[i] !== y[i] ? 1 : 0);
          t.true(out.loss[i] >= 0);
        }
        if (out.log) {
          // A composite attack's stages: robust counts never rise, and the last is the output's.
          for (let s = 1; s < out.log.length; s++) t.true(out.log[s].robust <= out.log[s - 1].robust);
          t.is(out.log[out.log.length - 1].robust, n - out.success.reduce((a, v) => a + v, 0));
        }
        out.xAdv.dispose();
        xt.dispose();
      },
    ),
    { numRuns: 120, seed: 42 },
  );
  t.is(tf.memory().numTensors, before);
  for (const m of [...models, ...sources]) m.model.dispose();
});

test('every registry entry, at every norm it supports and with every loss it takes, keeps its points in the ball and the bounds', (t) => {
  const { model, f } = smallModel({ arch: 'mlp', hidden: [8] }, [3, 3, 2], 4, 21);
  const rng = new Rng(4);
  const bounds = { lo: -1, hi: 1 };
  const n = 6;
  const x = uniformRows(n, 18, bounds, rng);
  x[0] = -1;
  x[1] = 1;
  const y = randomLabels(n, 4, rng);
  const xt = tf.tensor(x, [n, 3, 3, 2]);
  const before = tf.memory().numTensors;
  let runs = 0;
  for (const name of ATTACK_NAMES) {
    const losses = attackParamNames(name).includes('loss') ? ATTACK_LOSSES : ['ce'];
    for (const norm of attackNorms(name)) {
      for (const loss of losses) {
        const { attack } = registryAttack(name, norm, loss);
        for (const eps of [0, 0.3, 5]) {
          const out = attack.run(f, xt, y, bounds, eps, new Rng(runs));
          assertInBallArrays(out.xAdv.dataSync() as Float32Array, x, 18, eps, norm, bounds, `${name} ${norm} ${loss} eps ${eps}`);
          out.xAdv.dispose();
          runs++;
        }
      }
    }
  }
  t.true(runs >= ATTACK_NAMES.length * 3);
  t.is(tf.memory().numTensors, before);
  xt.dispose();
  model.dispose();
});

test('the ball assertion throws a hard error for points outside the ball or the bounds', (t) => {
  const x = tf.tensor2d([[0.5, 0.5]]);
  const bounds = { lo: 0, hi: 1 };
  const far = tf.tensor2d([[0.5, 0.71]]);
  const out = tf.tensor2d([[0.5, 1.01]]);
  const inside = tf.tensor2d([[0.6, 0.4]]);
  t.throws(() => assertInBall(far, x, 0.2, 'linf', bounds), { instanceOf: AttackBoundsError });
  t.throws(() => assertInBall(out, x, 1, 'linf', bounds), { instanceOf: AttackBoundsError });
  t.throws(() => assertInBall(inside, x, 0.1, 'l2', bounds), { instanceOf: AttackBoundsError });
  t.notThrows(() => assertInBall(inside, x, 0.1, 'linf', bounds));
  t.notThrows(() => assertInBall(inside, x, 0.15, 'l2', bounds));
  tf.dispose([x, far, out, inside]);
});

test('attacks refuse inputs outside the bounds and malformed calls', (t) => {
  const { model, f } = smallModel({ arch: 'linear' }, [2], 2, 5);
  const pgd = createAttack({ name: 'pgd', params: { steps: 2 } }, 'linf');
  const x = tf.tensor2d([[0.5, 1.5]]);
  t.throws(() => pgd.run(f, x, new Int32Array([0]), { lo: 0, hi: 1 }, 0.1, new Rng(0)), { message: /outside the bounds/ });
  t.throws(() => pgd.run(f, x, new Int32Array([0]), { lo: 0, hi: 2 }, -0.1, new Rng(0)), { message: /eps/ });
  t.throws(() => pgd.run(f, x, new Int32Array([0, 1]), { lo: 0, hi: 2 }, 0.1, new Rng(0)), { message: /labels/ });
  t.throws(() => pgd.run(f, x, new Int32Array([5]), { lo: 0, hi: 2 }, 0.1, new Rng(0)), { message: /label 5/ });
  x.dispose();
  model.dispose();
});
