import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { AttackContext, BaseAttack, requireInt } from './base';
import { AttackLoss, attackObjective } from './losses';
import { engineSquareScorer, SquareScores } from './square-engine';
import { engineModelOf } from '../backend/onnx/engine';
import { stepGraphEnabled } from '../backend/onnx/step-graph';
import { AttackDescriptor, attackCost, LOSS_RULE, lossParam, marginCounterpart } from './types';
import { Norm } from '../contract/norms';

export interface SquareSettings {
  norm: Norm;
  /** Forward passes per example after the clean one (the initial point included), integer >= 1. AutoAttack: 5000. */
  queries: number;
  /** Share of an input's pixels (per channel) the first squares cover, in (0, 1]; it shrinks on a fixed schedule. AutoAttack: 0.8. */
  pInit: number;
  /** Score maximised (attacks/losses.ts): "margin" (the reference), "ce" or "dlr". */
  loss: AttackLoss;
  /**
   * "reference": the window schedule and search of AutoAttack's Square (its
   * standard version: resc_schedule off, one draw per query).
   * "vicinal-rescaled": vicinal's stronger variant: the schedule stretched to
   * `queries` as if the budget were 10,000, and Linf windows redrawn (up to
   * 10 times) when they would change nothing.
   */
  schedule: SquareSchedule;
}

export const SQUARE_SCHEDULES = ['reference', 'vicinal-rescaled'] as const;
export type SquareSchedule = (typeof SQUARE_SCHEDULES)[number];

/** Iterations after which Square's window share p halves (Andriushchenko et al. 2020; AutoAttack's p_selection). */
export const SQUARE_HALVING_ITERATIONS = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000] as const;

function halvedAt(iteration: number, pInit: number): number {
  let halvings = 0;
  for (const mark of SQUARE_HALVING_ITERATIONS) if (iteration > mark) halvings++;
  return pInit / 2 ** halvings;
}

/**
 * The reference schedule: p at search iteration `iteration` (0 for the
 * first query after the initial point), halved once per breakpoint the
 * iteration is past, whatever the budget. With 5000 queries p reaches
 * pInit / 64 (iterations 2001-4000) and pInit / 128 (from 4001).
 */
export function squareFractionReference(iteration: number, pInit: number): number {
  return halvedAt(iteration, pInit);
}

/**
 * vicinal's rescaled schedule: the breakpoints written for 10,000 queries
 * stretched to `queries` (query 1 is the first after the initial point), so
 * a smaller budget reaches the small windows sooner.
 */
export function squareFraction(query: number, queries: number, pInit: number): number {
  return halvedAt(Math.floor((query / queries) * 10000), pInit);
}

/**
 * How Square sees an input: h x w pixels of c channels, channels last (the
 * tfjs image layout). Images [h, w, c] and [h, w] are taken as they are;
 * any other shape as one row of features (h = 1, w = d, c = 1), where a
 * "square" is a run of neighbouring features.
 */
export interface SquareLayout {
  h: number;
  w: number;
  c: number;
}

export function squareLayout(shape: number[]): SquareLayout {
  if (shape.length === 3) return { h: shape[0], w: shape[1], c: shape[2] };
  if (shape.length === 2) return { h: shape[0], w: shape[1], c: 1 };
  return { h: 1, w: shape.reduce((a, b) => a * b, 1), c: 1 };
}

/** Side lengths [rows, columns] of the window at share p of the pixels (at least `min` and odd when `odd`, capped by the input). */
export function squareWindow(layout: SquareLayout, p: number, min: number, odd: boolean): [number, number] {
  const { h, w } = layout;
  if (h === 1) {
    let s = Math.max(min, Math.round(p * w));
    if (odd && s % 2 === 0) s++;
    return [1, Math.max(1, Math.min(s, w))];
  }
  let s = Math.max(min, Math.round(Math.sqrt(p * h * w)));
  if (odd && s % 2 === 0) s++;
  s = Math.max(1, Math.min(s, h, w));
  return [s, s];
}

