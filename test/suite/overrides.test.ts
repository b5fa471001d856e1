/**
 * `vicinal run STUDY --set path=value`: paths checked against the study's
 * JSON Schema, JSON values (bare words as strings), the result validated
 * like a file; bad paths and types are one line with exit 2; --dry-run lists
 * exactly the jobs whose ids change, cross-checked against the planner.
 */
import test from 'ava';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { UsageError } from '../../contract/errors';
import { readStudyFile, validateStudy } from '../../suite/config';
import { applyOverrides, formatPath, loadStudyWithOverrides, parseOverride, parsePath, planChanges } from '../../suite/overrides';
import { planStudy } from '../../suite/plan';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const quickRaw = () => readStudyFile('quick').raw as Record<string, unknown>;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l.length > 0) };
}

test('paths: names joined by dots with [i] indices, formatted back the same', (t) => {
  t.deepEqual(parsePath('experiments[1].eval.nExamples', 'x'), ['experiments', 1, 'eval', 'nExamples']);
  t.deepEqual(parsePath('schemes[0].params.alpha', 'x'), ['schemes', 0, 'params', 'alpha']);
  t.deepEqual(parsePath('experiments[0].models[0].hidden[1]', 'x'), ['experiments', 0, 'models', 0, 'hidden', 1]);
  for (const p of ['seeds', 'experiments[1].eval.nExamples', 'experiments[0].models[0].hidden[1]']) t.is(formatPath(parsePath(p, 'x')), p);
  for (const bad of ['', 'a..b', '[0]', 'seeds[x]', 'a b', 'seeds[-1]']) t.throws(() => parsePath(bad, bad), { instanceOf: UsageError, message: /is not a field path/ }, bad);
});

test('values: JSON, or a bare word as a string; other non-JSON is refused', (t) => {
  t.deepEqual(parseOverride('seeds=[0,1]').value, [0, 1]);
  t.is(parseOverride('experiments[0].eval.nExamples=100').value, 100);
  t.is(parseOverride('probes=false').value, false);
  t.is(parseOverride('name="two words"').value, 'two words');
  t.is(parseOverride('name=my-study').value, 'my-study');
  t.is(parseOverride('experiments[0].models[0].arch=cnn').value, 'cnn');
  t.deepEqual(parseOverride('schemes[1].params={"alpha": 0.4}').value, { alpha: 0.4 });
  // "=" inside the value stays in the value.
  t.is(parseOverride('name="a=b"').value, 'a=b');
  for (const bad of ['seeds=[0,1', 'experiments[0].eval.eps=0.1,0.2', 'name=two words']) {
    t.throws(() => parseOverride(bad), { instanceOf: UsageError, message: /is not JSON; allowed: JSON/ }, bad);
  }
  t.throws(() => parseOverride('seeds'), { instanceOf: UsageError, message: /--set expects path=value, got "seeds"/ });
});

test('applying: only the path changes, objects missing on the way are created, the file study is not mutated', (t) => {
  const raw = quickRaw();
  const before = JSON.stringify(raw);
  const out = applyOverrides(raw, ['seeds=[0]', 'experiments[1].eval.nExamples=100', 'schemes[0].params={}', 'schemes[1].params.alpha=0.4']) as typeof raw & {
    experiments: { eval: { nExamples: number } }[];
    schemes: { params?: Record<string, unknown> }[];
  };
  t.is(JSON.stringify(raw), before, 'the parsed file is left as it was');
  t.deepEqual(out.seeds, [0]);
  t.is(out.experiments[1].eval.nExamples, 100);
  t.is(out.experiments[0].eval.nExamples, 500, 'the other experiment keeps its value');
  t.deepEqual(out.schemes[1].params, { alpha: 0.4 }, 'params created');
  // Everything else is untouched.
  const strip = (c: Record<string, unknown>) => JSON.stringify({ ...c, seeds: null, experiments: null, schemes: null });
  t.is(strip(out), strip(raw));
  // A later --set of the same path wins.
  t.deepEqual((applyOverrides(raw, ['seeds=[0]', 'seeds=[4,5]']) as { seeds: number[] }).seeds, [4, 5]);
  // An omitted object on the path (train has defaults) is created.
  const noTrain = { ...raw, experiments: [{ ...(raw.experiments as Record<string, unknown>[])[0], train: undefined }] };
  const set = applyOverrides(noTrain, ['experiments[0].train.epochs=2']) as { experiments: { train: Record<string, unknown> }[] };
  t.deepEqual(set.experiments[0].train, { epochs: 2 });
  t.is(validateStudy(set, 'x').experiments[0].train.epochs, 2);
});

