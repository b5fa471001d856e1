import { DatasetDescriptor, numberParams, pickSpecKeys } from '../descriptor';
import { makeCircles } from '../moons';
import { seedParam } from './common';

const PARAMS = {
  seed: seedParam,
  nTrain: { kind: 'int', min: 1, help: 'training points', default: 1000 },
  nTest: { kind: 'int', min: 1, help: 'test points', default: 1000 },
  noise: { kind: 'number', min: 0, help: 'std of the Gaussian noise', default: 0.05 },
  factor: { kind: 'number', above: 0, help: 'radius of the inner circle (the outer has radius 1)', default: 0.5 },
} as const;

/** Two concentric circles (data/moons.ts), generated from the seed. */
export const circlesDataset: DatasetDescriptor = {
  name: 'circles',
  summary: 'two concentric circles, seeded',
  params: PARAMS,
  shape: { kind: 'points', inputShape: [2], numClasses: 2, bounds: { lo: -3, hi: 3 } },
  defaultEps: () => [0.05, 0.1, 0.2],
  isPoints2d: () => true,
  specFromSettings: (s) => pickSpecKeys(circlesDataset, s),
  load(spec, rng) {
    const { seed, nTrain, nTest, noise, factor } = numberParams(PARAMS, spec);
    const train = makeCircles(nTrain, noise, factor, rng.fork('train'));
    const test = makeCircles(nTest, noise, factor, rng.fork('test'));
    return {
      name: 'circles',
      inputShape: [2],
      numClasses: 2,
      bounds: { lo: -3, hi: 3 },
      train,
      test,
      settings: { name: 'circles', seed, nTrain, nTest, noise, factor },
    };
  },
};
