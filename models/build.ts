import * as tf from '@tensorflow/tfjs';
import { buildResNet, RESNET_ARCHS, RESNET_DEFAULTS, ResNetArch, resnetDepthProblem } from './resnet';

export const ARCH_NAMES = ['linear', 'mlp', 'cnn', ...RESNET_ARCHS] as const;
export type Arch = (typeof ARCH_NAMES)[number];

/** Network settings; every field has a documented default. */
export interface ModelSpec {
  /** "linear" (logistic regression) | "mlp" | "cnn" | "resnet" (CIFAR ResNet-6n+2) | "preact-resnet" (PreAct ResNet-18); models/resnet.ts. */
  arch: Arch;
  /** mlp: hidden widths. Default [256, 256]. */
  hidden?: number[];
  /** cnn: filters of the two conv layers. Default [16, 32]. */
  filters?: [number, number];
  /** cnn: square kernel size of both convs. Default 5. */
  kernelSize?: number;
  /** resnet: 6n + 2, default 20; preact-resnet: 18. */
  depth?: number;
  /** resnet, preact-resnet: filters of the first stage. Default 16 (resnet), 64 (preact-resnet). */
  width?: number;
}

const isResNet = (arch: string): arch is ResNetArch => (RESNET_ARCHS as readonly string[]).includes(arch);

/** Widths of the mlp and cnn when the spec leaves them out. */
export const MODEL_DEFAULTS = { hidden: [256, 256], filters: [16, 32] as [number, number], kernelSize: 5 } as const;

function withDefaults(spec: ModelSpec): Required<ModelSpec> {
  if (!(ARCH_NAMES as readonly string[]).includes(spec.arch)) {
    throw new Error(`unknown model arch "${spec.arch}"; allowed: ${ARCH_NAMES.join(', ')}`);
  }
  const hidden = spec.hidden ?? [...MODEL_DEFAULTS.hidden];
  const filters = spec.filters ?? ([...MODEL_DEFAULTS.filters] as [number, number]);
  const kernelSize = spec.kernelSize ?? MODEL_DEFAULTS.kernelSize;
  const resnet = isResNet(spec.arch) ? RESNET_DEFAULTS[spec.arch] : { depth: 0, width: 0 };
  const depth = spec.depth ?? resnet.depth;
  const width = spec.width ?? resnet.width;
  for (const w of [...hidden, ...filters, kernelSize, ...(isResNet(spec.arch) ? [width] : [])]) {
    if (!Number.isInteger(w) || w < 1) throw new Error(`model widths must be integers >= 1, got ${w}`);
  }
  if (isResNet(spec.arch)) {
    const problem = resnetDepthProblem(spec.arch, depth);
    if (problem) throw new Error(problem);
  }
  return { arch: spec.arch, hidden, filters, kernelSize, depth, width };
}

/** Fills in defaults; only the fields that matter for the architecture are kept (recorded in results). */
export function resolveModelSpec(spec: ModelSpec): ModelSpec {
  const s = withDefaults(spec);
  if (s.arch === 'mlp') return { arch: 'mlp', hidden: s.hidden };
  if (s.arch === 'cnn') return { arch: 'cnn', filters: s.filters, kernelSize: s.kernelSize };
  if (isResNet(s.arch)) return { arch: s.arch, depth: s.depth, width: s.width };
  return { arch: s.arch };
}

/**
 * Builds a network that outputs logits (never softmax). Weights are drawn
 * from seeded Glorot-uniform initialisers, one derived seed per layer, so the
 * same seed gives identical weights on the same backend.
 */
export function buildModel(spec: ModelSpec, inputShape: number[], numClasses: number, seed: number): tf.LayersModel {
  const s = withDefaults(spec);
  if (isResNet(s.arch)) return buildResNet({ arch: s.arch, depth: s.depth, width: s.width }, inputShape, numClasses, seed);
  let layerIndex = 0;
  const init = () => tf.initializers.glorotUniform({ seed: seed * 1000 + ++layerIndex });
  const model = tf.sequential({ name: `${s.arch}` });
  if (s.arch === 'cnn') {
    if (inputShape.length !== 3) throw new Error(`cnn needs image inputs [h, w, c], got [${inputShape.join(', ')}]`);
    for (const [i, f] of s.filters.entries()) {
      model.add(
        tf.layers.conv2d({
          ...(i === 0 ? { inputShape } : {}),
          filters: f,
          kernelSize: s.kernelSize,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(),
          name: `conv${i + 1}`,
        }),
      );
      model.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `pool${i + 1}` }));
    }
    model.add(tf.layers.flatten({ name: 'flatten' }));
  } else if (inputShape.length > 1) {
    model.add(tf.layers.flatten({ inputShape, name: 'flatten' }));
  }
  const first = model.layers.length === 0;
  if (s.arch === 'mlp') {
    s.hidden.forEach((units, i) => {
      model.add(
        tf.layers.dense({
          ...(first && i === 0 ? { inputShape } : {}),
          units,
          activation: 'relu',
          kernelInitializer: init(),
          name: `dense${i + 1}`,
        }),
      );
    });
  }
  model.add(
    tf.layers.dense({
      ...(model.layers.length === 0 ? { inputShape } : {}),
      units: numClasses,
      kernelInitializer: init(),
      name: 'logits',
    }),
  );
  return model;
}
