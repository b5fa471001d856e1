/**
 * The recipes in deploy/ parse and agree with themselves: the YAML files are
 * read with the `yaml` package and their shell snippets are run with a
 * stand-in `node` that prints the vicinal command line it was given, so the
 * shard numbering (Kubernetes' 0-based JOB_COMPLETION_INDEX to vicinal's
 * 1-based --shard), the shard counts and the failure on regression are
 * checked as they would execute. The Slurm scripts run for real in slurm.test.ts.
 */
import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import YAML from 'yaml';
import { REPO_ROOT } from '../system-deps';
import { tmp } from './scale-out-helpers';
import { makeRun } from '../reports/fixture';
import { command as report } from '../../suite/commands/report';

const DEPLOY = path.join(REPO_ROOT, 'deploy');
// biome-ignore lint/suspicious/noExplicitAny: YAML documents of any shape, checked field by field below
const load = (rel: string): any => YAML.parse(fs.readFileSync(path.join(DEPLOY, rel), 'utf8'));

/** A folder with a stand-in `node` that prints its arguments (after the script path) and exits with $FAKE_NODE_RC. */
function fakeNode(): string {
  const bin = tmp('vicinal-fake-node-');
  fs.writeFileSync(path.join(bin, 'node'), '#!/bin/sh\nshift\necho "vicinal $*"\n[ -n "$FAKE_NODE_MD" ] && printf "%s\\n" "# compare markdown" > "$FAKE_NODE_MD"\nexit ${FAKE_NODE_RC:-0}\n', {
    mode: 0o755,
  });
  return bin;
}

function sh(script: string, env: Record<string, string>, shell = '/bin/sh', cwd?: string) {
  const bin = fakeNode();
  return spawnSync(shell, ['-c', script], { encoding: 'utf8', cwd, env: { PATH: `${bin}:/usr/bin:/bin`, ...env } });
}

