// The fixture run whose JSON summary is pinned byte for byte (test/golden/summary.json).
// Plain JS so that the same options can be fed to older builds when the pin is regenerated.
module.exports = () => ({
  name: 'golden',
  startedAt: '2026-01-01T00:00:00.000Z',
  groups: [
    { group: 'moons/mlp-16x16', dataset: { name: 'moons', seed: 0, nTrain: 200, nTest: 200, noise: 0.1 }, model: { arch: 'mlp', hidden: [16, 16] } },
    { group: 'mnist/mlp-256x256', dataset: { name: 'mnist', seed: 0, nTrain: 8000, nTest: 2000 }, model: { arch: 'mlp', hidden: [256, 256] } },
  ],
  schemes: ['erm', 'mixup(alpha=1)', 'mixup-asym(alpha=1)', 'label-smoothing'],
  seeds: [0, 1, 2],
  attacks: ['fgsm', 'pgd'],
  eps: [0.05, 0.1, 0.2, 0.3],
  diverged: [{ scheme: 'label-smoothing', seed: 2 }],
  evalFailed: [{ group: 'mnist/mlp-256x256', scheme: 'mixup(alpha=1)', seed: 1 }],
  flags: [{ scheme: 'mixup(alpha=1)', seed: 1, flag: { check: 'gradient-masking', severity: 'warning', norm: 'linf', eps: 0.1, message: 'FGSM stronger than PGD at eps 0.1' } }],
  wallSeconds: 123.5,
});
