/**
 * Issue 23, item 5: a ResNet-20 trained on the Fashion-MNIST stand-in (NOT
 * CIFAR: Fashion-MNIST padded to 32x32x3) must be far above chance and above
 * the MNIST CNN trained on the same data with the same recipe and budget.
 * Both train on the onnx engine with cifar-quick's recipe (SGD 0.1, momentum
 * 0.9, weight decay 5e-4, cosine, crop-flip), 2,000 images, 5 epochs, seed 0,
 * batch 64; measured 77.3% (ResNet-20) and 72.0% (CNN) on the 1,000 test
 * images (`vicinal run` of the same study, docs/datasets.md). The floor is
 * pinned below the measured figure; the comparison is the property itself.
 */
import test from 'ava';
import { loadDataset } from '../../data/registry';
import { Rng } from '../../data/rng';
import { buildModel, ModelSpec } from '../../models/build';
import { erm } from '../../models/schemes/erm';
import { trainModel } from '../../models/train';
import { requireOnnxEngine } from '../backend/engine-setup';
import { needsSystemPackage } from '../system-deps';

const fmnist = needsSystemPackage('dataset-fashion-mnist', __filename);

/** Pinned below the measured 0.773; chance is 0.1. */
const RESNET_FLOOR = 0.74;

test.before(requireOnnxEngine);

fmnist.serial(
  'ResNet-20 on the Fashion-MNIST stand-in (NOT CIFAR), 2,000 images, 5 epochs of the cifar-quick recipe on the engine: above the pinned floor and above the MNIST CNN trained the same way',
  (t) => {
    const ds = loadDataset({ name: 'fashion-mnist-32', nTrain: 2000, nTest: 1000 });
    const accuracy = (spec: ModelSpec): number => {
      const m = buildModel(spec, ds.inputShape, ds.numClasses, 0);
      try {
        const h = trainModel(m, ds, erm({}, ds, new Rng(0)), {
          optimizer: 'sgd',
          learningRate: 0.1,
          momentum: 0.9,
          weightDecay: 0.0005,
          lrSchedule: 'cosine',
          augment: 'crop-flip',
          batchSize: 64,
          epochs: 5,
          seed: 0,
          evalEveryEpoch: false,
        });
        return h[h.length - 1].testAccuracy;
      } finally {
        m.dispose();
      }
    };
    const resnet = accuracy({ arch: 'resnet', depth: 20 });
    const cnn = accuracy({ arch: 'cnn', filters: [16, 32] });
    t.log(`test accuracy on 1,000 stand-in images: ResNet-20 ${resnet}, MNIST CNN ${cnn} (chance 0.1)`);
    t.true(resnet >= RESNET_FLOOR, `ResNet-20 ${resnet} < ${RESNET_FLOOR}`);
    t.true(resnet > cnn, `ResNet-20 ${resnet} is not above the MNIST CNN's ${cnn}`);
  },
);
