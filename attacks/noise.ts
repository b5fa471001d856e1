import * as tf from '@tensorflow/tfjs';
import { AttackContext, BaseAttack, requireInt, scorePoints, worstOfCandidates } from './base';
import { AttackDescriptor, attackCost, project, randomInBall } from './types';
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

/** The `noise` entry of the attack registry. */
export const noiseDescriptor: AttackDescriptor = {
  name: 'noise',
  summary: 'Random-noise baseline: uniform draws from the eps-ball, no model information',
  family: 'baseline',
  norms: ['linf', 'l2'],
  params: { draws: { kind: 'int', min: 1, max: 100000 } },
  defaults: () => ({ draws: 20 }),
  // One forward pass per draw, then the final scoring.
  cost: (p) => attackCost(0, (p.draws as number) + 1),
  loss: () => null,
  scaleInvariant: () => false,
  argmaxOnly: true,
  invariantCounterpart: () => null,
  make: (norm, p) => new NoiseAttack({ norm, draws: p.draws as number }),
};
