import { oneHot } from '../loss';
import { checkKeys, checkVicinity, repeatIndex, rowsTensor } from './common';
import { SchemeFactory, SchemeDescriptor } from './types';

/** erm has no parameters. */
export type ErmParams = Record<string, never>;
export const ERM_DEFAULTS: ErmParams = {};

/**
 * Empirical risk minimisation: the batch as it is, one-hot targets. Its
 * vicinal distribution is the point itself (a Dirac), so `vicinity` returns
 * the point repeated.
 */
export const erm: SchemeFactory = (params, dataset) => {
  checkKeys('erm', params, []);
  const set = dataset.train;
  return {
    name: 'erm',
    settings: {},
    trainingSet: set,
    makeBatch: ({ x, y }) => ({ x, targets: oneHot(y, dataset.numClasses) }),
    vicinity: (point, n) => {
      checkVicinity('erm', point, n, set.n);
      const idx = repeatIndex(point, n);
      return {
        x: rowsTensor(set.x, dataset.inputShape, idx),
        targets: oneHot(new Int32Array(n).fill(set.y[point]), dataset.numClasses),
      };
    },
  };
};

/** The `erm` entry of the scheme registry (models/schemes/index.ts). */
export const ermScheme: SchemeDescriptor = {
  name: 'erm',
  summary: 'empirical risk minimisation: clean inputs, one-hot targets',
  keys: [],
  defaults: () => ({ ...ERM_DEFAULTS }),
  documentedDefaults: { ...ERM_DEFAULTS },
  create: erm,
};
