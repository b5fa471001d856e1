import * as tf from '@tensorflow/tfjs';
import { engineModelOf } from '../backend/onnx/engine';
import { Rng } from '../data/rng';
import { Bounds } from '../data/types';
import { AttackLoss, attackObjective, crossEntropyPerExample } from './losses';
import { Classifier } from '../contract/classifier';
import { logitsObjectiveAndGradient } from './gradients';
import { Attack, AttackOutput, AttackRunOptions, assertInBall, project, selectRows, steepestDirection } from './types';
import { Norm } from '../contract/norms';

/** What `perturb` gets: the batch, its encoded labels and the threat model. */
export interface AttackContext {
  f: Classifier;
  /** The clean batch [b, ...inputShape]. */
  x: tf.Tensor;
  /** True labels (host copy; never written). */
  y: Int32Array;
  /** True labels as an int32 [b] tensor. */
  labelClasses: tf.Tensor1D;
  /** One-hot true labels [b, k]. */
  labels: tf.Tensor2D;
  /**
   * One-hot rows whose cross-entropy the attack moves: the true labels
   * (untargeted, ascend) or the targets (targeted, descend).
   */
  lossTargets: tf.Tensor2D;
  /** Target classes of a targeted attack as an int32 [b] tensor, else null. */
  targetClasses: tf.Tensor1D | null;
  /** +1 untargeted (ascend the loss), -1 targeted (descend the target's loss). */
  direction: 1 | -1;
  /** The loss the attack ascends (its `loss` setting; "ce" for attacks without one). */
  loss: AttackLoss;
  /**
   * Per row the attacker's objective from logits, higher is better for the
   * attacker (attacks/losses.ts attackObjective): untargeted the loss of the
   * label, targeted minus CE / margin of the target or the targeted DLR.
   */
  objective(logits: tf.Tensor2D): tf.Tensor1D;
  /** Per row success from logits: misclassified (untargeted) or classified as the target (targeted). */
  succeeded(logits: tf.Tensor2D): tf.Tensor1D;
  bounds: Bounds;
  eps: number;
  norm: Norm;
  numClasses: number;
  rng: Rng;
}

/**
 * Per row: the attacker's objective (higher is better for the attacker, see
 * AttackContext.objective) and success (misclassified untargeted,
 * classified as the target targeted), from logits.
 */
export function scoreLogits(logits: tf.Tensor2D, ctx: AttackContext): { objective: tf.Tensor1D; success: tf.Tensor1D } {
  return tf.tidy(() => ({ objective: ctx.objective(logits), success: ctx.succeeded(logits) }));
}

export function scorePoints(x: tf.Tensor, ctx: AttackContext): { objective: tf.Tensor1D; success: tf.Tensor1D } {
  return tf.tidy(() => scoreLogits(ctx.f(x), ctx));
}

/** The per-row worst case found so far: the point, its objective and whether it succeeded. */
export interface Candidate {
  x: tf.Tensor;
  objective: tf.Tensor1D;
  success: tf.Tensor1D;
}

/**
 * Per row keeps the worse (for the model) of two candidates: a success
 * beats a failure, the first success is kept, and between failures the
 * higher objective wins. Pure tensor work; the caller disposes the inputs.
 */
export function keepWorst(current: Candidate, next: Candidate): Candidate {
  return tf.tidy(() => {
    const better = tf.logicalOr(
      tf.logicalAnd(tf.logicalNot(current.success), next.success),
      tf.logicalAnd(tf.logicalNot(tf.logicalOr(current.success, next.success)), tf.greater(next.objective, current.objective)),
    );
    return {
      x: selectRows(better, next.x, current.x),
      objective: tf.where(better, next.objective, current.objective) as tf.Tensor1D,
      success: tf.logicalOr(current.success, next.success) as tf.Tensor1D,
    };
  });
}

export function disposeCandidate(c: Candidate): void {
  c.x.dispose();
  c.objective.dispose();
  c.success.dispose();
}