/** Weights of an a x b block that fall off from its centre in square rings: ring m gets sum_{r >= m} 1 / (r + 1)^2. */
function ringWeights(a: number, b: number): Float64Array {
  const ci = Math.floor(a / 2);
  const cj = Math.floor(b / 2);
  const rings = Math.max(ci, cj) + 1;
  const tail = new Float64Array(rings + 1);
  for (let r = rings - 1; r >= 0; r--) tail[r] = tail[r + 1] + 1 / ((r + 1) * (r + 1));
  const out = new Float64Array(a * b);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[i * b + j] = tail[Math.max(Math.abs(i - ci), Math.abs(j - cj))];
  return out;
}

/**
 * The L2 update pattern of a window (a rows, b columns), unit L2 norm: one
 * half of the window (split across its longer side, across rows when
 * square) holds centre-peaked positive weights, the other half the same
 * shape negated; a square pattern is transposed with probability 1/2.
 */
export function squarePattern(a: number, b: number, rng: Rng): Float64Array {
  const out = new Float64Array(a * b);
  if (a * b === 1) {
    out[0] = 1;
    return out;
  }
  const byRows = a >= b;
  const first = Math.floor((byRows ? a : b) / 2);
  const second = (byRows ? a : b) - first;
  const top = byRows ? ringWeights(first, b) : ringWeights(a, first);
  const bottom = byRows ? ringWeights(second, b) : ringWeights(a, second);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      if (byRows) out[i * b + j] = i < first ? top[i * b + j] : -bottom[(i - first) * b + j];
      else out[i * b + j] = j < first ? top[i * first + j] : -bottom[i * second + (j - first)];
    }
  }
  let n = 0;
  for (const v of out) n += v * v;
  n = Math.sqrt(n);
  for (let i = 0; i < out.length; i++) out[i] /= n;
  if (a === b && rng.uniform() < 0.5) {
    const t = new Float64Array(a * b);
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) t[j * a + i] = out[i * b + j];
    return t;
  }
  return out;
}

/**
 * Square Attack (Andriushchenko et al. 2020): a score-based random search,
 * no gradients. From a random point on the boundary of the ball (Linf:
 * vertical stripes of +-eps; L2: a tiling of centre-peaked +- patterns at
 * radius eps), each query changes one randomly placed square window of the
 * current best point and keeps the change when the score (the margin by
 * default) improves; an example stops as soon as it is misclassified
 * (targeted: classified as the target). The window covers a share p of the
 * pixels that halves on a fixed schedule (`schedule`: the reference's
 * squareFractionReference, or vicinal's stronger squareFraction).
 * - Linf: the window is set to a vertex of the ball, x + s_c eps per channel
 *   c with random signs s_c (with "vicinal-rescaled", redrawn up to 10 times
 *   when that changes nothing), clipped to the bounds.
 * - L2: the window's old content and a random +-pattern are combined and
 *   given the budget left by the rest of the perturbation (the ball's
 *   remaining radius plus what a second random window, then zeroed, held);
 *   the whole perturbation is then rescaled to radius eps and clipped.
 *
 * Random windows and signs are drawn per example from the `Rng` passed to
 * `run`, so a seed fixes the result. The clean batch is scored first and
 * misclassified rows are returned unchanged. Cost: one clean forward pass,
 * then one forward pass per query on the rows still unbroken (plus a
 * read-back of their scores); the search itself is host work. On the onnx
 * engine (engineModelOf(f), unless setStepGraphEnabled(false)) a query is
 * one typed-array forward scored on the host (square-engine.ts), with the
 * same per-example results as the tfjs query used elsewhere.
 */
export class SquareAttack extends BaseAttack {
  readonly name = 'square';
  readonly norm: Norm;
  readonly settings: Readonly<SquareSettings & { variant?: SquareSchedule }>;

