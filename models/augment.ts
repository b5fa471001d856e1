/**
 * Data augmentation of training batches: random crop with zero padding and
 * random horizontal flip, as in the CIFAR literature (torchvision's
 * RandomCrop(32, padding=4) then RandomHorizontalFlip(), as in
 * facebookresearch/mixup-cifar10). Seeded: each batch's draws come from its
 * own generator. Applied before the scheme, so mixup mixes augmented images.
 */
import { Rng } from '../data/rng';

export const AUGMENTS = ['none', 'crop-flip'] as const;
export type Augment = (typeof AUGMENTS)[number];

/** Zero padding on each side before the crop, in pixels. */
export const CROP_PADDING = 4;

/**
 * One [h, w, c] image, shifted by (dy, dx) in [-pad, pad] (zero where the
 * window leaves the image) and then mirrored left-right when `flip`:
 * out[r][col] = in[r + dy][(flip ? w - 1 - col : col) + dx].
 */
export function cropFlipImage(src: Float32Array, srcAt: number, out: Float32Array, outAt: number, shape: readonly number[], dy: number, dx: number, flip: boolean): void {
  const [h, w, c] = shape;
  for (let r = 0; r < h; r++) {
    const sr = r + dy;
    for (let col = 0; col < w; col++) {
      const sc = (flip ? w - 1 - col : col) + dx;
      const o = outAt + (r * w + col) * c;
      if (sr < 0 || sr >= h || sc < 0 || sc >= w) {
        for (let k = 0; k < c; k++) out[o + k] = 0;
      } else {
        const s = srcAt + (sr * w + sc) * c;
        for (let k = 0; k < c; k++) out[o + k] = src[s + k];
      }
    }
  }
}

/** A batch of n [h, w, c] images, each cropped at a seeded offset and flipped with probability 1/2. */
export function cropFlipBatch(x: Float32Array, n: number, shape: readonly number[], rng: Rng, pad = CROP_PADDING): Float32Array {
  const d = shape[0] * shape[1] * shape[2];
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const dy = rng.int(2 * pad + 1) - pad;
    const dx = rng.int(2 * pad + 1) - pad;
    const flip = rng.int(2) === 1;
    cropFlipImage(x, i * d, out, i * d, shape, dy, dx, flip);
  }
  return out;
}
