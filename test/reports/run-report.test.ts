import test from 'ava';
import * as fs from 'fs';
import * as path from 'path';
import { loadRun } from '../../contract/run-folder';
import { FILE_FORMATS, FORMATS, REPORT_FORMATS, fileName } from '../../reports/formats';
import { finishRunReport } from '../../reports/run-report';
import { summarizeRun } from '../../reports/summary';
import { UsageError } from '../../contract/errors';
import { command as report } from '../../suite/commands/report';
import { cleanupFixtures, makeRun } from './fixture';

test.after.always(cleanupFixtures);

// mnist-only: no 2-D group, so the HTML format loads no TensorFlow.js here.
const MNIST = [{ group: 'mnist/mlp-32', dataset: { name: 'mnist', seed: 0, nTrain: 800, nTest: 200 }, model: { arch: 'mlp', hidden: [32] } }];

test('the registry: every format is a file format with its own extension, or printed only (terminal)', (t) => {
  t.deepEqual(REPORT_FORMATS, Object.keys(FORMATS));
  t.true(REPORT_FORMATS.includes('terminal'));
  t.deepEqual(
    REPORT_FORMATS.filter((f) => FORMATS[f].extension === null),
    ['terminal'],
  );
  t.deepEqual(
    FILE_FORMATS,
    REPORT_FORMATS.filter((f) => f !== 'terminal'),
  );
  const names = FILE_FORMATS.map(fileName);
  t.is(new Set(names).size, names.length, 'no two formats share a file name');
});

test('the run report (end of `vicinal run`) writes every registered file format, each as its renderer produces it', async (t) => {
  const run = makeRun({ groups: MNIST, seeds: [0, 1] });
  const files = await finishRunReport(run.dir, true);
  const dir = path.join(run.dir, 'report');
  t.deepEqual(fs.readdirSync(dir).sort(), FILE_FORMATS.map(fileName).sort());
  t.deepEqual(
    files,
    FILE_FORMATS.map((f) => path.join(dir, fileName(f))),
  );
  const loaded = loadRun(run.dir);
  const summary = summarizeRun(loaded);
  for (const f of FILE_FORMATS) t.is(fs.readFileSync(path.join(dir, fileName(f)), 'utf8'), await FORMATS[f].render(loaded, summary), f);
});

test('the CLI format choices are the registry plus "all"', async (t) => {
  const run = makeRun({ groups: MNIST, seeds: [0] });
  await t.throwsAsync(report.main({ format: 'nope' }, [run.dir]), { instanceOf: UsageError, message: `unknown --format "nope"; allowed: ${[...REPORT_FORMATS, 'all'].join(', ')}` });
});
