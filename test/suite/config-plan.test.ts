import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import YAML from 'yaml';
import { loadStudy, PROFILE_DIR, PROFILES, validateStudy } from '../../suite/config';
import { UsageError } from '../../contract/errors';
import { expandSchemes, planStudy } from '../../suite/plan';
import { BACKEND_CHOICES } from '../../contract/results';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');

const tiny = () => ({
  name: 'tiny',
  seeds: [0, 1],
  schemes: [{ name: 'erm' }, { name: 'mixup', sweep: { alpha: [0.2, 1] } }],
  attacks: [{ name: 'fgsm' }],
  experiments: [{ dataset: { name: 'moons', nTrain: 100, nTest: 50 }, models: [{ arch: 'mlp', hidden: [8] }], eval: { eps: [0.1] } }],
});

/** Profiles that read the official CIFAR files (absent here: no registry ships them). */
const CIFAR_PROFILES: readonly string[] = ['cifar-quick', 'cifar'];

test('the cifar profiles: without the files one line naming the folder; with the Fashion-MNIST stand-in in their place they validate and plan', (t) => {
  const before = process.env.VICINAL_CIFAR10_DIR;
  process.env.VICINAL_CIFAR10_DIR = '/nonexistent/cifar-10-batches-bin';
  try {
    for (const p of CIFAR_PROFILES) {
      const e = t.throws(() => loadStudy(p), { instanceOf: UsageError });
      t.regex(e?.message ?? '', new RegExp(`^${p}\\.yaml: experiments\\[0\\]\\.dataset: dataset cifar10: folder /nonexistent/cifar-10-batches-bin not found; extract the binary version`));
      const raw = YAML.parse(fs.readFileSync(path.join(PROFILE_DIR, `${p}.yaml`), 'utf8'));
      for (const ex of raw.experiments) ex.dataset = { ...ex.dataset, name: 'fashion-mnist-32' };
      const config = validateStudy(raw, `${p}.yaml`);
      t.is(config.name, p);
      const jobs = planStudy(config, 'wasm');
      t.is(jobs.filter((j) => j.kind === 'train').length, 3 * config.seeds.length);
      const train = jobs.find((j) => j.kind === 'train')?.spec as unknown as { train: Record<string, unknown> };
      t.like(train.train, { optimizer: 'sgd', augment: 'crop-flip' });
      t.true(typeof train.train.weightDecay === 'number' && typeof train.train.lrSchedule === 'string', 'the recipe is in the job id');
    }
  } finally {
    if (before === undefined) delete process.env.VICINAL_CIFAR10_DIR;
    else process.env.VICINAL_CIFAR10_DIR = before;
  }
});

test('every shipped profile validates', (t) => {
  for (const p of PROFILES.filter((q) => !CIFAR_PROFILES.includes(q))) {
    const { config } = loadStudy(p);
    t.is(config.name, p);
    t.true(planStudy(config, 'wasm').length > 0);
  }
});

test("the nightly bench slice plans exactly nightly's erm seed-0 jobs (same ids), so --weights can use its runs", (t) => {
  const nightly = new Map(planStudy(loadStudy('nightly').config, 'onnx').map((j) => [j.id, j.label]));
  const slice = planStudy(loadStudy(path.join(__dirname, '..', '..', '..', 'bench', 'slices', 'nightly-erm-seed0.yaml')).config, 'onnx');
  t.is(slice.length, 8);
  for (const j of slice) t.is(nightly.get(j.id), j.label, j.label);
  t.deepEqual([...nightly.values()].filter((l) => /\/erm\/seed0(\/eval)?$/.test(l)).sort(), slice.map((j) => j.label).sort());
});

test('defaults are filled in', (t) => {
  const c = validateStudy(tiny(), 'tiny');
  t.is(c.backend, 'auto');
  t.is(c.experiments[0].train.epochs, 10);
  t.is(c.experiments[0].eval.norm, 'linf');
  t.deepEqual(c.thresholds, { cleanAccuracyDrop: 0.01, robustBeyondCI: true, wallTimeIncrease: 0.25 });
});

test('a wrong field is named with its value and what is allowed', (t) => {
  const bad = tiny();
  (bad.experiments[0].eval.eps as number[])[0] = -0.1;
  const e = t.throws(() => validateStudy(bad, 'x.yaml'), { instanceOf: UsageError });
  t.regex(e?.message ?? '', /x\.yaml: invalid field experiments\[0\]\.eval\.eps\[0\] = -0\.1: .*>=0/);
  const bad2 = { ...tiny(), backend: 'gpu' };
  t.regex(t.throws(() => validateStudy(bad2, 'x'))?.message ?? '', new RegExp(`backend = "gpu".*${BACKEND_CHOICES.map((b) => `"${b}"`).join('\\|')}`));
  const bad3 = { ...tiny(), colour: 'red' };
  t.regex(t.throws(() => validateStudy(bad3, 'x'))?.message ?? '', /Unrecognized key: "colour"/);
  t.false((e?.message ?? '').includes('\n'), 'one line');
});

