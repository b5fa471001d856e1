import test from 'ava';
import { PlannedJob } from '../../contract/results';
import { resnetForwardFlops } from '../../models/resnet';
import { readStudyFile, studySchema } from '../../suite/config';
import { planStudy } from '../../suite/plan';
import { CIFAR_QUICK_MEASURED, COST_WEIGHTS, RESNET_ENGINE_MEASURED, costEstimateLines, estimateCosts, estimateJobSeconds, estimateWallSeconds } from '../../suite/shard';

const W = COST_WEIGHTS;
const NO_JOBS = new Map<string, PlannedJob>();

/** A ResNet training job on CIFAR-10-shaped data (32x32x3, 10 classes). */
function trainJob(model: Record<string, unknown>, nTrain: number, epochs: number, nTest = 1000): PlannedJob {
  return {
    id: 't',
    kind: 'train',
    label: 't',
    group: 'g',
    schemeLabel: 'erm',
    seed: 0,
    dependsOn: [],
    spec: { dataset: { name: 'cifar10', nTrain, nTest }, model, scheme: { name: 'erm', params: {} }, train: { epochs, batchSize: 128 }, seed: 0 },
  };
}

const trainSeconds = (model: Record<string, unknown>, nTrain: number, epochs: number, nTest = 1000) => estimateJobSeconds(trainJob(model, nTrain, epochs, nTest), NO_JOBS) - W.jobSec;
const R20 = { arch: 'resnet', depth: 20, width: 16 };

test('ResNet-20 FLOPs: 81,102,080 per forward pass, the hand count of its convolutions (2 x 40,551,040 multiply-adds)', (t) => {
  // conv 3->16 at 32x32; stage 1: six 16->16 at 32x32; stages 2, 3: one cin->2cin and five 2cin->2cin at 16x16, 8x8; dense 64->10.
  const macs = 32 * 32 * 9 * 3 * 16 + 6 * 32 * 32 * 9 * 16 * 16 + (16 * 16 * 9 * 16 * 32 + 5 * 16 * 16 * 9 * 32 * 32) + (8 * 8 * 9 * 32 * 64 + 5 * 8 * 8 * 9 * 64 * 64) + 64 * 10;
  t.is(macs, 40_551_040);
  t.is(resnetForwardFlops({ arch: 'resnet', depth: 20, width: 16 }, [32, 32, 3], 10), 2 * macs);
});

test('the ResNet training rate is the measured throughput: an epoch of N images costs N / (measured images/s), plus a forward pass over the test set', (t) => {
  const T = RESNET_ENGINE_MEASURED.trainImagesPerSec;
  t.true(Math.abs(trainSeconds(R20, 10_000, 1, 1000) - (10_000 + 1000 / 3) / T) < 1e-6);
  t.true(Math.abs(trainSeconds(R20, 50_000, 1, 3) - (50_000 + 1) / T) < 1e-6);
  // PreAct ResNet-18 has its own measured rate (its wide convolutions run faster per FLOP than ResNet-20's).
  const P = RESNET_ENGINE_MEASURED.preactTrainImagesPerSec;
  t.true(Math.abs(trainSeconds({ arch: 'preact-resnet', depth: 18, width: 64 }, 50_000, 1, 1000) - (50_000 + 1000 / 3) / P) < 1e-6);
});

test('ResNet training estimates scale as the FLOP count: linearly in epochs and training images, as resnetForwardFlops in depth and width', (t) => {
  const close = (a: number, b: number) => Math.abs(a / b - 1) < 1e-9;
  t.true(close(trainSeconds(R20, 10_000, 10), 2 * trainSeconds(R20, 10_000, 5)));
  // Doubling the training set doubles the training passes, not the per-epoch test pass: the difference is one more nTrain of training.
  t.true(close(trainSeconds(R20, 20_000, 5) - trainSeconds(R20, 10_000, 5), trainSeconds(R20, 10_000, 5, 0)));
  const f = (m: { arch: 'resnet' | 'preact-resnet'; depth: number; width: number }) => resnetForwardFlops(m, [32, 32, 3], 10);
  for (const m of [
    { arch: 'resnet' as const, depth: 32, width: 16 },
    { arch: 'resnet' as const, depth: 56, width: 16 },
    { arch: 'resnet' as const, depth: 20, width: 32 },
  ]) {
    t.true(close(trainSeconds(m, 10_000, 5) / trainSeconds(R20, 10_000, 5), f(m) / f({ arch: 'resnet', depth: 20, width: 16 })), `${m.arch}-${m.depth} width ${m.width}`);
  }
  // Depth 56 (9 blocks per stage to ResNet-20's 3), by hand: stem, 18 convs 16->16 at 32x32, then per stage one cin->2cin and 17 2cin->2cin, dense.
  const macs56 = 32 * 32 * 9 * 3 * 16 + 18 * 32 * 32 * 9 * 16 * 16 + (16 * 16 * 9 * 16 * 32 + 17 * 16 * 16 * 9 * 32 * 32) + (8 * 8 * 9 * 32 * 64 + 17 * 8 * 8 * 9 * 64 * 64) + 64 * 10;
  const r56 = trainSeconds({ arch: 'resnet', depth: 56, width: 16 }, 10_000, 5) / trainSeconds(R20, 10_000, 5);
  t.true(close(r56, macs56 / 40_551_040), String(r56));
});

