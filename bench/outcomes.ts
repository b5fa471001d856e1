/**
 * "No weaker evaluation" (issue 22): for every eval job of a finished run
 * (optionally filtered by dataset and label), runs the job's attacks on its
 * trained model twice on the onnx engine, through the step graph
 * (backend/onnx/step-graph.ts, one engine call per iteration) and through the
 * tfjs-tape path (setStepGraphEnabled(false)), with the job's settings and
 * seeds, and reports per attack@eps: robust accuracy both ways and as the run
 * recorded it, how many examples' outcomes differ, and the difference in
 * points. Probes, sanity checks and transfer attacks are off: they draw from
 * their own forks of the job's seed, so the attacks see the job's exact random
 * streams (the step graph's robust accuracy must equal the recorded one when
 * the run used the step graph). Models run one at a time; the JSON is
 * rewritten after each model. Reads RUN, never writes there.
 *
 *   npm run build --silent && node dist/bench/outcomes.js RUN [--data mnist] [--only LABEL-PART] [--limit K] [--out FILE]
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { lossInputGradient } from '../attacks/gradients';
import { engineModelOf } from '../backend/onnx/engine';
import { setStepGraphEnabled, stepGraphEnabled, stepperFor } from '../backend/onnx/step-graph';
import { initBackend } from '../backend/select';
import { UsageError } from '../contract/errors';
import { EvalJobResult, PlannedJob } from '../contract/results';
import { MANIFEST, modelDir, readManifest, readResult } from '../contract/run-folder';
import { DatasetSpec, loadDataset } from '../data/registry';
import { Rng } from '../data/rng';
import { Dataset, inputSize } from '../data/types';
import { Classifier } from '../contract/classifier';
import { EvalConfig, EvalSettings } from '../eval/config';
import { EvalDetails, evaluateModelDetailed } from '../eval/evaluate';
import { loadModel } from '../models/io';
import { asClassifier } from '../models/predict';

/** The part of an eval job's spec (suite/job-spec.ts EvalSpec, a layer above) that the attacks read. */
export interface EvalJobAttackSpec {
  eval: EvalSettings;
  attacks: EvalConfig['attacks'];
  seed: number;
}

/**
 * The EvalConfig of an eval job's attack stage: evalConfigOfSpec (suite/job-spec.ts)
 * with probes, sanity checks and transfer attacks off (test/bench/outcomes.test.ts
 * checks the two agree on every shipped profile's jobs).
 */
export function attackConfigOfSpec(spec: EvalJobAttackSpec): EvalConfig {
  return { ...spec.eval, attacks: spec.attacks, probes: false, sanity: { enabled: false }, transfer: [] };
}

/** The attack random stream of an eval job, as suite/eval-job.ts seeds it. */
export function evalRngOfSpec(spec: EvalJobAttackSpec): Rng {
  return new Rng(spec.seed).fork('eval');
}

/** One attack@eps compared between the two paths. */
export interface OutcomeRow {
  key: string;
  n: number;
  /** Robust accuracy (fraction) through the step graph and through the tape. */
  stepGraph: number;
  tape: number;
  /** Examples whose robust correctness differs, and their indices. */
  differ: number;
  differIndices: number[];
  /** |stepGraph - tape| in points (percent of examples). */
  points: number;
}

/** Per-key comparison of per-example robust correctness (keys in `a`'s order; a key missing in `b` is an error). */
export function compareOutcomes(a: readonly { key: string; correct: Uint8Array }[], b: readonly { key: string; correct: Uint8Array }[]): OutcomeRow[] {
  const byKey = new Map(b.map((r) => [r.key, r.correct]));
  return a.map(({ key, correct }) => {
    const other = byKey.get(key);
    if (!other || other.length !== correct.length) throw new Error(`outcomes: no tape result of ${correct.length} examples for ${key}`);
    const differIndices: number[] = [];
    for (let i = 0; i < correct.length; i++) if (correct[i] !== other[i]) differIndices.push(i);
    const acc = (c: Uint8Array) => c.reduce((s, v) => s + v, 0) / c.length;
    const stepGraph = acc(correct);
    const tape = acc(other);
    return { key, n: correct.length, stepGraph, tape, differ: differIndices.length, differIndices, points: Math.abs(100 * (stepGraph - tape)) };
  });
}

