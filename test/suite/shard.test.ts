/**
 * Scale-out (issue 13): `vicinal run --shard I/N`, `vicinal merge`, the cost
 * model and assignment, the run-folder lock, and progress off a TTY.
 */
import test from 'ava';
import { spawn, spawnSync } from 'child_process';
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { UsageError } from '../../contract/errors';
import { EvalJobResult, PlannedJob, TrainJobResult } from '../../contract/results';
import { adversarialFile, LOCK_FILE, ScaleOutManifest } from '../../contract/run-folder';
import { loadStudy } from '../../suite/config';
import { mergeRuns } from '../../suite/merge';
import { planStudy } from '../../suite/plan';
import { Progress } from '../../suite/progress';
import { acquireRunLock, readLock } from '../../suite/run-lock';
import { assignShards, CostModel, estimateCosts, measuredCosts, parseShard, planHash } from '../../suite/shard';
import { cli, cliAsync, errorLines, manifest, perExample, results, summaryWithoutRunFields, tinyStudy, tmp, writeConfig } from './scale-out-helpers';

// ---------------------------------------------------------------------------
// Pure parts

test('--shard parses I/N with 1 <= I <= N and refuses everything else naming what is allowed', (t) => {
  t.deepEqual(parseShard('1/3'), { index: 1, count: 3 });
  t.deepEqual(parseShard('3/3'), { index: 3, count: 3 });
  t.deepEqual(parseShard(' 2 / 5 '), { index: 2, count: 5 });
  for (const [bad, why] of [
    ['0/3', /shard index 0 is outside 1\.\.3/],
    ['4/3', /shard index 4 is outside 1\.\.3/],
    ['abc', /must be I\/N, got "abc"/],
    ['1/0', /shard count N must be >= 1/],
    ['1/3/2', /must be I\/N/],
    ['-1/3', /must be I\/N/],
    ['1.5/3', /must be I\/N/],
  ] as const) {
    const e = t.throws(() => parseShard(bad), { instanceOf: UsageError }, bad);
    t.regex(e?.message ?? '', why, bad);
    t.regex(e?.message ?? '', /allowed: I\/N with integers 1 <= I <= N/, bad);
  }
});

test('the plan hash is the SHA-256 of the sorted job ids: order does not matter, one id does', (t) => {
  const jobs = [{ id: 'b' }, { id: 'a' }, { id: 'c' }];
  t.regex(planHash(jobs), /^[0-9a-f]{64}$/);
  t.is(planHash(jobs), planHash([...jobs].reverse()));
  t.not(planHash(jobs), planHash([{ id: 'a' }, { id: 'b' }, { id: 'd' }]));
});

/** A synthetic plan: `units` eval jobs, each with its own train job; with transfer, evals of seed s also need unit s's model. */
function syntheticPlan(costs: number[], transferGroups: number): { jobs: PlannedJob[]; cost: CostModel } {
  const jobs: PlannedJob[] = [];
  const seconds = new Map<string, number>();
  costs.forEach((c, i) => {
    const train = `t${i}`;
    const source = transferGroups > 0 ? `t${i % transferGroups}` : null;
    jobs.push({ id: train, kind: 'train', label: train, group: 'g', schemeLabel: `s${i}`, seed: i, dependsOn: [], spec: { seed: i } });
    seconds.set(train, c / 3);
    const deps = source && source !== train ? [train, source] : [train];
    jobs.push({ id: `e${i}`, kind: 'eval', label: `e${i}`, group: 'g', schemeLabel: `s${i}`, seed: i, trainJobId: train, dependsOn: deps, spec: { seed: i } });
    seconds.set(`e${i}`, c);
  });
  return { jobs, cost: { seconds, source: 'test' } };
}

