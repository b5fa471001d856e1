import test from 'ava';
import { apgdCheckpoints } from '../../attacks/apgd';
import {
  ATTACK_FAMILIES,
  ATTACK_NAMES,
  attackDefaults,
  attackFamily,
  attackNorms,
  attackParamNames,
  createAttack,
  ITERATIVE_ATTACKS,
  resolveAttackParams,
  SINGLE_STEP_ATTACKS,
  validateEpsList,
} from '../../attacks/registry';
import { validateNorm } from '../../contract/norms';
import { PgdAttack, pgdStepSize } from '../../attacks/pgd';
import { attackLabel } from '../../attacks/types';
import { UsageError } from '../../contract/errors';

test('defaults follow the published protocols', (t) => {
  const pgd = createAttack({ name: 'pgd' }, 'linf') as PgdAttack;
  t.is(pgd.settings.steps, 40);
  t.true(pgd.settings.randomStart);
  t.is(pgd.settings.restarts, 1);
  // 2.5 eps / steps (travel 2.5 eps, enough to cross the ball's diameter from a random start), at least eps / 30.
  t.true(Math.abs(pgd.stepSizeAt(0.3) - (2.5 * 0.3) / 40) < 1e-12);
  t.true(Math.abs((createAttack({ name: 'pgd', params: { steps: 100 } }, 'linf') as PgdAttack).stepSizeAt(0.3) - 0.01) < 1e-12);
  for (const steps of [1, 10, 40, 75, 100, 1000]) t.true(steps * pgdStepSize('linf', 1, steps) >= 2, `travel at ${steps} steps`);
  // recorded settings equal what runs: without a random start, restarts would repeat one run
  t.is((createAttack({ name: 'pgd', params: { randomStart: false, restarts: 5 } }, 'linf') as PgdAttack).settings.restarts, 1);
  t.is((createAttack({ name: 'pgd', params: { restarts: 5 } }, 'linf') as PgdAttack).settings.restarts, 5);
  t.is(createAttack({ name: 'apgd-ce', params: { randomStart: false, restarts: 3 } }, 'linf').settings.restarts, 1);
  t.is(pgdStepSize('l2', 1, 40), 2.5 / 40);
  t.deepEqual(attackDefaults('apgd-ce'), { steps: 100, restarts: 1, alpha: 0.75, rho: 0.75, randomStart: true });
  t.deepEqual(attackDefaults('noise'), { draws: 20 });
  t.is(createAttack({ name: 'apgd' }, 'l2').name, 'apgd-ce');
  t.is(createAttack({ name: 'fgsm' }).norm, 'linf');
  t.is(createAttack({ name: 'fgm' }, 'l2').norm, 'l2');
  t.is(createAttack({ name: 'pgd', params: { norm: 'l2' } }, 'linf').norm, 'l2');
});

test('names and families derive from the registry: every entry has a family, the single-step and iterative lists are exactly those families', (t) => {
  t.true(ATTACK_NAMES.length >= 9);
  t.deepEqual([...ATTACK_NAMES].sort(), [...new Set(ATTACK_NAMES)].sort());
  for (const name of ATTACK_NAMES) t.true((ATTACK_FAMILIES as readonly string[]).includes(attackFamily(name)), name);
  t.deepEqual(
    SINGLE_STEP_ATTACKS,
    ATTACK_NAMES.filter((n) => attackFamily(n) === 'single-step'),
  );
  t.deepEqual(
    ITERATIVE_ATTACKS,
    ATTACK_NAMES.filter((n) => attackFamily(n) === 'iterative'),
  );
  t.deepEqual([...SINGLE_STEP_ATTACKS], ['fgsm', 'fgm']);
  for (const n of ['pgd', 'apgd-ce', 'apgd-dlr', 'apgd-t']) t.true(ITERATIVE_ATTACKS.includes(n), n);
  t.is(attackFamily('square'), 'score-based');
  t.is(attackFamily('autoattack'), 'composite');
  t.is(attackFamily('noise'), 'baseline');
  t.is(attackFamily('apgd'), 'iterative');
  // Every registry name builds, and its attack reports the settings it runs with.
  for (const name of ATTACK_NAMES) {
    const a = createAttack({ name }, attackNorms(name)[0]);
    t.is(a.name, name);
    // Every parameter is recorded (pgd's absolute stepSize only when set).
    for (const p of attackParamNames(name)) if (p !== 'stepSize') t.true(p in a.settings, `${name}.${p} in settings`);
  }
});

test('losses: ce by default (kept out of the resolved params, recorded in the settings), margin and dlr on request', (t) => {
  for (const name of ['fgsm', 'pgd'] as const) {
    t.false('loss' in resolveAttackParams({ name }, 'linf').params, name);
    t.is(createAttack({ name }).settings.loss, 'ce');
    t.is(createAttack({ name, params: { loss: 'dlr' } }).settings.loss, 'dlr');
  }
  t.is(createAttack({ name: 'fgm', params: { loss: 'margin' } }, 'l2').settings.loss, 'margin');
  t.is(createAttack({ name: 'apgd-ce' }).settings.loss, 'ce');
  t.is(createAttack({ name: 'apgd-dlr' }).settings.loss, 'dlr');
  t.is(createAttack({ name: 'apgd-dlr' }).name, 'apgd-dlr');
  t.deepEqual(attackDefaults('apgd-dlr'), attackDefaults('apgd-ce'));
});

