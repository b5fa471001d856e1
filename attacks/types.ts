import * as tf from '@tensorflow/tfjs';
import { Bounds } from '../data/types';

export type Norm = 'linf' | 'l2';

/** Projects `xAdv` onto the eps-ball around `x` (in `norm`) and then into the input bounds. */
export function project(xAdv: tf.Tensor, x: tf.Tensor, eps: number, norm: Norm, bounds: Bounds): tf.Tensor {
  return tf.tidy(() => {
    let delta = tf.sub(xAdv, x);
    if (norm === 'linf') {
      delta = tf.clipByValue(delta, -eps, eps);
    } else {
      const axes = delta.shape.slice(1).map((_, i) => i + 1);
      const n = tf.sqrt(tf.sum(tf.square(delta), axes, true));
      delta = tf.mul(delta, tf.minimum(1, tf.div(eps, tf.maximum(n, 1e-12))));
    }
    return tf.clipByValue(tf.add(x, delta), bounds.lo, bounds.hi);
  });
}
