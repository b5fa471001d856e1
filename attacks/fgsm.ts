import * as tf from '@tensorflow/tfjs';
import { AttackContext, gradientStep } from './base';
import { SingleStepAttack, singleStepDescriptor } from './single-step';
import { engineModelOf } from '../backend/onnx/engine';
import { stepperFor } from '../backend/onnx/step-graph';

/**
 * Fast Gradient Sign Method (Goodfellow et al. 2015), L-infinity:
 * x' = clip(x + eps * sign(grad_x CE(f(x), y)), bounds). One gradient, no
 * randomness. Targeted: x - eps * sign(grad_x CE(f(x), target)).
 */
export class FgsmAttack extends SingleStepAttack {
  readonly name = 'fgsm';
  readonly norm = 'linf' as const;

  protected perturb(ctx: AttackContext): tf.Tensor {
    // On an engine classifier the step is one step-graph call (its output already projected; BaseAttack projects again).
    const stepper = stepperFor(engineModelOf(ctx.f), { norm: 'linf', loss: ctx.loss, targeted: ctx.targetClasses !== null });
    if (stepper) {
      const x = ctx.x.dataSync() as Float32Array;
      const step = new Float32Array(ctx.x.shape[0]).fill(ctx.eps);
      const t = ctx.lossTargets.dataSync() as Float32Array;
      return tf.tensor(stepper.step({ x, x0: x, t, step, dir: ctx.direction, eps: ctx.eps, lo: ctx.bounds.lo, hi: ctx.bounds.hi }).xNext, ctx.x.shape);
    }
    return gradientStep(ctx, ctx.x, ctx.eps);
  }
}

/** The `fgsm` entry of the attack registry. */
export const fgsmDescriptor = singleStepDescriptor('fgsm', 'Fast Gradient Sign Method (Goodfellow et al. 2015): one signed gradient step of size eps', 'linf', (loss) => new FgsmAttack(loss));
