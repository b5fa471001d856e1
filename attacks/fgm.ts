import * as tf from '@tensorflow/tfjs';
import { AttackContext, BaseAttack, gradientStep } from './base';

/**
 * Fast Gradient Method, L2 (Goodfellow et al. 2015; the L2 form of FGSM):
 * x' = clip(x + eps * g / ||g||_2, bounds) with g = grad_x CE(f(x), y).
 * A zero gradient leaves x unchanged. Targeted: x - eps * g_t / ||g_t||_2.
 */
export class FgmAttack extends BaseAttack {
  readonly name = 'fgm';
  readonly norm = 'l2' as const;
  readonly settings = { steps: 1 };

  protected perturb(ctx: AttackContext): tf.Tensor {
    return gradientStep(ctx, ctx.x, ctx.eps);
  }
}
