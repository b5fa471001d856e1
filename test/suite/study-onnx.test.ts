import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraphBuilder } from '../../backend/onnx/proto';
import { loadRun } from '../../contract/run-folder';
import { summarizeRun } from '../../reports/summary';
import { validateStudy } from '../../suite/config';
import { planStudy } from '../../suite/plan';
import { FIXTURES, readFixture } from '../backend/pytorch-fixtures';
import { npyBytes, writeNpz } from '../data/file-writers';

/**
 * A study whose models are exported .onnx files (`models: [{ onnx: FILE }]`):
 * eval-only jobs whose ids hash the file's SHA-256, and a report that puts
 * them side by side. Two of the files are the same trained ResNet block
 * (batch dynamic and fixed at 3): their rows must be equal, and FGSM's
 * robust accuracy is the share of PyTorch's FGSM predictions that are right.
 */
const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const fx = readFixture('resnet-trained');
const N = fx.labels.length;
const [C, H, W] = fx.inputShape;
let dir: string;

test.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-study-onnx-'));
  const x = new Float32Array(N * H * W * C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) x[((n * H + h) * W + w) * C + c] = fx.x[((n * C + c) * H + h) * W + w];
  writeNpz(path.join(dir, 'data.npz'), { x: npyBytes([N, H, W, C], x), y: npyBytes([N], fx.labels, 'int64') });
  for (const f of ['resnet-trained.onnx', 'resnet-trained-batch3.onnx', 'activations.onnx']) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
});

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

const study = (models: unknown[]) => ({
  name: 'onnx-study',
  backend: 'wasm',
  seeds: [0],
  schemes: [{ name: 'erm' }],
  attacks: [{ name: 'fgsm' }],
  probes: false,
  experiments: [{ dataset: { name: 'files', format: 'npz', train: 'data.npz', test: 'data.npz', numClasses: 5 }, models, eval: { eps: [0.01, fx.fgsm.eps], nExamples: N } }],
});

test.serial('a study of exported models: eval-only jobs keyed by the file hash; the report compares them (dynamic and fixed batch agree; FGSM is PyTorch’s)', (t) => {
  const models = [{ onnx: 'resnet-trained.onnx' }, { onnx: 'resnet-trained-batch3.onnx' }, { onnx: 'activations.onnx' }];
  const cwd = process.cwd();
  process.chdir(dir);
  let jobs: ReturnType<typeof planStudy>;
  try {
    jobs = planStudy(validateStudy(study(models), 'study.json'), 'wasm');
  } finally {
    process.chdir(cwd);
  }
  t.is(jobs.length, 3);
  t.true(jobs.every((j) => j.kind === 'eval' && j.dependsOn.length === 0 && j.trainJobId === undefined && j.group === 'files/onnx'));
  t.is(new Set(jobs.map((j) => j.id)).size, 3);

  fs.writeFileSync(path.join(dir, 'study.json'), JSON.stringify(study(models)));
  const r = spawnSync(process.execPath, [CLI, 'run', 'study.json', '--out', 'run', '--quiet', '--no-cache', '--backend', 'wasm'], { cwd: dir, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr + r.stdout);
  const summary = summarizeRun(loadRun(path.join(dir, 'run')));
  const g = summary.groups.find((x) => x.group === 'files/onnx');
  t.truthy(g);
  if (!g) return;
  t.deepEqual(
    g.rows.map((row) => row.scheme),
    models.map((m) => `onnx:${m.onnx}`),
  );
  t.true(g.rows.every((row) => row.status === 'ok'));
  const robust = g.columns.find((c) => c.kind === 'robust' && c.eps === fx.fgsm.eps);
  const robust01 = g.columns.find((c) => c.kind === 'robust' && c.eps === 0.01);
  const clean = g.columns.find((c) => c.kind === 'clean');
  if (!robust || !robust01 || !clean) return t.fail('no clean or robust columns');
  const value = (i: number, key: string) => g.rows[i].cells[key].values[0].value;
  // FGSM's robust accuracy: PyTorch's FGSM predictions that are right.
  const torchRobust = fx.fgsm.predictions.filter((p, i) => p === fx.labels[i]).length / N;
  t.is(value(0, robust.key), torchRobust);
  // Clean accuracy: PyTorch's argmax of its logits that is right.
  const k = fx.logits.length / N;
  const torchClean = fx.labels.filter((y, i) => {
    const row = fx.logits.slice(i * k, i * k + k);
    return row.indexOf(Math.max(...row)) === y;
  }).length;
  t.is(value(0, clean.key), torchClean / N);
  t.true(value(0, robust01.key) > 0 && value(0, robust01.key) < value(0, clean.key), 'at eps 0.01 fgsm breaks some examples, not all');
  // The same weights with a fixed batch: the same numbers.
  t.is(value(1, robust.key), value(0, robust.key));
  t.is(value(1, robust01.key), value(0, robust01.key));
  t.is(value(1, clean.key), value(0, clean.key));
  t.log(`clean: ${g.rows.map((_, i) => value(i, clean.key)).join(', ')}; fgsm@0.01: ${g.rows.map((_, i) => value(i, robust01.key)).join(', ')}`);
  // The eval results name the file and its hash.
  const result = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'results', `${jobs[0].id}.json`), 'utf8'));
  t.is(result.trainJobId, null);
  t.is(result.identity.model.onnx, 'resnet-trained.onnx');
  t.regex(result.identity.model.sha256, /^[0-9a-f]{64}$/);
  t.is(result.identity.model.output, 'logits');
});

test.serial('a study model with an op outside the gradient rules is refused before anything is written: one line, exit 2', (t) => {
  const g = new GraphBuilder('pow');
  const x = g.input('x', 'float32', ['N', H, W, C]);
  const h = g.op('Flatten', [g.op('Pow', [x, g.float32([2], [])])], { axis: 1 });
  g.output(g.op('MatMul', [h, g.float32(new Float32Array(H * W * C * 5).fill(0.01), [H * W * C, 5])]), 'logits', 'float32', ['N', 5]);
  fs.writeFileSync(path.join(dir, 'pow.onnx'), g.encode());
  fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(study([{ onnx: 'pow.onnx' }])));
  const r = spawnSync(process.execPath, [CLI, 'run', 'bad.json', '--out', 'bad-run', '--quiet', '--no-cache', '--backend', 'wasm'], { cwd: dir, encoding: 'utf8' });
  t.is(r.status, 2, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0], /experiments\[0\]\.models\[0\]: .*pow\.onnx: no input gradients: node "n_Pow\w*" \(Pow\)/);
  t.false(fs.existsSync(path.join(dir, 'bad-run')));
});
