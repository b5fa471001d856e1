import * as tf from '@tensorflow/tfjs';
import { datasetDescriptor, isDatasetName } from '../data/registry';
import { Rng } from '../data/rng';
import { Dataset, inputSize, takeLabels, takeRows } from '../data/types';
import { crossEntropy } from './loss';
import { asClassifier, evaluateAccuracy } from './predict';
import { engineTrainClassifier, onnxEngineEnabled } from '../backend/onnx/engine';
import type { LayersModelLike } from '../backend/onnx/compile';
import { Augment, AUGMENTS, cropFlipBatch } from './augment';
import { learningRateAt, LR_SCHEDULES, LrSchedule } from './schedule';
import { Scheme } from './schemes/types';

/** Optimisation settings; every field has a documented default. */
export interface TrainConfig {
  /** "adam" | "sgd" (SGD with momentum). Default "adam". */
  optimizer?: 'adam' | 'sgd';
  /** Default 1e-3 (adam), 0.05 (sgd). */
  learningRate?: number;
  /** sgd momentum. Default 0.9. */
  momentum?: number;
  /** Default 128. */
  batchSize?: number;
  /** Default 10. */
  epochs?: number;
  /** Seed of the shuffling and of the scheme's random choices. Default 0. */
  seed?: number;
  /** Evaluate test accuracy after every epoch (else only after the last). Default true. */
  evalEveryEpoch?: boolean;
  /**
   * L2 weight decay added to every trainable weight's gradient at each step
   * (PyTorch SGD's weight_decay), outside the scheme's loss, so the reported
   * loss and the scheme see only the data term. Default 0.
   */
  weightDecay?: number;
  /** "constant" | "step" | "cosine" | "onecycle" (models/schedule.ts); learningRate is the base (onecycle: the peak). Default "constant". */
  lrSchedule?: LrSchedule;
  /** "none" | "crop-flip" (models/augment.ts). Default: the dataset's (crop-flip for cifar10/cifar100), else none. */
  augment?: Augment;
}

/** Fills in defaults; `datasetName` gives the dataset's default augmentation. */
export function resolveTrainConfig(c: TrainConfig, datasetName?: string): Required<TrainConfig> {
  const optimizer = c.optimizer ?? 'adam';
  if (optimizer !== 'adam' && optimizer !== 'sgd') throw new Error(`unknown optimizer "${optimizer}"; allowed: adam, sgd`);
  const r = {
    optimizer,
    learningRate: c.learningRate ?? (optimizer === 'adam' ? 1e-3 : 0.05),
    momentum: c.momentum ?? 0.9,
    batchSize: c.batchSize ?? 128,
    epochs: c.epochs ?? 10,
    seed: c.seed ?? 0,
    evalEveryEpoch: c.evalEveryEpoch ?? true,
    weightDecay: c.weightDecay ?? 0,
    lrSchedule: c.lrSchedule ?? 'constant',
    augment: c.augment ?? (isDatasetName(datasetName) ? datasetDescriptor(datasetName).augment : undefined) ?? 'none',
  };
  if (!(r.learningRate > 0)) throw new Error(`learningRate must be > 0, got ${r.learningRate}`);
  if (!(r.momentum >= 0 && r.momentum < 1)) throw new Error(`momentum must be in [0, 1), got ${r.momentum}`);
  if (!Number.isInteger(r.batchSize) || r.batchSize < 1) throw new Error(`batchSize must be an integer >= 1, got ${r.batchSize}`);
  if (!Number.isInteger(r.epochs) || r.epochs < 1) throw new Error(`epochs must be an integer >= 1, got ${r.epochs}`);
  if (!(r.weightDecay >= 0)) throw new Error(`weightDecay must be >= 0, got ${r.weightDecay}`);
  if (!(LR_SCHEDULES as readonly string[]).includes(r.lrSchedule)) throw new Error(`unknown lrSchedule "${r.lrSchedule}"; allowed: ${LR_SCHEDULES.join(', ')}`);
  if (!(AUGMENTS as readonly string[]).includes(r.augment)) throw new Error(`unknown augment "${r.augment}"; allowed: ${AUGMENTS.join(', ')}`);
  return r;
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss over the epoch's steps (on the scheme's batches). */
  loss: number;
  /** Share of the scheme's training batches whose argmax matches the argmax of their targets. */
  trainAccuracy: number;
  /** Clean test accuracy after the epoch (NaN when not evaluated). */
  testAccuracy: number;
  seconds: number;
}

export class DivergedError extends Error {
  constructor(
    readonly epoch: number,
    readonly loss: number,
  ) {
    super(`training diverged in epoch ${epoch}: mean loss is ${loss}`);
    this.name = 'DivergedError';
  }
}

export type EpochCallback = (r: EpochRecord, stepsDone: number, stepsTotal: number) => void;

/**
 * The network's training-mode forward: with the onnx engine selected, the
 * engine's train-mode classifier (forward and every weight gradient in one
 * onnxruntime run each; the model's variables are the op's inputs, so the
 * tfjs optimizer updates them as before); else the tfjs layers. A model with
 * active Dropout stays on tfjs for training (the engine has no dropout; at
 * inference Dropout is the identity and the engine serves it).
 */
export function trainingForward(model: tf.LayersModel): (x: tf.Tensor) => tf.Tensor2D {
  const activeDropout = model.layers.some((l) => l.getClassName() === 'Dropout' && Number(l.getConfig().rate ?? 0) > 0);
  if (onnxEngineEnabled() && !activeDropout) return engineTrainClassifier(model as unknown as LayersModelLike);
  return (x) => model.apply(x, { training: true }) as tf.Tensor2D;
}