  constructor(settings: SquareSettings) {
    super();
    requireInt('square', 'queries', settings.queries, 1);
    if (!(settings.pInit > 0 && settings.pInit <= 1)) throw new Error(`square: pInit must be in (0, 1], got ${settings.pInit}`);
    if (!SQUARE_SCHEDULES.includes(settings.schedule)) throw new Error(`square: schedule must be one of ${SQUARE_SCHEDULES.join(', ')}, got ${settings.schedule}`);
    this.norm = settings.norm;
    // The stronger variant says so in reports (attackLabel); the reference one is plain "square".
    this.settings = { ...settings, ...(settings.schedule === 'reference' ? {} : { variant: settings.schedule }) };
  }

  protected perturb(ctx: AttackContext): tf.Tensor {
    const { x, y, eps, bounds, rng } = ctx;
    const b = x.shape[0];
    const shape = x.shape.slice(1);
    const d = x.size / b;
    const layout = squareLayout(shape);
    const { h, w, c } = layout;
    const lo = bounds.lo;
    const hi = bounds.hi;
    const clip = (v: number) => (v < lo ? lo : Math.min(v, hi));
    const targets = ctx.targetClasses ? (ctx.targetClasses.dataSync() as Int32Array) : null;
    const xh = (x.dataSync() as Float32Array).slice();
    if (eps === 0) return x.clone();
    const best = xh.slice();
    const score = new Float64Array(b).fill(-Infinity);
    const done = new Uint8Array(b);

    // On the engine a query is one forward on the typed array and host scoring (square-engine.ts); elsewhere tfjs ops.
    const engine = stepGraphEnabled() ? engineModelOf(ctx.f) : undefined;
    const query = engine ? engineSquareScorer(engine, ctx.loss, y, targets) : this.tfjsScorer(ctx, targets);
    /** Keeps, per row, the candidate when it succeeds or raises the score (the initial point is always taken). */
    const accept = (rows: number[], data: Float32Array, always: boolean): void => {
      const r = query(rows, data);
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        const ok = r.success[i] === 1;
        if (always || ok || r.objective[i] > score[row]) {
          best.set(data.subarray(i * d, (i + 1) * d), row * d);
          score[row] = r.objective[i];
          if (ok) done[row] = 1;
        }
      }
    };
    const alive = (): number[] => {
      const rows: number[] = [];
      for (let i = 0; i < b; i++) if (!done[i]) rows.push(i);
      return rows;
    };
    const index = (i: number, j: number, ch: number) => (i * w + j) * c + ch;

    // The clean points: misclassified rows are done.
    const all = Array.from({ length: b }, (_, i) => i);
    const clean = query(all, xh);
    for (let i = 0; i < b; i++) if (clean.success[i] === 1) done[i] = 1;

    // The initial point.
    let rows = alive();
    if (rows.length) {
      const init = new Float32Array(rows.length * d);
      rows.forEach((row, r) => {
        const o = r * d;
        const xo = row * d;
        if (this.norm === 'linf') {
          for (let j = 0; j < w; j++) {
            for (let ch = 0; ch < c; ch++) {
              const s = rng.uniform() < 0.5 ? -eps : eps;
              for (let i = 0; i < h; i++) init[o + index(i, j, ch)] = clip(xh[xo + index(i, j, ch)] + s);
            }
          }
        } else {
          const delta = this.l2Tiling(layout, rng);
          let n = 0;
          for (const v of delta) n += v * v;
          const scale = n > 0 ? eps / Math.sqrt(n) : 0;
          for (let k = 0; k < d; k++) init[o + k] = clip(xh[xo + k] + delta[k] * scale);
        }
      });
      accept(rows, init, true);
    }