/**
 * Why one example's outcome differs: how many input pixels of the two
 * adversarial points differ (and by how much at most), the margin (logit of
 * the label minus the best other logit) at each, and how many signs of the
 * clean CE input gradient the two paths disagree on, with the largest
 * |gradient| among those relative to the row's largest (near 0: float
 * rounding of a component that is essentially zero). The gradients are taken
 * on the example's whole eval batch, as the attacks take them.
 */
export interface DifferenceExplanation {
  pixelsDiffer: number;
  maxPixelDiff: number;
  margin: { stepGraph: number; tape: number };
  cleanGradient: {
    signsDiffer: number;
    largestRelative: number;
    maxRelDiff: number;
    /** 1 - p_label at the clean input, in float64 (CE saturates in float32 below about 6e-8, the spacing of floats under 1). */
    oneMinusP: number | null;
    /** Cosine of each path's gradient with the float64 one (an MLP of Dense layers only; null otherwise). */
    cosFloat64: { stepGraph: number; tape: number } | null;
  };
}

/**
 * The clean CE input gradient of a Flatten + Dense (ReLU hidden, linear
 * output) model in float64, with p - onehot formed without cancellation
 * (p_label - 1 = -sum of the other p); null for any other architecture.
 */
export function denseMlpGradient64(model: tf.LayersModel, x: Float32Array, label: number): { grad: Float64Array; oneMinusP: number } | null {
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense');
  if (dense.length === 0 || model.layers.some((l) => !['Dense', 'Flatten', 'InputLayer'].includes(l.getClassName()))) return null;
  const acts = dense.map((l) => (l.getConfig() as { activation?: string }).activation ?? 'linear');
  if (acts.slice(0, -1).some((a) => a !== 'relu') || acts[acts.length - 1] !== 'linear') return null;
  const ws = dense.map((l) => l.getWeights().map((w) => ({ shape: w.shape, v: Float64Array.from(w.dataSync()) })));
  const hs: Float64Array[] = [Float64Array.from(x)];
  ws.forEach(([w, b], li) => {
    const [nIn, nOut] = w.shape;
    const h = new Float64Array(nOut);
    const prev = hs[hs.length - 1];
    for (let k = 0; k < nOut; k++) {
      let a = b.v[k];
      for (let j = 0; j < nIn; j++) a += prev[j] * w.v[j * nOut + k];
      h[k] = li < ws.length - 1 ? Math.max(0, a) : a;
    }
    hs.push(h);
  });
  const z = hs[hs.length - 1];
  const m = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const sum = e.reduce((a, v) => a + v, 0);
  const others = e.reduce((a, v, c) => (c === label ? a : a + v), 0) / sum;
  let g = Float64Array.from(e, (v, c) => (c === label ? -others : v / sum));
  for (let li = ws.length - 1; li >= 0; li--) {
    const [w] = ws[li];
    const [nIn, nOut] = w.shape;
    const back = new Float64Array(nIn);
    for (let j = 0; j < nIn; j++) {
      let a = 0;
      for (let k = 0; k < nOut; k++) a += w.v[j * nOut + k] * g[k];
      back[j] = li > 0 && hs[li][j] <= 0 ? 0 : a;
    }
    g = back;
  }
  return { grad: g, oneMinusP: others };
}

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let j = 0; j < a.length; j++) {
    ab += a[j] * b[j];
    aa += a[j] * a[j];
    bb += b[j] * b[j];
  }
  return ab / Math.sqrt(aa * bb);
};