test('AutoAttack standard version: APGD-CE, APGD-T and FAB-T 9 targets x 100 iterations x 1 run, Square 5000 queries at pInit 0.8 with the margin and the reference schedule, every stage recorded', (t) => {
  t.deepEqual(attackDefaults('apgd-t'), { steps: 100, restarts: 1, alpha: 0.75, rho: 0.75, randomStart: true, targetClasses: 9 });
  t.deepEqual(attackDefaults('fab-t'), { steps: 100, targetClasses: 9, restarts: 1, alphaMax: 0.1, eta: 1.05, beta: 0.9 });
  t.deepEqual(attackDefaults('square'), { queries: 5000, pInit: 0.8, loss: 'margin', schedule: 'reference' });
  t.deepEqual(attackDefaults('square', 'l2'), { queries: 5000, pInit: 0.8, loss: 'margin', schedule: 'reference' });
  t.deepEqual(attackDefaults('autoattack'), { steps: 100, targetClasses: 9, queries: 5000, pInit: 0.8, squareSchedule: 'reference' });
  const aa = createAttack({ name: 'autoattack' }, 'l2');
  t.is(aa.name, 'autoattack');
  t.is(aa.settings.variant, 'standard');
  t.is(attackLabel(aa.name, aa.settings), 'autoattack (standard)');
  const stages = aa.settings.stages as Record<string, unknown>[];
  t.deepEqual(
    stages.map((s) => s.name),
    ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
  );
  t.like(stages[0], { norm: 'l2', steps: 100, restarts: 1, randomStart: true, loss: 'ce' });
  t.like(stages[1], { norm: 'l2', steps: 100, restarts: 1, targetClasses: 9, loss: 'dlr' });
  t.like(stages[2], { norm: 'l2', steps: 100, restarts: 1, targetClasses: 9, alphaMax: 0.1, eta: 1.05, beta: 0.9 });
  t.like(stages[3], { norm: 'l2', queries: 5000, pInit: 0.8, loss: 'margin', schedule: 'reference' });
  t.false('variant' in stages[3], 'the reference Square carries no variant');
  const small = createAttack({ name: 'autoattack', params: { steps: 10, queries: 50 } });
  t.is(attackLabel(small.name, small.settings), 'autoattack (custom)');
  t.like((small.settings.stages as Record<string, unknown>[])[3], { queries: 50 });
  t.like((small.settings.stages as Record<string, unknown>[])[1], { steps: 10, targetClasses: 9 });
  t.like((small.settings.stages as Record<string, unknown>[])[2], { steps: 10, targetClasses: 9 });
  // vicinal's stronger Square: chosen by name, and labelled so.
  const strong = createAttack({ name: 'square', params: { schedule: 'vicinal-rescaled' } });
  t.is(attackLabel(strong.name, strong.settings), 'square (vicinal-rescaled)');
  t.is(attackLabel('square', createAttack({ name: 'square' }).settings), 'square');
  const aaStrong = createAttack({ name: 'autoattack', params: { squareSchedule: 'vicinal-rescaled' } });
  t.is(attackLabel(aaStrong.name, aaStrong.settings), 'autoattack (custom)');
  t.like((aaStrong.settings.stages as Record<string, unknown>[])[3], { schedule: 'vicinal-rescaled', variant: 'vicinal-rescaled' });
});

test('APGD checkpoints follow Croce & Hein (p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06))', (t) => {
  t.deepEqual(apgdCheckpoints(100), [0, 22, 41, 57, 70, 80, 87, 93, 99]);
  const w = apgdCheckpoints(7);
  t.true(w.every((v, i) => i === 0 || v > w[i - 1]));
  t.true(w[w.length - 1] <= 7);
});

test('bad attack settings are UsageErrors naming the field, the value and what is allowed', (t) => {
  const bad: [() => unknown, RegExp][] = [
    [() => createAttack({ name: 'cw' }), new RegExp(`unknown attack "cw"; allowed: ${ATTACK_NAMES.join(', ')}$`)],
    [() => createAttack({ name: 'pgd', params: { loss: 'hinge' } }), /pgd": invalid param loss = "hinge"; allowed: ce, margin, dlr/],
    [() => createAttack({ name: 'square', params: { pInit: 0 } }), /pInit = 0.*> 0/],
    [() => createAttack({ name: 'square', params: { schedule: 'fast' } }), /schedule = "fast"; allowed: reference, vicinal-rescaled/],
    [() => createAttack({ name: 'fab-t', params: { eta: 0.5 } }), /fab-t": invalid param eta = 0.5.*>= 1/],
    [() => createAttack({ name: 'apgd-t', params: { targetClasses: 0 } }), /targetClasses = 0.*>= 1/],
    [() => createAttack({ name: 'autoattack', params: { queries: 1.5 } }), /queries = 1.5.*integer/],
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
  t.deepEqual(resolveAttackParams({ name: 'pgd', params: { steps: 10 } }, 'linf').params, { steps: 10, relStepSize: 2.5 / 10, randomStart: true, restarts: 1 });
});
