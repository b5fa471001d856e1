/**
 * The confidence confound. Multiplying the logits by c > 0 changes no
 * prediction, so the true robust accuracy of c·f equals that of f; but the
 * cross-entropy's gradient underflows on confidently classified points, so
 * CE-based attacks report an over-confident model as robust. ERM models are
 * typically more confident than mixup models, so a robustness difference
 * between them can be a difference in confidence. Two checks tell which:
 *
 *  (a) logit-scale dependence: the worst case over the configured attacks,
 *      recomputed on c·f with c = 100 and c = 1/100, must stay within the
 *      tolerance of itself (a robust accuracy that changes with a scale that
 *      changes no prediction measures the attack, not the model). Both
 *      directions, because a model that is already saturated shows it only
 *      when its logits shrink;
 *  (b) CE saturation: a CE attack's robust accuracy must not exceed that of
 *      the same attack with a scale-invariant loss (margin or DLR, same
 *      budget) by more than the tolerance.
 *
 * Both run on the sanity subset at one radius: the eps whose worst-case
 * robust accuracy is nearest half the clean accuracy, where most examples
 * are near the boundary and a weakened attack shows most.
 */
import { AttackSpec, attackDescriptor, buildAttack, createAttack, ResolvedAttack, resolveAttackParams } from '../attacks/registry';
import { Attack } from '../attacks/types';
import { worstCaseCorrect } from '../attacks/worst-case';
import { Classifier } from '../contract/classifier';
import { SanityFlag } from '../contract/results';
import * as tf from '@tensorflow/tfjs';

/** The logit scale of check (a). */
export const CONFIDENCE_SCALE = 100;
/** Robust-accuracy rise (a) or excess (b) that raises the flag: 2 points. */
export const CONFOUND_TOLERANCE = 0.02;

/** A configured attack, its parameters resolved (ResolvedEvalConfig.attacks). */
export type ConfiguredAttack = ResolvedAttack;

/** Runs an attack on the sanity subset and returns per-example robust correctness (clean-correct and still correct). */
export type RobustOn = (f: Classifier, attack: Attack, eps: number, tag: string) => Uint8Array;

/** c·f: the same predictions, logits c times larger. */
export function scaleLogits(f: Classifier, c: number): Classifier {
  return (x) => tf.tidy(() => tf.mul(f(x), c) as tf.Tensor2D);
}

/** The loss an attack ascends ("ce", "margin", "dlr") with its resolved parameters (its descriptor says); null for attacks without one (noise, composites). */
export function attackLoss(a: ConfiguredAttack): string | null {
  try {
    return attackDescriptor(a.name).loss(resolveAttackParams({ name: a.name, params: a.params }, a.norm).params);
  } catch {
    return null;
  }
}

/** The same attack and budget with a scale-invariant loss (its descriptor says which), or null when there is none. */
export function scaleInvariantCounterpart(a: ConfiguredAttack): AttackSpec | null {
  if (attackLoss(a) !== 'ce') return null;
  const other = attackDescriptor(a.name).invariantCounterpart(a.params);
  if (!other) return null;
  const spec: AttackSpec = { name: other.name, params: { ...other.params, norm: a.norm } };
  try {
    resolveAttackParams(spec, a.norm);
    return spec;
  } catch {
    return null;
  }
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const share = (v: Uint8Array): number => (v.length ? v.reduce((s, b) => s + b, 0) / v.length : NaN);

/**
 * Checks (a) and (b) at `eps`. `configured` are the study's attacks,
 * `robust` their per-example robust correctness on the sanity subset (same
 * order), `robustOn` runs further attacks on that subset.
 */
export function confidenceConfoundFlags(f: Classifier, eps: number, configured: ConfiguredAttack[], robust: Uint8Array[], robustOn: RobustOn, tol = CONFOUND_TOLERANCE): SanityFlag[] {
  const flags: SanityFlag[] = [];
  // (a) the worst case over the attacks whose result can depend on the scale, recomputed on c·f and f/c
  const idx = configured.map((_, i) => i).filter((i) => !attackDescriptor(configured[i].name).argmaxOnly);
  if (idx.length) {
    const at = new Map<number, number>([[1, share(worstCaseCorrect(idx.map((i) => robust[i])))]]);
    for (const c of [CONFIDENCE_SCALE, 1 / CONFIDENCE_SCALE]) {
      const g = scaleLogits(f, c);
      const runs = idx.map((i) => robustOn(g, buildAttack(configured[i]), eps, `scale ${c}:${configured[i].name}`));
      at.set(c, share(worstCaseCorrect(runs)));
    }
    const values = [...at.values()];
    if (Math.max(...values) > Math.min(...values) + tol) {
      const show = [...at.entries()].map(([c, v]) => `${pct(v)} at scale ${c === 1 ? '1' : c > 1 ? String(c) : `1/${CONFIDENCE_SCALE}`}`).join(', ');
      flags.push({
        check: 'logit-scale-dependence',
        severity: 'warning',
        message: `at ${configured[idx[0]].norm} eps ${eps} the worst case over ${idx.map((i) => configured[i].name).join(', ')} changes with the scale of the logits, which changes no prediction (${show}): the evaluation depends on logit scale, so a model with large logits would look robust`,
      });
    }
  }
  // (b) each CE attack against its scale-invariant counterpart (configured, or run here)
  configured.forEach((a, i) => {
    const spec = scaleInvariantCounterpart(a);
    if (!spec) return;
    const j = configured.findIndex((b) => b.name === spec.name && b.norm === a.norm && attackLoss(b) !== null && attackLoss(b) !== 'ce' && sameBudget(a, b));
    const other = j >= 0 ? robust[j] : robustOn(f, createAttack(spec, a.norm), eps, `invariant:${a.name}`);
    const [ce, inv] = [share(robust[i]), share(other)];
    if (ce > inv + tol) {
      const label = spec.name === a.name ? `${a.name} with the ${String(spec.params?.loss)} loss` : spec.name;
      flags.push({
        check: 'ce-saturation',
        severity: 'warning',
        message: `at ${a.norm} eps ${eps} ${a.name} (cross-entropy) leaves ${pct(ce)} robust accuracy, ${label} (same budget, scale-invariant loss) ${pct(inv)}: CE attack weakened by the model's confidence`,
      });
    }
  });
  return flags;
}

/** Same parameters apart from the loss (so the comparison is budget for budget). */
function sameBudget(a: ConfiguredAttack, b: ConfiguredAttack): boolean {
  const strip = (p: Record<string, unknown>) =>
    JSON.stringify(
      Object.entries(p)
        .filter(([k]) => k !== 'loss')
        .sort(([x], [y]) => x.localeCompare(y)),
    );
  return strip(a.params) === strip(b.params);
}
