import test from 'ava';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend/select';
import { GraphBuilder } from '../../backend/onnx/proto';
import { UsageError } from '../../contract/errors';
import { attackOnWasm, readJson } from './attack-in-process';
import { FIXTURES, readFixture } from '../backend/pytorch-fixtures';
import { npyBytes, writeNpz } from '../data/file-writers';

/**
 * `vicinal attack --model FILE.onnx` with gradient attacks (issue 21 part 2):
 * the trained PyTorch ResNet-block fixture (FGSM changes 5 of its 8
 * predictions, so agreeing is not a constant) attacked through the CLI on file data
 * built from the fixture's inputs and labels. FGSM's per-example predictions
 * are PyTorch's exactly, with the batch dimension dynamic or fixed (3, so the
 * 8 examples run in padded chunks), and with the input normalisation given
 * by --mean/--std outside the graph.
 */
let dir: string;
const fx = readFixture('resnet-trained');
const N = fx.labels.length;
const [C, H, W] = fx.inputShape;
const RESNET = path.join(FIXTURES, 'resnet-trained.onnx');
const FGSM_KEY = `fgsm@linf:${fx.fgsm.eps}.pred`;

/** The fixture's NCHW inputs in vicinal's NHWC layout, each value mapped by `f(value, channel)`. */
function nhwc(f: (v: number, c: number) => number = (v) => v): Float32Array {
  const out = new Float32Array(N * H * W * C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[((n * H + h) * W + w) * C + c] = f(fx.x[((n * C + c) * H + h) * W + w], c);
  return out;
}

function writeData(name: string, x: Float32Array): string {
  const file = path.join(dir, name);
  writeNpz(file, { x: npyBytes([N, H, W, C], x), y: npyBytes([N], fx.labels, 'int64') });
  return file;
}

test.before(async () => {
  await initBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-attack-onnx-grad-'));
});

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

const preds = (r: { examples: Record<string, number>[] }, key: string) => r.examples.map((e) => e[key]);

test.serial("fgsm on the PyTorch ResNet block: per-example predictions equal PyTorch's FGSM, dynamic and fixed batch; autoattack at 0.031 is no weaker", async (t) => {
  // The form: files:FORMAT:FILE.
  const data = `files:npz:${writeData('resnet.npz', nhwc())}`;
  const out = path.join(dir, 'fgsm.json');
  const a = await attackOnWasm(['--model', RESNET, '--data', data, '--attack', 'fgsm', '--eps', String(fx.fgsm.eps), '--n', String(N), '--out', out]);
  t.is(a.code, 0, a.text);
  const r = readJson(out);
  t.deepEqual(preds(r, FGSM_KEY), fx.fgsm.predictions);
  t.deepEqual(preds(r, 'label'), fx.labels);
  // The clean predictions are PyTorch's argmax of its logits.
  const k = fx.logits.length / N;
  const torchClean = Array.from({ length: N }, (_, i) => {
    const row = fx.logits.slice(i * k, i * k + k);
    return row.indexOf(Math.max(...row));
  });
  t.deepEqual(preds(r, 'cleanPred'), torchClean);
  // Gradients exist now: per-example gradient norms, and the settings of the file.
  t.true(r.examples.every((e: Record<string, number>) => typeof e.gradL1 === 'number' && e.gradL1 > 0));
  t.deepEqual(r.onnx, { sha256: crypto.createHash('sha256').update(fs.readFileSync(RESNET)).digest('hex'), layout: 'nchw', mean: null, std: null, gradients: true });

  // The same weights exported with the batch fixed at 3: 8 examples run in chunks of 3 (the last padded).
  const fixed = path.join(dir, 'fixed.json');
  t.is(
    (await attackOnWasm(['--model', path.join(FIXTURES, 'resnet-trained-batch3.onnx'), '--data', data, '--attack', 'fgsm', '--eps', String(fx.fgsm.eps), '--n', String(N), '--out', fixed])).code,
    0,
  );
  t.deepEqual(preds(readJson(fixed), FGSM_KEY), fx.fgsm.predictions);

  // The command: autoattack at 8/255-ish radius.
  const aaOut = path.join(dir, 'aa.json');
  const aa = await attackOnWasm(['--model', RESNET, '--data', data, '--attack', 'autoattack', '--eps', '0.031', '--n', String(N), '--out', aaOut]);
  t.is(aa.code, 0, aa.text);
  const fgsmRobust = r.summary.attacks[0].robustAccuracy;
  const aaRobust = readJson(aaOut).summary.attacks[0].robustAccuracy;
  t.log(`robust accuracy: fgsm@0.03 ${fgsmRobust}, autoattack@0.031 ${aaRobust}; clean ${r.summary.cleanAccuracy}`);
  t.true(aaRobust <= fgsmRobust, `autoattack ${aaRobust} > fgsm ${fgsmRobust}`);
  // FGSM already breaks every example at 0.03; at 0.01 some survive it, and autoattack is no weaker there either.
  const small = path.join(dir, 'small.json');
  t.is((await attackOnWasm(['--model', RESNET, '--data', data, '--attack', 'fgsm,autoattack', '--eps', '0.01', '--n', String(N), '--out', small])).code, 0);
  const [f01, aa01] = readJson(small).summary.attacks.map((x: { robustAccuracy: number }) => x.robustAccuracy);
  t.log(`at eps 0.01: fgsm ${f01}, autoattack ${aa01}`);
  t.true(aa01 <= f01 && f01 > 0, `fgsm ${f01}, autoattack ${aa01}`);
});

test.serial('--mean/--std: a graph that expects normalised input is attacked in pixel space with exact gradients (FGSM equals PyTorch on the mapped inputs)', async (t) => {
  // Pixel inputs p = 0.25 x + 0.5 in bounds [0.5, 0.75]: (p - 0.5) / 0.25 is the fixture's x, and FGSM at eps 0.25 * 0.03
  // in pixel space is the fixture's FGSM (the sign of the gradient is the same, the clip is the same box).
  const data = `npz:${writeData(
    'pixels.npz',
    nhwc((v) => 0.25 * v + 0.5),
  )}`;
  const out = path.join(dir, 'normalised.json');
  const eps = 0.25 * fx.fgsm.eps;
  const a = await attackOnWasm(['--model', RESNET, '--data', data, '--mean', '0.5,0.5,0.5', '--std', '0.25', '--bounds', '0.5,0.75', '--attack', 'fgsm', '--eps', String(eps), '--out', out]);
  t.is(a.code, 0, a.text);
  const r = readJson(out);
  t.deepEqual(preds(r, `fgsm@linf:${eps}.pred`), fx.fgsm.predictions);
  t.deepEqual(r.onnx.mean, [0.5, 0.5, 0.5]);
  t.deepEqual(r.onnx.std, [0.25]);

  // Per-channel values: the clean cross-entropy of each example is PyTorch's, from its logits.
  const mean = [0.1, 0.3, 0.2];
  const std = [0.5, 0.25, 2];
  const perChannel = `npz:${writeData(
    'channels.npz',
    nhwc((v, c) => v * std[c] + mean[c]),
  )}`;
  const out2 = path.join(dir, 'channels.json');
  t.is(
    (await attackOnWasm(['--model', RESNET, '--data', perChannel, '--mean', mean.join(','), '--std', std.join(','), '--bounds', '-1,3', '--attack', 'noise', '--eps', '0.01', '--out', out2])).code,
    0,
  );
  const k = fx.logits.length / N;
  const ce = Array.from({ length: N }, (_, i) => {
    const row = fx.logits.slice(i * k, i * k + k);
    const m = Math.max(...row);
    return m + Math.log(row.reduce((s, z) => s + Math.exp(z - m), 0)) - row[fx.labels[i]];
  });
  const got = preds(readJson(out2), 'cleanLoss');
  for (let i = 0; i < N; i++) t.true(Math.abs(got[i] - ce[i]) < 1e-4, `example ${i}: ${got[i]} vs ${ce[i]}`);
});

test.serial('bad --layout, --bounds, --mean/--std are one-line usage errors', async (t) => {
  const data = `npz:${writeData('bad.npz', nhwc())}`;
  const base = ['--model', RESNET, '--data', data, '--attack', 'fgsm', '--eps', '0.03'];
  const msg = async (extra: string[]) => (await t.throwsAsync(attackOnWasm([...base, ...extra]), { instanceOf: UsageError }))?.message ?? '';
  t.regex(await msg(['--layout', 'flat']), /takes inputs of shape \[3, 8, 8\].*does not fit layout flat/);
  t.regex(await msg(['--layout', 'chw']), /invalid --layout "chw"; allowed: nchw, nhwc, flat/);
  t.regex(await msg(['--bounds', '1,0']), /--bounds takes lo,hi with lo < hi/);
  t.regex(await msg(['--std', '0.5,0']), /--std takes positive values/);
  t.regex(await msg(['--mean', '0.1,0.2']), /--mean takes 1 or 3 values/);
  // Named explicitly, the layout the graph declares is the one read from it.
  const out = path.join(dir, 'nchw.json');
  t.is((await attackOnWasm([...base, '--layout', 'nchw', '--n', String(N), '--out', out])).code, 0);
  t.deepEqual(preds(readJson(out), 'fgsm@linf:0.03.pred'), fx.fgsm.predictions);
});

test.serial(
  'a graph with an op outside the gradient rules: gradient attacks are refused with one line naming the op and the node, exit 2, nothing written; score-based attacks still run',
  async (t) => {
    const g = new GraphBuilder('pow');
    const x = g.input('x', 'float32', ['N', 4]);
    const p = g.op('Pow', [x, g.float32([2], [])]);
    g.output(g.op('MatMul', [p, g.float32([1, -1, 0.5, 2, 0, 1, -2, 1, 1, 0.5, -1, 0], [4, 3])]), 'logits', 'float32', ['N', 3]);
    const file = path.join(dir, 'pow.onnx');
    fs.writeFileSync(file, g.encode());
    const npz = path.join(dir, 'pow.npz');
    writeNpz(npz, {
      x: npyBytes(
        [6, 4],
        Array.from({ length: 24 }, (_, i) => (i % 7) / 7),
      ),
      y: npyBytes([6], [0, 1, 2, 0, 1, 2], 'int64'),
    });
    const out = path.join(dir, 'pow.json');
    const e = await t.throwsAsync(attackOnWasm(['--model', file, '--data', `npz:${npz}`, '--attack', 'pgd', '--eps', '0.1', '--out', out]), { instanceOf: UsageError });
    t.regex(e?.message ?? '', /^.*pow\.onnx: no input gradients: node "n_Pow\w*" \(Pow\): no gradient rule for op Pow/);
    t.false(e?.message.includes('\n'));
    t.false(fs.existsSync(out));
    // The real CLI: exit 2, one line on stderr, nothing written.
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'suite', 'cli.js'), 'attack', '--model', file, '--data', `npz:${npz}`, '--attack', 'fgsm', '--eps', '0.1', '--out', out], {
      encoding: 'utf8',
    });
    t.is(r.status, 2);
    t.deepEqual(
      r.stderr.split('\n').filter((l) => l.trim()),
      [r.stderr.split('\n').find((l) => l.startsWith('vicinal:') && l.includes('(Pow)'))],
    );
    t.false(fs.existsSync(out));
    // Square needs no gradients: it runs on the forward graph, without the gradient sanity checks.
    const sq = await attackOnWasm(['--model', file, '--data', `npz:${npz}`, '--attack', 'square', '--eps', '0.1', '--params', 'square.queries=20', '--out', out]);
    t.is(sq.code, 0);
    const s = readJson(out);
    t.is(s.onnx.gradients, false);
    t.is(s.examples[0].gradL1, null);
  },
);
