import test from 'ava';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { collectHistory, findRunFolders, renderHistoryMarkdown } from '../../reports/history';
import { UsageError } from '../../contract/errors';
import { command as report } from '../../suite/commands/report';
import { cleanupFixtures, makeRun, tmpDir } from './fixture';

const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const tmp = () => tmpDir('vicinal-reportcmd-');

test.after.always(cleanupFixtures);

// mnist-only fixtures: no 2-D group, so no TensorFlow.js is loaded here (the HTML test covers the figures).
const MNIST = [{ group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } }];

test('CLI: report RUN prints the terminal report and writes every format into RUN/report', (t) => {
  const run = makeRun({ groups: MNIST, seeds: [0, 1] });
  const r = spawnSync(process.execPath, [CLI, 'report', run.dir], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /vicinal report: fixture/);
  t.regex(r.stdout, /== mnist\/mlp-32 ==/);
  const files = fs.readdirSync(path.join(run.dir, 'report')).sort();
  t.deepEqual(files, ['report.benchmark.json', 'report.csv', 'report.html', 'report.json', 'report.md']);
  t.regex(fs.readFileSync(path.join(run.dir, 'report', 'report.md'), 'utf8'), /^# vicinal report: fixture/);
  t.regex(fs.readFileSync(path.join(run.dir, 'report', 'report.html'), 'utf8'), /^<!doctype html>/);
});

test('CLI: report RUN --format terminal prints the findings and compact tables; --detail adds every table and the run header', (t) => {
  const run = makeRun({ groups: MNIST, seeds: [0, 1] });
  const compact = spawnSync(process.execPath, [CLI, 'report', run.dir, '--format', 'terminal'], { encoding: 'utf8' });
  const detail = spawnSync(process.execPath, [CLI, 'report', run.dir, '--format', 'terminal', '--detail'], { encoding: 'utf8' });
  t.is(compact.status, 0, compact.stderr);
  t.is(detail.status, 0, detail.stderr);
  for (const out of [compact.stdout, detail.stdout]) t.regex(out, /^Findings, each scheme against erm/m);
  t.notRegex(compact.stdout, /Robust accuracy under pgd|^ {2}machine /m);
  t.regex(detail.stdout, /Robust accuracy under pgd \(%\)/);
  t.regex(detail.stdout, /^ {2}machine +linux test x64/m);
  t.true(compact.stdout.split('\n').every((l) => [...l].length <= 120));
  t.false(fs.existsSync(path.join(run.dir, 'report')), 'terminal only: no files');
});

test('report --format csv --out DIR writes only that file', async (t) => {
  const run = makeRun({ groups: MNIST, seeds: [0] });
  const out = path.join(tmp(), 'elsewhere');
  const code = await report.main({ format: 'csv', out, metric: [] }, [run.dir]);
  t.is(code, 0);
  t.deepEqual(fs.readdirSync(out), ['report.csv']);
  t.false(fs.existsSync(path.join(run.dir, 'report')));
});

test('report: bad format, missing folder, no argument are usage errors (exit 2)', async (t) => {
  const run = makeRun({ groups: MNIST, seeds: [0] });
  await t.throwsAsync(report.main({ format: 'pdf' }, [run.dir]), { instanceOf: UsageError, message: /unknown --format "pdf"; allowed: terminal, md, json, csv, html, benchmark-json, all/ });
  await t.throwsAsync(report.main({ format: 'all' }, []), { instanceOf: UsageError });
  const r = spawnSync(process.execPath, [CLI, 'report', path.join(tmp(), 'nope')], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.regex(r.stderr, /run folder not found/);
});

test('history: runs sorted by start time, chosen metrics as series per scheme; corrupt folders skipped', (t) => {
  const dir = tmp();
  // Written out of order; names do not sort by time.
  makeRun({ groups: MNIST, seeds: [0, 1], dir: path.join(dir, 'b-run'), startedAt: '2025-03-01T00:00:00.000Z', wallSeconds: 300, clean: () => 0.8 });
  makeRun({ groups: MNIST, seeds: [0, 1], dir: path.join(dir, 'a-run'), startedAt: '2025-05-01T00:00:00.000Z', wallSeconds: 100, clean: () => 0.7 });
  makeRun({ groups: MNIST, seeds: [0, 1], dir: path.join(dir, 'nested', 'c-run'), startedAt: '2025-01-01T00:00:00.000Z', wallSeconds: 200, clean: () => 0.9 });
  fs.mkdirSync(path.join(dir, 'broken'));
  fs.writeFileSync(path.join(dir, 'broken', 'manifest.json'), '{not json');
  t.is(findRunFolders(dir).length, 4);
  const h = collectHistory(dir, ['clean', 'worst@linf:0.2', 'wall']);
  t.deepEqual(
    h.runs.map((r) => r.name),
    [path.join('nested', 'c-run'), 'b-run', 'a-run'],
  );
  t.is(h.skipped.length, 1);
  t.regex(h.skipped[0], /broken.*corrupt/);
  t.deepEqual(
    h.series.map((s) => s.metric),
    ['clean', 'worst@linf:0.2', 'wall'],
  );
  const clean = h.series[0].schemes.find((s) => s.scheme === 'erm')!;
  const means = clean.points.map((p) => p.stat!.mean);
  t.true(means[0] > means[1] && means[1] > means[2], `means ${means}`);
  t.deepEqual(
    h.series[2].schemes[0].points.map((p) => p.stat!.mean),
    [200, 300, 100],
  );
  const md = renderHistoryMarkdown(h);
  t.regex(md, /## mnist\/mlp-32: clean \(%\)/);
  t.throws(() => collectHistory(dir, ['nonsense']), { instanceOf: UsageError, message: /--metric nonsense matches no metric/ });
});

test('CLI: report --history DIR prints tables and writes history.md / history.html', (t) => {
  const dir = tmp();
  makeRun({ groups: MNIST, seeds: [0], dir: path.join(dir, 'r1'), startedAt: '2025-01-01T00:00:00.000Z' });
  makeRun({ groups: MNIST, seeds: [0], dir: path.join(dir, 'r2'), startedAt: '2025-01-02T00:00:00.000Z' });
  const r = spawnSync(process.execPath, [CLI, 'report', '--history', dir, '--metric', 'clean,robust:pgd'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /vicinal history: 2 run\(s\)/);
  t.regex(r.stdout, /mnist\/mlp-32: pgd ε=0\.1 \(%\)/);
  t.true(fs.existsSync(path.join(dir, 'history', 'history.html')));
  t.true(fs.existsSync(path.join(dir, 'history', 'history.md')));
  const empty = tmp();
  t.is(spawnSync(process.execPath, [CLI, 'report', '--history', empty], { encoding: 'utf8' }).status, 2);
});