export function explainDifference(
  f: Classifier,
  dataset: Dataset,
  batchSize: number,
  index: number,
  advStepGraph: Float32Array,
  advTape: Float32Array,
  label: number,
  model?: tf.LayersModel,
): DifferenceExplanation {
  const shape = dataset.inputShape;
  const d = inputSize(shape);
  const k = dataset.numClasses;
  let pixelsDiffer = 0;
  let maxPixelDiff = 0;
  for (let j = 0; j < d; j++) {
    const diff = Math.abs(advStepGraph[j] - advTape[j]);
    if (diff > 0) pixelsDiffer++;
    maxPixelDiff = Math.max(maxPixelDiff, diff);
  }
  const margins = tf.tidy(() => {
    const z = f(tf.tensor([...advStepGraph, ...advTape], [2, ...shape])).dataSync();
    return [0, 1].map((r) => z[r * k + label] - Math.max(...Array.from(z.subarray(r * k, (r + 1) * k)).filter((_, c) => c !== label)));
  });
  const s = Math.floor(index / batchSize) * batchSize;
  const e = Math.min(s + batchSize, dataset.test.n);
  const row = index - s;
  const xs = dataset.test.x.subarray(s * d, e * d);
  const t = tf.tidy(() => tf.oneHot(tf.tensor1d(dataset.test.y.slice(s, e), 'int32'), k).toFloat() as tf.Tensor2D);
  const before = stepGraphEnabled();
  setStepGraphEnabled(true);
  const stepper = stepperFor(engineModelOf(f), { norm: 'linf', loss: 'ce', targeted: false });
  setStepGraphEnabled(before);
  if (!stepper) throw new Error('outcomes: no step graph for an engine classifier');
  const gStep = stepper.evaluate(xs, t.dataSync() as Float32Array, 1).grad.subarray(row * d, (row + 1) * d);
  const gTape = tf.tidy(() => lossInputGradient(f, tf.tensor(xs, [e - s, ...shape]), t).dataSync() as Float32Array).subarray(row * d, (row + 1) * d);
  t.dispose();
  const rowMax = gTape.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  let signsDiffer = 0;
  let largest = 0;
  let maxRelDiff = 0;
  for (let j = 0; j < d; j++) {
    maxRelDiff = Math.max(maxRelDiff, Math.abs(gStep[j] - gTape[j]) / (rowMax || 1));
    if (Math.sign(gStep[j]) !== Math.sign(gTape[j])) {
      signsDiffer++;
      largest = Math.max(largest, Math.max(Math.abs(gStep[j]), Math.abs(gTape[j])) / (rowMax || 1));
    }
  }
  const ref = model ? denseMlpGradient64(model, xs.subarray(row * d, (row + 1) * d), label) : null;
  return {
    pixelsDiffer,
    maxPixelDiff,
    margin: { stepGraph: margins[0], tape: margins[1] },
    cleanGradient: {
      signsDiffer,
      largestRelative: largest,
      maxRelDiff,
      oneMinusP: ref ? ref.oneMinusP : null,
      cosFloat64: ref ? { stepGraph: cosine(gStep, ref.grad), tape: cosine(gTape, ref.grad) } : null,
    },
  };
}

/** Example i's adversarial input under attack `key`, as evaluateModelDetailed kept it (keepAdversarial). */
export function adversarialRow(d: EvalDetails, key: string, i: number, size: number): Float32Array {
  const kept = d.adversarial?.[key];
  if (!kept || (i + 1) * size > kept.length) throw new Error(`outcomes: example ${i} of ${key} was not kept`);
  return kept.subarray(i * size, (i + 1) * size);
}

