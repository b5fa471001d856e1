import test from 'ava';
import { apgdCheckpoints } from '../../attacks/apgd';
import { attackDefaults, createAttack, pgdDefaultRelStepSize, resolveAttackParams, validateEpsList } from '../../attacks/registry';
import { validateNorm } from '../../contract/norms';
import { PgdAttack } from '../../attacks/pgd';
import { UsageError } from '../../contract/errors';

test('defaults follow the published protocols', (t) => {
  const pgd = createAttack({ name: 'pgd' }, 'linf') as PgdAttack;
  t.is(pgd.settings.steps, 40);
  t.true(pgd.settings.randomStart);
  t.is(pgd.settings.restarts, 1);
  // Madry et al. MNIST: 40 steps of 0.01 at eps 0.3.
  t.true(Math.abs(pgd.stepSizeAt(0.3) - 0.01) < 1e-12);
  t.true(Math.abs((createAttack({ name: 'pgd', params: { steps: 100 } }, 'linf') as PgdAttack).stepSizeAt(0.3) - 0.01) < 1e-12);
  t.is(pgdDefaultRelStepSize('l2', 40), 2.5 / 40);
  t.deepEqual(attackDefaults('apgd-ce'), { steps: 100, restarts: 1, alpha: 0.75, rho: 0.75, randomStart: true });
  t.deepEqual(attackDefaults('noise'), { draws: 20 });
  t.is(createAttack({ name: 'apgd' }, 'l2').name, 'apgd-ce');
  t.is(createAttack({ name: 'fgsm' }).norm, 'linf');
  t.is(createAttack({ name: 'fgm' }, 'l2').norm, 'l2');
  t.is(createAttack({ name: 'pgd', params: { norm: 'l2' } }, 'linf').norm, 'l2');
});

test('APGD checkpoints follow Croce & Hein (p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06))', (t) => {
  t.deepEqual(apgdCheckpoints(100), [0, 22, 41, 57, 70, 80, 87, 93, 99]);
  const w = apgdCheckpoints(7);
  t.true(w.every((v, i) => i === 0 || v > w[i - 1]));
  t.true(w[w.length - 1] <= 7);
});

test('bad attack settings are UsageErrors naming the field, the value and what is allowed', (t) => {
  const bad: [() => unknown, RegExp][] = [
    [() => createAttack({ name: 'cw' }), /unknown attack "cw"; allowed: fgsm, fgm, pgd, apgd-ce, noise/],
    [() => createAttack({ name: 'pgd', params: { steps: 0 } }), /pgd.*steps = 0.*integer >= 1/],
    [() => createAttack({ name: 'pgd', params: { steps: 2.5 } }), /steps = 2.5.*integer/],
    [() => createAttack({ name: 'pgd', params: { stepSize: -1 } }), /stepSize = -1.*> 0/],
    [() => createAttack({ name: 'pgd', params: { randomStart: 'yes' } }), /randomStart = "yes".*true or false/],
    [() => createAttack({ name: 'pgd', params: { step: 3 } }), /unknown param "step"; allowed: norm, steps, relStepSize, stepSize, randomStart, restarts/],
    [() => createAttack({ name: 'apgd-ce', params: { rho: 1.5 } }), /rho = 1.5.*<= 1/],
    [() => createAttack({ name: 'noise', params: { draws: 0 } }), /draws = 0/],
    [() => createAttack({ name: 'fgsm' }, 'l2'), /fgsm" supports norm linf only, got "l2" \(use "fgm" for l2\)/],
    [() => createAttack({ name: 'pgd', params: { norm: 'l1' } }), /norm "l1"; allowed: linf, l2/],
    [() => validateEpsList([0.1, -0.2]), /eps value -0.2.*>= 0/],
    [() => validateEpsList([]), /non-empty/],
    [() => validateEpsList([NaN]), /eps value/],
    [() => validateNorm('l3'), /allowed: linf, l2/],
  ];
  for (const [fn, msg] of bad) {
    const e = t.throws(fn, { instanceOf: UsageError });
    t.regex(e?.message ?? '', msg);
  }
  t.deepEqual(resolveAttackParams({ name: 'pgd', params: { steps: 10 } }, 'linf').params, { steps: 10, relStepSize: Math.max(1 / 30, 4 / 3 / 10), randomStart: true, restarts: 1 });
});
