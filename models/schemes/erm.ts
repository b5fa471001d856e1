import { oneHot } from '../loss';
import { SchemeFactory } from './types';

/** Empirical risk minimisation: the batch as it is, one-hot targets. */
export const erm: SchemeFactory = (_params, dataset) => ({
  name: 'erm',
  settings: {},
  trainingSet: dataset.train,
  makeBatch: ({ x, y }) => ({ x, targets: oneHot(y, dataset.numClasses) }),
});
