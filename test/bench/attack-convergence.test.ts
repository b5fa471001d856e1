/** bench/attack-convergence.ts: the doubled attack budget it compares against. */
import test from 'ava';
import { attackDefaults } from '../../attacks/registry';
import { doubled } from '../../bench/attack-convergence';

test('doubled: every iterative attack gets twice its steps and restarts (defaults filled in), other settings and single-step attacks unchanged', (t) => {
  const base = [
    { name: 'fgsm' },
    { name: 'pgd' },
    { name: 'apgd-ce', params: { steps: 50, rho: 0.75 } },
    { name: 'apgd-dlr', params: { restarts: 3 } },
    { name: 'apgd-t', params: { steps: 10, targetClasses: 2 } },
  ];
  t.deepEqual(doubled(base), [
    { name: 'fgsm' },
    { name: 'pgd', params: { steps: 80, restarts: 2 } },
    { name: 'apgd-ce', params: { steps: 100, rho: 0.75, restarts: 2 } },
    { name: 'apgd-dlr', params: { restarts: 6, steps: 200 } },
    { name: 'apgd-t', params: { steps: 20, targetClasses: 2, restarts: 2 } },
  ]);
  // the input is not modified
  t.deepEqual(base[2], { name: 'apgd-ce', params: { steps: 50, rho: 0.75 } });
});

test("doubled: a bare iterative attack's budget is twice the registry's defaults", (t) => {
  for (const name of ['pgd', 'apgd-ce', 'apgd-dlr', 'apgd-t']) {
    const d = attackDefaults(name, 'linf') as { steps: number; restarts: number };
    t.deepEqual(doubled([{ name }])[0].params, { steps: 2 * d.steps, restarts: 2 * d.restarts }, name);
  }
});
