/**
 * Clean test accuracy of every training scheme at its defaults against ERM,
 * on MNIST with the MLP 784-256-256-10 (Adam, lr 1e-3, batch 64 as in the
 * profiles; --batch-size to change). Too slow
 * for the test suite (~35 s per scheme per 10 epochs on 2 wasm cores,
 * adversarial ~8x that); run it by hand:
 *
 *   npx tsc -p . && node dist/bench/scheme-accuracy.js [RUN ...] [--epochs 10] [--batch-size 64] [--seed 0] [--backend wasm] [--json FILE]
 *
 * A RUN is a scheme name with optional parameters, `name:key=value,key=value`
 * (e.g. `mixup-semi:labelledPerClass=100`), or `erm-labelled:labelledPerClass=K`:
 * ERM on the same labelled subset mixup-semi would use (same seed, same
 * number of steps), the fair baseline for mixup-semi. Default: every scheme
 * at its defaults, plus erm-labelled at mixup-semi's default.
 */
import * as fs from 'fs';
import { loadDataset } from '../data/registry';
import { Rng } from '../data/rng';
import { buildModel } from '../models/build';
import { createScheme, Scheme, SCHEME_NAMES, schemeDefaults } from '../models/schemes';
import { MixupKnnScheme } from '../models/schemes/mixup-knn';
import { trainModel } from '../models/train';
import { initBackend } from '../backend/select';
import { BackendChoice } from '../contract/results';

interface RunSpec {
  label: string;
  scheme: string;
  params: Record<string, unknown>;
  /** erm on mixup-semi's labelled subset. */
  labelledOnly: boolean;
}

function parseRun(text: string): RunSpec {
  const [name, rest] = text.split(':', 2);
  const params: Record<string, unknown> = {};
  for (const kv of (rest ?? '').split(',').filter((s) => s.length > 0)) {
    const [k, v] = kv.split('=', 2);
    params[k] = v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  const labelledOnly = name === 'erm-labelled';
  return { label: text, scheme: labelledOnly ? 'mixup-semi' : name, params, labelledOnly };
}

function parseCli(argv: string[]) {
  const opts = { epochs: 10, batchSize: 64, seed: 0, backend: 'wasm' as BackendChoice, json: '' as string, runs: [] as RunSpec[] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--epochs') opts.epochs = Number(argv[++i]);
    else if (a === '--seed') opts.seed = Number(argv[++i]);
    else if (a === '--batch-size') opts.batchSize = Number(argv[++i]);
    else if (a === '--backend') opts.backend = argv[++i] as BackendChoice;
    else if (a === '--json') opts.json = argv[++i];
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else opts.runs.push(parseRun(a));
  }
  if (opts.runs.length === 0) {
    opts.runs = SCHEME_NAMES.map((s) => parseRun(s));
    opts.runs.push(parseRun('erm-labelled'));
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseCli(process.argv.slice(2));
  const backend = await initBackend(opts.backend);
  const ds = loadDataset({ name: 'mnist' });
  console.log(`backend ${backend.name}; mnist ${ds.train.n} train / ${ds.test.n} test; mlp 784-256-256-10; adam 1e-3, batch ${opts.batchSize}, ${opts.epochs} epochs, seed ${opts.seed}`);
  const rows: Record<string, unknown>[] = [];
  let ermAccuracy: number | null = null;
  for (const run of opts.runs) {
    const t0 = Date.now();
    let scheme: Scheme = createScheme(run.scheme, run.params, ds, new Rng(opts.seed).fork('scheme'));
    const createSeconds = (Date.now() - t0) / 1000;
    if (run.labelledOnly) {
      // ERM batches drawn from the labelled subset only.
      const erm = createScheme('erm', {}, ds, new Rng(0));
      scheme = { ...erm, name: 'erm-labelled', settings: { labelled: scheme.trainingSet.n }, trainingSet: scheme.trainingSet };
    }
    const model = buildModel({ arch: 'mlp', hidden: [256, 256] }, ds.inputShape, ds.numClasses, opts.seed);
    const h = trainModel(model, ds, scheme, { optimizer: 'adam', learningRate: 1e-3, batchSize: opts.batchSize, epochs: opts.epochs, seed: opts.seed, evalEveryEpoch: false });
    model.dispose();
    const acc = h[h.length - 1].testAccuracy;
    const trainSeconds = h.reduce((a, r) => a + r.seconds, 0);
    if (run.label === 'erm') ermAccuracy = acc;
    const row: Record<string, unknown> = {
      run: run.label,
      settings: run.labelledOnly ? scheme.settings : { ...schemeDefaults(run.scheme, 'mnist'), ...scheme.settings },
      testAccuracy: acc,
      deltaVsErm: ermAccuracy === null ? null : acc - ermAccuracy,
      trainSeconds,
      secondsPerEpoch: trainSeconds / opts.epochs,
      createSeconds,
      finalLoss: h[h.length - 1].loss,
    };
    if (run.scheme === 'mixup-knn' && !run.labelledOnly) row.knnPrecomputeSeconds = (scheme as MixupKnnScheme).neighbours.seconds;
    rows.push(row);
    const delta = row.deltaVsErm === null ? '' : ` (${((row.deltaVsErm as number) * 100 >= 0 ? '+' : '') + ((row.deltaVsErm as number) * 100).toFixed(2)} pts vs erm)`;
    console.log(`${run.label.padEnd(36)} acc ${(acc * 100).toFixed(2)}%${delta}  ${trainSeconds.toFixed(1)} s train, ${createSeconds.toFixed(2)} s setup  ${JSON.stringify(row.settings)}`);
    if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ backend, epochs: opts.epochs, batchSize: opts.batchSize, seed: opts.seed, rows }, null, 1));
  }
  console.log('\n| run | test acc % | vs erm (pts) | within 1.5 | s/epoch | settings |');
  console.log('| --- | ---: | ---: | :---: | ---: | --- |');
  for (const r of rows) {
    const d = r.deltaVsErm as number | null;
    console.log(
      `| ${r.run} | ${((r.testAccuracy as number) * 100).toFixed(2)} | ${d === null ? '' : (d * 100).toFixed(2)} | ${d === null ? '' : Math.abs(d) <= 0.015 ? 'yes' : 'no'} | ${(r.secondsPerEpoch as number).toFixed(1)} | ${JSON.stringify(r.settings)} |`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
