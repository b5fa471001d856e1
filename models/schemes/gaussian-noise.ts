import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../data/rng';
import { Dataset } from '../../data/types';
import { oneHot } from '../loss';
import { checkKeys, checkVicinity, numberParam, repeatIndex, rowsTensor } from './common';
import { SchemeFactory, SchemeDescriptor } from './types';

/** Parameters of `gaussian-noise` (input noise augmentation). */
export interface GaussianNoiseParams {
  /**
   * Standard deviation of the isotropic noise added to every input value,
   * sigma >= 0 (0 is ERM). Default depends on the dataset's scale:
   * mnist 0.1 (a tenth of the [0, 1] pixel range; digits stay legible),
   * moons 0.1 (the data's own noise level; the two moons are ~0.5 apart),
   * circles 0.05 (its noise level; the circles are 0.5 apart), other
   * datasets 0.1.
   */
  sigma?: number;
}

export const GAUSSIAN_NOISE_SIGMA_DEFAULTS: Record<string, number> = { mnist: 0.1, moons: 0.1, circles: 0.05 };
export const GAUSSIAN_NOISE_SIGMA_FALLBACK = 0.1;
export const GAUSSIAN_NOISE_KEYS = ['sigma'] as const;

export function gaussianNoiseDefaults(datasetName: string): Required<GaussianNoiseParams> {
  return { sigma: GAUSSIAN_NOISE_SIGMA_DEFAULTS[datasetName] ?? GAUSSIAN_NOISE_SIGMA_FALLBACK };
}

export function resolveGaussianNoiseParams(params: Record<string, unknown>, dataset: Dataset): Required<GaussianNoiseParams> {
  checkKeys('gaussian-noise', params, GAUSSIAN_NOISE_KEYS);
  return { sigma: numberParam('gaussian-noise', params, 'sigma', gaussianNoiseDefaults(dataset.name).sigma, (v) => v >= 0, 'a number >= 0') };
}

/** x + sigma * N(0, 1) per value (normals from `rng`), clipped to [lo, hi]. */
function addNoise(x: tf.Tensor, sigma: number, lo: number, hi: number, rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    const noise = new Float32Array(x.size);
    for (let i = 0; i < noise.length; i++) noise[i] = sigma * rng.normal();
    return tf.clipByValue(tf.add(x, tf.tensor(noise, x.shape)), lo, hi);
  });
}

/**
 * Gaussian input noise: x~ = clip(x + N(0, sigma^2 I), bounds), one-hot
 * targets. The normals come from the step's Rng, so runs are reproducible.
 * Vicinity of a point: n independent noisy copies.
 */
export const gaussianNoise: SchemeFactory = (params, dataset) => {
  const p = resolveGaussianNoiseParams(params, dataset);
  const set = dataset.train;
  const K = dataset.numClasses;
  const { lo, hi } = dataset.bounds;
  return {
    name: 'gaussian-noise',
    settings: { ...p },
    trainingSet: set,
    makeBatch: ({ x, y, rng }) => ({ x: addNoise(x, p.sigma, lo, hi, rng), targets: oneHot(y, K) }),
    vicinity: (point, n, rng) => {
      checkVicinity('gaussian-noise', point, n, set.n);
      return {
        x: addNoise(rowsTensor(set.x, dataset.inputShape, repeatIndex(point, n)), p.sigma, lo, hi, rng),
        targets: oneHot(new Int32Array(n).fill(set.y[point]), K),
      };
    },
  };
};

/** The `gaussian-noise` entry of the scheme registry (models/schemes/index.ts). */
export const gaussianNoiseScheme: SchemeDescriptor = {
  name: 'gaussian-noise',
  summary: 'inputs + N(0, sigma^2) clipped to the dataset bounds, one-hot targets',
  keys: GAUSSIAN_NOISE_KEYS,
  defaults: (datasetName) => ({ ...gaussianNoiseDefaults(datasetName) }),
  documentedDefaults: { sigma: { ...GAUSSIAN_NOISE_SIGMA_DEFAULTS, '*': GAUSSIAN_NOISE_SIGMA_FALLBACK } },
  create: gaussianNoise,
};
