import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../../contract/errors';
import { DatasetDescriptor, numberParams, pickSpecKeys } from '../descriptor';
import { NdArray } from '../readers/ndarray';
import { readIdx } from '../readers/idx';
import { requireSystemFile } from '../system-file';
import { LabelledSet } from '../types';
import { stratifiedSubset, seedParam } from './common';

export const FASHION_MNIST_PACKAGE = 'dataset-fashion-mnist';
/** Where Debian's dataset-fashion-mnist installs the original gzipped IDX files; VICINAL_FASHION_MNIST_DIR overrides it. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'] as const;
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
const N_TRAIN = 60_000;
const N_TEST = 10_000;
const PIXELS = 28 * 28;

/** Parsed IDX files by path, kept while their size and mtime stay the same (the validation stand-in and the job read the same files). */
const cache = new Map<string, { key: string; array: NdArray }>();

function readCached(file: string): NdArray {
  const st = fs.statSync(file);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = cache.get(file);
  if (hit && hit.key === key) return hit.array;
  const array = readIdx(file);
  cache.set(file, { key, array });
  return array;
}

function readSplit(dir: string, prefix: 'train' | 't10k', n: number): LabelledSet {
  const imagesFile = requireSystemFile('fashion-mnist', path.join(dir, `${prefix}-images-idx3-ubyte.gz`), FASHION_MNIST_PACKAGE);
  const labelsFile = requireSystemFile('fashion-mnist', path.join(dir, `${prefix}-labels-idx1-ubyte.gz`), FASHION_MNIST_PACKAGE);
  const images = readCached(imagesFile);
  const labels = readCached(labelsFile);
  if (images.shape.join(',') !== `${n},28,28` || images.dtype !== 'uint8') {
    throw new UsageError(`${imagesFile}: expected ${n} 28x28 uint8 images, the IDX header says [${images.shape.join(', ')}] of ${images.dtype}`);
  }
  if (labels.shape.join(',') !== `${n}` || labels.dtype !== 'uint8') {
    throw new UsageError(`${labelsFile}: expected ${n} uint8 labels, the IDX header says [${labels.shape.join(', ')}] of ${labels.dtype}`);
  }
  const x = new Float32Array(n * PIXELS);
  for (let i = 0; i < x.length; i++) x[i] = images.values[i] / 255;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = labels.values[i];
    if (y[i] > 9) throw new UsageError(`${labelsFile}: label ${y[i]} at row ${i} is out of range for 10 classes`);
  }
  return { x, y, n };
}

const PARAMS = {
  seed: seedParam,
  nTrain: { kind: 'int', min: 1, max: N_TRAIN, help: `training images: all ${N_TRAIN} as published, or a seeded stratified subset`, default: N_TRAIN },
  nTest: { kind: 'int', min: 1, max: N_TEST, help: `test images: all ${N_TEST} as published, or a seeded stratified subset`, default: N_TEST },
} as const;

/**
 * Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 28x28 grey images of 10
 * kinds of clothing, the original 60,000 training and 10,000 test images as
 * published, from Debian's dataset-fashion-mnist. Pixels are divided by 255.
 * nTrain / nTest below the full sizes take seeded stratified subsets.
 */
export const fashionMnistDataset: DatasetDescriptor = {
  name: 'fashion-mnist',
  summary: 'Fashion-MNIST, the original 60,000 + 10,000 images from the Debian package dataset-fashion-mnist',
  params: PARAMS,
  shape: { kind: 'images', inputShape: [28, 28, 1], numClasses: 10, bounds: { lo: 0, hi: 1 } },
  needs: { debianPackage: FASHION_MNIST_PACKAGE, files: FASHION_MNIST_FILES.map((f) => `${FASHION_MNIST_DIR}/${f}`) },
  // Fashion-MNIST models are far less robust than MNIST ones: MNIST's 0.3 leaves nothing to compare.
  defaultEps: (norm) => (norm === 'linf' ? [0.02, 0.05, 0.1] : [0.25, 0.5, 1]),
  isPoints2d: () => false,
  specFromSettings: (s) => pickSpecKeys(fashionMnistDataset, s),
  load(spec, rng) {
    const { seed, nTrain, nTest } = numberParams(PARAMS, spec);
    const dir = process.env.VICINAL_FASHION_MNIST_DIR || FASHION_MNIST_DIR;
    const trainRng = rng.fork('train');
    const testRng = rng.fork('test');
    const train = stratifiedSubset(readSplit(dir, 'train', N_TRAIN), PIXELS, 10, nTrain, trainRng);
    const test = stratifiedSubset(readSplit(dir, 't10k', N_TEST), PIXELS, 10, nTest, testRng);
    return {
      name: 'fashion-mnist',
      inputShape: [28, 28, 1],
      numClasses: 10,
      bounds: { lo: 0, hi: 1 },
      train,
      test,
      settings: { name: 'fashion-mnist', seed, nTrain, nTest, source: `Debian ${FASHION_MNIST_PACKAGE} (${N_TRAIN} + ${N_TEST} images)` },
    };
  },
};