test('assignment: every eval job exactly once, its train jobs on the same shard, within the LPT bound, deterministic', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 4 }), (costs, n, groups) => {
        const { jobs, cost } = syntheticPlan(costs, groups);
        const a = assignShards(jobs, n, cost);
        const c = (id: string) => cost.seconds.get(id) as number;
        if (a.shards.length !== n) return false;
        const evalsSeen = new Map<string, number>();
        for (const s of a.shards) {
          const set = new Set(s.jobIds);
          if (Math.abs(s.predictedSeconds - s.jobIds.reduce((x, id) => x + c(id), 0)) > 1e-6) return false;
          for (const id of s.jobIds) {
            const j = jobs.find((x) => x.id === id) as PlannedJob;
            if (j.kind === 'eval') {
              evalsSeen.set(id, (evalsSeen.get(id) ?? 0) + 1);
              if (!j.dependsOn.every((d) => set.has(d))) return false;
            }
          }
        }
        if (jobs.some((j) => j.kind === 'eval' && evalsSeen.get(j.id) !== 1)) return false;
        // Every job runs somewhere; without shared train jobs no job runs twice.
        const all = a.shards.flatMap((s) => s.jobIds);
        if (new Set(all).size !== jobs.length) return false;
        if (groups === 0 && all.length !== jobs.length) return false;
        // Greedy list scheduling bound: max <= (sum of unit costs) / n + the largest unit.
        const units = jobs.filter((j) => j.kind === 'eval').map((j) => [...new Set([...j.dependsOn, j.id])].reduce((x, id) => x + c(id), 0));
        const bound = units.reduce((x, y) => x + y, 0) / n + Math.max(...units);
        if (Math.max(...a.shards.map((s) => s.predictedSeconds)) > bound + 1e-6) return false;
        return assignShards(jobs, n, cost).hash === a.hash;
      }),
      { numRuns: 300 },
    ),
  );
});

test('the shipped profiles split into shards whose predicted times are within 15% of each other', (t) => {
  for (const profile of ['quick', 'nightly'] as const) {
    const jobs = planStudy(loadStudy(profile).config, 'wasm');
    const cost = estimateCosts(jobs);
    for (const n of [2, 3, 4]) {
      const p = assignShards(jobs, n, cost).shards.map((s) => s.predictedSeconds);
      t.true(Math.max(...p) / Math.min(...p) <= 1.15, `${profile} in ${n}: ${p.map((x) => x.toFixed(0)).join(', ')}`);
    }
    // Every estimate is a positive finite number of seconds, and a CNN costs more than the MLP on the same data.
    t.true([...cost.seconds.values()].every((s) => Number.isFinite(s) && s > 0));
  }
  const nightly = planStudy(loadStudy('nightly').config, 'wasm');
  const est = estimateCosts(nightly).seconds;
  const trainOf = (g: string) => nightly.find((j) => j.kind === 'train' && j.group.startsWith(g) && j.schemeLabel === 'erm' && j.seed === 0) as PlannedJob;
  t.true((est.get(trainOf('mnist/cnn').id) as number) > (est.get(trainOf('mnist/mlp').id) as number));
});

test('--weights RUN: measured wallSeconds for the jobs it ran, the estimate scaled by measured/estimated for the others', (t) => {
  const dir = tmp('vicinal-weights-');
  const jobs = planStudy(loadStudy('quick').config, 'wasm');
  const est = estimateCosts(jobs).seconds;
  const ran = [jobs[0], jobs.find((j) => j.kind === 'eval') as PlannedJob];
  const measured = [12, 40];
  fs.mkdirSync(path.join(dir, 'results'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ jobs, config: {}, source: 'x', startedAt: '', endedAt: null, wallSeconds: null, workers: 1 }));
  ran.forEach((j, i) => fs.writeFileSync(path.join(dir, 'results', `${j.id}.json`), JSON.stringify({ kind: j.kind, jobId: j.id, status: 'ok', wallSeconds: measured[i] })));
  const m = measuredCosts(jobs, dir);
  t.is(m.seconds.get(ran[0].id), 12);
  t.is(m.seconds.get(ran[1].id), 40);
  // A train job of the other experiment (MNIST: another estimate) scales by the train jobs' measured / estimated.
  const otherTrain = jobs.find((j) => j.kind === 'train' && j.group !== ran[0].group) as PlannedJob;
  const expected = ((est.get(otherTrain.id) as number) * 12) / (est.get(ran[0].id) as number);
  t.true(Math.abs((m.seconds.get(otherTrain.id) as number) - expected) < 1e-9 * expected, `${m.seconds.get(otherTrain.id)} vs ${expected}`);
  t.true(expected > 12, 'the MNIST model is estimated dearer than the two-moons one');
  t.regex(m.source, new RegExp(`measured in .* \\(2 of ${jobs.length} jobs\\)`));
  // A folder sharing no job with the plan says nothing about it.
  const other = tmp('vicinal-weights-other-');
  fs.mkdirSync(path.join(other, 'results'));
  fs.writeFileSync(path.join(other, 'manifest.json'), JSON.stringify({ jobs: [], config: {}, source: 'x' }));
  t.throws(() => measuredCosts(jobs, other), { instanceOf: UsageError, message: /none of its 0 results is a job of this plan/ });
});

