import test from 'ava';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset } from '../../data/registry';
import { buildModel } from '../../models/build';
import { saveModel } from '../../models/io';
import { parseArgs } from '../../suite/args';
import { command, VicinalSamples } from '../../suite/commands/sample';
import { initBackend } from '../../backend/select';
import { UsageError } from '../../contract/errors';
import { DATASET_NAMES } from '../../data/registry';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-sample-'));
// The command starts the backend itself; start it once first so that
// concurrent tests do not race to initialise it.
test.before(async () => {
  await initBackend('wasm');
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function run(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(command.spec, argv);
  return command.main(flags, positional);
}

test('sample writes JSON with the point, its label, samples, lambdas, partners and all settings', async (t) => {
  const out = path.join(tmp, 'asym.json');
  const code = await run(['--scheme', 'mixup-asym', '--data', 'moons', '--point', '5', '--n', '300', '--alpha', '0.1', '--seed', '3', '--out', out, '--backend', 'wasm']);
  t.is(code, 0);
  const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as VicinalSamples;
  const ds = loadDataset({ name: 'moons' });
  t.is(doc.kind, 'vicinal-samples');
  t.deepEqual(doc.settings.schemeSettings, { alpha: 0.1, lambdaPer: 'example' });
  t.is(doc.settings.dataset.name, 'moons');
  t.is(doc.settings.backend.name, 'wasm');
  t.like(doc.settings, { scheme: 'mixup-asym', point: 5, n: 300, seed: 3, model: null });
  t.is(doc.point.label, ds.train.y[5]);
  t.true(Math.abs(doc.point.x[0] - ds.train.x[10]) < 1e-6);
  t.is(doc.samples.length, 300);
  const above = doc.samples.filter((s) => s.lambda! > 0.9).length / 300;
  t.true(above > 0.7 && above < 0.9, `share of lambda > 0.9: ${above}`);
  for (const s of doc.samples) {
    t.deepEqual(s.target, doc.point.label === 0 ? [1, 0] : [0, 1]);
    const px = ds.train.x.subarray(s.partner! * 2, s.partner! * 2 + 2);
    for (let k = 0; k < 2; k++) t.true(Math.abs(s.x[k] - (s.lambda! * doc.point.x[k] + (1 - s.lambda!) * px[k])) < 1e-5);
  }
  t.deepEqual(
    fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')),
    [],
    'no temporary file left',
  );
  // Same seed, same file.
  const again = path.join(tmp, 'asym2.json');
  await run(['--scheme', 'mixup-asym', '--data', 'moons', '--point', '5', '--n', '300', '--alpha', '0.1', '--seed', '3', '--out', again, '--backend', 'wasm']);
  t.deepEqual(JSON.parse(fs.readFileSync(again, 'utf8')).samples, doc.samples);
});

test('sample writes CSV: settings comment, header, the point row, one row per sample', async (t) => {
  const out = path.join(tmp, 'mix.csv');
  await run(['--scheme', 'mixup', '--data', 'moons', '--point', '0', '--n', '4', '--format', 'csv', '--out', out, '--backend', 'wasm', '--params', 'lambdaPer=example']);
  const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
  t.regex(lines[0], /^# settings: \{"scheme":"mixup","schemeSettings":\{"alpha":1,"lambdaPer":"example"\}/);
  t.is(lines[1], 'row,kind,label,lambda,partner,partner_source,perturbed,x0,x1,t0,t1');
  t.regex(lines[2], /^point,point,[01],,,,,/);
  t.is(lines.length, 7);
  for (const line of lines.slice(3)) {
    const c = line.split(',');
    t.is(c[1], 'sample');
    t.is(c[5], 'trainingSet');
    const lam = Number(c[3]);
    t.true(Math.abs(Number(c[9]) + Number(c[10]) - 1) < 1e-6);
    t.true(lam >= 0 && lam <= 1);
  }
});

test('sample: mixup-semi with 1 labelled per class draws partners from the pool', async (t) => {
  const out = path.join(tmp, 'semi.json');
  await run(['--scheme', 'mixup-semi', '--data', 'moons', '--point', '1', '--n', '20', '--labelled-per-class', '1', '--out', out, '--backend', 'wasm']);
  const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as VicinalSamples;
  t.like(doc.settings.schemeSettings, { labelledPerClass: 1, labelled: 2, pool: 998 });
  t.true(doc.samples.every((s) => s.partnerSource === 'pool' && s.partner! < 998));
});

test('sample: bad input is a UsageError', async (t) => {
  const bad: [string[], RegExp][] = [
    [['--data', 'moons', '--point', '0'], /--scheme is required/],
    [['--scheme', 'mixup', '--data', 'moons'], /--point is required/],
    [['--scheme', 'cutmix', '--data', 'moons', '--point', '0'], /unknown scheme "cutmix"; allowed: erm, mixup/],
    [['--scheme', 'mixup', '--data', 'cifar', '--point', '0'], new RegExp(`--data must be one of ${DATASET_NAMES.join(', ')}, got "cifar"`)],
    [['--scheme', 'mixup', '--data', 'moons', '--point', '1000'], /--point must be an integer in \[0, 999\]/],
    [['--scheme', 'mixup', '--data', 'moons', '--point', '-1'], /--point must be an integer/],
    [['--scheme', 'mixup', '--data', 'moons', '--point', '0', '--n', '0'], /--n must be an integer in \[1, 1000000\]/],
    [['--scheme', 'mixup', '--data', 'moons', '--point', '0', '--format', 'xml'], /--format must be one of json, csv/],
    [['--scheme', 'mixup', '--data', 'moons', '--point', '0', '--alpha', '-2'], /scheme mixup: alpha must be a number > 0, got -2/],
    [['--scheme', 'erm', '--data', 'moons', '--point', '0', '--alpha', '1'], /scheme erm: unknown parameter "alpha"/],
    [['--scheme', 'mixup', '--data', 'moons', '--point', '0', '--params', 'alpha'], /--params takes key=value pairs/],
    [['--scheme', 'adversarial', '--data', 'moons', '--point', '0'], /depends on the model/],
    [['--scheme', 'adversarial', '--data', 'moons', '--point', '0', '--model', path.join(tmp, 'nope')], /cannot load --model/],
  ];
  for (const [argv, re] of bad) {
    await t.throwsAsync(run([...argv, '--backend', 'wasm']), { instanceOf: UsageError, message: re }, argv.join(' '));
  }
});

test('sample: adversarial with --model gives PGD points inside the eps-ball, marked perturbed', async (t) => {
  const dir = path.join(tmp, 'model');
  const m = buildModel({ arch: 'mlp', hidden: [8] }, [2], 2, 0);
  await saveModel(m, dir);
  m.dispose();
  const out = path.join(tmp, 'adv.json');
  await run(['--scheme', 'adversarial', '--data', 'moons', '--point', '2', '--n', '6', '--params', 'eps=0.2,steps=3', '--model', dir, '--out', out, '--backend', 'wasm']);
  const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as VicinalSamples;
  t.is(doc.settings.model, dir);
  t.like(doc.settings.schemeSettings, { eps: 0.2, steps: 3, mixRatio: 1 });
  for (const s of doc.samples) {
    t.true(s.perturbed);
    t.true(Math.max(...s.x.map((v, k) => Math.abs(v - doc.point.x[k]))) <= 0.2 + 1e-6);
  }
  await t.throwsAsync(run(['--scheme', 'adversarial', '--data', 'mnist', '--point', '0', '--model', dir, '--backend', 'wasm']), {
    instanceOf: UsageError,
    message: /takes inputs of shape \[2\], but mnist inputs are \[28, 28, 1\]/,
  });
});