test('sweeps expand to every combination with readable labels', (t) => {
  const s = expandSchemes([{ name: 'mixup', params: { lambdaPer: 'example' }, sweep: { alpha: [0.2, 0.4], x: [1, 2, 3] } }]);
  t.is(s.length, 6);
  t.is(s[0].label, 'mixup(lambdaPer=example,alpha=0.2,x=1)');
  t.deepEqual(s[5].params, { lambdaPer: 'example', alpha: 0.4, x: 3 });
});

test('job ids are deterministic hashes of the resolved settings', (t) => {
  const a = planStudy(validateStudy(tiny(), 't'), 'wasm');
  const b = planStudy(validateStudy(tiny(), 't'), 'wasm');
  t.deepEqual(
    a.map((j) => j.id),
    b.map((j) => j.id),
  );
  t.is(a.length, 2 * 3 * 2); // seeds x schemes x (train + eval)
  t.is(new Set(a.map((j) => j.id)).size, a.length);
  // Adding an attack changes the evaluations but reuses every trained model.
  const more = tiny();
  more.attacks.push({ name: 'pgd' });
  const c = planStudy(validateStudy(more, 't'), 'wasm');
  t.deepEqual(
    c.filter((j) => j.kind === 'train').map((j) => j.id),
    a.filter((j) => j.kind === 'train').map((j) => j.id),
  );
  t.notDeepEqual(
    c.filter((j) => j.kind === 'eval').map((j) => j.id),
    a.filter((j) => j.kind === 'eval').map((j) => j.id),
  );
  // Another backend is another result.
  t.notDeepEqual(planStudy(validateStudy(tiny(), 't'), 'cpu')[0].id, a[0].id);
  // Every eval job depends on its own trained model.
  for (const j of a.filter((x) => x.kind === 'eval')) t.true(j.dependsOn.includes(j.trainJobId as string));
});

test('two experiments with the same dataset and architecture (other sizes or recipes) get distinct report groups; the job ids do not change', (t) => {
  const one = tiny();
  const plain = planStudy(validateStudy(one, 't'), 'wasm');
  t.deepEqual([...new Set(plain.map((j) => j.group))], ['moons/mlp-8']);
  const two = tiny();
  two.experiments.push({ ...two.experiments[0], dataset: { name: 'moons', nTrain: 200, nTest: 50 } });
  two.experiments.push({ dataset: { name: 'circles', nTrain: 100, nTest: 50 }, models: [{ arch: 'mlp', hidden: [8] }], eval: { eps: [0.1] } });
  const jobs = planStudy(validateStudy(two, 't'), 'wasm');
  t.deepEqual([...new Set(jobs.map((j) => j.group))], ['moons/mlp-8#1', 'moons/mlp-8#2', 'circles/mlp-8']);
  // The first experiment's jobs are the same jobs as before: only their group label says which experiment they are.
  t.deepEqual(
    jobs.filter((j) => j.group === 'moons/mlp-8#1').map((j) => j.id),
    plain.map((j) => j.id),
  );
  // Every (group, scheme, seed) names one train job, so a report cannot merge two models.
  const train = jobs.filter((j) => j.kind === 'train');
  t.is(new Set(train.map((j) => `${j.group}|${j.schemeLabel}|${j.seed}`)).size, train.length);
  // The same model twice in one experiment: experiment and model number.
  const twice = tiny();
  twice.experiments[0].models.push({ arch: 'mlp', hidden: [8] });
  t.deepEqual([...new Set(planStudy(validateStudy(twice, 't'), 'wasm').map((j) => j.group))], ['moons/mlp-8#1.1', 'moons/mlp-8#1.2']);
});

test('CLI: bad config exits 2 with one line and writes nothing', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-cfg-'));
  const cfg = path.join(dir, 'bad.json');
  const bad = tiny();
  (bad.experiments[0].eval.eps as number[])[0] = -1;
  fs.writeFileSync(cfg, JSON.stringify(bad));
  const out = path.join(dir, 'run');
  const r = spawnSync(process.execPath, [CLI, 'run', cfg, '--out', out], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, /eval\.eps\[0\] = -1/);
  t.false(fs.existsSync(out));
  const r2 = spawnSync(process.execPath, [CLI, 'frobnicate'], { encoding: 'utf8' });
  t.is(r2.status, 2);
  t.regex(r2.stderr, /unknown command "frobnicate"; allowed: run, report/);
  const r3 = spawnSync(process.execPath, [CLI, 'run', 'quick', '--workers', 'two'], { encoding: 'utf8' });
  t.is(r3.status, 2);
  t.regex(r3.stderr, /--workers must be a number, got "two"/);
  const r4 = spawnSync(process.execPath, [CLI, 'run', '--help'], { encoding: 'utf8' });
  t.is(r4.status, 0);
  t.regex(r4.stdout, /--workers/);
});