/** The attack stage of `config` through the step graph and through the tape, same seeds; restores the step graph's setting. With keep, both keep every example's adversarial input. */
export function stepGraphVsTape(
  f: Classifier,
  dataset: Dataset,
  config: EvalConfig,
  rng: () => Rng,
  keep = 0,
): { stepGraph: EvalDetails; tape: EvalDetails; rows: OutcomeRow[]; seconds: { stepGraph: number; tape: number }; engineRuns: { stepGraph: number; tape: number } } {
  const before = stepGraphEnabled();
  const engine = engineModelOf(f);
  if (!engine) throw new Error('outcomes: not an engine classifier; the step graph does not apply');
  const run = (on: boolean) => {
    setStepGraphEnabled(on);
    try {
      const t0 = Date.now();
      const r0 = engine.runs;
      const d = evaluateModelDetailed(f, dataset, config, rng(), { keepAdversarial: keep });
      return { d, seconds: (Date.now() - t0) / 1000, runs: engine.runs - r0 };
    } finally {
      setStepGraphEnabled(before);
    }
  };
  const on = run(true);
  const off = run(false);
  return {
    stepGraph: on.d,
    tape: off.d,
    rows: compareOutcomes([...on.d.perExample.attacks, ...on.d.perExample.worstCase], [...off.d.perExample.attacks, ...off.d.perExample.worstCase]),
    seconds: { stepGraph: on.seconds, tape: off.seconds },
    engineRuns: { stepGraph: on.runs, tape: off.runs },
  };
}