/** A non-TTY stream that records what is written. */
function sink(tty = false): Writable & { text: string; isTTY?: boolean } {
  const w = new Writable({
    write(chunk, _enc, cb) {
      w.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string; isTTY?: boolean };
  w.text = '';
  if (tty) w.isTTY = true;
  return w;
}

test('progress off a TTY: one line per finished job with counts and an ETA; nothing when quiet; no plain lines on a TTY', (t) => {
  const s = sink();
  const p = new Progress(false, s);
  p.update(0, 4, ['a']);
  t.is(s.text, '', 'no redrawn block off a TTY');
  p.jobDone({ done: 1, total: 4, label: 'moons/mlp/erm/seed0', status: 'ok', seconds: 1.25, running: 1, fraction: 0.25 });
  p.jobDone({ done: 2, total: 4, label: 'moons/mlp/erm/seed0/eval', status: 'failed', seconds: 3, running: 0, fraction: 0.5 });
  p.message('moons/mlp/erm/seed0/eval: failed: boom');
  p.jobDone({ done: 4, total: 4, label: 'x', status: 'ok', seconds: 0.5, running: 0 });
  const lines = s.text.trimEnd().split('\n');
  t.is(lines.length, 4);
  t.regex(lines[0], /^\[1\/4\] moons\/mlp\/erm\/seed0: ok in 1\.3s; 1 running; \d+s elapsed, ETA \d+s$/);
  t.regex(lines[1], /^\[2\/4\] moons\/mlp\/erm\/seed0\/eval: failed in 3\.0s; 0 running; /);
  t.is(lines[2], 'moons/mlp/erm/seed0/eval: failed: boom');
  t.regex(lines[3], /^\[4\/4\] x: ok .* ETA 0s$/);
  const quiet = sink();
  const q = new Progress(true, quiet);
  q.jobDone({ done: 1, total: 1, label: 'x', status: 'ok', seconds: 1, running: 0 });
  q.message('m');
  t.is(quiet.text, '');
  const tty = sink(true);
  new Progress(false, tty).jobDone({ done: 1, total: 2, label: 'x', status: 'ok', seconds: 1, running: 0 });
  t.is(tty.text, '', 'on a TTY the redrawn block shows progress');
});

test('the run lock records pid and host, refuses a live owner, takes over a stale one, and is removed on release', (t) => {
  const dir = tmp('vicinal-lock-');
  const a = acquireRunLock(dir, 'run test');
  t.is(a.tookOver, null);
  const owner = readLock(dir);
  t.is(owner?.pid, process.pid);
  t.is(owner?.host, os.hostname());
  a.release();
  t.false(fs.existsSync(path.join(dir, LOCK_FILE)));
  // A live process on this host (a sleeping child) owns it: refused.
  const sleeper = spawn('sleep', ['30']);
  try {
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: sleeper.pid, host: os.hostname(), startedAt: 'then', command: 'run' }));
    t.throws(() => acquireRunLock(dir, 'run test'), { instanceOf: UsageError, message: new RegExp(`in use by vicinal pid ${sleeper.pid} on host ${os.hostname()}`) });
    t.is(readLock(dir)?.pid, sleeper.pid, 'the owner keeps its lock');
  } finally {
    sleeper.kill('SIGKILL');
  }
  // Another host cannot be checked from here: refused, saying how to remove it.
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: 'then', command: 'run' }));
  t.throws(() => acquireRunLock(dir, 'run test'), { instanceOf: UsageError, message: /on host elsewhere .*if that run is dead, delete .*run\.lock/ });
  // A pid that no longer exists on this host: stale, taken over.
  const gone = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  const deadPid = Number(gone.stdout.trim());
  fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: os.hostname(), startedAt: 'then', command: 'run' }));
  const b = acquireRunLock(dir, 'run test');
  t.regex(b.tookOver ?? '', new RegExp(`stale lock .*pid ${deadPid} no longer exists`));
  t.is(readLock(dir)?.pid, process.pid);
  b.release();
  t.deepEqual(fs.readdirSync(dir), [], 'no lock or temporary file left');
});

