/**
 * `vicinal export` treats bad input like every other command: one line on
 * stderr naming what is wrong, exit 2, and nothing written. A model inside
 * the family is the control: it exports, and the file is a real ONNX model.
 */
import * as tf from '@tensorflow/tfjs';
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../../backend/select';
import { saveModel } from '../../models/io';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
let dir: string;

function mlp(extra?: tf.layers.Layer): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 4, inputShape: [2], activation: 'relu', name: 'dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  if (extra) m.add(extra);
  m.add(tf.layers.dense({ units: 3, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  return m;
}

test.before(async () => {
  await initBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-export-'));
  await saveModel(mlp(), path.join(dir, 'good'));
  await saveModel(mlp(tf.layers.softmax({ name: 'softmax_1' })), path.join(dir, 'softmax'));
  fs.mkdirSync(path.join(dir, 'corrupt-json'));
  fs.writeFileSync(path.join(dir, 'corrupt-json', 'model.json'), '{"modelTopology": {');
  fs.cpSync(path.join(dir, 'good'), path.join(dir, 'truncated'), { recursive: true });
  const bin = path.join(dir, 'truncated', 'weights.bin');
  fs.writeFileSync(bin, fs.readFileSync(bin).subarray(0, 12));
  fs.writeFileSync(path.join(dir, 'a-file'), 'not a folder');
});

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `vicinal export --onnx OUT MODEL`; returns exit code, stderr lines and whether OUT exists afterwards. */
function exportCli(out: string, model: string): { status: number | null; stderr: string[]; stdout: string; wrote: boolean } {
  const r = spawnSync(process.execPath, [CLI, 'export', '--onnx', out, model], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr.split('\n').filter((l) => l.length > 0), stdout: r.stdout, wrote: fs.existsSync(out) };
}

function assertRefused(t: import('ava').ExecutionContext, r: ReturnType<typeof exportCli>, message: RegExp): void {
  t.is(r.status, 2, r.stderr.join('\n'));
  t.is(r.stderr.length, 1, `exactly one line on stderr, got:\n${r.stderr.join('\n')}`);
  t.regex(r.stderr[0], message);
  t.false(r.wrote, 'nothing written');
}

test('control: a model inside the family exports to a .onnx file with the model in it', (t) => {
  const out = path.join(dir, 'out-good');
  const r = exportCli(out, path.join(dir, 'good'));
  t.is(r.status, 0, r.stderr.join('\n'));
  t.regex(r.stdout, /wrote .*model\.onnx \(\d+ bytes; input x \[batch, 2\], output logits\)/);
  const bytes = fs.readFileSync(path.join(out, 'model.onnx'));
  // The weights are baked in as float32 initializers: 2x4 + 4 + 4x3 + 3 = 27 floats at least.
  t.true(bytes.length > 27 * 4);
  t.deepEqual(fs.readdirSync(out), ['model.onnx'], 'no temporary file left');
});

test('missing model: one line naming the path, exit 2, nothing written', (t) => {
  assertRefused(t, exportCli(path.join(dir, 'out-missing'), path.join(dir, 'nonexistent')), /^vicinal: cannot load model from .*nonexistent: no model at .*model\.json is missing$/);
});

test('corrupt model.json: one line, exit 2, nothing written', (t) => {
  assertRefused(t, exportCli(path.join(dir, 'out-corrupt'), path.join(dir, 'corrupt-json')), /^vicinal: cannot load model from .*corrupt-json: .*model\.json is not valid JSON/);
});

test('truncated weights: one line with the byte counts, exit 2, nothing written', (t) => {
  assertRefused(t, exportCli(path.join(dir, 'out-truncated'), path.join(dir, 'truncated')), /weights\.bin hold 12 bytes, the manifest describes \d+ \(truncated or from another model\)$/);
});

test('a layer outside the family (a Softmax layer): one line naming the layer, exit 2, nothing written', (t) => {
  assertRefused(t, exportCli(path.join(dir, 'out-softmax'), path.join(dir, 'softmax')), /^vicinal: cannot export .*softmax: layer "softmax_1" \(Softmax\) is not supported \(supported: Dense, Conv2D/);
});

test('an output folder that cannot be created (under a file): one line, exit 2, nothing written', (t) => {
  const out = path.join(dir, 'a-file', 'sub');
  assertRefused(t, exportCli(out, path.join(dir, 'good')), /^vicinal: --onnx .*a-file\/sub: .*a-file is a file, not a folder; allowed: a writable folder/);
  t.is(fs.readFileSync(path.join(dir, 'a-file'), 'utf8'), 'not a folder');
});

test('a folder without write permission (as a user that is not root): one line, exit 2, nothing written', (t) => {
  const locked = path.join(dir, 'locked');
  fs.mkdirSync(locked, { mode: 0o500 });
  try {
    const r = exportCli(path.join(locked, 'out'), path.join(dir, 'good'));
    if (process.getuid?.() === 0) t.is(r.status, 0, 'root writes through the mode bits');
    else assertRefused(t, r, /locked is not writable \(EACCES\)/);
  } finally {
    fs.chmodSync(locked, 0o700);
  }
});

test('an output folder that cannot be written (/proc refuses new entries, also for root): one line, exit 2, nothing written', (t) => {
  const out = path.join('/proc', `vicinal-export-${process.pid}`, 'out');
  assertRefused(t, exportCli(out, path.join(dir, 'good')), /^vicinal: --onnx \/proc\/vicinal-export-\d+\/out: \/proc is not writable \(\w+\); allowed: a writable folder/);
});
