/**
 * Residual networks for 32x32 images, as TF.js Functional models (saved and
 * loaded by tf.loadLayersModel like every vicinal model):
 *
 * - `resnet`: the CIFAR ResNets of He et al. 2016 (sec. 4.2), depth 6n + 2
 *   (20, 32, 44, 56, 110): a 3x3 conv, three stages of n basic blocks with
 *   w, 2w, 4w filters (w = width, 16 in the paper) at strides 1, 2, 2, global
 *   average pooling and a dense layer. Post-activation blocks
 *   (conv-BN-ReLU-conv-BN, add, ReLU); where a stage halves the resolution the
 *   shortcut is the paper's option A, x[::2, ::2] with its channels padded by
 *   zeros, built as a frozen (non-trainable) 1x1 stride-2 convolution whose
 *   kernel is [I | 0], so the trainable parameters are the paper's
 *   (ResNet-20: 0.27M).
 * - `preact-resnet`: the pre-activation ResNet-18 of He et al. 2016b as in
 *   facebookresearch/mixup-cifar10 (models/preact_resnet.py): a 3x3 conv with
 *   w filters (64), four stages of two pre-activation blocks (BN-ReLU-conv-
 *   BN-ReLU-conv, add) with w, 2w, 4w, 8w filters at strides 1, 2, 2, 2, a
 *   1x1 conv shortcut (applied to the block's pre-activated input) where the
 *   shape changes, then average pooling and a dense layer, with no final
 *   BN-ReLU (11.17M parameters at width 64).
 *
 * BatchNorm uses PyTorch's settings (epsilon 1e-5, running averages with
 * momentum 0.1, i.e. Keras momentum 0.9); running statistics update in
 * training mode, and inference mode uses them only, so a prediction never
 * depends on the rest of its batch. Convs use TF's "same" padding (at stride
 * 2 it pads bottom/right only, where PyTorch pads both sides by one), have no
 * bias, and He-normal initial weights, seeded per layer.
 */
import * as tf from '@tensorflow/tfjs';

export const RESNET_ARCHS = ['resnet', 'preact-resnet'] as const;
export type ResNetArch = (typeof RESNET_ARCHS)[number];

/** Depths each family builds; `resnet` takes any 6n + 2 >= 8. */
export const PREACT_DEPTHS = [18] as const;

export interface ResNetSpec {
  arch: ResNetArch;
  /** resnet: 6n + 2 (default 20); preact-resnet: 18. */
  depth: number;
  /** Filters of the first stage: resnet default 16, preact-resnet 64. */
  width: number;
}

export const RESNET_DEFAULTS: Record<ResNetArch, { depth: number; width: number }> = {
  resnet: { depth: 20, width: 16 },
  'preact-resnet': { depth: 18, width: 64 },
};

/** Why a depth is not built, or null. */
export function resnetDepthProblem(arch: ResNetArch, depth: number): string | null {
  if (arch === 'resnet') return Number.isInteger(depth) && depth >= 8 && (depth - 2) % 6 === 0 ? null : `resnet depth must be 6n + 2 >= 8 (20, 32, 44, 56, 110), got ${depth}`;
  return (PREACT_DEPTHS as readonly number[]).includes(depth) ? null : `preact-resnet depth must be ${PREACT_DEPTHS.join(' or ')}, got ${depth}`;
}

type Sym = tf.SymbolicTensor;

/** Layer factory with per-layer seeded initialisers and unique names. */
function layerKit(seed: number) {
  let index = 0;
  const he = () => tf.initializers.heNormal({ seed: seed * 1000 + ++index });
  return {
    conv: (x: Sym, filters: number, kernelSize: number, strides: number, name: string): Sym =>
      tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: he(), name }).apply(x) as Sym,
    bn: (x: Sym, name: string): Sym => tf.layers.batchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5, name }).apply(x) as Sym,
    relu: (x: Sym, name: string): Sym => tf.layers.reLU({ name }).apply(x) as Sym,
    add: (a: Sym, b: Sym, name: string): Sym => tf.layers.add({ name }).apply([a, b]) as Sym,
    head: (x: Sym, numClasses: number): Sym => {
      const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as Sym;
      return tf.layers.dense({ units: numClasses, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + ++index }), name: 'logits' }).apply(pooled) as Sym;
    },
  };
}

/** Option A shortcut: a frozen 1x1 stride-2 conv with kernel [I | 0] (subsample, then zero channels). */
function optionAShortcut(x: Sym, outC: number, name: string): { out: Sym; layer: tf.layers.Layer } {
  const layer = tf.layers.conv2d({ filters: outC, kernelSize: 1, strides: 2, padding: 'same', useBias: false, trainable: false, kernelInitializer: 'zeros', name });
  return { out: layer.apply(x) as Sym, layer };
}

