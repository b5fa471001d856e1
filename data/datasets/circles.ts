import { DatasetDescriptor, pickSpecKeys } from '../descriptor';
import { makeCircles } from '../moons';
import { seedParam } from './common';

/** Two concentric circles (data/moons.ts), generated from the seed. */
export const circlesDataset: DatasetDescriptor = {
  name: 'circles',
  summary: 'two concentric circles, seeded',
  params: {
    seed: seedParam,
    nTrain: { kind: 'int', min: 1, help: 'training points', default: '1000' },
    nTest: { kind: 'int', min: 1, help: 'test points', default: '1000' },
    noise: { kind: 'number', min: 0, help: 'std of the Gaussian noise', default: '0.05' },
    factor: { kind: 'number', above: 0, help: 'radius of the inner circle (the outer has radius 1)', default: '0.5' },
  },
  shape: { kind: 'points', inputShape: [2], numClasses: 2, bounds: { lo: -3, hi: 3 } },
  defaultEps: () => [0.05, 0.1, 0.2],
  isPoints2d: () => true,
  specFromSettings: (s) => pickSpecKeys(circlesDataset, s),
  load(spec, rng) {
    const seed = spec.seed ?? 0;
    const nTrain = spec.nTrain ?? 1000;
    const nTest = spec.nTest ?? 1000;
    const noise = spec.noise ?? 0.05;
    const factor = spec.factor ?? 0.5;
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
