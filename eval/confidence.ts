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
 *
 * Nothing is computed twice: on c·f, (a) takes the evaluation's outcomes of
 * the scale-invariant attacks (margin, DLR: unchanged up to rounding) and
 * re-runs only the scale-dependent ones; of a composite (autoattack) only
 * its CE stage re-runs, plus its invariant stages on the rows they never
 * attacked on f. (b) takes a configured counterpart's outcome. The
 * returned `runs` say which.
 */
import { AttackSpec, attackDescriptor, buildAttack, createAttack, ResolvedAttack, resolveAttackParams } from '../attacks/registry';
import { Attack } from '../attacks/types';
import { worstCaseCorrect } from '../attacks/worst-case';
import { Classifier } from '../contract/classifier';
import { SanityFlag, SanityRunRecord } from '../contract/results';
import * as tf from '@tensorflow/tfjs';

/** The logit scale of check (a). */
export const CONFIDENCE_SCALE = 100;
/** Robust-accuracy rise (a) or excess (b) that raises the flag: 2 points. */
export const CONFOUND_TOLERANCE = 0.02;

/** A configured attack, its parameters resolved (ResolvedEvalConfig.attacks). */
export type ConfiguredAttack = ResolvedAttack;

/**
 * Runs an attack on the sanity subset, or on its rows `rows` (indices into
 * it), and returns per row run its robust correctness (clean-correct and
 * still correct).
 */
export type RobustOn = (f: Classifier, attack: Attack, eps: number, tag: string, rows?: readonly number[]) => Uint8Array;

/** A composite attack's per-example state after each of its stages in the evaluation's run (first entry "clean"): 1 while the row survived. */
export interface StageOutcome {
  stage: string;
  robust: Uint8Array;
}

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

/**
 * Whether the attack's outcome cannot change with the scale of the logits
 * (beyond float rounding), as its descriptor says: it reads only the argmax
 * (noise), or its one loss ignores the scale (margin, DLR; every comparison
 * and step direction is invariant under z -> c z for c > 0). CE attacks, and
 * composites (no single loss: autoattack has a CE stage), are not.
 * `params` may be resolved parameters or an attack's recorded settings (a
 * composite's stages).
 */
