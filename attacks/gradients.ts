import * as tf from '@tensorflow/tfjs';
import { crossEntropyPerExample } from './losses';
import { Classifier } from '../contract/classifier';

/**
 * Per-example input gradient of the cross-entropy: the gradient of the SUM of
 * per-example losses, so row i is d loss_i / d x_i, not divided by batch size.
 */
export function lossInputGradient(f: Classifier, x: tf.Tensor, targets: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(crossEntropyPerExample(f(xi), targets)))(x));
}

/**
 * Per-example loss and its input gradient from one forward/backward pass.
 * Both returned tensors are ordinary (tidy-tracked) tensors.
 */
export function lossAndInputGradient(f: Classifier, x: tf.Tensor, targets: tf.Tensor2D): { loss: tf.Tensor1D; grad: tf.Tensor } {
  const r = logitsLossAndGradient(f, x, targets);
  r.logits.dispose();
  return { loss: r.loss, grad: r.grad };
}

/**
 * Logits, per-example cross-entropy and the input gradient of the loss, all
 * from one forward/backward pass (what iterative attacks need per step).
 */
export function logitsLossAndGradient(f: Classifier, x: tf.Tensor, targets: tf.Tensor2D): { logits: tf.Tensor2D; loss: tf.Tensor1D; grad: tf.Tensor } {
  const r = logitsObjectiveAndGradient(f, x, (z) => crossEntropyPerExample(z, targets));
  return { logits: r.logits, loss: r.objective, grad: r.grad };
}

/**
 * Logits, a per-example objective of the logits and the input gradient of
 * the objective's sum (row i: d objective_i / d x_i), from one
 * forward/backward pass. Every returned tensor is ordinary (tidy-tracked).
 */
export function logitsObjectiveAndGradient(f: Classifier, x: tf.Tensor, objective: (logits: tf.Tensor2D) => tf.Tensor1D): { logits: tf.Tensor2D; objective: tf.Tensor1D; grad: tf.Tensor } {
  return tf.tidy(() => {
    // tf.grad disposes the forward pass's intermediates unless they are kept;
    // kept tensors escape every tidy, so they are cloned into this scope and released.
    const kept: tf.Tensor[] = [];
    let grad: tf.Tensor;
    try {
      grad = tf.grad((xi: tf.Tensor) => {
        const z = f(xi);
        const l = objective(z);
        kept.push(tf.keep(z), tf.keep(l));
        return tf.sum(l);
      })(x);
    } catch (e) {
      for (const t of kept) t.dispose();
      throw e;
    }
    const logits = kept[0].clone() as tf.Tensor2D;
    const value = kept[1].clone() as tf.Tensor1D;
    for (const t of kept) t.dispose();
    return { logits, objective: value, grad };
  });
}

/**
 * exp whose gradient is recomputed from its (saved) input. tfjs saves a
 * kernel's OUTPUT for its gradient (Exp, and the custom ops logSoftmax and
 * softmax) as a clone recorded on the tape before the op itself, so a second
 * backward pass cannot reach x through it and silently drops those terms:
 * nested tf.grad through tf.logSoftmax gives a wrong (zero curvature) result.
 * Saved INPUTS are reachable, so this version differentiates twice correctly.
 */
const expTwice = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  (args[1] as tf.GradSaveFunc)([x]);
  return { value: tf.exp(x), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.exp(saved[0])) };
}) as (x: tf.Tensor) => tf.Tensor;

/** Row max treated as a constant (its gradient is zero; the log-sum-exp does not depend on it). */
const rowMaxConstant = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const z = args[0] as tf.Tensor;
  const shape = z.shape;
  return { value: tf.max(z, -1, true), gradFunc: () => tf.zeros(shape) };
}) as (z: tf.Tensor) => tf.Tensor;

/**
 * The same per-example soft-target cross-entropy as models/loss.ts
 * crossEntropyPerExample (equal to float32 rounding), written with ops whose
 * gradients can be differentiated again (see expTwice). Use it wherever a
 * gradient of an input gradient is taken (double backprop).
 */
export function crossEntropyTwiceDifferentiable(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const shifted = tf.sub(logits, rowMaxConstant(logits));
    const logSumExp = tf.log(tf.sum(expTwice(shifted), -1, true));
    return tf.neg(tf.sum(tf.mul(targets, tf.sub(shifted, logSumExp)), -1)) as tf.Tensor1D;
  });
}

/**
 * Input gradients of every logit: k tensors shaped like x, entry c holding
 * d f_c / d x per row (k backward passes).
 */
export function logitJacobian(f: Classifier, x: tf.Tensor, numClasses: number): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (let c = 0; c < numClasses; c++) {
    out.push(tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(tf.slice(f(xi), [0, c], [-1, 1])))(x)));
  }
  return out;
}
