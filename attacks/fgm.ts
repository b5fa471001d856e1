import * as tf from '@tensorflow/tfjs';
import { AttackContext, BaseAttack, gradientStep } from './base';
import { AttackLoss } from './losses';
import { AttackDescriptor, attackCost, LOSS_RULE, lossParam, marginCounterpart } from './types';

/**
 * Fast Gradient Method, L2 (Goodfellow et al. 2015; the L2 form of FGSM):
 * x' = clip(x + eps * g / ||g||_2, bounds) with g = grad_x CE(f(x), y).
 * A zero gradient leaves x unchanged. Targeted: x - eps * g_t / ||g_t||_2.
 */
export class FgmAttack extends BaseAttack {
  readonly name = 'fgm';
  readonly norm = 'l2' as const;
  readonly settings: Readonly<{ steps: 1; loss: AttackLoss }>;

  /** `loss`: the loss whose gradient gives the step (default cross-entropy, as published). */
  constructor(loss: AttackLoss = 'ce') {
    super();
    this.settings = { steps: 1, loss };
  }

  protected perturb(ctx: AttackContext): tf.Tensor {
    return gradientStep(ctx, ctx.x, ctx.eps);
  }
}

/** The `fgm` entry of the attack registry. */
export const fgmDescriptor: AttackDescriptor = {
  name: 'fgm',
  summary: 'Fast Gradient Method, the L2 form of FGSM: one normalised gradient step of length eps',
  family: 'single-step',
  norms: ['l2'],
  params: { loss: LOSS_RULE },
  defaults: () => ({}),
  cost: () => attackCost(1, 1),
  loss: (p) => lossParam(p, 'ce'),
  scaleInvariant: (p) => lossParam(p, 'ce') !== 'ce',
  argmaxOnly: false,
  invariantCounterpart: marginCounterpart('fgm', 'ce'),
  make: (_norm, p) => new FgmAttack(lossParam(p, 'ce')),
};