test('unknown paths are refused naming what exists there; indices past the study are refused', (t) => {
  const raw = quickRaw();
  const refuse = (item: string, msg: RegExp) => t.throws(() => applyOverrides(raw, [item]), { instanceOf: UsageError, message: msg }, item);
  refuse('seed=[0]', /^--set seed=\[0\]: unknown path: a study has no field "seed"; allowed: name, backend, seeds, schemes, attacks, probes, transfer, experiments, thresholds$/);
  refuse('experiments[1].eval.nExample=10', /experiments\[1\]\.eval has no field "nExample"; allowed: norm, eps, nExamples, batchSize, probePoints, saveAdversarial$/);
  refuse('experiments[2].eval.nExamples=1', /experiments has 2 entries in this study; allowed: \[0\] to \[1\]$/);
  refuse('seeds.x=1', /seeds is not an object, so it has no field "x"/);
  refuse('probes[0]=true', /probes is not a list, so \[0\] does not apply/);
  refuse('thresholds.cleanAccuracy=0.1', /thresholds has no field "cleanAccuracy"; allowed: cleanAccuracyDrop, robustBeyondCI, wallTimeIncrease$/);
  // Open maps take any key: scheme params and the dataset's own keys (checked later by their owners).
  t.notThrows(() => applyOverrides(raw, ['schemes[1].params.anything=1', 'experiments[0].dataset.noise=0.2']));
});

test('the changed study is validated like the file: a wrong type is one line naming the field and the --set', (t) => {
  t.throws(() => loadStudyWithOverrides('quick', ['seeds="x"']), {
    instanceOf: UsageError,
    message: 'quick.yaml with --set seeds="x": invalid field seeds = "x": Invalid input: expected array, received string',
  });
  t.throws(() => loadStudyWithOverrides('quick', ['experiments[0].eval.nExamples=-5']), { instanceOf: UsageError, message: /invalid field experiments\[0\]\.eval\.nExamples = -5/ });
  const { config, source, base } = loadStudyWithOverrides('quick', ['seeds=[0]']);
  t.deepEqual(config.seeds, [0]);
  t.deepEqual(base?.seeds, [0, 1, 2]);
  t.is(source, 'quick.yaml with --set seeds=[0]', 'the run records what was changed');
  t.is(loadStudyWithOverrides('quick', []).base, null);
});