test('Kubernetes: an Indexed Job whose pod k runs shard k+1 of completions, and a merge Job over the same volume', (t) => {
  const job = load('kubernetes/shards-job.yaml');
  const merge = load('kubernetes/merge-job.yaml');
  const pvc = load('kubernetes/pvc.yaml');
  t.is(job.kind, 'Job');
  t.is(job.spec.completionMode, 'Indexed');
  const n = job.spec.completions;
  t.is(job.spec.parallelism, n);
  const c = job.spec.template.spec.containers[0];
  const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  t.is(Number(env.SHARDS), n, 'SHARDS equals completions');
  t.is(job.spec.template.spec.restartPolicy, 'Never');
  // Run the container's command for every index with a stand-in node.
  const lines: string[] = [];
  for (let k = 0; k < n; k++) {
    const r = sh(c.args[0], { ...env, JOB_COMPLETION_INDEX: String(k) });
    t.is(r.status, 0, r.stderr);
    lines.push(r.stdout.trim());
  }
  t.deepEqual(
    lines,
    Array.from({ length: n }, (_, k) => `vicinal run ${env.STUDY} --shard ${k + 1}/${n} --out /runs/${env.RUN}/shard-${k + 1} --workers 2`),
  );
  t.is(c.command[0], '/bin/sh');
  // The merge Job merges exactly those folders, from the same claim.
  const mc = merge.spec.template.spec.containers[0];
  const menv = Object.fromEntries(mc.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  t.is(menv.RUN, env.RUN);
  t.is(Number(menv.SHARDS), n);
  const m = sh(mc.args[0], menv);
  t.is(m.status, 0, m.stderr);
  t.is(m.stdout.trim(), `vicinal merge ${Array.from({ length: n }, (_, k) => `/runs/${env.RUN}/shard-${k + 1}`).join(' ')} --out /runs/${env.RUN}/merged --quiet`);
  const claim = (j: { spec: { template: { spec: { volumes: { persistentVolumeClaim: { claimName: string } }[] } } } }) => j.spec.template.spec.volumes[0].persistentVolumeClaim.claimName;
  t.is(claim(job), pvc.metadata.name);
  t.is(claim(merge), pvc.metadata.name);
  t.deepEqual(pvc.spec.accessModes, ['ReadWriteMany']);
  t.is(c.volumeMounts[0].mountPath, '/runs');
  t.is(mc.volumeMounts[0].mountPath, '/runs');
  t.is(spawnSync('bash', ['-n', path.join(DEPLOY, 'kubernetes', 'run.sh')]).status, 0);
});

test('GitHub Actions: a matrix of SHARDS shards, artifacts to the merge job, compare appended to the step summary and failing on regression', (t) => {
  const wf = load('github/vicinal-nightly.yml');
  t.truthy(wf.on.schedule?.[0]?.cron);
  const n = Number(wf.env.SHARDS);
  const shard = wf.jobs.shard;
  t.deepEqual(
    shard.strategy.matrix.shard,
    Array.from({ length: n }, (_, k) => k + 1),
    'the matrix lists shards 1..SHARDS',
  );
  t.false(shard.strategy['fail-fast']);
  const runStep = shard.steps.find((s: { run?: string }) => s.run?.includes('cli.js run '));
  const upload = shard.steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/upload-artifact'));
  t.is(upload.with.name, 'shard-${{ matrix.shard }}');
  // Each matrix entry's command, expressions substituted, through a stand-in node.
  const outs: string[] = [];
  for (const i of shard.strategy.matrix.shard) {
    const script = runStep.run.replace(/\$\{\{ matrix\.shard \}\}/g, String(i)).replace(/\$\{\{ env\.SHARDS \}\}/g, String(n));
    const r = sh(script, { STUDY: wf.env.STUDY, SHARDS: String(n) }, '/bin/bash');
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout.trim(), `vicinal run ${wf.env.STUDY} --shard ${i}/${n} --out shards/shard-${i} --workers 2`);
    outs.push(`shards/shard-${i}`);
    t.is(upload.with.path.replace('${{ matrix.shard }}', String(i)), `shards/shard-${i}`);
  }
  const merge = wf.jobs.merge;
  t.is(merge.needs, 'shard');
  const download = merge.steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/download-artifact'));
  t.is(download.with.pattern, 'shard-*');
  t.is(download.with.path, 'shards');
  const mergeStep = merge.steps.find((s: { name?: string }) => s.name === 'merge');
  t.regex(mergeStep.run, /cli\.js merge shards\/shard-\* --out /);
  // The compare step: Markdown appended to the step summary, the step's exit status compare's own.
  const compare = merge.steps.find((s: { run?: string }) => s.run?.includes('cli.js compare '));
  t.regex(compare.if, /steps\.previous\.outputs\.dir/);
  for (const rc of [0, 1]) {
    const cwd = tmp('vicinal-gha-');
    const summary = path.join(cwd, 'summary.md');
    const script = compare.run.replace(/\$\{\{ github\.run_id \}\}/g, '42');
    const r = sh(script, { GITHUB_STEP_SUMMARY: summary, FAKE_NODE_RC: String(rc), FAKE_NODE_MD: path.join(cwd, 'compare.md') }, '/bin/bash', cwd);
    t.is(r.status, rc, `compare exiting ${rc} ${rc ? 'fails' : 'passes'} the step: ${r.stderr}`);
    t.is(fs.readFileSync(summary, 'utf8'), '# compare markdown\n', 'the Markdown is in the step summary either way');
  }
});