/** Whether every row of a success tensor is 1 (one read-back of a scalar). */
export function allSucceeded(success: tf.Tensor1D): boolean {
  if (success.size === 0) return true;
  const all = tf.tidy(() => tf.all(tf.cast(success, 'bool')));
  const v = all.dataSync()[0];
  all.dispose();
  return v === 1;
}

/**
 * Runs up to `n` candidate attacks (restarts, random draws) and keeps, per
 * row, the worst case across them (see keepWorst); returns its points. Stops
 * early once every row has succeeded: keepWorst keeps a row's first success,
 * so later candidates could not change the points returned (one scalar
 * read-back per candidate). `stopWhenAllSucceed` false runs all n (tests
 * compare the two).
 */
export function worstOfCandidates(n: number, candidate: (i: number) => Candidate, stopWhenAllSucceed = true): tf.Tensor {
  let best: Candidate | null = null;
  for (let i = 0; i < n; i++) {
    const cand = candidate(i);
    if (best === null) {
      best = cand;
    } else {
      const merged = keepWorst(best, cand);
      disposeCandidate(best);
      disposeCandidate(cand);
      best = merged;
    }
    if (stopWhenAllSucceed && i < n - 1 && allSucceeded(best.success)) break;
  }
  const out = best as Candidate;
  out.objective.dispose();
  out.success.dispose();
  return out.x;
}

/** Checks shared by every attack's settings. Throws plain Errors; the registry turns user input into UsageErrors first. */
export function requireInt(who: string, field: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`${who}: ${field} must be an integer >= ${min}, got ${v}`);
}