test('the ResNet attack rate is the measured PGD-10: 128 images attacked by PGD-10 at one ε cost the measured milliseconds, plus the sanity checks', (t) => {
  const job = (attacks: unknown[], n: number): PlannedJob =>
    ({
      id: 'e',
      kind: 'eval',
      label: 'e',
      group: 'g',
      schemeLabel: 'erm',
      seed: 0,
      dependsOn: ['t'],
      trainJobId: 't',
      spec: {
        dataset: { name: 'cifar10', nTrain: 10_000, nTest: 1000 },
        trainJobId: 't',
        eval: { norm: 'linf', eps: [8 / 255], nExamples: n, batchSize: 128 },
        attacks,
        probes: false,
        transfer: null,
        seed: 0,
      },
    }) as PlannedJob;
  const byId = new Map([['t', trainJob(R20, 10_000, 5)]]);
  const withPgd = estimateJobSeconds(job([{ name: 'pgd', params: { steps: 10 } }], 128), byId);
  const without = estimateJobSeconds(job([], 128), byId);
  t.true(Math.abs(withPgd - without - RESNET_ENGINE_MEASURED.pgd10Batch128Ms / 1000) < 1e-9);
});

test('the runner replay: 3 trains then 3 evals (each needing its train) take 2t + e on 2 workers, t + e on 6, the sum on 1', (t) => {
  const trainIds = ['t1', 't2', 't3'];
  const jobs = [
    ...trainIds.map((id) => ({ id, kind: 'train', label: id, group: 'g', schemeLabel: id, seed: 0, dependsOn: [], spec: {} })),
    ...trainIds.map((id) => ({ id: `e${id}`, kind: 'eval', label: `e${id}`, group: 'g', schemeLabel: id, seed: 0, dependsOn: [id], spec: {} })),
  ] as PlannedJob[];
  const sec = new Map(jobs.map((j) => [j.id, j.kind === 'train' ? 10 : 3]));
  t.is(estimateWallSeconds(jobs, sec, 2), 23);
  t.is(estimateWallSeconds(jobs, sec, 6), 13);
  t.is(estimateWallSeconds(jobs, sec, 1), 39);
  // A shard's dependency on another shard's job counts as done.
  t.is(estimateWallSeconds(jobs.slice(3), sec, 3), 3);
});

/** The cifar-quick plan on the onnx engine (schema-parsed: the planner needs no CIFAR files, only validation checks them). */
function cifarQuickPlan(): PlannedJob[] {
  return planStudy(studySchema.parse(readStudyFile('cifar-quick').raw), 'onnx');
}

test('cifar-quick: the estimate is within a factor of 2 of the measured end-to-end run (10 min 51 s wall, 2 workers), per job kind and in wall time', (t) => {
  const jobs = cifarQuickPlan();
  t.is(jobs.length, 6);
  const cost = estimateCosts(jobs);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const est = (kind: string) => mean(jobs.filter((j) => j.kind === kind).map((j) => cost.seconds.get(j.id) as number));
  const within2 = (e: number, m: number) => e / m <= 2 && m / e <= 2;
  const trainRatio = est('train') / mean(CIFAR_QUICK_MEASURED.trainJobSeconds);
  const evalRatio = est('eval') / mean(CIFAR_QUICK_MEASURED.evalJobSeconds);
  const wall = estimateWallSeconds(jobs, cost.seconds, CIFAR_QUICK_MEASURED.workers);
  const wallRatio = wall / CIFAR_QUICK_MEASURED.wallSeconds;
  t.log(`estimate / measured: train job ${trainRatio.toFixed(2)}x, eval job ${evalRatio.toFixed(2)}x, wall ${wallRatio.toFixed(2)}x (${wall.toFixed(0)} s vs ${CIFAR_QUICK_MEASURED.wallSeconds} s)`);
  t.true(within2(est('train'), mean(CIFAR_QUICK_MEASURED.trainJobSeconds)), `train ${trainRatio}`);
  t.true(within2(est('eval'), mean(CIFAR_QUICK_MEASURED.evalJobSeconds)), `eval ${evalRatio}`);
  t.true(within2(wall, CIFAR_QUICK_MEASURED.wallSeconds), `wall ${wallRatio}`);
  const lines = costEstimateLines(jobs, cost, 2);
  t.regex(lines[0], /^estimated cost: .* of 1-worker time \(train .*, eval .*\); about \d+ min \d+ s wall with 2 workers/);
  t.true(lines.some((l) => l.includes('calibration: ResNet rates') && l.includes('651 s wall')));
});
