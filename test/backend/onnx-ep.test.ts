import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../../contract/errors';
import { ORT_EXECUTION_PROVIDERS, ortExecutionProvider } from '../../backend/onnx/runtime';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const doctor = (ep: string) => spawnSync(process.execPath, [CLI, 'doctor', '--backend', 'onnx', '--json'], { encoding: 'utf8', env: { ...process.env, VICINAL_ORT_EP: ep } });

// Where onnxruntime-node keeps its provider libraries; the cuda one is there only after its cuda install (docs/engine.md).
const ORT_BIN = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
const hasCudaBuild = fs.existsSync(path.join(ORT_BIN, 'libonnxruntime_providers_cuda.so'));

test('VICINAL_ORT_EP: cpu by default, every listed provider accepted, anything else one UsageError naming the allowed ones', (t) => {
  t.is(ortExecutionProvider({}), 'cpu');
  for (const ep of ORT_EXECUTION_PROVIDERS) t.is(ortExecutionProvider({ VICINAL_ORT_EP: ep }), ep);
  const e = t.throws(() => ortExecutionProvider({ VICINAL_ORT_EP: 'gpu' }));
  t.true(e instanceof UsageError);
  t.is(e?.message, 'VICINAL_ORT_EP must be one of cpu, cuda, got "gpu"');
});

test('doctor --backend onnx checks the engine on cpu and names the provider in its report', (t) => {
  const r = doctor('cpu');
  t.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { engine?: { engine?: string } };
  t.regex(JSON.stringify(report), /onnxruntime-node [0-9.]+ \(cpu, 1 thread\)/);
});

test('doctor --backend onnx with VICINAL_ORT_EP=cuda: checked like cpu where the cuda build is installed, else one line and exit 2 (no silent cpu fallback)', (t) => {
  const r = doctor('cuda');
  if (hasCudaBuild) {
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /\(cuda, 1 thread\)/);
    return;
  }
  t.is(r.status, 2);
  t.is(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0], /^vicinal: onnx engine: execution provider "cuda" \(VICINAL_ORT_EP\) did not start: .+; install onnxruntime-node's cuda build \(docs\/engine\.md\) or unset VICINAL_ORT_EP$/);
});

test('a bad VICINAL_ORT_EP stops the doctor with one line and exit 2', (t) => {
  const r = doctor('tpu');
  t.is(r.status, 2);
  t.is(r.stderr.trim(), 'vicinal: VICINAL_ORT_EP must be one of cpu, cuda, got "tpu"');
});
