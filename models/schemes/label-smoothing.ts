import * as tf from '@tensorflow/tfjs';
import { oneHot } from '../loss';
import { checkKeys, checkVicinity, numberParam, repeatIndex, rowsTensor } from './common';
import { SchemeFactory, SchemeDescriptor } from './types';

/** Parameters of `label-smoothing` (Szegedy et al. 2016). */
export interface LabelSmoothingParams {
  /**
   * Targets (1 - eps) onehot(y) + eps / K, eps in [0, 1). Default 0.1 (the
   * value of the Inception-v3 paper).
   */
  eps?: number;
}

export const LABEL_SMOOTHING_DEFAULTS: Required<LabelSmoothingParams> = { eps: 0.1 };
export const LABEL_SMOOTHING_KEYS = ['eps'] as const;

export function resolveLabelSmoothingParams(params: Record<string, unknown>): Required<LabelSmoothingParams> {
  checkKeys('label-smoothing', params, LABEL_SMOOTHING_KEYS);
  return { eps: numberParam('label-smoothing', params, 'eps', LABEL_SMOOTHING_DEFAULTS.eps, (v) => v >= 0 && v < 1, 'a number in [0, 1)') };
}

/** Smoothed one-hot targets: (1 - eps) onehot(y) + eps / K. */
export function smoothTargets(y: Int32Array, numClasses: number, eps: number): tf.Tensor2D {
  return tf.tidy(() => tf.add(tf.mul(oneHot(y, numClasses), 1 - eps), eps / numClasses) as tf.Tensor2D);
}

/**
 * Label smoothing: inputs unchanged, soft targets (1 - eps) onehot(y) + eps/K.
 * Its vicinity is the point itself (repeated) with the smoothed target.
 */
export const labelSmoothing: SchemeFactory = (params, dataset) => {
  const p = resolveLabelSmoothingParams(params);
  const set = dataset.train;
  const K = dataset.numClasses;
  return {
    name: 'label-smoothing',
    settings: { ...p },
    trainingSet: set,
    makeBatch: ({ x, y }) => ({ x, targets: smoothTargets(y, K, p.eps) }),
    vicinity: (point, n) => {
      checkVicinity('label-smoothing', point, n, set.n);
      return {
        x: rowsTensor(set.x, dataset.inputShape, repeatIndex(point, n)),
        targets: smoothTargets(new Int32Array(n).fill(set.y[point]), K, p.eps),
      };
    },
  };
};

/** The `label-smoothing` entry of the scheme registry (models/schemes/index.ts). */
export const labelSmoothingScheme: SchemeDescriptor = {
  name: 'label-smoothing',
  summary: 'clean inputs, targets (1 - eps) onehot + eps / K',
  keys: LABEL_SMOOTHING_KEYS,
  defaults: () => ({ ...LABEL_SMOOTHING_DEFAULTS }),
  documentedDefaults: { ...LABEL_SMOOTHING_DEFAULTS },
  create: labelSmoothing,
};