    const candidates = new Float32Array(b * d); // reused: every query overwrites the rows it sends
    const signs = new Float64Array(c); // linfStep's scratch
    const delta = this.norm === 'l2' ? new Float64Array(d) : signs; // l2Step's scratch (written in full each step)
    const rescaled = this.settings.schedule === 'vicinal-rescaled';
    // Linf: the candidate rows are the unbroken rows' current points (best holds them again only when the rows
    // are repacked after some broke, and at the end); a query changes one window per row and either keeps it
    // (nothing to copy) or puts back the window's old values from `undo`, a small buffer that stays in cache.
    // Square on a small network is bound by the memory traffic of these windows, so each is touched as little as possible.
    let held: number[] = [];
    let undo = new Float32Array(0);
    const corners = new Int32Array(2 * b);
    const syncBest = () => {
      for (let r = 0; r < held.length; r++) best.set(candidates.subarray(r * d, (r + 1) * d), held[r] * d);
    };
    for (let q = 1; q < this.settings.queries; q++) {
      rows = alive();
      if (rows.length === 0) break;
      const p = rescaled ? squareFraction(q, this.settings.queries, this.settings.pInit) : squareFractionReference(q - 1, this.settings.pInit);
      const cand = candidates.subarray(0, rows.length * d);
      if (this.norm === 'l2') {
        for (let r = 0; r < rows.length; r++) {
          cand.set(best.subarray(rows[r] * d, (rows[r] + 1) * d), r * d);
          this.l2Step(cand, r * d, xh, rows[r] * d, layout, p, eps, clip, rng, delta);
        }
        accept(rows, cand, false);
        continue;
      }
      if (rows.length !== held.length) {
        syncBest();
        for (let r = 0; r < rows.length; r++) cand.set(best.subarray(rows[r] * d, (rows[r] + 1) * d), r * d);
        held = rows;
      }
      const [sh, sw] = squareWindow(layout, p, 1, false);
      const span = sw * c;
      const win = sh * span;
      if (undo.length < rows.length * win) undo = new Float32Array(rows.length * win);
      for (let r = 0; r < rows.length; r++) this.linfStep(cand, r * d, xh, rows[r] * d, layout, p, eps, clip, rng, rescaled ? 10 : 1, signs, undo, r * win, corners, r);
      const s = query(rows, cand);
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        const ok = s.success[i] === 1;
        if (ok || s.objective[i] > score[row]) {
          score[row] = s.objective[i];
          if (ok) done[row] = 1;
          continue;
        }
        // plain loops, not subarray().set(): a window line is a few floats
        for (let ii = 0; ii < sh; ii++) {
          const at = i * d + ((corners[2 * i] + ii) * w + corners[2 * i + 1]) * c;
          const from = i * win + ii * span - at;
          for (let k = at; k < at + span; k++) cand[k] = undo[from + k];
        }
      }
    }
    syncBest();
    return tf.tensor(best, x.shape);
  }

  /** The tfjs query: the classifier on a tensor of the rows, then attackObjective and the success test as tfjs ops. */
  private tfjsScorer(ctx: AttackContext, targets: Int32Array | null): (rows: number[], data: Float32Array) => SquareScores {
    const { y } = ctx;
    const shape = ctx.x.shape.slice(1);
    return (rows, data) => {
      const m = rows.length;
      const s = tf.tidy(() => {
        const logits = ctx.f(tf.tensor(data, [m, ...shape]));
        const yb = tf.tensor1d(
          Int32Array.from(rows, (r) => y[r]),
          'int32',
        );
        const tb = targets
          ? tf.tensor1d(
              Int32Array.from(rows, (r) => targets[r]),
              'int32',
            )
          : null;
        const objective = attackObjective(ctx.loss, logits, yb, tb);
        const pred = tf.argMax(logits, -1);
        const success = tb ? tf.equal(pred, tb) : tf.notEqual(pred, yb);
        return tf.concat([objective, tf.cast(success, 'float32')]);
      });
      const v = s.dataSync() as Float32Array;
      s.dispose();
      return { objective: v.subarray(0, m), success: Uint8Array.from(v.subarray(m)) };
    };
  }

  /**
   * Linf: sets one random window of the candidate row (at `o`) to a random
   * vertex of the ball around x (row at `xo`); up to `draws` draws while
   * the change would leave the candidate as it is. The window's old values
   * go to `undo` from `u` (line by line), its corner to corners[2r], corners[2r + 1].
   */
  private linfStep(
    cand: Float32Array,
    o: number,
    xh: Float32Array,
    xo: number,
    layout: SquareLayout,
    p: number,
    eps: number,
    clip: (v: number) => number,
    rng: Rng,
    draws: number,
    signs: Float64Array,
    undo: Float32Array,
    u: number,
    corners: Int32Array,
    r: number,
  ): void {
    const { h, w, c } = layout;
    const [sh, sw] = squareWindow(layout, p, 1, false);
    let vh = 0;
    let vw = 0;
    for (let attempt = 0; attempt < draws; attempt++) {
      vh = rng.int(h - sh + 1);
      vw = rng.int(w - sw + 1);
      for (let ch = 0; ch < c; ch++) signs[ch] = rng.uniform() < 0.5 ? -eps : eps;
      if (attempt === draws - 1) break;
      let changes = false;
      for (let i = vh; i < vh + sh && !changes; i++) {
        for (let j = vw; j < vw + sw && !changes; j++) {
          for (let ch = 0; ch < c; ch++) {
            const k = (i * w + j) * c + ch;
            if (Math.fround(clip(xh[xo + k] + signs[ch])) !== cand[o + k]) {
              changes = true;
              break;
            }
          }
        }
      }
      if (changes) break;
    }
    // clip written out (no closure call): this loop is most of the host work per query
    const lo = clip(Number.NEGATIVE_INFINITY);
    const hi = clip(Number.POSITIVE_INFINITY);
    corners[2 * r] = vh;
    corners[2 * r + 1] = vw;
    const span = sw * c;
    const shift = xo - o; // from the candidate's index to x's
    for (let i = vh; i < vh + sh; i++) {
      const start = o + (i * w + vw) * c;
      const back = u + (i - vh) * span - start; // from the candidate's index to undo's
      if (c === 1) {
        // one channel (MNIST-like): one sign for the window, no channel loop
        const s = signs[0];
        for (let k = start; k < start + span; k++) {
          undo[back + k] = cand[k];
          const v = xh[shift + k] + s;
          cand[k] = v < lo ? lo : Math.min(v, hi);
        }
        continue;
      }
      for (let j = start; j < start + span; j += c) {
        for (let ch = 0; ch < c; ch++) {
          undo[back + j + ch] = cand[j + ch];
          const v = xh[shift + j + ch] + signs[ch];
          cand[j + ch] = v < lo ? lo : Math.min(v, hi);
        }
      }
    }
  }

  /**
   * L2: per channel, window 1 gets its old direction plus a random pattern,
   * scaled to the budget left over (eps^2 - ||delta||^2, shared by the
   * channels) plus the energy windows 1 and 2 held; window 2 is zeroed;
   * then the perturbation is rescaled to radius eps and clipped.
   */
  private l2Step(cand: Float32Array, o: number, xh: Float32Array, xo: number, layout: SquareLayout, p: number, eps: number, clip: (v: number) => number, rng: Rng, delta: Float64Array): void {
    const { h, w, c } = layout;
    const d = h * w * c;
    const [sh, sw] = squareWindow(layout, p, 3, true);
    let total = 0;
    for (let k = 0; k < d; k++) {
      delta[k] = cand[o + k] - xh[xo + k];
      total += delta[k] * delta[k];
    }
    const v1h = rng.int(h - sh + 1);
    const v1w = rng.int(w - sw + 1);
    const v2h = rng.int(h - sh + 1);
    const v2w = rng.int(w - sw + 1);
    const in1 = (i: number, j: number) => i >= v1h && i < v1h + sh && j >= v1w && j < v1w + sw;
    const in2 = (i: number, j: number) => i >= v2h && i < v2h + sh && j >= v2w && j < v2w + sw;
    const fresh = new Float64Array(sh * sw);
    for (let ch = 0; ch < c; ch++) {
      let n1 = 0;
      let nBoth = 0;
      for (let i = Math.min(v1h, v2h); i < Math.max(v1h, v2h) + sh; i++) {
        for (let j = Math.min(v1w, v2w); j < Math.max(v1w, v2w) + sw; j++) {
          const a = in1(i, j);
          if (!a && !in2(i, j)) continue;
          const v = delta[(i * w + j) * c + ch];
          nBoth += v * v;
          if (a) n1 += v * v;
        }
      }
      n1 = Math.sqrt(n1);
      const pattern = squarePattern(sh, sw, rng);
      const sign = rng.uniform() < 0.5 ? -1 : 1;
      let nf = 0;
      for (let i = 0; i < sh; i++) {
        for (let j = 0; j < sw; j++) {
          const v = sign * pattern[i * sw + j] + delta[((v1h + i) * w + v1w + j) * c + ch] / (n1 + 1e-12);
          fresh[i * sw + j] = v;
          nf += v * v;
        }
      }
      const budget = Math.sqrt(Math.max(eps * eps - total, 0) / c + nBoth) / (Math.sqrt(nf) + 1e-12);
      for (let i = v2h; i < v2h + sh; i++) for (let j = v2w; j < v2w + sw; j++) delta[(i * w + j) * c + ch] = 0;
      for (let i = 0; i < sh; i++) for (let j = 0; j < sw; j++) delta[((v1h + i) * w + v1w + j) * c + ch] = fresh[i * sw + j] * budget;
    }
    let n = 0;
    for (const v of delta) n += v * v;
    const scale = n > 0 ? eps / Math.sqrt(n) : 0;
    for (let k = 0; k < d; k++) cand[o + k] = clip(xh[xo + k] + delta[k] * scale);
  }

  /** L2 start: the input tiled (centred) with pattern blocks of about a fifth of each side, each with a random sign per channel. */
  private l2Tiling(layout: SquareLayout, rng: Rng): Float64Array {
    const { h, w, c } = layout;
    const delta = new Float64Array(h * w * c);
    const th = Math.max(1, Math.floor(h / 5));
    const tw = Math.max(1, Math.floor(w / 5));
    const nh = Math.floor(h / th);
    const nw = Math.floor(w / tw);
    const oh = Math.floor((h - nh * th) / 2);
    const ow = Math.floor((w - nw * tw) / 2);
    for (let bi = 0; bi < nh; bi++) {
      for (let bj = 0; bj < nw; bj++) {
        const pattern = squarePattern(th, tw, rng);
        for (let ch = 0; ch < c; ch++) {
          const sign = rng.uniform() < 0.5 ? -1 : 1;
          for (let i = 0; i < th; i++) {
            for (let j = 0; j < tw; j++) delta[((oh + bi * th + i) * w + ow + bj * tw + j) * c + ch] += sign * pattern[i * tw + j];
          }
        }
      }
    }
    return delta;
  }
}