export function requirePositive(who: string, field: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${who}: ${field} must be a finite number > 0, got ${v}`);
}

/**
 * The common base (after torchattacks' Attack): validates the call, builds
 * the label encodings, lets the subclass compute a perturbed batch
 * (`perturb`, pure tensor work, no read-back), projects it into the ball and
 * the bounds, asserts that it is there, and scores it on `f` with one
 * forward pass and one read-back per batch.
 */
export abstract class BaseAttack implements Attack {
  abstract readonly name: string;
  abstract readonly norm: Norm;
  abstract readonly settings: Readonly<Record<string, unknown>>;

  /** Adversarial candidates for the batch (projection and checks follow). */
  protected abstract perturb(ctx: AttackContext): tf.Tensor;

  /** The loss the attack ascends: its `loss` setting, "ce" when it has none. */
  protected get lossName(): AttackLoss {
    return ((this.settings as { loss?: AttackLoss }).loss ?? 'ce') as AttackLoss;
  }

  run(f: Classifier, x: tf.Tensor, y: Int32Array, bounds: Bounds, eps: number, rng: Rng, options: AttackRunOptions = {}): AttackOutput {
    const b = x.shape[0];
    const targets = options.targets;
    const numClasses = validateAttackCall(this.name, f, x, y, bounds, eps, targets);
    if (b === 0) return { xAdv: x.clone(), success: new Uint8Array(0), loss: new Float32Array(0), pred: new Int32Array(0) };
    const lossKind = this.lossName;

    const [xAdv, scores] = tf.tidy(() => {
      const labelClasses = tf.tensor1d(y, 'int32');
      const labels = tf.oneHot(labelClasses, numClasses).toFloat() as tf.Tensor2D;
      const targetClasses = targets ? tf.tensor1d(targets, 'int32') : null;
      const ctx: AttackContext = {
        f,
        x,
        y,
        labelClasses,
        labels,
        lossTargets: targetClasses ? (tf.oneHot(targetClasses, numClasses).toFloat() as tf.Tensor2D) : labels,
        targetClasses,
        direction: targetClasses ? -1 : 1,
        loss: lossKind,
        objective: (logits) => attackObjective(lossKind, logits, labelClasses, targetClasses),
        succeeded: (logits) =>
          tf.tidy(() => {
            const pred = tf.argMax(logits, -1);
            return (targetClasses ? tf.equal(pred, targetClasses) : tf.notEqual(pred, labelClasses)) as tf.Tensor1D;
          }),
        bounds,
        eps,
        norm: this.norm,
        numClasses,
        rng,
      };
      const adv = project(this.perturb(ctx), x, eps, this.norm, bounds);
      const logits = f(adv);
      const loss = crossEntropyPerExample(logits, labels);
      const pred = tf.argMax(logits, -1).toInt();
      const success = targetClasses ? tf.equal(pred, targetClasses) : tf.notEqual(pred, labelClasses);
      // One read-back: [loss | pred | success] as float32.
      return [adv, tf.concat([loss, pred.toFloat(), success.toFloat()])];
    });
    try {
      assertInBall(xAdv, x, eps, this.norm, bounds, this.name);
    } catch (e) {
      xAdv.dispose();
      scores.dispose();
      throw e;
    }
    const s = scores.dataSync() as Float32Array;
    scores.dispose();
    const loss = s.slice(0, b);
    const pred = new Int32Array(b);
    const success = new Uint8Array(b);
    for (let i = 0; i < b; i++) {
      pred[i] = s[b + i];
      success[i] = s[2 * b + i];
    }
    return { xAdv, success, loss, pred };
  }
}

/**
 * Checks a call of the common shape and returns the number of classes (0
 * for an empty batch): eps finite >= 0, lo < hi, a batch of rank >= 2, one
 * label (and target) per row inside [0, classes), inputs inside the bounds.
 * Throws plain Errors naming the attack.
 */
/** The number of classes read off one row's logits (an engine model states it, saving that pass). */
function classesByProbe(f: Classifier, x: tf.Tensor): number {
  const probe = tf.tidy(() => f(tf.slice(x, 0, 1)));
  const k = probe.shape[1];
  probe.dispose();
  return k;
}

export function validateAttackCall(name: string, f: Classifier, x: tf.Tensor, y: Int32Array, bounds: Bounds, eps: number, targets?: Int32Array): number {
  const b = x.shape[0];
  if (!Number.isFinite(eps) || eps < 0) throw new Error(`${name}: eps must be a finite number >= 0, got ${eps}`);
  if (!(bounds.lo < bounds.hi)) throw new Error(`${name}: bounds need lo < hi, got [${bounds.lo}, ${bounds.hi}]`);
  if (x.rank < 2) throw new Error(`${name}: x must be a batch [b, ...inputShape], got shape [${x.shape}]`);
  if (y.length !== b) throw new Error(`${name}: ${y.length} labels for a batch of ${b}`);
  if (targets && targets.length !== b) throw new Error(`${name}: ${targets.length} targets for a batch of ${b}`);
  if (b === 0) return 0;
  const inside = tf.tidy(() => tf.logicalAnd(tf.greaterEqual(tf.min(x), bounds.lo), tf.lessEqual(tf.max(x), bounds.hi)));
  const ok = inside.dataSync()[0] === 1;
  inside.dispose();
  if (!ok) throw new Error(`${name}: inputs lie outside the bounds [${bounds.lo}, ${bounds.hi}]`);
  const numClasses = engineModelOf(f)?.compiled.numClasses ?? classesByProbe(f, x);
  for (let i = 0; i < b; i++) {
    if (!(y[i] >= 0 && y[i] < numClasses)) throw new Error(`${name}: label ${y[i]} of row ${i} outside [0, ${numClasses})`);
    if (targets && !(targets[i] >= 0 && targets[i] < numClasses)) throw new Error(`${name}: target ${targets[i]} of row ${i} outside [0, ${numClasses})`);
  }
  return numClasses;
}

/** Input gradient of the attacker's objective (ctx.objective) at x, one forward/backward pass. */
export function objectiveGradient(ctx: AttackContext, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const r = logitsObjectiveAndGradient(ctx.f, x, (z) => ctx.objective(z));
    return r.grad;
  });
}

/**
 * One step of length `size` (in the attack's norm) along the steepest-ascent
 * direction of the attacker's objective at `x` (for CE: up the label's loss,
 * or down the target's).
 */
export function gradientStep(ctx: AttackContext, x: tf.Tensor, size: number): tf.Tensor {
  return tf.tidy(() => tf.add(x, tf.mul(steepestDirection(objectiveGradient(ctx, x), ctx.norm), size)));
}
