import * as tf from '@tensorflow/tfjs';
import { AttackContext, BaseAttack, gradientStep } from './base';
import { AttackLoss } from './losses';

/**
 * Fast Gradient Sign Method (Goodfellow et al. 2015), L-infinity:
 * x' = clip(x + eps * sign(grad_x CE(f(x), y)), bounds). One gradient, no
 * randomness. Targeted: x - eps * sign(grad_x CE(f(x), target)).
 */
export class FgsmAttack extends BaseAttack {
  readonly name = 'fgsm';
  readonly norm = 'linf' as const;
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