function flag(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

const pct = (v: number) => (100 * v).toFixed(1);

async function main(argv: string[]): Promise<void> {
  const run = argv[0];
  if (!run || !fs.existsSync(path.join(run, MANIFEST))) throw new UsageError('usage: outcomes RUN [--data mnist] [--only LABEL-PART] [--limit K] [--out FILE]; RUN must be a finished run folder');
  const data = flag(argv, 'data', 'mnist');
  const only = flag(argv, 'only', '');
  const limit = Number(flag(argv, 'limit', 'Infinity'));
  const out = flag(argv, 'out', '');
  const info = await initBackend('onnx');
  if (info.name !== 'onnx') throw new Error(`outcomes: needs the onnx engine, got ${info.name}`);
  const manifest = readManifest(run);
  const jobs = manifest.jobs.filter((j) => j.kind === 'eval' && j.group.startsWith(`${data}/`) && j.label.includes(only)).slice(0, limit);
  console.log(`backend ${info.name}; ${jobs.length} eval jobs of ${data} in ${run}`);
  const models: Record<string, unknown>[] = [];
  const datasets = new Map<string, Dataset>();
  for (const job of jobs as PlannedJob[]) {
    const spec = job.spec as unknown as EvalJobAttackSpec & { dataset: DatasetSpec; trainJobId: string | null };
    if (!spec.trainJobId) continue; // an imported model: no trained model in the run folder
    const recorded = readResult(run, job.id) as EvalJobResult | null;
    const dkey = JSON.stringify(spec.dataset);
    const dataset = datasets.get(dkey) ?? loadDataset(spec.dataset);
    datasets.set(dkey, dataset);
    const { model } = await loadModel(modelDir(run, spec.trainJobId));
    try {
      const f = asClassifier(model);
      const config = attackConfigOfSpec(spec);
      const r = stepGraphVsTape(f, dataset, config, () => evalRngOfSpec(spec), spec.eval.nExamples);
      const rows = r.rows.map((row) => {
        const rec = recorded?.robustCorrect?.[row.key];
        const stepGraphRows = r.stepGraph.perExample.attacks.find((p) => p.key === row.key);
        const tapeRows = r.tape.perExample.attacks.find((p) => p.key === row.key);
        return {
          ...row,
          recorded: rec ? rec.reduce((s, v) => s + v, 0) / rec.length : null,
          stepGraphVsRecorded: rec ? rec.filter((v, i) => v !== r.stepGraph.perExample.attacks.find((p) => p.key === row.key)?.correct[i]).length : null,
          // what each path ended at on the examples that differ: predicted class and the attack's final loss
          // (a worst-case row's differences are its attacks' differences, explained there)
          differing: (r.stepGraph.adversarial?.[row.key] ? row.differIndices : []).map((i) => ({
            index: i,
            label: r.stepGraph.perExample.label[i],
            stepGraph: { pred: stepGraphRows?.pred[i], loss: stepGraphRows?.loss[i] },
            tape: { pred: tapeRows?.pred[i], loss: tapeRows?.loss[i] },
            ...explainDifference(
              f,
              dataset,
              spec.eval.batchSize,
              i,
              adversarialRow(r.stepGraph, row.key, i, inputSize(dataset.inputShape)),
              adversarialRow(r.tape, row.key, i, inputSize(dataset.inputShape)),
              r.stepGraph.perExample.label[i],
              model,
            ),
          })),
        };
      });
      const largest = Math.max(...rows.map((x) => x.points));
      const differ = rows.reduce((s, x) => s + x.differ, 0);
      console.log(
        `${job.label}: clean ${pct(r.stepGraph.result.cleanAccuracy)}%; attacks ${r.seconds.stepGraph.toFixed(1)} s (step graph) vs ${r.seconds.tape.toFixed(1)} s (tape), engine calls ${r.engineRuns.stepGraph} vs ${r.engineRuns.tape}; ${differ} differing outcomes; largest difference ${largest.toFixed(1)} points`,
      );
      for (const x of rows) {
        console.log(
          `  ${x.key.padEnd(20)} ${pct(x.stepGraph).padStart(5)} (step graph) ${pct(x.tape).padStart(5)} (tape) ${x.recorded === null ? '  -  ' : pct(x.recorded).padStart(5)} (run)  differ ${x.differ}${x.stepGraphVsRecorded ? `, step graph vs run ${x.stepGraphVsRecorded}` : ''}`,
        );
        for (const e of x.differing)
          console.log(
            `    example ${e.index}: margin ${e.margin.stepGraph.toFixed(4)} (step graph) ${e.margin.tape.toFixed(4)} (tape); ${e.pixelsDiffer} pixels differ (max ${e.maxPixelDiff.toFixed(3)}); clean gradient: ${e.cleanGradient.signsDiffer} signs differ, largest ${e.cleanGradient.largestRelative.toExponential(1)} of the row's max, max rel diff ${e.cleanGradient.maxRelDiff.toExponential(1)}${e.cleanGradient.cosFloat64 ? `; 1-p ${e.cleanGradient.oneMinusP?.toExponential(1)}, cosine with float64 ${e.cleanGradient.cosFloat64.stepGraph.toFixed(3)} (step graph) ${e.cleanGradient.cosFloat64.tape.toFixed(3)} (tape)` : ''}`,
          );
      }
      models.push({
        evalJobId: job.id,
        trainJobId: spec.trainJobId,
        label: job.label,
        seed: spec.seed,
        cleanAccuracy: r.stepGraph.result.cleanAccuracy,
        seconds: r.seconds,
        engineRuns: r.engineRuns,
        largestPoints: largest,
        differ,
        rows,
      });
      if (out) {
        fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
        const summary = { models: models.length, largestPoints: Math.max(...models.map((m) => m.largestPoints as number)), differ: models.reduce((s, m) => s + (m.differ as number), 0) };
        fs.writeFileSync(
          out,
          `${JSON.stringify({ date: new Date().toISOString(), command: `node dist/bench/outcomes.js ${argv.join(' ')}`, run, runCommit: manifest.env.gitCommit, backend: info, summary, models }, null, 1)}\n`,
        );
      }
    } finally {
      model.dispose();
    }
  }
  const largest = Math.max(0, ...models.map((m) => m.largestPoints as number));
  console.log(`${models.length} models; largest robust-accuracy difference ${largest.toFixed(1)} points; ${models.reduce((s, m) => s + (m.differ as number), 0)} differing outcomes in all`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(e instanceof UsageError ? 2 : 1);
  });
}
