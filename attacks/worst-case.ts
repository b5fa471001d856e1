import * as tf from '@tensorflow/tfjs';
import { Rng } from '../data/rng';
import { Bounds } from '../data/types';
import { Classifier } from '../contract/classifier';
import { Attack, AttackOutput, AttackRunOptions, assertInBall, selectRows } from './types';
import { Norm } from '../contract/norms';

/**
 * Per-example worst case over several attacks (AutoAttack style): an
 * example is robust only if it survives every attack. Runs each attack on
 * the whole batch (AutoAttack attacks only the survivors; with batched
 * tensors the saving is small) and keeps per row the first successful
 * adversarial example in attack order, else the one with the highest loss.
 */
export class WorstCaseAttack implements Attack {
  readonly name: string;
  readonly norm: Norm;
  readonly settings: Readonly<Record<string, unknown>>;

  constructor(
    private readonly attacks: Attack[],
    name = 'worst-case',
  ) {
    if (attacks.length === 0) throw new Error('worst-case: needs at least one attack');
    const norms = new Set(attacks.map((a) => a.norm));
    if (norms.size !== 1) throw new Error(`worst-case: all attacks must share one norm, got ${[...norms].join(', ')}`);
    this.name = name;
    this.norm = attacks[0].norm;
    this.settings = { attacks: attacks.map((a) => ({ name: a.name, ...a.settings })) };
  }

  run(f: Classifier, x: tf.Tensor, y: Int32Array, bounds: Bounds, eps: number, rng: Rng, options?: AttackRunOptions): AttackOutput {
    let best: AttackOutput | null = null;
    for (const attack of this.attacks) {
      const out = attack.run(f, x, y, bounds, eps, rng.fork(attack.name), options);
      if (best === null) {
        best = out;
        continue;
      }
      best = mergeWorst(best, out);
    }
    const result = best as AttackOutput;
    assertInBall(result.xAdv, x, eps, this.norm, bounds, this.name);
    return result;
  }
}

/**
 * Per row the worse of two outputs for the model: a success beats a
 * failure, the earlier success is kept, else the higher loss. Disposes the
 * inputs' tensors and returns a new output.
 */
export function mergeWorst(a: AttackOutput, b: AttackOutput): AttackOutput {
  const n = a.success.length;
  const takeB = new Uint8Array(n);
  for (let i = 0; i < n; i++) takeB[i] = (!a.success[i] && b.success[i]) || (!a.success[i] && !b.success[i] && b.loss[i] > a.loss[i]) ? 1 : 0;
  const xAdv = tf.tidy(() => selectRows(tf.tensor1d(takeB, 'float32'), b.xAdv, a.xAdv));
  a.xAdv.dispose();
  b.xAdv.dispose();
  const pick = <T extends Uint8Array | Float32Array | Int32Array>(u: T, v: T): T => {
    const out = u.slice() as T;
    for (let i = 0; i < n; i++) if (takeB[i]) out[i] = v[i];
    return out;
  };
  return { xAdv, success: pick(a.success, b.success), loss: pick(a.loss, b.loss), pred: pick(a.pred, b.pred) };
}

/** Per example 1 when it is correct under every vector (AND over attacks). */
export function worstCaseCorrect(perAttack: ArrayLike<number>[]): Uint8Array {
  if (perAttack.length === 0) return new Uint8Array(0);
  const n = perAttack[0].length;
  const out = new Uint8Array(n).fill(1);
  for (const v of perAttack) {
    if (v.length !== n) throw new Error(`worst case: per-example vectors differ in length (${v.length} vs ${n})`);
    for (let i = 0; i < n; i++) if (!v[i]) out[i] = 0;
  }
  return out;
}
