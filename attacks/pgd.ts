import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Bounds } from '../data/types';
import { Classifier } from '../models/predict';
import { lossInputGradient } from './gradients';
import { Norm, project } from './types';

/** Projected gradient descent settings (Madry et al. 2018). */
export interface PgdConfig {
  norm: Norm;
  eps: number;
  /** Step size. Default 2.5 * eps / steps. */
  stepSize?: number;
  /** Default 40. */
  steps?: number;
  /** Start from a uniform point in the ball. Default true. */
  randomStart?: boolean;
  /** Targeted: descend the loss of `targets` instead of ascending it. Default false. */
  targeted?: boolean;
}

function randomStartPoint(x: tf.Tensor, eps: number, norm: Norm, rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    const seed = rng.nextUint32();
    if (norm === 'linf') return tf.add(x, tf.randomUniform(x.shape, -eps, eps, 'float32', seed));
    // Uniform in the L2 ball: Gaussian direction, radius eps * U^(1/d).
    const d = x.size / x.shape[0];
    const axes = x.shape.slice(1).map((_, i) => i + 1);
    const g = tf.randomNormal(x.shape, 0, 1, 'float32', seed);
    const dir = tf.div(g, tf.maximum(tf.sqrt(tf.sum(tf.square(g), axes, true)), 1e-12));
    const u = tf.randomUniform([x.shape[0], ...x.shape.slice(1).map(() => 1)], 0, 1, 'float32', seed + 1);
    return tf.add(x, tf.mul(dir, tf.mul(eps, tf.pow(u, 1 / d))));
  });
}

/**
 * One PGD run as pure tensor work (no read-back): returns adversarial inputs
 * inside the eps-ball and the bounds. `targets` are one-hot rows: the true
 * labels (untargeted) or the target labels (targeted). Adversarial training
 * calls this same function.
 */
export function pgdPerturb(f: Classifier, x: tf.Tensor, targets: tf.Tensor2D, bounds: Bounds, cfg: PgdConfig, rng: Rng): tf.Tensor {
  const steps = cfg.steps ?? 40;
  const stepSize = cfg.stepSize ?? (2.5 * cfg.eps) / steps;
  const sign = cfg.targeted ? -1 : 1;
  return tf.tidy(() => {
    let xAdv = cfg.randomStart === false ? x.clone() : project(randomStartPoint(x, cfg.eps, cfg.norm, rng), x, cfg.eps, cfg.norm, bounds);
    for (let i = 0; i < steps; i++) {
      const next = tf.tidy(() => {
        const g = lossInputGradient(f, xAdv, targets);
        let step: tf.Tensor;
        if (cfg.norm === 'linf') {
          step = tf.sign(g);
        } else {
          const axes = g.shape.slice(1).map((_, k) => k + 1);
          step = tf.div(g, tf.maximum(tf.sqrt(tf.sum(tf.square(g), axes, true)), 1e-12));
        }
        return project(tf.add(xAdv, tf.mul(step, sign * stepSize)), x, cfg.eps, cfg.norm, bounds);
      });
      xAdv.dispose();
      xAdv = next;
    }
    return xAdv;
  });
}