export function scaleInvariantAttack(a: { name: string; norm?: string; params: Record<string, unknown> }): boolean {
  const d = attackDescriptor(a.name);
  return d.argmaxOnly || (d.loss(a.params) !== null && d.scaleInvariant(a.params));
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

/** What checks (a) and (b) found, ran and reused. */
export interface ConfidenceOutcome {
  flags: SanityFlag[];
  runs: SanityRunRecord[];
  /** Check (a): per logit scale (1 first) the worst case's per-example robust correctness on the sanity subset. */
  worstCase: { scale: number; robust: Uint8Array }[];
}

export interface ConfidenceOptions {
  /**
   * Reuse what the evaluation computed (default true): on c·f a
   * scale-invariant attack's outcome is its outcome on f, and of a composite
   * only the scale-dependent stages re-run (see compositeOnScaled), and
   * check (b) takes a configured counterpart's outcome. False re-runs every
   * attack on c·f and every counterpart on f (tests compare the two).
   */
  reuse?: boolean;
  /** Per configured attack (same order), a composite's per-stage outcomes from the evaluation; undefined for the others. */
  stages?: (StageOutcome[] | undefined)[];
  tol?: number;
}

const rowsNote = (k: number, m: number): string => (k === m ? '' : ` (${k} of ${m} rows)`);

/**
 * Checks (a) and (b) at `eps`. `configured` are the study's attacks,
 * `robust` their per-example robust correctness on the sanity subset (same
 * order), `robustOn` runs further attacks on that subset.
 */
export function confidenceConfound(f: Classifier, eps: number, configured: ConfiguredAttack[], robust: Uint8Array[], robustOn: RobustOn, options: ConfidenceOptions = {}): ConfidenceOutcome {
  const tol = options.tol ?? CONFOUND_TOLERANCE;
  const reuse = options.reuse ?? true;
  const flags: SanityFlag[] = [];
  const runs: SanityRunRecord[] = [];
  const worstCase: ConfidenceOutcome['worstCase'] = [];
  // (a) the worst case over the attacks whose result can depend on the scale, recomputed on c·f and f/c
  const idx = configured.map((_, i) => i).filter((i) => !attackDescriptor(configured[i].name).argmaxOnly);
  if (idx.length) {
    const base = worstCaseCorrect(idx.map((i) => robust[i]));
    worstCase.push({ scale: 1, robust: base });
    const at = new Map<number, number>([[1, share(base)]]);
    for (const c of [CONFIDENCE_SCALE, 1 / CONFIDENCE_SCALE]) {
      const g = scaleLogits(f, c);
      const record: SanityRunRecord = {
        check: 'logit-scale-dependence',
        at: `${configured[idx[0]].norm} eps ${eps}, logits x${c === CONFIDENCE_SCALE ? String(c) : `1/${CONFIDENCE_SCALE}`}`,
        reran: [],
        reused: [],
      };
      const outcomes = idx.map((i) => {
        const a = configured[i];
        const attack = buildAttack(a);
        const tag = `scale ${c}:${a.name}`;
        if (reuse && scaleInvariantAttack(a)) {
          record.reused.push(a.name);
          return robust[i];
        }
        const stages = reuse ? options.stages?.[i] : undefined;
        if (stages) {
          const r = compositeOnScaled(g, attack, eps, tag, stages, robustOn);
          if (r) {
            record.reran.push(...r.reran.map((s) => `${a.name}:${s}`));
            record.reused.push(...r.reused.map((s) => `${a.name}:${s}`));
            return r.robust;
          }
        }
        record.reran.push(a.name);
        return robustOn(g, attack, eps, tag);
      });
      const scaled = worstCaseCorrect(outcomes);
      worstCase.push({ scale: c, robust: scaled });
      at.set(c, share(scaled));
      runs.push(record);
    }
    const values = [...at.values()];
    if (Math.max(...values) > Math.min(...values) + tol) {
      const show = [...at.entries()].map(([c, v]) => `${pct(v)} at scale ${c === 1 ? '1' : c > 1 ? String(c) : `1/${CONFIDENCE_SCALE}`}`).join(', ');
      flags.push({
        check: 'logit-scale-dependence',
        severity: 'warning',
        norm: configured[idx[0]].norm,
        eps,
        message: `at ${configured[idx[0]].norm} eps ${eps} the worst case over ${idx.map((i) => configured[i].name).join(', ')} changes with the scale of the logits, which changes no prediction (${show}): the evaluation depends on logit scale, so a model with large logits would look robust`,
      });
    }
  }
  // (b) each CE attack against its scale-invariant counterpart (configured, or run here)
  configured.forEach((a, i) => {
    const spec = scaleInvariantCounterpart(a);
    if (!spec) return;
    const j = configured.findIndex((b) => b.name === spec.name && b.norm === a.norm && attackLoss(b) !== null && attackLoss(b) !== 'ce' && sameBudget(a, b));
    const label = spec.name === a.name ? `${a.name} with the ${String(spec.params?.loss)} loss` : spec.name;
    const configuredOther = reuse && j >= 0;
    runs.push({ check: 'ce-saturation', at: `${a.norm} eps ${eps}, ${a.name}`, reran: configuredOther ? [] : [label], reused: configuredOther ? [a.name, configured[j].name] : [a.name] });
    const other = configuredOther ? robust[j] : robustOn(f, createAttack(spec, a.norm), eps, `invariant:${a.name}`);
    const [ce, inv] = [share(robust[i]), share(other)];
    if (ce > inv + tol) {
      flags.push({
        check: 'ce-saturation',
        severity: 'warning',
        norm: a.norm,
        eps,
        message: `at ${a.norm} eps ${eps} ${a.name} (cross-entropy) leaves ${pct(ce)} robust accuracy, ${label} (same budget, scale-invariant loss) ${pct(inv)}: CE attack weakened by the model's confidence`,
      });
    }
  });
  return { flags, runs, worstCase };
}

/**
 * A composite attack (stages run in turn on the rows every earlier stage
 * left correct) on c·f from its run on f: the scale-dependent stages re-run
 * on c·f; a scale-invariant stage's outcome on a row is known wherever it
 * attacked that row on f (it broke it, or the row survived it), and runs
 * on c·f only for the rows it never saw there (an earlier, scale-dependent
 * stage broke them on f but not on c·f). Returns null when nothing can be
 * reused (no invariant stage, or the stages do not match the log).
 */
export function compositeOnScaled(
  g: Classifier,
  attack: Attack,
  eps: number,
  tag: string,
  outcome: StageOutcome[],
  robustOn: RobustOn,
): { robust: Uint8Array; reran: string[]; reused: string[] } | null {
  const stages = (attack as { stages?: readonly Attack[] }).stages;
  if (!stages || outcome.length !== stages.length + 1 || outcome[0].stage !== 'clean' || stages.some((s, k) => outcome[k + 1].stage !== s.name)) return null;
  const invariant = stages.map((s) => scaleInvariantAttack({ name: s.name, params: { ...s.settings } }));
  if (!invariant.some((v) => v)) return null;
  const m = outcome[0].robust.length;
  // brokenAt: the stage (1-based, as in `outcome`) that broke the row on f; stages.length + 1 when none did
  const brokenAt = new Int32Array(m).fill(stages.length + 1);
  for (let r = 0; r < m; r++) {
    for (let k = 1; k <= stages.length; k++) {
      if (!outcome[k].robust[r]) {
        brokenAt[r] = k;
        break;
      }
    }
  }
  const reran: string[] = [];
  const reused = stages.filter((_, k) => invariant[k]).map((s) => s.name);
  /** Runs `which` stages in turn on `rows`, each on the rows the previous ones left correct; returns the survivors. */
  const chain = (which: number[], rows: number[], label: string): number[] => {
    let alive = rows;
    for (const k of which) {
      if (!alive.length) break;
      const out = robustOn(g, stages[k], eps, `${tag}:${stages[k].name}${label}`, alive);
      reran.push(`${stages[k].name}${rowsNote(alive.length, m)}`);
      alive = alive.filter((_, i) => out[i]);
    }
    return alive;
  };
  const clean: number[] = [];
  for (let r = 0; r < m; r++) if (outcome[0].robust[r]) clean.push(r);
  const dependent = stages.map((_, k) => k).filter((k) => !invariant[k]);
  const robust = new Uint8Array(m);
  const undecided = new Map<number, number[]>();
  for (const r of chain(dependent, clean, '')) {
    const b = brokenAt[r];
    if (b > stages.length)
      robust[r] = 1; // every invariant stage attacked it on f and failed
    else if (!invariant[b - 1]) (undecided.get(b) ?? undecided.set(b, []).get(b))?.push(r);
    // else an invariant stage broke it on f: broken on c·f too
  }
  for (const [b, rows] of undecided) {
    const later = stages.map((_, k) => k).filter((k) => k >= b && invariant[k]);
    for (const r of chain(later, rows, `#${b}`)) robust[r] = 1;
  }
  return { robust, reran, reused };
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