// ---------------------------------------------------------------------------
// End to end: 2 shards run at once and merged equal one single-machine run.

const work = tmp('vicinal-shards-');
// Keeping adversarial examples, so the merge must carry adv/<evalJobId>.npz along.
const withAdv = tinyStudy();
(withAdv.experiments[0].eval as Record<string, unknown>).saveAdversarial = 5;
const cfg = writeConfig(work, withAdv);
const single = path.join(work, 'single');
const shard = (i: number) => path.join(work, `shard-${i}`);
const merged = path.join(work, 'merged');
let ready: Promise<void> | null = null;

/** The single run and the two shards (at once), computed once for the tests below. */
function runsDone(): Promise<void> {
  ready ??= (async () => {
    const [s, a, b] = await Promise.all([
      cliAsync(['run', cfg, '--out', single, '--workers', '1', '--quiet', '--no-cache']),
      cliAsync(['run', cfg, '--shard', '1/2', '--out', shard(1), '--workers', '1']),
      cliAsync(['run', cfg, '--shard', '2/2', '--out', shard(2), '--workers', '1']),
    ]);
    for (const [name, r] of [
      ['single', s],
      ['shard 1/2', a],
      ['shard 2/2', b],
    ] as const) {
      if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}`);
    }
    shardOutput.push(a, b);
  })();
  return ready;
}
const shardOutput: { stdout: string; stderr: string }[] = [];

test.serial('two shards run side by side, each its share, and log one line per finished job off a TTY', async (t) => {
  await runsDone();
  const whole = manifest(single);
  const [m1, m2] = [manifest(shard(1)), manifest(shard(2))];
  t.regex(whole.planHash ?? '', /^[0-9a-f]{64}$/);
  t.is(whole.planHash, planHash(whole.jobs));
  for (const m of [m1, m2]) {
    t.is(m.planHash, whole.planHash, 'every shard computes the same plan');
    t.deepEqual(
      m.jobs.map((j: PlannedJob) => j.id),
      whole.jobs.map((j: PlannedJob) => j.id),
      'the manifest lists the whole plan',
    );
    t.truthy(m.endedAt);
    t.is(m.shard!.count, 2);
    t.is(m.shard!.assignmentHash, m1.shard!.assignmentHash);
  }
  // No transfer: the shares are disjoint, cover the plan, and each holds whole units.
  const ids1: string[] = m1.shard!.jobIds;
  const ids2: string[] = m2.shard!.jobIds;
  t.deepEqual([...ids1, ...ids2].sort(), whole.jobs.map((j: PlannedJob) => j.id).sort());
  t.is(ids1.length, 4);
  t.is(ids2.length, 4);
  t.deepEqual(fs.readdirSync(path.join(shard(1), 'results')).sort(), ids1.map((id) => `${id}.json`).sort(), 'a shard runs only its share');
  for (const j of whole.jobs as PlannedJob[]) {
    if (j.kind === 'eval') t.is(ids1.includes(j.id), ids1.includes(j.trainJobId as string), `${j.label} sits with its model`);
  }
  for (const [i, r] of shardOutput.entries()) {
    const lines = r.stderr.split('\n').filter((l) => /^\[\d\/4\] /.test(l));
    t.is(lines.length, 4, r.stderr);
    t.regex(lines[0], /^\[1\/4\] moons\/mlp-8\/\S+: ok in \d+\.\ds; \d running; \d+s elapsed, ETA \d+s$/);
    t.regex(lines[3], /^\[4\/4\] .* ETA 0s$/);
    t.regex(r.stdout, new RegExp(`shard ${i + 1}/2: run folder .* \\(4/4 jobs ok, 0 reused`));
    t.false(fs.existsSync(path.join(shard(i + 1), LOCK_FILE)), 'the lock is released');
  }
});

test.serial('merge: the merged folder equals a single-machine run (ids, per-example outcomes, JSON summary); compare and history read it', async (t) => {
  await runsDone();
  const r = cli(['merge', shard(2), shard(1), '--out', merged, '--quiet']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /merged 2 folder\(s\) into .*: 8\/8 jobs, 0 identical duplicate/);
  const m = manifest(merged);
  const s = manifest(single);
  t.deepEqual(m.jobs, s.jobs, 'the whole plan, in plan order');
  t.is(m.planHash, s.planHash);
  t.truthy(m.endedAt);
  t.is(m.wallSeconds, Math.max(manifest(shard(1)).wallSeconds ?? NaN, manifest(shard(2)).wallSeconds ?? NaN));
  t.deepEqual(
    m.merge!.shards.map((x) => x.shard?.index),
    [1, 2],
  );
  t.false('shard' in m, 'the merged run is a whole run');
  t.deepEqual([...results(merged).keys()], [...results(single).keys()], 'the same job ids');
  t.deepEqual(results(merged), results(single), 'the same results up to timing');
  t.deepEqual(perExample(merged), perExample(single), 'the same per-example outcomes');
  t.deepEqual(summaryWithoutRunFields(merged), summaryWithoutRunFields(single), 'the same JSON summary');
  for (const id of (s.jobs as PlannedJob[]).filter((j) => j.kind === 'train').map((j) => j.id)) {
    t.deepEqual(fs.readFileSync(path.join(merged, 'models', id, 'weights.bin')), fs.readFileSync(path.join(single, 'models', id, 'weights.bin')), id);
  }
  const evalIds = (s.jobs as PlannedJob[]).filter((j) => j.kind === 'eval').map((j) => j.id);
  t.deepEqual(fs.readdirSync(path.join(merged, 'adv')).sort(), evalIds.map((id) => `${id}.npz`).sort(), 'every kept adversarial-examples file');
  for (const id of evalIds) t.deepEqual(fs.readFileSync(adversarialFile(merged, id)), fs.readFileSync(adversarialFile(single, id)), id);
  // `report` reads it (exit 0, writes the files), `compare` finds nothing changed, `history` lists both.
  const rep = cli(['report', merged, '--format', 'json', '--out', path.join(work, 'rep')]);
  t.is(rep.status, 0, rep.stderr);
  t.deepEqual(JSON.parse(fs.readFileSync(path.join(work, 'rep', 'report.json'), 'utf8')).groups, JSON.parse(fs.readFileSync(path.join(merged, 'report', 'report.json'), 'utf8')).groups);
  const cmp = cli(['compare', single, merged, '--thresholds', 'wallTimeIncrease=1000']);
  t.is(cmp.status, 0, cmp.stdout + cmp.stderr);
  t.regex(cmp.stdout, /## No regressions/);
  const hist = cli(['report', '--history', work, '--out', path.join(work, 'hist')]);
  t.is(hist.status, 0, hist.stderr);
  t.regex(hist.stdout, /merged/);
  t.regex(hist.stdout, /single/);
});

/** A copy of a folder to tamper with. */
function copy(from: string, name: string): string {
  const to = path.join(work, name);
  fs.cpSync(from, to, { recursive: true });
  return to;
}

/** Edits a JSON file in place; T is the part of its shape the edit touches. */
function editJson<T>(file: string, edit: (v: T) => void): void {
  const v = JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  edit(v);
  fs.writeFileSync(file, JSON.stringify(v));
}

/** A refused merge: exit 2, one line naming the problem, nothing written. */
function refused(t: import('ava').ExecutionContext, args: string[], why: RegExp): void {
  const out = path.join(work, `refused-${Math.random().toString(36).slice(2)}`);
  const r = cli(['merge', ...args, '--out', out]);
  t.is(r.status, 2, r.stdout + r.stderr);
  const lines = errorLines(r);
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0], /^vicinal: /);
  t.regex(lines[0], why);
  t.false(fs.existsSync(out), 'nothing written');
  t.deepEqual(
    fs.readdirSync(work).filter((f) => f.includes('.merge-')),
    [],
    'no temporary folder left',
  );
}

/** The same refusal in-process (mergeRuns is what the command calls): a UsageError, nothing written. */
function refusedHere(t: import('ava').ExecutionContext, dirs: string[], why: RegExp): void {
  const out = path.join(work, `refused-${Math.random().toString(36).slice(2)}`);
  const e = t.throws(() => mergeRuns(dirs, out), { instanceOf: UsageError });
  t.regex(e?.message ?? '', why);
  t.false((e?.message ?? '').includes('\n'), 'one line');
  t.false(fs.existsSync(out), 'nothing written');
  t.deepEqual(
    fs.readdirSync(work).filter((f) => f.includes('.merge-')),
    [],
    'no temporary folder left',
  );
}

test.serial('merge refuses shards of another plan, engine or commit, and differing duplicates, naming the job', async (t) => {
  await runsDone();
  // A real shard of another study (one seed: another plan).
  const otherCfg = writeConfig(work, tinyStudy({ seeds: [0] }), 'other.json');
  const other = path.join(work, 'other-2');
  const o = cli(['run', otherCfg, '--shard', '2/2', '--out', other, '--workers', '1', '--quiet']);
  t.is(o.status, 0, o.stderr);
  refused(t, [shard(1), other], /other-2 \(shard 2\/2\) ran plan [0-9a-f]{12} but .*shard-1 \(shard 1\/2\) ran plan [0-9a-f]{12}: different studies/);

  const engine = copy(shard(2), 'engine-2');
  editJson<ScaleOutManifest>(path.join(engine, 'manifest.json'), (m) => (m.env.backend.name = 'cpu'));
  refusedHere(t, [shard(1), engine], /ran on backend cpu but .* on wasm; allowed: shards of one engine/);

  const commit = copy(shard(2), 'commit-2');
  editJson<ScaleOutManifest>(path.join(commit, 'manifest.json'), (m) => (m.env.gitCommit = 'f00dfeed'));
  refusedHere(t, [shard(1), commit], /ran git commit f00dfeed but .* ran /);

  const split = copy(shard(2), 'split-2');
  editJson<ScaleOutManifest>(path.join(split, 'manifest.json'), (m) => (m.shard!.assignmentHash = '0'.repeat(64)));
  refusedHere(t, [shard(1), split], /split the plan differently/);

  // The same train job in two folders: different per-epoch losses are refused, naming the job.
  const m1 = manifest(shard(1));
  const train = (m1.jobs as PlannedJob[]).find((j) => j.kind === 'train' && m1.shard!.jobIds.includes(j.id)) as PlannedJob;
  const twin = copy(shard(1), 'twin-1');
  editJson<TrainJobResult>(path.join(twin, 'results', `${train.id}.json`), (r) => (r.history[1].loss += 1e-9));
  refusedHere(t, [shard(1), twin, shard(2)], new RegExp(`job ${train.label.replace(/[()]/g, '.')} \\(${train.id}\\) differs between .*: history\\[1\\]\\.loss`));

  // ... and so is a differing model file.
  const model = copy(shard(1), 'model-1');
  const bin = path.join(model, 'models', train.id, 'weights.bin');
  const bytes = fs.readFileSync(bin);
  bytes[0] ^= 1;
  fs.writeFileSync(bin, bytes);
  refusedHere(t, [shard(1), model, shard(2)], new RegExp(`the model of .* \\(${train.id}\\) differs .*weights\\.bin`));

  // Bad arguments.
  refusedHere(t, [shard(1), path.join(work, 'nope')], /run folder not found: .*nope/);
  refusedHere(t, [shard(1), shard(1)], /the same folder twice/);
  fs.mkdirSync(path.join(work, 'taken'));
  fs.writeFileSync(path.join(work, 'taken', 'x'), '');
  t.throws(() => mergeRuns([shard(1), shard(2)], path.join(work, 'taken')), { instanceOf: UsageError, message: /--out .*taken exists and is not empty/ });
  t.deepEqual(fs.readdirSync(path.join(work, 'taken')), ['x']);
  const noOut = cli(['merge', shard(1), shard(2)]);
  t.is(noOut.status, 2);
  t.regex(noOut.stderr, /merge needs --out RUN/);
  // A shard still running (its lock owned by a live process on this host).
  const busy = copy(shard(2), 'busy-2');
  const sleeper = spawn('sleep', ['30']);
  try {
    fs.writeFileSync(path.join(busy, LOCK_FILE), JSON.stringify({ pid: sleeper.pid, host: os.hostname(), startedAt: 'now', command: 'run' }));
    refusedHere(t, [shard(1), busy], new RegExp(`busy-2 is still in use by vicinal pid ${sleeper.pid}`));
  } finally {
    sleeper.kill('SIGKILL');
  }
});

test.serial('merge keeps identical duplicates once (timing and machine may differ) and marks an incomplete merge', async (t) => {
  await runsDone();
  const twin = copy(shard(1), 'same-1');
  for (const f of fs.readdirSync(path.join(twin, 'results'))) {
    editJson<TrainJobResult | EvalJobResult>(path.join(twin, 'results', f), (r) => {
      r.wallSeconds += 100;
      if (r.kind === 'train') for (const h of r.history) h.seconds += 1;
      r.env.cpus = 'another cpu';
      r.env.cores = 64;
    });
  }
  const out = path.join(work, 'merged-dup');
  const r = cli(['merge', shard(1), twin, shard(2), '--out', out, '--quiet']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /8\/8 jobs, 4 identical duplicate/);
  t.is(manifest(out).merge!.duplicates, 4);
  t.deepEqual(results(out), results(merged));

  // One shard only: written, but not finished (no endedAt), exit 1 naming the missing shard.
  const half = path.join(work, 'merged-half');
  const h = cli(['merge', shard(1), '--out', half, '--quiet']);
  t.is(h.status, 1);
  t.regex(h.stderr, /merged run is incomplete: 4 of 8 jobs have no result \(shard 2\/2 not given\)/);
  t.is(manifest(half).endedAt, null);
  t.is(manifest(half).wallSeconds, null);
});

test.serial('a killed shard resumes: its stale lock is taken over and only the missing job runs; mismatched reruns are refused', async (t) => {
  await runsDone();
  const again = copy(shard(1), 'resume-1');
  const m = manifest(again);
  const evalId = (m.jobs as PlannedJob[]).find((j) => j.kind === 'eval' && m.shard!.jobIds.includes(j.id))?.id as string;
  const before = results(shard(1));
  fs.rmSync(path.join(again, 'results', `${evalId}.json`));
  const gone = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  fs.writeFileSync(path.join(again, LOCK_FILE), JSON.stringify({ pid: Number(gone.stdout.trim()), host: os.hostname(), startedAt: 'then', command: 'run' }));
  const r = cli(['run', cfg, '--shard', '1/2', '--out', again, '--workers', '1']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, /taking over the stale lock of .*: pid \d+ no longer exists/);
  t.regex(r.stdout, /shard 1\/2: run folder .* \(4\/4 jobs ok, 3 reused/);
  t.deepEqual(results(again), before, 'the rerun job gives the same result');
  t.false(fs.existsSync(path.join(again, LOCK_FILE)));
  // --resume keeps the shard.
  const res = cli(['run', '--resume', again, '--quiet']);
  t.is(res.status, 0, res.stderr);
  t.regex(res.stdout, /shard 1\/2: .*4\/4 jobs ok, 4 reused/);

  for (const [args, why] of [
    [['--shard', '2/2', '--out', again], /holds shard 1\/2, not 2\/2; allowed: --shard 1\/2/],
    [['--out', again], /holds shard 1\/2 of a scaled-out run; allowed: add --shard 1\/2/],
    [['--shard', '1/2', '--out', single], /holds a whole run, not a shard/],
    [['--shard', '0/3', '--out', path.join(work, 'x0')], /shard index 0 is outside 1\.\.3/],
    [['--shard', '4/3', '--out', path.join(work, 'x4')], /shard index 4 is outside 1\.\.3/],
    [['--shard', 'abc', '--out', path.join(work, 'xa')], /--shard must be I\/N, got "abc"/],
    [['--weights', single, '--out', path.join(work, 'xw')], /--weights only applies with --shard/],
    [['--shard', '1/2', '--weights', path.join(work, 'nope'), '--out', path.join(work, 'xn')], /run folder not found/],
  ] as const) {
    const listing = fs.readdirSync(work).sort();
    const x = cli(['run', cfg, ...args, '--quiet']);
    t.is(x.status, 2, `${args.join(' ')}: ${x.stderr}`);
    t.is(errorLines(x).length, 1, x.stderr);
    t.regex(x.stderr, why);
    t.deepEqual(fs.readdirSync(work).sort(), listing, `${args.join(' ')} wrote nothing`);
  }
  // A live owner: the second run is refused.
  const sleeper = spawn('sleep', ['30']);
  try {
    fs.writeFileSync(path.join(again, LOCK_FILE), JSON.stringify({ pid: sleeper.pid, host: os.hostname(), startedAt: 'now', command: 'run' }));
    const busy = cli(['run', cfg, '--shard', '1/2', '--out', again, '--quiet']);
    t.is(busy.status, 2);
    t.is(errorLines(busy).length, 1, busy.stderr);
    t.regex(busy.stderr, new RegExp(`run folder .*resume-1 is in use by vicinal pid ${sleeper.pid} on host ${os.hostname()}`));
  } finally {
    sleeper.kill('SIGKILL');
  }
});

test.serial('--weights RUN balances by measured times, and --dry-run prints the share with its prediction', async (t) => {
  await runsDone();
  const r = cli(['run', cfg, '--shard', '2/2', '--weights', single, '--dry-run']);
  t.is(r.status, 0, r.stderr);
  const s = manifest(single);
  t.regex(r.stdout, new RegExp(`plan ${s.planHash!.slice(0, 16)}`));
  const head = /shard 2\/2: (\d+) jobs, predicted \d+\.\d s of 1-worker time \(every shard: [\d.]+, [\d.]+ s; costs: measured in .*single \(8 of 8 jobs\)\)/.exec(r.stdout);
  t.truthy(head, r.stdout);
  const listed = r.stdout.split('\n').filter((l) => /^ {2}[0-9a-f]{16} /.test(l));
  t.is(listed.length, Number(head?.[1]));
  // The predictions are the measured times summed.
  const pred = Number(/predicted (\d+\.\d) s/.exec(r.stdout)?.[1]);
  const wall = listed.map((l) => l.trim().split(/\s+/)[0]).reduce((a, id) => a + JSON.parse(fs.readFileSync(path.join(single, 'results', `${id}.json`), 'utf8')).wallSeconds, 0);
  t.true(Math.abs(pred - wall) <= 0.051, `${pred} vs ${wall}`);
  t.false(fs.existsSync(path.join(work, 'shard-2', 'run.lock')));
});
