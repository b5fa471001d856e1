import * as tf from '@tensorflow/tfjs';
import { AttackContext, BaseAttack, requireInt, scorePoints, worstOfCandidates } from './base';
import { project, randomInBall } from './types';
import { Norm } from '../contract/norms';

export interface NoiseSettings {
  norm: Norm;
  /** Uniform draws from the eps-ball per example, integer >= 1. */
  draws: number;
}

/**
 * Random-noise baseline: `draws` independent uniform points of the eps-ball
 * (clipped to the bounds) per example, no gradients. An example counts as
 * broken when any draw is misclassified (targeted: classified as the
 * target); the output is that first draw, else the draw with the highest
 * loss. A white-box attack weaker than this is a sign of gradient masking.
 * Cost: `draws` forward passes.
 */
export class NoiseAttack extends BaseAttack {
  readonly name = 'noise';
  readonly norm: Norm;
  readonly settings: Readonly<NoiseSettings>;

  constructor(settings: NoiseSettings) {
    super();
    requireInt('noise', 'draws', settings.draws, 1);
    this.norm = settings.norm;
    this.settings = { ...settings };
  }

  protected perturb(ctx: AttackContext): tf.Tensor {
    return worstOfCandidates(this.settings.draws, () => {
      const xi = project(randomInBall(ctx.x, ctx.eps, this.norm, ctx.rng), ctx.x, ctx.eps, this.norm, ctx.bounds);
      return { x: xi, ...scorePoints(xi, ctx) };
    });
  }
}
