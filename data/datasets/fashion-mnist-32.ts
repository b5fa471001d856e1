/**
 * A STAND-IN for CIFAR-shaped data, not CIFAR: Fashion-MNIST (Debian's
 * dataset-fashion-mnist) zero-padded from 28x28 to 32x32 (2 pixels each
 * side) and replicated to 3 identical channels, so [32, 32, 3] in [0, 1]
 * like CIFAR. No registry this project reaches ships CIFAR; this is how the
 * tests and the measured figures check that ResNets train on real images of
 * that shape. Results on it say nothing about CIFAR accuracy.
 */
import { DatasetDescriptor, pickSpecKeys } from '../descriptor';
import { LabelledSet } from '../types';
import { CIFAR_EPS } from './cifar';
import { fashionMnistDataset } from './fashion-mnist';

const SRC = 28;
const SIDE = 32;
const PAD = (SIDE - SRC) / 2;

/** 28x28x1 rows to 32x32x3 rows: zero border of 2, the grey value in all three channels. */
export function padToCifarShape(set: LabelledSet): LabelledSet {
  const x = new Float32Array(set.n * SIDE * SIDE * 3);
  for (let i = 0; i < set.n; i++) {
    for (let r = 0; r < SRC; r++) {
      for (let c = 0; c < SRC; c++) {
        const v = set.x[i * SRC * SRC + r * SRC + c];
        const o = i * SIDE * SIDE * 3 + ((r + PAD) * SIDE + c + PAD) * 3;
        x[o] = v;
        x[o + 1] = v;
        x[o + 2] = v;
      }
    }
  }
  return { x, y: set.y, n: set.n };
}

export const fashionMnist32Dataset: DatasetDescriptor = {
  name: 'fashion-mnist-32',
  summary: 'STAND-IN for CIFAR-shaped data (not CIFAR): Fashion-MNIST padded to 32x32 and replicated to 3 channels',
  params: fashionMnistDataset.params,
  shape: { kind: 'images', inputShape: [SIDE, SIDE, 3], numClasses: 10, bounds: { lo: 0, hi: 1 } },
  needs: fashionMnistDataset.needs,
  // The CIFAR radii: the stand-in exists to exercise the CIFAR set-up.
  defaultEps: (norm) => CIFAR_EPS[norm],
  isPoints2d: () => false,
  specFromSettings: (s) => pickSpecKeys(fashionMnist32Dataset, s),
  load(spec, rng) {
    const base = fashionMnistDataset.load({ ...spec, name: 'fashion-mnist' }, rng);
    return {
      name: 'fashion-mnist-32',
      inputShape: [SIDE, SIDE, 3],
      numClasses: 10,
      bounds: { lo: 0, hi: 1 },
      train: padToCifarShape(base.train),
      test: padToCifarShape(base.test),
      settings: { ...base.settings, name: 'fashion-mnist-32', standIn: 'Fashion-MNIST padded to 32x32x3, a stand-in for CIFAR-shaped data' },
    };
  },
};
