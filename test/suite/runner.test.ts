import test from 'ava';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');

function study(extra: Record<string, unknown> = {}) {
  return {
    name: 'runner-test',
    backend: 'wasm',
    seeds: [0, 1, 2],
    schemes: [{ name: 'erm' }, { name: 'mixup-asym' }],
    attacks: [{ name: 'fgsm' }, { name: 'pgd', params: { steps: 5, relStepSize: 0.5 } }],
    experiments: [
      {
        dataset: { name: 'moons', nTrain: 200, nTest: 100 },
        models: [{ arch: 'mlp', hidden: [8] }],
        train: { learningRate: 0.01, batchSize: 32, epochs: 3 },
        eval: { eps: [0.1, 0.3], nExamples: 60, probePoints: 20 },
      },
    ],
    ...extra,
  };
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function writeConfig(dir: string, cfg: unknown): string {
  const file = path.join(dir, 'study.json');
  fs.writeFileSync(file, JSON.stringify(cfg));
  return file;
}

function run(args: string[], cache: string | null = null) {
  const cacheArgs = cache === null ? ['--no-cache'] : ['--cache', cache];
  return spawnSync(process.execPath, [CLI, 'run', ...args, '--quiet', ...cacheArgs], { encoding: 'utf8' });
}

// Fields that measure time or place, not results.
const VOLATILE = new Set(['wallSeconds', 'stageSeconds', 'seconds', 'env']);
function normalise(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k]) => !VOLATILE.has(k))
        .map(([k, x]) => [k, normalise(x)]),
    );
  }
  return v;
}

function results(runDir: string): Map<string, unknown> {
  const dir = path.join(runDir, 'results');
  const out = new Map<string, unknown>();
  for (const f of fs.readdirSync(dir)) out.set(f, normalise(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))));
  return out;
}

test.serial('results do not depend on the number of workers; a rerun reuses every result', (t) => {
  const dir = tmp('vicinal-run-');
  const cfg = writeConfig(dir, study());
  const a = run([cfg, '--out', path.join(dir, 'w1'), '--workers', '1']);
  t.is(a.status, 0, a.stderr);
  const b = run([cfg, '--out', path.join(dir, 'w2'), '--workers', '2']);
  t.is(b.status, 0, b.stderr);
  const ra = results(path.join(dir, 'w1'));
  const rb = results(path.join(dir, 'w2'));
  t.is(ra.size, 12);
  t.deepEqual([...rb.keys()].sort(), [...ra.keys()].sort());
  for (const [k, v] of ra) t.deepEqual(rb.get(k), v, k);
  const again = run([cfg, '--out', path.join(dir, 'w1'), '--workers', '2']);
  t.is(again.status, 0);
  t.regex(again.stdout, /12\/12 jobs ok, 12 reused/);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'w1', 'manifest.json'), 'utf8'));
  t.is(manifest.env.backend.name, 'wasm');
  t.is(manifest.env.backend.tfjsVersion, '4.22.0');
  t.truthy(manifest.endedAt);
  t.is(manifest.jobs.length, 12);
});

