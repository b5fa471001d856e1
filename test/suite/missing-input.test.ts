/**
 * Every command that reads a saved model or a run folder treats a missing
 * or corrupt one the same way: exactly one line on stderr, naming the path,
 * exit 2, and none of the command's outputs written. The commands are taken
 * from `vicinal --help`, so a new command must be added here (or listed as
 * reading neither).
 */
import test from 'ava';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vicinal-missing-'));
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

const missing = (name: string) => path.join(dir, 'missing', name);
const out = (name: string) => path.join(dir, 'out', name);
const CORRUPT_RUN = path.join(dir, 'corrupt-run');
const CORRUPT_MODEL = path.join(dir, 'corrupt-model');
fs.mkdirSync(CORRUPT_RUN, { recursive: true });
fs.writeFileSync(path.join(CORRUPT_RUN, 'manifest.json'), '{not json');
fs.mkdirSync(CORRUPT_MODEL, { recursive: true });
fs.writeFileSync(path.join(CORRUPT_MODEL, 'model.json'), '{"modelTopology": {');

interface Case {
  args: string[];
  /** The path the one line must name. */
  names: string;
  /** Outputs the command would write; none may exist afterwards. */
  outputs: string[];
}

/** Per command, its invocations with a missing and with a corrupt model or run folder. */
const CASES: Record<string, Case[]> = {
  run: [
    { args: ['run', '--resume', missing('run')], names: missing('run'), outputs: [missing('run')] },
    { args: ['run', '--resume', CORRUPT_RUN], names: CORRUPT_RUN, outputs: [path.join(CORRUPT_RUN, 'run.log')] },
    { args: ['run', 'quick', '--shard', '1/2', '--weights', missing('weights'), '--out', out('shard'), '--backend', 'cpu'], names: missing('weights'), outputs: [out('shard')] },
  ],
  merge: [
    { args: ['merge', missing('shard-1'), missing('shard-2'), '--out', out('merged')], names: missing('shard-1'), outputs: [out('merged')] },
    { args: ['merge', CORRUPT_RUN, '--out', out('merged2')], names: CORRUPT_RUN, outputs: [out('merged2')] },
  ],
  report: [
    { args: ['report', missing('run')], names: missing('run'), outputs: [missing('run')] },
    { args: ['report', CORRUPT_RUN, '--out', out('report')], names: CORRUPT_RUN, outputs: [out('report')] },
    { args: ['report', '--history', missing('runs')], names: missing('runs'), outputs: [missing('runs')] },
  ],
  compare: [
    { args: ['compare', missing('a'), missing('b'), '--md', out('c.md'), '--junit', out('c.xml')], names: missing('a'), outputs: [out('c.md'), out('c.xml')] },
    { args: ['compare', CORRUPT_RUN, CORRUPT_RUN, '--junit', out('c2.xml')], names: CORRUPT_RUN, outputs: [out('c2.xml')] },
  ],
  attack: [
    { args: ['attack', '--model', missing('model'), '--data', 'moons', '--out', out('a.json')], names: missing('model'), outputs: [out('a.json')] },
    { args: ['attack', '--model', missing('model.onnx'), '--data', 'moons', '--attack', 'square', '--out', out('b.json')], names: missing('model.onnx'), outputs: [out('b.json')] },
    { args: ['attack', '--model', CORRUPT_MODEL, '--data', 'moons', '--out', out('c.json')], names: CORRUPT_MODEL, outputs: [out('c.json')] },
  ],
  sample: [
    { args: ['sample', '--scheme', 'adversarial', '--data', 'moons', '--point', '0', '--model', missing('model'), '--out', out('s.json')], names: missing('model'), outputs: [out('s.json')] },
    { args: ['sample', '--scheme', 'adversarial', '--data', 'moons', '--point', '0', '--model', CORRUPT_MODEL, '--out', out('s2.json')], names: CORRUPT_MODEL, outputs: [out('s2.json')] },
  ],
  export: [
    { args: ['export', '--onnx', out('onnx'), missing('model')], names: missing('model'), outputs: [out('onnx')] },
    { args: ['export', '--onnx', out('onnx2'), CORRUPT_MODEL], names: CORRUPT_MODEL, outputs: [out('onnx2')] },
  ],
};
/** Commands that read neither a saved model nor a run folder. */
const READS_NEITHER = ['doctor', 'bench'];

function vicinal(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }));
  });
}

test('the walk covers every command of `vicinal --help`', async (t) => {
  const help = await vicinal(['--help']);
  const section = help.stdout.slice(help.stdout.indexOf('commands:'), help.stdout.indexOf('exit codes:'));
  const commands = [...section.matchAll(/^ {2}(\w+)/gm)].map((m) => m[1]);
  t.true(commands.length >= 9);
  t.deepEqual([...commands].sort(), [...Object.keys(CASES), ...READS_NEITHER].sort());
});

for (const [command, cases] of Object.entries(CASES)) {
  test(`${command}: a missing or corrupt model / run folder is one line on stderr, exit 2, nothing written`, async (t) => {
    for (const c of cases) {
      const r = await vicinal(c.args);
      const lines = r.stderr.split('\n').filter((l) => l.length > 0);
      const what = c.args.join(' ');
      t.is(r.code, 2, `${what}: ${r.stderr}`);
      t.is(lines.length, 1, `${what}: exactly one line on stderr, got:\n${r.stderr}`);
      t.true(lines[0]?.startsWith('vicinal: ') && lines[0].includes(c.names), `${what}: ${lines[0]}`);
      for (const o of c.outputs) t.false(fs.existsSync(o), `${what}: wrote ${o}`);
    }
  });
}