/** Sets an optimizer's rate for the next step (SGD keeps it as a scalar tensor, Adam as a number). */
function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  if (optimizer instanceof tf.SGDOptimizer) optimizer.setLearningRate(lr);
  else (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/**
 * One step with weight decay: the loss's gradients plus weightDecay * w for
 * every trainable weight, then the optimizer's update. Returns the loss
 * (without the decay term).
 */
function decayedStep(optimizer: tf.Optimizer, lossOf: () => tf.Scalar, trainable: tf.Variable[], weightDecay: number): tf.Scalar {
  const { value, grads } = tf.variableGrads(lossOf, trainable);
  const decayed: tf.NamedTensorMap = {};
  for (const v of trainable) {
    if (grads[v.name]) decayed[v.name] = tf.add(grads[v.name], tf.mul(v, weightDecay));
  }
  optimizer.applyGradients(decayed);
  return value;
}

/**
 * Trains `model` in place on the scheme's batches. One epoch is
 * ceil(train.n / batchSize) steps whatever the scheme, so every scheme gets
 * the same budget; batches are drawn from consecutive seeded permutations of
 * the scheme's training set (for semi-supervised schemes: the labelled subset).
 * Throws DivergedError when an epoch's loss is NaN or infinite.
 */
export function trainModel(model: tf.LayersModel, dataset: Dataset, scheme: Scheme, config: TrainConfig, onEpoch?: EpochCallback): EpochRecord[] {
  const c = resolveTrainConfig(config, dataset.name);
  const rng = new Rng(c.seed);
  const orderRng = rng.fork('order');
  const stepRng = rng.fork('scheme');
  // Forked after the others, so runs without augmentation draw as before.
  const augmentRng = c.augment === 'none' ? null : rng.fork('augment');
  if (c.augment === 'crop-flip' && dataset.inputShape.length !== 3) throw new Error(`augment crop-flip needs image inputs [h, w, c], got [${dataset.inputShape.join(', ')}]`);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = c.optimizer === 'adam' ? tf.train.adam(c.learningRate) : tf.train.momentum(c.learningRate, c.momentum);
  const set = scheme.trainingSet;
  const d = inputSize(dataset.inputShape);
  const steps = Math.ceil(dataset.train.n / c.batchSize);
  const classifier = asClassifier(model);
  const forward = trainingForward(model);
  const history: EpochRecord[] = [];
  let order = orderRng.permutation(set.n);
  let cursor = 0;
  const nextIndices = (b: number): Int32Array => {
    const idx = new Int32Array(b);
    for (let i = 0; i < b; i++) {
      if (cursor === order.length) {
        order = orderRng.permutation(set.n);
        cursor = 0;
      }
      idx[i] = order[cursor++];
    }
    return idx;
  };
  try {
    for (let epoch = 1; epoch <= c.epochs; epoch++) {
      const t0 = Date.now();
      // Sums stay on the device; one read-back per epoch.
      let lossSum = tf.keep(tf.scalar(0));
      let hitSum = tf.keep(tf.scalar(0));
      let seen = 0;
      for (let s = 0; s < steps; s++) {
        const b = Math.min(c.batchSize, dataset.train.n - s * c.batchSize);
        const idx = nextIndices(b);
        const ctxRng = stepRng.fork(`${epoch}:${s}`);
        if (c.lrSchedule !== 'constant') setLearningRate(optimizer, learningRateAt(c.lrSchedule, c.learningRate, epoch, s, steps, c.epochs));
        let rows = takeRows(set.x, d, idx);
        if (augmentRng) rows = cropFlipBatch(rows, b, dataset.inputShape, augmentRng.fork(`${epoch}:${s}`));
        let hits: tf.Tensor | null = null;
        const [newLoss, newHits] = tf.tidy(() => {
          const xb = tf.tensor(rows, [b, ...dataset.inputShape]);
          const batch = scheme.makeBatch({ x: xb, y: takeLabels(set.y, idx), index: idx, rng: ctxRng, model: classifier });
          const lossOf = () => {
            const logits = forward(batch.x);
            // Kept: minimize() disposes everything its closure creates but the loss.
            hits = tf.keep(tf.sum(tf.equal(tf.argMax(logits, -1), tf.argMax(batch.targets, -1)).toFloat()));
            return crossEntropy(logits, batch.targets);
          };
          // The model's trainable weights only: a frozen layer's tf.Variable is still marked trainable (option-A shortcuts).
          const loss = c.weightDecay > 0 ? decayedStep(optimizer, lossOf, trainable, c.weightDecay) : (optimizer.minimize(lossOf, true, trainable) as tf.Scalar);
          return [tf.add(lossSum, tf.mul(loss, b)), tf.add(hitSum, hits as unknown as tf.Tensor)];
        });
        (hits as tf.Tensor | null)?.dispose();
        lossSum.dispose();
        hitSum.dispose();
        lossSum = tf.keep(newLoss);
        hitSum = tf.keep(newHits);
        seen += b;
      }
      const loss = (lossSum.dataSync()[0] as number) / seen;
      const trainAccuracy = (hitSum.dataSync()[0] as number) / seen;
      lossSum.dispose();
      hitSum.dispose();
      if (!Number.isFinite(loss)) throw new DivergedError(epoch, loss);
      const testAccuracy = c.evalEveryEpoch || epoch === c.epochs ? evaluateAccuracy(classifier, dataset.test.x, dataset.test.y, dataset.inputShape, dataset.numClasses) : NaN;
      const record = { epoch, loss, trainAccuracy, testAccuracy, seconds: (Date.now() - t0) / 1000 };
      history.push(record);
      onEpoch?.(record, epoch * steps, c.epochs * steps);
    }
  } finally {
    optimizer.dispose();
  }
  return history;
}
