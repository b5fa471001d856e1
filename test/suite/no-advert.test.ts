import test from 'ava';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { TFJS_ADVERT } from '../../backend/quiet';
import { modelDir } from '../../contract/run-folder';
import { cleanupFixtures, makeRun, tmpDir } from '../reports/fixture';
import { saveFixtureModels } from '../reports/fixture-models';

// TensorFlow.js's cpu backend advertises tfjs-node on its first tensor; no vicinal output may carry it.
const CLI = path.join(__dirname, '..', '..', 'suite', 'cli.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test.after.always(cleanupFixtures);

test('the advert detector sees the banner when tfjs runs a tensor on cpu unsilenced', (t) => {
  const r = spawnSync(process.execPath, ['-e', "const tf = require('@tensorflow/tfjs'); tf.setBackend('cpu'); tf.tensor([1, 2]).dataSync();"], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout + r.stderr, TFJS_ADVERT);
});

test('report (figures of a 2-D group run tensors on cpu) and export (loads a model) print no tfjs advert', async (t) => {
  const run = makeRun({ dir: path.join(tmpDir('vicinal-advert-'), 'run'), seeds: [0] });
  await saveFixtureModels(run);
  const report = cli('report', run.dir, '--format', 'html');
  t.is(report.status, 0, report.stderr);
  t.notRegex(report.stdout + report.stderr, TFJS_ADVERT);
  const train = run.manifest.jobs.find((j) => j.kind === 'train');
  if (!train) return t.fail('the fixture has no train job');
  const exported = cli('export', '--onnx', tmpDir('vicinal-advert-onnx-'), modelDir(run.dir, train.id));
  t.is(exported.status, 0, exported.stderr);
  t.regex(exported.stdout, /wrote .*model\.onnx/);
  t.notRegex(exported.stdout + exported.stderr, TFJS_ADVERT);
});