test.serial('SIGKILL in the middle of a run: rerunning completes with results identical to an uninterrupted run', async (t) => {
  const dir = tmp('vicinal-kill-');
  const cfg = writeConfig(dir, study());
  const reference = run([cfg, '--out', path.join(dir, 'ref'), '--workers', '1']);
  t.is(reference.status, 0, reference.stderr);
  const out = path.join(dir, 'killed');
  const child = spawn(process.execPath, [CLI, 'run', cfg, '--out', out, '--workers', '1', '--quiet', '--no-cache'], { stdio: 'ignore' });
  const resultsDir = path.join(out, 'results');
  const finished = () => (fs.existsSync(resultsDir) ? fs.readdirSync(resultsDir).filter((f) => f.endsWith('.json')).length : 0);
  const deadline = Date.now() + 120_000;
  while (finished() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const before = finished();
  t.true(before >= 3 && before < 12, `killed after ${before} of 12 results`);
  const resumed = run([cfg, '--out', out, '--workers', '2']);
  t.is(resumed.status, 0, resumed.stderr);
  t.regex(resumed.stdout, new RegExp(`12/12 jobs ok, ${before} reused`));
  // No temporary or half-written files survive; every result equals the uninterrupted run's.
  const files = fs.readdirSync(resultsDir);
  t.true(
    files.every((f) => f.endsWith('.json')),
    files.join(','),
  );
  const ref = results(path.join(dir, 'ref'));
  const got = results(out);
  t.is(got.size, ref.size);
  for (const [k, v] of ref) t.deepEqual(got.get(k), v, k);
});

test.serial('a diverging job is recorded, the others finish, the run exits 1 with a summary', (t) => {
  const dir = tmp('vicinal-div-');
  const cfg = study({
    seeds: [0],
    experiments: [
      {
        dataset: { name: 'moons', nTrain: 200, nTest: 100 },
        models: [{ arch: 'mlp', hidden: [32, 32] }],
        train: { optimizer: 'sgd', learningRate: 1e6, batchSize: 32, epochs: 5 },
        eval: { eps: [0.1], nExamples: 40, probePoints: 20 },
      },
      {
        dataset: { name: 'moons', nTrain: 200, nTest: 100, seed: 1 },
        models: [{ arch: 'mlp', hidden: [8] }],
        train: { learningRate: 0.01, batchSize: 32, epochs: 2 },
        eval: { eps: [0.1], nExamples: 40, probePoints: 20 },
      },
    ],
  });
  const out = path.join(dir, 'run');
  const r = run([writeConfig(dir, cfg), '--out', out, '--workers', '2']);
  t.is(r.status, 1);
  t.regex(r.stderr, /did not succeed/);
  t.regex(r.stderr, /diverged: training diverged in epoch \d+/);
  t.regex(r.stderr, /eval: failed: not run: .* diverged/);
  const all = [...results(out).values()] as { kind: string; status: string; cleanAccuracy: number | null }[];
  t.is(all.length, 8);
  t.is(all.filter((x) => x.status === 'ok').length, 4, 'the healthy experiment finished');
  for (const x of all.filter((y) => y.kind === 'train' && y.status === 'diverged')) t.is(x.cleanAccuracy, null, 'no numbers for a diverged run');
});

test.serial('bad input: unknown scheme or attack, missing run folder: exit 2, one line, nothing written', (t) => {
  const dir = tmp('vicinal-bad-');
  for (const [cfg, pattern] of [
    [study({ schemes: [{ name: 'cutmix' }] }), /unknown scheme "cutmix"/],
    [study({ attacks: [{ name: 'cw' }] }), /unknown attack "cw"/],
    [study({ schemes: [{ name: 'mixup', params: { alpha: 0 } }] }), /alpha/],
  ] as const) {
    const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
    const r = run([writeConfig(dir, cfg), '--out', out]);
    t.is(r.status, 2, r.stderr);
    t.regex(r.stderr, pattern);
    t.is(r.stderr.trim().split('\n').length, 1);
    t.false(fs.existsSync(out));
  }
  const r = spawnSync(process.execPath, [CLI, 'run', '--resume', path.join(dir, 'nope')], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.regex(r.stderr, /run folder not found/);
});

test.serial('the model cache serves trained models to a new run of the same code, never across commits', (t) => {
  const dir = tmp('vicinal-cache-');
  const cache = path.join(dir, 'cache');
  const cfg = writeConfig(dir, study({ seeds: [0], schemes: [{ name: 'erm' }] }));
  t.is(run([cfg, '--out', path.join(dir, 'a')], cache).status, 0);
  const trainFile = fs.readdirSync(path.join(cache, 'results'))[0];
  const cachedPath = path.join(cache, 'results', trainFile);
  // Mark the cached result so that reuse is visible.
  const cached = JSON.parse(fs.readFileSync(cachedPath, 'utf8'));
  fs.writeFileSync(cachedPath, JSON.stringify({ ...cached, wallSeconds: 12345 }));
  t.is(run([cfg, '--out', path.join(dir, 'b')], cache).status, 0);
  const reused = JSON.parse(fs.readFileSync(path.join(dir, 'b', 'results', trainFile), 'utf8'));
  t.is(reused.wallSeconds, 12345, 'served from the cache');
  t.true(fs.existsSync(path.join(dir, 'b', 'models', trainFile.replace('.json', ''), 'model.json')));
  // The same entry claimed by another commit is not reused.
  fs.writeFileSync(cachedPath, JSON.stringify({ ...cached, wallSeconds: 12345, env: { ...cached.env, gitCommit: 'another-commit' } }));
  t.is(run([cfg, '--out', path.join(dir, 'c')], cache).status, 0);
  const retrained = JSON.parse(fs.readFileSync(path.join(dir, 'c', 'results', trainFile), 'utf8'));
  t.not(retrained.wallSeconds, 12345, 'retrained');
  t.deepEqual(normalise(retrained), normalise(cached), 'and got the same model');
});