test('GitHub Actions: compare writes JUnit for the check step; the benchmark steps feed each array of report.benchmark.json to its github-action-benchmark tool', async (t) => {
  const merge = load('github/vicinal-nightly.yml').jobs.merge;
  const compare = merge.steps.find((s: { run?: string }) => s.run?.includes('cli.js compare '));
  const junit = merge.steps.find((s: { uses?: string }) => s.uses?.startsWith('mikepenz/action-junit-report'));
  t.regex(compare.run, new RegExp(`--junit ${junit.with.report_paths}`));
  t.regex(junit.if, /always\(\)/);
  // The series step, run for real (jq) on a run folder's benchmark-json report.
  const cwd = tmp('vicinal-gha-bench-');
  const run = makeRun({ dir: path.join(cwd, 'runs', 'nightly', '42'), seeds: [0, 1] });
  t.is(await report.main({ format: 'benchmark-json', metric: [] }, [run.dir]), 0);
  const series = merge.steps.find((s: { name?: string }) => s.name === 'benchmark series');
  const r = spawnSync('/bin/bash', ['-ec', series.run.replace(/\$\{\{ github\.run_id \}\}/g, '42')], { cwd, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const doc = JSON.parse(fs.readFileSync(path.join(run.dir, 'report', 'report.benchmark.json'), 'utf8'));
  const tools = merge.steps.filter((s: { uses?: string }) => s.uses?.startsWith('benchmark-action/github-action-benchmark'));
  t.deepEqual(
    tools.map((s: { with: { tool: string } }) => s.with.tool),
    ['customBiggerIsBetter', 'customSmallerIsBetter'],
  );
  for (const s of tools) {
    const arr = JSON.parse(fs.readFileSync(path.join(cwd, s.with['output-file-path']), 'utf8'));
    t.true(Array.isArray(arr) && arr.length > 0);
    t.deepEqual(arr, doc[s.with.tool], `${s.with['output-file-path']} is the ${s.with.tool} array`);
  }
});

test('Slurm: the scripts parse, the merge waits for the array (afterok), and bad arguments are refused before sbatch', (t) => {
  for (const f of ['submit.sh', 'shard.sbatch', 'merge.sbatch']) t.is(spawnSync('bash', ['-n', path.join(DEPLOY, 'slurm', f)]).status, 0, f);
  const submit = fs.readFileSync(path.join(DEPLOY, 'slurm', 'submit.sh'), 'utf8');
  t.regex(submit, /--array="1-\$SHARDS"/);
  t.regex(submit, /--dependency="afterok:\$array"/);
  t.regex(fs.readFileSync(path.join(DEPLOY, 'slurm', 'shard.sbatch'), 'utf8'), /--shard "\$I\/\$N"/);
  // A stand-in sbatch records calls: none may happen for bad arguments.
  const bin = tmp('vicinal-fake-sbatch-');
  const calls = path.join(bin, 'calls');
  fs.writeFileSync(path.join(bin, 'sbatch'), `#!/bin/sh\necho "$@" >> ${calls}\necho 7\n`, { mode: 0o755 });
  for (const args of [
    ['quick', '0', 'out'],
    ['quick', 'x', 'out'],
    ['quick', '3'],
  ]) {
    const r = spawnSync('bash', [path.join(DEPLOY, 'slurm', 'submit.sh'), ...args], { encoding: 'utf8', cwd: bin, env: { PATH: `${bin}:/usr/bin:/bin` } });
    t.is(r.status, 2, args.join(' '));
    t.false(fs.existsSync(calls), args.join(' '));
  }
  const ok = spawnSync('bash', [path.join(DEPLOY, 'slurm', 'submit.sh'), 'quick', '4', 'out'], { encoding: 'utf8', cwd: bin, env: { PATH: `${bin}:/usr/bin:/bin` } });
  t.is(ok.status, 0, ok.stderr);
  const [arr, mrg] = fs.readFileSync(calls, 'utf8').trim().split('\n');
  t.regex(arr, /--array=1-4 .*shard\.sbatch$/);
  t.regex(mrg, /--dependency=afterok:7 --kill-on-invalid-dep=yes .*merge\.sbatch$/);
  t.is(ok.stdout.trim(), '7 7');
});
