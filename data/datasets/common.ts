import type { Norm } from '../../contract/norms';
import { ParamSpec } from '../descriptor';
import { Rng } from '../rng';
import { stratifiedSplit } from '../split';
import { LabelledSet } from '../types';

export const seedParam: ParamSpec = { kind: 'int', min: 0, help: 'seed of the generator, split or subsets', default: 0 };

/** Default radii of image datasets with pixels in [0, 1]. */
export const IMAGE_EPS: Record<Norm, number[]> = { linf: [0.1, 0.2, 0.3], l2: [0.5, 1, 2] };

/**
 * `n` examples of `set` keeping each class's share (largest remainder), in a
 * seeded order; the whole set, in its own order, when `n` is its size.
 */
export function stratifiedSubset(set: LabelledSet, d: number, numClasses: number, n: number, rng: Rng): LabelledSet {
  if (n >= set.n) return set;
  return stratifiedSplit(set, d, numClasses, n, rng).test;
}
