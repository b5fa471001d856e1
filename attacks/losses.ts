import * as tf from '@tensorflow/tfjs';

/**
 * Cross-entropy of logits against (possibly soft) target distributions, per
 * example: -sum_k t_k log softmax(z)_k. Written out rather than through
 * tf.losses.softmaxCrossEntropy, whose positional arguments make it easy to
 * pass a reduction as label smoothing and flip the gradient's sign.
 */
export function crossEntropyPerExample(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1)) as tf.Tensor1D);
}

/**
 * The losses an attack can ascend. `ce` saturates: once softmax rounds to a
 * one-hot vector its gradient is exactly zero, so an over-confident model
 * (large logits) looks robust to CE-based attacks. `margin` and `dlr` work
 * on the logits directly and do not saturate; `dlr` is also invariant to
 * scaling the logits.
 */
export const ATTACK_LOSSES = ['ce', 'margin', 'dlr'] as const;
export type AttackLoss = (typeof ATTACK_LOSSES)[number];

/** Added to the DLR denominators (Croce & Hein 2020) so that ties at the top do not divide by zero. */
export const DLR_EPSILON = 1e-12;

/** Per row the logit of class `classes[row]` (int32 [b]), as a one-hot product so that it differentiates. */
export function logitOf(logits: tf.Tensor2D, classes: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(logits, tf.oneHot(tf.cast(classes, 'int32'), logits.shape[1]).toFloat()), -1) as tf.Tensor1D);
}

/** Per row max_{j != classes[row]} z_j. Needs at least two classes. */
export function largestOtherLogit(logits: tf.Tensor2D, classes: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const own = tf.cast(tf.oneHot(tf.cast(classes, 'int32'), logits.shape[1]), 'bool');
    return tf.max(tf.where(own, tf.fill(logits.shape, -Infinity), logits), -1) as tf.Tensor1D;
  });
}

/**
 * The r largest logits of each row, largest first: r tensors [b]. Ranks
 * beyond the number of classes repeat the smallest logit. Each value is
 * picked by a one-hot product at an argMax index found with the larger ones
 * masked out, so the gradient reaches exactly one logit per rank (tfjs has
 * no gradient for topk).
 */
export function largestLogits(logits: tf.Tensor2D, r: number): tf.Tensor1D[] {
  const k = logits.shape[1];
  return tf.tidy(() => {
    const out: tf.Tensor1D[] = [];
    let taken = tf.zeros(logits.shape);
    const minusInf = tf.fill(logits.shape, -Infinity);
    for (let i = 0; i < Math.min(r, k); i++) {
      const masked = tf.where(tf.cast(taken, 'bool'), minusInf, logits);
      const pick = tf.oneHot(tf.argMax(masked, -1), k).toFloat();
      out.push(tf.sum(tf.mul(logits, pick), -1) as tf.Tensor1D);
      taken = tf.add(taken, pick);
    }
    while (out.length < r) out.push(out[out.length - 1]);
    return out;
  });
}

/**
 * Carlini-Wagner margin, untargeted, per row: max_{j != y} z_j - z_y. It is
 * > 0 when the row is misclassified and grows linearly with the logits (no
 * softmax, so no saturation). The targeted form an attacker ascends is
 * -marginLoss(z, t) = z_t - max_{j != t} z_j.
 */
export function marginLoss(logits: tf.Tensor2D, classes: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sub(largestOtherLogit(logits, classes), logitOf(logits, classes)) as tf.Tensor1D);
}

/**
 * Difference of Logits Ratio, untargeted (Croce & Hein 2020), per row:
 * -(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12), with pi the classes
 * sorted by logit, largest first. Invariant to shifting and (positively)
 * scaling the logits, and in [-1, 1] up to the epsilon when y ranks first
 * or second. With two classes the ratio is a constant +-1 (no gradient);
 * the margin is used instead.
 */
export function dlrLoss(logits: tf.Tensor2D, classes: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const margin = marginLoss(logits, classes);
    if (logits.shape[1] < 3) return margin;
    const [z1, , z3] = largestLogits(logits, 3);
    return tf.div(margin, tf.add(tf.sub(z1, z3), DLR_EPSILON)) as tf.Tensor1D;
  });
}

/**
 * Targeted DLR (Croce & Hein 2020), the objective of APGD-T, per row:
 * -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12). Ascending it raises
 * the target's logit over the label's. With three classes pi4 is taken as
 * pi3; with two the ratio is constant and the plain difference z_t - z_y is
 * used instead.
 */
export function dlrTargetedLoss(logits: tf.Tensor2D, classes: tf.Tensor1D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const diff = tf.sub(logitOf(logits, targets), logitOf(logits, classes));
    if (logits.shape[1] < 3) return diff as tf.Tensor1D;
    const [z1, , z3, z4] = largestLogits(logits, 4);
    return tf.div(diff, tf.add(tf.sub(z1, tf.mul(tf.add(z3, z4), 0.5)), DLR_EPSILON)) as tf.Tensor1D;
  });
}

/**
 * The attacker's objective per row (higher is better for the attacker) for
 * a loss: untargeted, the loss of the label `classes`; targeted (`targets`
 * given), CE: minus the target's CE; margin: z_t - max_{j != t} z_j; DLR:
 * the targeted DLR.
 */
export function attackObjective(loss: AttackLoss, logits: tf.Tensor2D, classes: tf.Tensor1D, targets: tf.Tensor1D | null = null): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[1];
    switch (loss) {
      case 'ce':
        return targets
          ? (tf.neg(crossEntropyPerExample(logits, tf.oneHot(tf.cast(targets, 'int32'), k).toFloat() as tf.Tensor2D)) as tf.Tensor1D)
          : crossEntropyPerExample(logits, tf.oneHot(tf.cast(classes, 'int32'), k).toFloat() as tf.Tensor2D);
      case 'margin':
        return targets ? (tf.neg(marginLoss(logits, targets)) as tf.Tensor1D) : marginLoss(logits, classes);
      case 'dlr':
        return targets ? dlrTargetedLoss(logits, classes, targets) : dlrLoss(logits, classes);
    }
  });
}
