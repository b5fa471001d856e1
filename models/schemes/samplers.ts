import { Rng } from '../../data/rng';

/**
 * The mixing-weight samplers of the mixup family, as pure functions of an
 * `Rng`. Every scheme, plot and probe that needs a mixing weight calls these;
 * there is no second implementation.
 *
 * Convention: `Rng.beta(a, b)` is the standard one (numpy.random.beta(a, b)),
 * density proportional to t^(a-1) (1-t)^(b-1), mean a / (a + b).
 */

/**
 * Symmetric mixup weight (Zhang et al. 2018): lambda ~ Beta(alpha, alpha).
 * Used with mixed inputs AND mixed one-hot labels.
 */
export function sampleMixupLambda(alpha: number, rng: Rng): number {
  return rng.beta(alpha, alpha);
}

/**
 * Asymmetric mixup weight: lambda ~ Beta(alpha + 1, alpha) in the standard
 * convention (numpy.random.beta(alpha + 1, alpha)), mean
 * (alpha + 1) / (2 alpha + 1). lambda is the weight on the example whose
 * label is kept: x~ = lambda x + (1 - lambda) x', target = one-hot(y).
 *
 * With cross-entropy this gives, in expectation over an independent partner
 * x', the same objective as symmetric mixup with Beta(alpha, alpha) and mixed
 * labels. (Blog posts that write this as "Beta(alpha, alpha + 1)" use the
 * reversed argument order; the draws here are concentrated near 1: at
 * alpha = 0.1 the mean is 0.9167 and about 80.5% of draws exceed 0.9.)
 */
export function sampleAsymLambda(alpha: number, rng: Rng): number {
  return rng.beta(alpha + 1, alpha);
}

/** Mean of the asymmetric weight: (alpha + 1) / (2 alpha + 1). */
export function asymLambdaMean(alpha: number): number {
  return (alpha + 1) / (2 * alpha + 1);
}
