/**
 * A real scheduler: this test starts a single-node Slurm (munged with its own
 * key and socket, slurmctld and slurmd with proctrack/linuxproc and task/none,
 * every state, spool and log file in a temporary folder), submits a tiny study
 * with the recipe users copy (deploy/slurm/submit.sh: a job array of 3 shards
 * and a merge job with --dependency=afterok), waits for both, and checks the
 * merged report against a single-machine run. Every daemon and job process it
 * started is killed in test.after.always, also when the test fails.
 */
import test from 'ava';
import { spawnSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { needsSystemPackage, REPO_ROOT } from '../system-deps';
import { cliAsync, manifest, perExample, results, summaryWithoutRunFields, tinyStudy, tmp, writeConfig } from './scale-out-helpers';

const slurm = needsSystemPackage('slurm-wlm', __filename);
const munge = needsSystemPackage('munge', __filename);
/** Registers the test through the first missing package's gate (skip, or fail under CI=true). */
const gate = slurm.present ? munge : slurm;

const SUBMIT = path.join(REPO_ROOT, 'deploy', 'slurm', 'submit.sh');
/** The daemons, next to the files that show their packages are installed (sbin may be missing from PATH). */
const SBIN = { munged: munge.file, slurmctld: slurm.file, slurmd: path.join(path.dirname(slurm.file), 'slurmd') };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function shortHostname(): string {
  const r = spawnSync('hostname', ['-s'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : os.hostname().split('.')[0];
}

/** A single-node Slurm in `dir`. */
class Cluster {
  readonly conf: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly pidFiles: string[];

  constructor(readonly dir: string) {
    this.conf = path.join(dir, 'slurm.conf');
    this.env = { ...process.env, SLURM_CONF: this.conf };
    this.pidFiles = ['slurmd.pid', 'slurmctld.pid', 'munge/munged.pid'].map((f) => path.join(dir, f));
  }

  /** Runs a daemon or client command; throws with its output when it fails. */
  sh(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: this.env, cwd: this.dir });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.error ?? ''}\n${this.logs()}`);
    return r.stdout;
  }

  logs(): string {
    const dir = path.join(this.dir, 'log');
    if (!fs.existsSync(dir)) return '';
    return fs
      .readdirSync(dir)
      .map((f) => `--- ${f}\n${fs.readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`)
      .join('\n');
  }

  async start(): Promise<void> {
    const d = this.dir;
    for (const sub of ['state', 'spool', 'log', 'munge', 'munge-key']) fs.mkdirSync(path.join(d, sub), { recursive: true });
    fs.chmodSync(path.join(d, 'munge'), 0o755);
    fs.chmodSync(path.join(d, 'munge-key'), 0o700);
    const key = path.join(d, 'munge-key', 'munge.key');
    fs.writeFileSync(key, randomBytes(1024), { mode: 0o600 });
    const socket = path.join(d, 'munge', 'munge.socket.2');
    // -f: munged refuses to run as root otherwise; it forks into the background and writes its pid file.
    this.sh(SBIN.munged, [
      '-f',
      `--socket=${socket}`,
      `--key-file=${key}`,
      `--pid-file=${path.join(d, 'munge', 'munged.pid')}`,
      `--seed-file=${path.join(d, 'munge', 'munged.seed')}`,
      `--log-file=${path.join(d, 'log', 'munged.log')}`,
    ]);
    const host = shortHostname();
    const user = os.userInfo().username;
    const [ctldPort, dPort] = [await freePort(), await freePort()];
    fs.writeFileSync(
      this.conf,
      [
        'ClusterName=vicinaltest',
        `SlurmctldHost=${host}`,
        `SlurmUser=${user}`,
        `SlurmdUser=${user}`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${dPort}`,
        'AuthType=auth/munge',
        `AuthInfo=socket=${socket}`,
        'CredType=cred/munge',
        `StateSaveLocation=${path.join(d, 'state')}`,
        `SlurmdSpoolDir=${path.join(d, 'spool')}`,
        `SlurmctldPidFile=${path.join(d, 'slurmctld.pid')}`,
        `SlurmdPidFile=${path.join(d, 'slurmd.pid')}`,
        `SlurmctldLogFile=${path.join(d, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${path.join(d, 'log', 'slurmd.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SchedulerType=sched/backfill',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        'ReturnToService=2',
        'MpiDefault=none',
        'JobCompType=jobcomp/none',
        'AccountingStorageType=accounting_storage/none',
        'JobAcctGatherType=jobacct_gather/none',
        // Keep finished jobs visible to scontrol long enough to read their state.
        'MinJobAge=600',
        `NodeName=${host} CPUs=${Math.max(1, os.cpus().length)} State=UNKNOWN`,
        `PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    );
    this.sh(SBIN.slurmctld, ['-c', '-f', this.conf]);
    this.sh(SBIN.slurmd, ['-f', this.conf]);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = spawnSync('sinfo', ['-h', '-o', '%t'], { encoding: 'utf8', env: this.env });
      if (r.status === 0 && /^idle/m.test(r.stdout)) return;
      if (Date.now() > deadline) throw new Error(`the node did not become idle: ${r.stdout}${r.stderr}\n${this.logs()}`);
      await sleep(500);
    }
  }

  /** Job state from scontrol, e.g. COMPLETED, FAILED, CANCELLED, RUNNING. */
  state(jobId: string): string {
    const r = spawnSync('scontrol', ['show', 'job', jobId], { encoding: 'utf8', env: this.env });
    const states = [...r.stdout.matchAll(/JobState=(\S+)/g)].map((m) => m[1]);
    return states.length ? [...new Set(states)].join(',') : 'UNKNOWN';
  }

  /** Processes of this cluster: its daemons and whatever they started carry SLURM_CONF=<our conf> in their environment. */
  private processes(): number[] {
    const mark = `SLURM_CONF=${this.conf}`;
    const out: number[] = [];
    for (const p of fs.readdirSync('/proc')) {
      const pid = Number(p);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      try {
        if (fs.readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(mark)) out.push(pid);
      } catch {
        // gone, or not ours to read
      }
    }
    return out;
  }

  /** Cancels every job, then stops slurmd, slurmctld and munged (TERM, then KILL) and any process they left. */
  async stop(): Promise<void> {
    spawnSync('scancel', ['--full', '--partition=test'], { env: this.env, timeout: 10_000 });
    const pids = new Set<number>();
    for (const f of this.pidFiles) {
      const pid = fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8').trim()) : NaN;
      if (Number.isInteger(pid) && pid > 0) pids.add(pid);
    }
    for (const pid of this.processes()) pids.add(pid);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while ([...pids].some(alive) && Date.now() < deadline) await sleep(100);
    for (const pid of [...pids, ...this.processes()]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }

  /** Pids of this cluster still running (for the test's own check that stop() worked). */
  leftovers(): number[] {
    return this.processes();
  }
}

