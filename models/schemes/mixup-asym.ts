import * as tf from '@tensorflow/tfjs';
import { oneHot } from '../loss';
import { alphaParam, checkKeys, checkVicinity, choiceParam, drawLambdas, LAMBDA_PER, LambdaPer, mixRows, repeatIndex, rowsTensor } from './common';
import { sampleAsymLambda } from './samplers';
import { SchemeFactory, SchemeDescriptor } from './types';

/** Parameters of `mixup-asym` (mixup rewritten to mix inputs only). */
export interface MixupAsymParams {
  /**
   * lambda ~ Beta(alpha + 1, alpha) in the standard convention
   * (numpy.random.beta(alpha + 1, alpha)), alpha > 0. Default 0.2, unlike
   * mixup's 1.0: the two minimise the same objective in expectation only at
   * equal alpha, so every shipped profile compares them at matched alphas
   * (quick and nightly: 0.2 and 1.0; full: 0.1, 0.2, 0.4, 1.0), and a study
   * naming both without an alpha compares mixup at 1.0 with mixup-asym at 0.2
   * (lambda ~ Beta(1.2, 0.2), mean 0.857). alpha 1.0
   * (lambda ~ Beta(2, 1), mean 2/3) cost 1.8 points of clean MNIST accuracy
   * vs ERM (MLP, 10 epochs): the hard label of x on heavily mixed inputs is a
   * noisier gradient than mixup's soft label, though equal in expectation.
   * alpha 0.2 measured -0.45 / +0.40 points (2 seeds).
   */
  alpha?: number;
  /** "example" (one lambda per example) | "batch". Default "example". */
  lambdaPer?: LambdaPer;
}

export const MIXUP_ASYM_DEFAULTS: Required<MixupAsymParams> = { alpha: 0.2, lambdaPer: 'example' };
export const MIXUP_ASYM_KEYS = ['alpha', 'lambdaPer'] as const;

export function resolveMixupAsymParams(params: Record<string, unknown>): Required<MixupAsymParams> {
  checkKeys('mixup-asym', params, MIXUP_ASYM_KEYS);
  return {
    alpha: alphaParam('mixup-asym', params, MIXUP_ASYM_DEFAULTS.alpha),
    lambdaPer: choiceParam('mixup-asym', params, 'lambdaPer', MIXUP_ASYM_DEFAULTS.lambdaPer, LAMBDA_PER),
  };
}

/**
 * Asymmetric mixup: x~ = lambda x + (1 - lambda) x', target onehot(y) (the
 * label of x is kept, the partner's label is never used), lambda ~
 * Beta(alpha + 1, alpha), partner x' from a seeded permutation of the batch.
 *
 * With cross-entropy, linear in the target, E l(lam x1 + (1-lam) x2,
 * lam y1 + (1-lam) y2) with lam ~ Beta(a, a) equals E l(lam x + (1-lam) x', y)
 * with lam ~ Beta(a + 1, a) and x' independent of (x, y): same objective in
 * expectation, no label mixing.
 *
 * Vicinity of a point: partners uniform over the training set.
 */
export const mixupAsym: SchemeFactory = (params, dataset) => {
  const p = resolveMixupAsymParams(params);
  const set = dataset.train;
  const K = dataset.numClasses;
  return {
    name: 'mixup-asym',
    settings: { ...p },
    trainingSet: set,
    makeBatch: ({ x, y, rng }) => {
      const b = y.length;
      const partner = rng.permutation(b);
      const lambda = drawLambdas(b, p.lambdaPer, () => sampleAsymLambda(p.alpha, rng));
      return {
        x: mixRows(x, tf.gather(x, partner), lambda),
        targets: oneHot(y, K),
        info: { lambda, partner, partnerSource: 'batch' },
      };
    },
    vicinity: (point, n, rng) => {
      checkVicinity('mixup-asym', point, n, set.n);
      const partner = new Int32Array(n);
      for (let i = 0; i < n; i++) partner[i] = rng.int(set.n);
      const lambda = drawLambdas(n, 'example', () => sampleAsymLambda(p.alpha, rng));
      return {
        x: mixRows(rowsTensor(set.x, dataset.inputShape, repeatIndex(point, n)), rowsTensor(set.x, dataset.inputShape, partner), lambda),
        targets: oneHot(new Int32Array(n).fill(set.y[point]), K),
        info: { lambda, partner, partnerSource: 'trainingSet' },
      };
    },
  };
};

/** The `mixup-asym` entry of the scheme registry (models/schemes/index.ts). */
export const mixupAsymScheme: SchemeDescriptor = {
  name: 'mixup-asym',
  summary: 'inputs mixed, label of x kept, lambda ~ Beta(alpha+1, alpha) (numpy convention); same objective as mixup in expectation',
  keys: MIXUP_ASYM_KEYS,
  defaults: () => ({ ...MIXUP_ASYM_DEFAULTS }),
  documentedDefaults: { ...MIXUP_ASYM_DEFAULTS },
  create: mixupAsym,
};