test('plan changes: the jobs whose ids change are exactly those the planner gives new ids', (t) => {
  const { config, base } = loadStudyWithOverrides('quick', ['experiments[1].eval.nExamples=100']);
  if (!base) return t.fail('no base study');
  const before = planStudy(base, 'cpu');
  const after = planStudy(config, 'cpu');
  const lines = planChanges(before, after);
  // nExamples is an eval setting: every eval job of experiment 1 (mnist) changes, no train job does.
  const changed = after.filter((j, i) => before[i].label === j.label && before[i].id !== j.id);
  t.true(changed.length > 0);
  t.true(changed.every((j) => j.kind === 'eval' && j.group.startsWith('mnist/')));
  t.is(changed.length, after.filter((j) => j.kind === 'eval' && j.group.startsWith('mnist/')).length);
  t.is(lines[0], `--set changes ${changed.length} job id(s), adds 0 job(s), removes 0 (of ${before.length} planned without it):`);
  t.deepEqual(
    lines.slice(1),
    changed.map((j) => `  ${before.find((b) => b.label === j.label)?.id} -> ${j.id}  eval   ${j.label}`),
  );
  // Fewer seeds: no id changes, the other seeds' jobs are gone.
  const fewer = loadStudyWithOverrides('quick', ['seeds=[0]']);
  const l2 = planChanges(planStudy(fewer.base ?? fewer.config, 'cpu'), planStudy(fewer.config, 'cpu'));
  t.is(l2[0], `--set changes 0 job id(s), adds 0 job(s), removes ${(before.length * 2) / 3} (of ${before.length} planned without it):`);
  t.is(l2.length, 1, 'removed jobs are counted, not listed');
  // More seeds: the new seed's jobs are listed as new, the others keep their ids.
  const more = loadStudyWithOverrides('quick', ['seeds=[0,1,2,3]']);
  const l3 = planChanges(before, planStudy(more.config, 'cpu'));
  t.is(l3[0], `--set changes 0 job id(s), adds ${before.length / 3} job(s), removes 0 (of ${before.length} planned without it):`);
  t.true(l3.slice(1).every((l) => /^ {2}new [0-9a-f]{16} {2}(train|eval ) {2}\S+\/seed3(\/eval)?$/.test(l)));
  t.is(l3.length, 1 + before.length / 3);
});

test('CLI: run quick --set ... --dry-run prints the plan and the changed jobs; a bad path or type is one line on stderr, exit 2', (t) => {
  const ok = cli(['run', 'quick', '--dry-run', '--backend', 'cpu', '--set', 'seeds=[0]', '--set', 'experiments[1].eval.nExamples=100']);
  t.is(ok.status, 0, ok.stderr.join('\n'));
  t.regex(ok.stdout, /^quick\.yaml with --set seeds=\[0\] --set experiments\[1\]\.eval\.nExamples=100: 20 jobs on backend cpu/);
  t.regex(ok.stdout, /^--set changes 5 job id\(s\), adds 0 job\(s\), removes 40 \(of 60 planned without it\):$/m);
  for (const [args, msg] of [
    [['--set', 'experiments[1].eval.nExample=10'], /^vicinal: --set experiments\[1\]\.eval\.nExample=10: unknown path: experiments\[1\]\.eval has no field "nExample"/],
    [['--set', 'seeds=x'], /^vicinal: quick\.yaml with --set seeds=x: invalid field seeds = "x": Invalid input: expected array/],
    [['--set', 'seeds=[0', '--resume', 'runs/x'], /^vicinal: --set does not apply with --resume/],
  ] as const) {
    const r = cli(['run', 'quick', '--dry-run', '--backend', 'cpu', ...args]);
    t.is(r.status, 2, args.join(' '));
    t.is(r.stderr.length, 1, r.stderr.join('\n'));
    t.regex(r.stderr[0], msg);
  }
});

test('a --set can make a study runnable here: cifar-quick without CIFAR files, its dataset swapped for the stand-in', (t) => {
  const dir = { VICINAL_CIFAR10_DIR: path.join(__dirname, 'no-such-cifar-folder') };
  const saved = process.env.VICINAL_CIFAR10_DIR;
  process.env.VICINAL_CIFAR10_DIR = dir.VICINAL_CIFAR10_DIR;
  try {
    // the study as shipped needs the CIFAR-10 files: one UsageError naming the folder
    t.throws(() => loadStudyWithOverrides('cifar-quick', []), { instanceOf: UsageError, message: /cifar-10-batches-bin|no-such-cifar-folder/ });
    const { config, base } = loadStudyWithOverrides('cifar-quick', ['experiments[0].dataset={"name":"fashion-mnist-32","nTrain":100,"nTest":50}']);
    t.is(config.experiments[0].dataset.name, 'fashion-mnist-32');
    // the unchanged study does not validate here, so there is no change list to show, and no error either
    t.is(base, null);
  } finally {
    if (saved === undefined) delete process.env.VICINAL_CIFAR10_DIR;
    else process.env.VICINAL_CIFAR10_DIR = saved;
  }
});