/** Sets each frozen option-A kernel to [I | 0]. */
function setIdentityPad(layer: tf.layers.Layer, inC: number, outC: number): void {
  const k = new Float32Array(inC * outC);
  for (let c = 0; c < inC; c++) k[c * outC + c] = 1;
  layer.setWeights([tf.tensor4d(k, [1, 1, inC, outC])]);
}

function buildCifarResNet(inputShape: number[], numClasses: number, depth: number, width: number, seed: number): tf.LayersModel {
  const L = layerKit(seed);
  const n = (depth - 2) / 6;
  const input = tf.input({ shape: inputShape, name: 'input' });
  let x = L.relu(L.bn(L.conv(input, width, 3, 1, 'conv0'), 'bn0'), 'relu0');
  let channels = width;
  const frozen: { layer: tf.layers.Layer; inC: number; outC: number }[] = [];
  for (let stage = 0; stage < 3; stage++) {
    const filters = width * 2 ** stage;
    for (let b = 0; b < n; b++) {
      const strides = stage > 0 && b === 0 ? 2 : 1;
      const p = `s${stage + 1}b${b + 1}`;
      let y = L.relu(L.bn(L.conv(x, filters, 3, strides, `${p}_conv1`), `${p}_bn1`), `${p}_relu1`);
      y = L.bn(L.conv(y, filters, 3, 1, `${p}_conv2`), `${p}_bn2`);
      let shortcut = x;
      if (strides !== 1 || channels !== filters) {
        const s = optionAShortcut(x, filters, `${p}_shortcut`);
        frozen.push({ layer: s.layer, inC: channels, outC: filters });
        shortcut = s.out;
      }
      x = L.relu(L.add(y, shortcut, `${p}_add`), `${p}_relu2`);
      channels = filters;
    }
  }
  const model = tf.model({ inputs: input, outputs: L.head(x, numClasses), name: `resnet${depth}` });
  for (const f of frozen) setIdentityPad(f.layer, f.inC, f.outC);
  return model;
}

function buildPreActResNet(inputShape: number[], numClasses: number, width: number, seed: number): tf.LayersModel {
  const L = layerKit(seed);
  const input = tf.input({ shape: inputShape, name: 'input' });
  let x = L.conv(input, width, 3, 1, 'conv0');
  let channels = width;
  for (let stage = 0; stage < 4; stage++) {
    const filters = width * 2 ** stage;
    for (let b = 0; b < 2; b++) {
      const strides = stage > 0 && b === 0 ? 2 : 1;
      const p = `s${stage + 1}b${b + 1}`;
      const pre = L.relu(L.bn(x, `${p}_bn1`), `${p}_relu1`);
      const shortcut = strides !== 1 || channels !== filters ? L.conv(pre, filters, 1, strides, `${p}_shortcut`) : x;
      let y = L.conv(pre, filters, 3, strides, `${p}_conv1`);
      y = L.conv(L.relu(L.bn(y, `${p}_bn2`), `${p}_relu2`), filters, 3, 1, `${p}_conv2`);
      x = L.add(y, shortcut, `${p}_add`);
      channels = filters;
    }
  }
  return tf.model({ inputs: input, outputs: L.head(x, numClasses), name: 'preact-resnet18' });
}

/** Builds a ResNet that outputs logits; the spec has defaults filled and has been checked. */
export function buildResNet(spec: ResNetSpec, inputShape: number[], numClasses: number, seed: number): tf.LayersModel {
  if (inputShape.length !== 3) throw new Error(`${spec.arch} needs image inputs [h, w, c], got [${inputShape.join(', ')}]`);
  const problem = resnetDepthProblem(spec.arch, spec.depth);
  if (problem) throw new Error(problem);
  return spec.arch === 'resnet' ? buildCifarResNet(inputShape, numClasses, spec.depth, spec.width, seed) : buildPreActResNet(inputShape, numClasses, spec.width, seed);
}

/** Forward FLOPs (2 x multiply-adds) per example of the convolutions and the dense layer, for the cost model. */
export function resnetForwardFlops(spec: ResNetSpec, inputShape: readonly number[], numClasses: number): number {
  const [h, w, c] = inputShape;
  const conv = (side: number, k: number, cin: number, cout: number) => 2 * side * side * k * k * cin * cout;
  let side = Math.max(h, w);
  let f = conv(side, 3, c, spec.width);
  let cin = spec.width;
  const stages = spec.arch === 'resnet' ? 3 : 4;
  const blocks = spec.arch === 'resnet' ? (spec.depth - 2) / 6 : 2;
  for (let s = 0; s < stages; s++) {
    const cout = spec.width * 2 ** s;
    for (let b = 0; b < blocks; b++) {
      if (s > 0 && b === 0) side = Math.ceil(side / 2);
      f += conv(side, 3, cin, cout) + conv(side, 3, cout, cout);
      if (spec.arch === 'preact-resnet' && cin !== cout) f += conv(side, 1, cin, cout);
      cin = cout;
    }
  }
  return f + 2 * cin * numClasses;
}