/** The `square` entry of the attack registry. */
export const squareDescriptor: AttackDescriptor = {
  name: 'square',
  summary: 'Square Attack (Andriushchenko et al. 2020): score-based random search, no gradients',
  family: 'score-based',
  norms: ['linf', 'l2'],
  params: { queries: { kind: 'int', min: 1, max: 1000000 }, pInit: { kind: 'number', above: 0, max: 1 }, loss: LOSS_RULE, schedule: { kind: 'enum', values: SQUARE_SCHEDULES } },
  // AutoAttack's standard version: 5000 queries, p_init 0.8 (Linf and L2), margin loss, its own schedule.
  defaults: () => ({ queries: 5000, pInit: 0.8, loss: 'margin', schedule: 'reference' }),
  // The clean query, then `queries` queries (the initial point's included), then the final scoring; either schedule (redrawn windows are no query).
  cost: (p) => attackCost(0, (p.queries as number) + 2),
  loss: (p) => lossParam(p, 'margin'),
  scaleInvariant: (p) => lossParam(p, 'margin') !== 'ce',
  argmaxOnly: false,
  invariantCounterpart: marginCounterpart('square', 'margin'),
  make: (norm, p) =>
    new SquareAttack({ norm, queries: p.queries as number, pInit: p.pInit as number, loss: lossParam(p, 'margin'), schedule: (p.schedule as SquareSchedule | undefined) ?? 'reference' }),
};
