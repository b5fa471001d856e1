import * as tf from '@tensorflow/tfjs';
import { AttackContext, BaseAttack, gradientStep } from './base';

/**
 * Fast Gradient Sign Method (Goodfellow et al. 2015), L-infinity:
 * x' = clip(x + eps * sign(grad_x CE(f(x), y)), bounds). One gradient, no
 * randomness. Targeted: x - eps * sign(grad_x CE(f(x), target)).
 */
export class FgsmAttack extends BaseAttack {
  readonly name = 'fgsm';
  readonly norm = 'linf' as const;
  readonly settings = { steps: 1 };

  protected perturb(ctx: AttackContext): tf.Tensor {
    return gradientStep(ctx, ctx.x, ctx.eps);
  }
}
