/**
 * Square's queries on the onnx engine without tfjs: the candidates go to the
 * engine's forward as a Float32Array and the attacker's objective and the
 * success flags are computed from the logits on the host, so a query is one
 * ORT run and a loop over [m, classes] (no tensor wrapping, no dozen small
 * tfjs ops and read-back per query).
 *
 * The objective is attackObjective (attacks/losses.ts) in float32: margin and
 * DLR pick logits exactly (as the one-hot products do) and round each
 * subtraction, sum, product and quotient to float32 with Math.fround, which
 * for + - * / of float32 operands is the correctly rounded float32 result,
 * i.e. the bits tfjs's kernels produce. CE's exp and log come from JS's Math
 * rather than the tfjs backend's, so CE objectives agree with the tfjs path
 * to float rounding only (not bit for bit).
 */
import type { OnnxModel } from '../backend/onnx/engine';
import { AttackLoss, DLR_EPSILON } from './losses';

const f32 = Math.fround;
const DLR_EPS32 = f32(DLR_EPSILON);

/** Per row objective and success of a query. */
export interface SquareScores {
  objective: Float32Array;
  /** 1 where the row is misclassified (untargeted) or classified as its target (targeted) */
  success: Uint8Array;
}

/**
 * The r largest values of `z` (k entries from `o`), largest first, with
 * multiplicity; ranks beyond k repeat the smallest. The values of
 * losses.ts largestLogits (which masks out one first maximum per rank).
 */
function largest(z: Float32Array, o: number, k: number, r: number, out: Float64Array): void {
  const n = Math.min(r, k);
  for (let i = 0; i < n; i++) out[i] = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) {
    const v = z[o + j];
    if (!(v > out[n - 1])) continue;
    let i = n - 1;
    while (i > 0 && v > out[i - 1]) {
      out[i] = out[i - 1];
      i--;
    }
    out[i] = v;
  }
  for (let i = n; i < r; i++) out[i] = out[n - 1];
}

/** max_{j != c} z_j (-Infinity with one class). */
function otherMax(z: Float32Array, o: number, k: number, c: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) if (j !== c && z[o + j] > m) m = z[o + j];
  return m;
}

/**
 * attackObjective(loss, logits, classes, targets) on host arrays: logits
 * [m, k] row-major, classes and targets (or null) per row; written to `out`.
 */
export function objectiveOnHost(loss: AttackLoss, logits: Float32Array, k: number, classes: ArrayLike<number>, targets: ArrayLike<number> | null, out: Float32Array): void {
  const m = classes.length;
  const top = new Float64Array(4);
  for (let r = 0; r < m; r++) {
    const o = r * k;
    const c = classes[r];
    if (loss === 'margin') {
      const t = targets ? targets[r] : c;
      const margin = f32(otherMax(logits, o, k, t) - logits[o + t]);
      out[r] = targets ? -margin : margin;
    } else if (loss === 'ce') {
      // -log softmax(z)_t as tfjs's logSoftmax: z - max - log(sum exp(z - max)), float32 at each op
      const t = targets ? targets[r] : c;
      let mx = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < k; j++) if (logits[o + j] > mx) mx = logits[o + j];
      let s = 0;
      for (let j = 0; j < k; j++) s = f32(s + f32(Math.exp(f32(logits[o + j] - mx))));
      const ce = -f32(f32(logits[o + t] - mx) - f32(Math.log(s)));
      out[r] = targets ? -ce : ce;
    } else if (!targets) {
      // DLR: margin / (z_pi1 - z_pi3 + 1e-12); the margin alone with fewer than three classes
      const margin = f32(otherMax(logits, o, k, c) - logits[o + c]);
      if (k < 3) out[r] = margin;
      else {
        largest(logits, o, k, 3, top);
        out[r] = f32(margin / f32(f32(top[0] - top[2]) + DLR_EPS32));
      }
    } else {
      // targeted DLR: (z_t - z_y) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12); the difference alone with two classes
      const t = targets[r];
      const diff = f32(logits[o + t] - logits[o + c]);
      if (k < 3) out[r] = diff;
      else {
        largest(logits, o, k, 4, top);
        out[r] = f32(diff / f32(f32(top[0] - f32(f32(top[2] + top[3]) * 0.5)) + DLR_EPS32));
      }
    }
  }
}

/** Per row success from logits: argmax (first maximum, as tf.argMax) differs from the class, or equals the target. */
export function successOnHost(logits: Float32Array, k: number, classes: ArrayLike<number>, targets: ArrayLike<number> | null, out: Uint8Array): void {
  for (let r = 0; r < classes.length; r++) {
    const o = r * k;
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[o + j] > logits[o + best]) best = j;
    out[r] = targets ? (best === targets[r] ? 1 : 0) : best !== classes[r] ? 1 : 0;
  }
}

/**
 * Square's query on the engine: the forward of `m` on rows `rows` (data
 * rows.length x d, row-major), then the objective and success per row on
 * the host. `y` and `targets` are per example (indexed by row number).
 */
export function engineSquareScorer(m: OnnxModel, loss: AttackLoss, y: Int32Array, targets: Int32Array | null): (rows: number[], data: Float32Array) => SquareScores {
  const k = m.compiled.numClasses;
  const b = y.length;
  const classes = new Int32Array(b);
  const tgt = targets ? new Int32Array(b) : null;
  const objective = new Float32Array(b);
  const success = new Uint8Array(b);
  return (rows, data) => {
    const n = rows.length;
    for (let i = 0; i < n; i++) {
      classes[i] = y[rows[i]];
      if (tgt && targets) tgt[i] = targets[rows[i]];
    }
    const logits = m.forward(data, n);
    const c = classes.subarray(0, n);
    const t = tgt ? tgt.subarray(0, n) : null;
    objectiveOnHost(loss, logits, k, c, t, objective);
    successOnHost(logits, k, c, t, success);
    return { objective: objective.subarray(0, n), success: success.subarray(0, n) };
  };
}
