import * as tf from '@tensorflow/tfjs';
import { AttackContext, gradientStep } from './base';
import { SingleStepAttack, singleStepDescriptor } from './single-step';

/**
 * Fast Gradient Method, L2 (Goodfellow et al. 2015; the L2 form of FGSM):
 * x' = clip(x + eps * g / ||g||_2, bounds) with g = grad_x CE(f(x), y).
 * A zero gradient leaves x unchanged. Targeted: x - eps * g_t / ||g_t||_2.
 */
export class FgmAttack extends SingleStepAttack {
  readonly name = 'fgm';
  readonly norm = 'l2' as const;

  protected perturb(ctx: AttackContext): tf.Tensor {
    return gradientStep(ctx, ctx.x, ctx.eps);
  }
}

/** The `fgm` entry of the attack registry. */
export const fgmDescriptor = singleStepDescriptor('fgm', 'Fast Gradient Method, the L2 form of FGSM: one normalised gradient step of length eps', 'l2', (loss) => new FgmAttack(loss));
