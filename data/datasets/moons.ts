import { DatasetDescriptor, numberParams, pickSpecKeys } from '../descriptor';
import { makeMoons } from '../moons';
import { seedParam } from './common';

const PARAMS = {
  seed: seedParam,
  nTrain: { kind: 'int', min: 1, help: 'training points', default: 1000 },
  nTest: { kind: 'int', min: 1, help: 'test points', default: 1000 },
  noise: { kind: 'number', min: 0, help: 'std of the Gaussian noise', default: 0.1 },
} as const;

/** Two interleaving half circles (data/moons.ts), generated from the seed. */
export const moonsDataset: DatasetDescriptor = {
  name: 'moons',
  summary: 'two interleaving half circles, seeded',
  params: PARAMS,
  // Attack bounds: a box that holds every point with a margin, so the clip
  // never binds near the data but the input space is still bounded.
  shape: { kind: 'points', inputShape: [2], numClasses: 2, bounds: { lo: -3, hi: 3 } },
  defaultEps: () => [0.05, 0.1, 0.2],
  isPoints2d: () => true,
  specFromSettings: (s) => pickSpecKeys(moonsDataset, s),
  load(spec, rng) {
    const { seed, nTrain, nTest, noise } = numberParams(PARAMS, spec);
    const train = makeMoons(nTrain, noise, rng.fork('train'));
    const test = makeMoons(nTest, noise, rng.fork('test'));
    return { name: 'moons', inputShape: [2], numClasses: 2, bounds: { lo: -3, hi: 3 }, train, test, settings: { name: 'moons', seed, nTrain, nTest, noise } };
  },
};