let cluster: Cluster | null = null;
test.after.always(async () => {
  if (cluster) await cluster.stop();
});

gate.serial('Slurm: a job array of 3 shards and an afterok merge job give the report of a single-machine run', async (t) => {
  const dir = tmp('vicinal-slurm-');
  cluster = new Cluster(path.join(dir, 'slurm'));
  await cluster.start();
  const cfg = writeConfig(dir, tinyStudy());
  const out = path.join(dir, 'study');
  const single = path.join(dir, 'single');

  const sub = spawnSync('bash', [SUBMIT, cfg, '3', out], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...cluster.env, CPUS: '1', TIME: '00:15:00', NODE: process.execPath },
  });
  t.is(sub.status, 0, sub.stderr);
  const ids = sub.stdout.trim().split(/\s+/);
  t.is(ids.length, 2, sub.stdout);
  const [arrayId, mergeId] = ids;
  t.regex(cluster.sh('scontrol', ['show', 'job', mergeId]), new RegExp(`Dependency=afterok:${arrayId}`));

  // The reference run meanwhile (one core), outside Slurm.
  const ref = await cliAsync(['run', cfg, '--out', single, '--workers', '1', '--quiet', '--no-cache']);
  t.is(ref.status, 0, ref.stderr);

  // Wait for the merge job (it starts only after every array task succeeded).
  const deadline = Date.now() + 300_000;
  let state = cluster.state(mergeId);
  while (!/COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|UNKNOWN/.test(state) && Date.now() < deadline) {
    await sleep(1000);
    state = cluster.state(mergeId);
  }
  const logs = path.join(out, 'logs');
  const showLogs = () =>
    fs.existsSync(logs)
      ? fs
          .readdirSync(logs)
          .map((f) => `--- ${f}\n${fs.readFileSync(path.join(logs, f), 'utf8')}`)
          .join('\n')
      : '(no logs)';
  t.is(state, 'COMPLETED', `merge job ${mergeId}: ${state}; array ${arrayId}: ${cluster.state(arrayId)}\n${showLogs()}\n${cluster.logs()}`);
  t.is(cluster.state(arrayId), 'COMPLETED');

  // Each task ran its shard, logging a line per finished job (a Slurm output file is not a TTY).
  for (const i of [1, 2, 3]) {
    const log = fs.readFileSync(path.join(logs, `shard-${i}.out`), 'utf8');
    const m = manifest(path.join(out, `shard-${i}`));
    t.deepEqual([m.shard!.index, m.shard!.count], [i, 3]);
    const n = m.shard!.jobIds.length;
    t.true(n >= 2, `shard ${i}: ${n} jobs`);
    t.regex(log, new RegExp(`^\\[${n}/${n}\\] moons/mlp-8/.*: ok in .* ETA 0s$`, 'm'), log);
    t.regex(log, new RegExp(`shard ${i}/3: run folder .* \\(${n}/${n} jobs ok`), log);
  }
  t.regex(fs.readFileSync(path.join(logs, 'merge.out'), 'utf8'), /merged 3 folder\(s\) into .*: 8\/8 jobs/);

  // The merged run is the single-machine run.
  const merged = path.join(out, 'merged');
  t.deepEqual(manifest(merged).jobs, manifest(single).jobs);
  t.truthy(manifest(merged).endedAt);
  t.deepEqual(results(merged), results(single));
  t.deepEqual(perExample(merged), perExample(single));
  t.deepEqual(summaryWithoutRunFields(merged), summaryWithoutRunFields(single));

  await cluster.stop();
  t.deepEqual(cluster.leftovers(), [], 'every daemon and job process is gone');
  cluster = null;
  // Kept for inspection when anything above failed; removed (munge key included) when all passed.
  fs.rmSync(dir, { recursive: true, force: true });
});
