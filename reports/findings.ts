/**
 * The findings: the answer every report opens with, generated from the
 * comparison model alone (nothing is written per study).
 *
 * Per group (dataset/model), for each scheme against the baseline `erm`:
 *  - clean accuracy;
 *  - worst-case robust accuracy (per example, robust only if it survives every
 *    attack: the strongest evaluation the study ran) at every headline ε.
 *    The headline ε are every ε of the group's worst-case columns, per norm;
 *    they are reported in one sentence per scheme, so a group reads as three
 *    sentences per scheme whatever the number of ε;
 *  - the median input-gradient norm at test points (ℓ1, the dual of the ℓ∞
 *    threat model, when the worst case is ℓ∞; ℓ2 for ℓ2).
 * Each carries the paired difference Δ with its 95% CI over seeds and the
 * verdict of the summary (significant only when the CI excludes 0 and the
 * paired sign-flip test agrees, p < 0.05; see stats.ts).
 *
 * A sanity flag raised on the scheme's or the baseline's seeds in the group
 * qualifies the comparisons it undermines, and the comparison's sentence says
 * so ("qualified: <check> on <scheme> seed <s>"): flags about the attack at
 * one ε (gradient masking, noise stronger, steps not converged, ...) qualify
 * the worst case at that ε (the flag's own norm and ε fields, compared
 * exactly; every ε when the flag has none); flags that
 * make every attack suspect (large ε not reaching 0%, zero or NaN gradients,
 * probability outputs, non-determinism, batch dependence) qualify every ε;
 * gradient flags qualify the gradient-norm comparison; non-determinism and
 * batch dependence also qualify clean accuracy.
 */
import { ATTACK_NAMES, attackDefaults, attackDescriptor } from '../attacks/registry';
import { epsLabel, parseProbeColumnKey } from '../contract/keys';
import type { Norm } from '../contract/norms';
import { fmtNumber, fmtSigned, fmtValue } from './format';
import { TestSetCI, formatP } from './stats';
import { BASELINE, Cell, CellStatus, Column, FlagRecord, GroupSummary, RunSummary } from './summary';

export type FindingMetric = 'clean' | 'worst' | 'gradient';

/** Flags of one check that qualify a finding, by scheme. */
export interface Qualifier {
  check: string;
  on: { scheme: string; seeds: number[] }[];
}

export interface Finding {
  group: string;
  scheme: string;
  baseline: string;
  metric: FindingMetric;
  /** The summary column the finding reads, e.g. "clean", "worst@linf:0.1", "probe:grad-l1/test". */
  column: string;
  norm: Norm | null;
  eps: number | null;
  /** "accuracy": shares in [0, 1], differences shown in points; "value": raw numbers. */
  unit: Column['unit'];
  /** Status of the scheme's and the baseline's cells ("ok", "partial", "diverged", ...). */
  status: CellStatus;
  baselineStatus: CellStatus;
  /** Means over each side's successful seeds; null without any. */
  mean: number | null;
  baselineMean: number | null;
  /** Paired difference scheme − baseline over the seeds both finished, with its 95% t CI (null bounds with one pair). */
  delta: number | null;
  lo: number | null;
  hi: number | null;
  /** With one paired seed: Newcombe's paired 95% CI of Δ over the test examples (test-set noise only); null otherwise. */
  testCI: TestSetCI | null;
  /** Seeds in the paired difference, and the seeds planned. */
  pairedSeeds: number[];
  plannedSeeds: number[];
  /** Seeds left out of the pair and why, e.g. "label-smoothing seed 2 diverged". */
  excluded: string[];
  /** Sign-flip test p over test examples (accuracies); null for gradient norms. */
  p: number | null;
  /** The summary's verdict label: "significant", "not significant", "n=1, no CI", "no paired seeds"; "no data" without a difference. */
  verdict: string;
  significant: boolean;
  /** Sign of a significant Δ (+1 the scheme higher), else 0. */
  direction: -1 | 0 | 1;
  qualifiers: Qualifier[];
}

export interface GroupFindings {
  group: string;
  baseline: string | null;
  /** Attacks the worst case is taken over. */
  worstOver: string[];
  /** The headline ε: every ε of the worst-case columns, per norm. */
  headlineEps: { norm: Norm; eps: number[] }[];
  /** The gradient-norm probe compared, e.g. "grad-l1/test"; null when the run has none. */
  gradientProbe: string | null;
  findings: Finding[];
  /** The findings as sentences: per scheme clean accuracy, robust accuracy at every headline ε, gradient norm. */
  sentences: string[];
  /** Which sanity flags qualify these findings, in one sentence. */
  flagLine: string;
}

/** Checks that make every robust accuracy of a model suspect, whatever ε they name. */
const EVERY_EPS = new Set(['large-eps-not-zero', 'zero-gradients', 'nan-gradients', 'outputs-probabilities', 'nondeterministic', 'batch-dependence', 'out-of-ball']);
/** Checks that qualify clean accuracy. */
const CLEAN_CHECKS = new Set(['nondeterministic', 'batch-dependence']);
/** Checks that qualify a gradient-norm comparison. */
const GRADIENT_CHECKS = new Set(['zero-gradients', 'nan-gradients', 'outputs-probabilities', 'nondeterministic']);

/**
 * Whether a flag undermines a comparison of this metric (at this norm and ε
 * for the worst case). A flag's own norm and ε (set by the check that raised
 * it) are compared exactly: both come from the same double the study
 * configured. A flag without ε (a check about the whole model, or a result
 * written before flags carried their scope) qualifies every ε.
 */
export function flagQualifies(flag: Pick<FlagRecord, 'check' | 'norm' | 'eps'>, metric: FindingMetric, norm: string | null, eps: number | null): boolean {
  if (metric === 'clean') return CLEAN_CHECKS.has(flag.check);
  if (metric === 'gradient') return GRADIENT_CHECKS.has(flag.check);
  if (EVERY_EPS.has(flag.check)) return true;
  if (flag.eps === undefined || eps === null) return true;
  return flag.eps === eps && (flag.norm === undefined || norm === null || flag.norm === norm);
}

/** The gradient-norm probe column of a group: the median norm at test points dual to the worst case's norm. */
export function gradientColumn(g: GroupSummary): Column | null {
  const worstNorms = new Set(g.columns.filter((c) => c.kind === 'worst').map((c) => c.norm));
  const order = worstNorms.has('linf') || worstNorms.size === 0 ? ['grad-l1/test', 'grad-l2/test'] : ['grad-l2/test', 'grad-l1/test'];
  for (const p of order) {
    const c = g.columns.find((x) => x.kind === 'probe' && x.probe === p);
    if (c) return c;
  }
  return null;
}

/** The columns the findings read, in table order: clean, worst case at every ε, the gradient norm. */
export function findingColumns(g: GroupSummary): Column[] {
  const grad = gradientColumn(g);
  return [...g.columns.filter((c) => c.kind === 'clean' || c.kind === 'worst'), ...(grad ? [grad] : [])];
}

function metricOf(c: Column): FindingMetric {
  return c.kind === 'clean' ? 'clean' : c.kind === 'worst' ? 'worst' : 'gradient';
}

/**
 * Whether a registered attack, at its defaults, is driven by a loss that ignores the logits' scale (its
 * descriptor says). ce-saturation says a CE attack is weaker than its margin twin; it does not undermine
 * a worst case that already includes one of these. Columns name attacks only, so the defaults speak.
 */
function scaleInvariantAttack(name: string): boolean {
  if (!ATTACK_NAMES.includes(name)) return false;
  const d = attackDescriptor(name);
  return d.scaleInvariant(attackDefaults(name));
}

function qualifiersFor(g: GroupSummary, schemes: string[], metric: FindingMetric, norm: string | null, eps: number | null): Qualifier[] {
  const byCheck = new Map<string, Map<string, Set<number>>>();
  const invariantInWorst = metric === 'worst' && g.columns.some((c) => c.kind === 'robust' && scaleInvariantAttack(c.attack as string));
  for (const f of g.flags) {
    if (!schemes.includes(f.scheme) || !flagQualifies(f, metric, norm, eps)) continue;
    if (invariantInWorst && f.check === 'ce-saturation') continue;
    const m = byCheck.get(f.check) ?? new Map<string, Set<number>>();
    m.set(f.scheme, (m.get(f.scheme) ?? new Set()).add(f.seed));
    byCheck.set(f.check, m);
  }
  return [...byCheck].map(([check, m]) => ({
    check,
    on: schemes.filter((s) => m.has(s)).map((s) => ({ scheme: s, seeds: [...(m.get(s) as Set<number>)].sort((a, b) => a - b) })),
  }));
}

function excludedSeeds(scheme: string, cell: Cell, baseline: string, base: Cell, paired: number[]): string[] {
  const out: string[] = [];
  for (const [name, c] of [
    [scheme, cell],
    [baseline, base],
  ] as const) {
    for (const s of c.seedStatus) if (!paired.includes(s.seed) && s.status !== 'ok' && s.status !== 'n/a') out.push(`${name} seed ${s.seed} ${s.status}`);
  }
  return out;
}

function finding(g: GroupSummary, baseline: string, row: GroupSummary['rows'][number], col: Column): Finding | null {
  const cell = row.cells[col.key];
  const base = g.rows.find((r) => r.scheme === baseline)?.cells[col.key];
  if (!cell || !base || cell.status === 'n/a' || base.status === 'n/a') return null;
  const d = cell.diff;
  const paired = d ? [...d.seeds] : [];
  const metric = metricOf(col);
  const norm = (col.norm ?? null) as Norm | null;
  const eps = col.eps ?? null;
  return {
    group: g.group,
    scheme: row.scheme,
    baseline,
    metric,
    column: col.key,
    norm,
    eps,
    unit: col.unit,
    status: cell.status,
    baselineStatus: base.status,
    mean: cell.stat && cell.stat.n > 0 ? cell.stat.mean : null,
    baselineMean: base.stat && base.stat.n > 0 ? base.stat.mean : null,
    delta: d && d.n > 0 ? d.mean : null,
    lo: d?.lo ?? null,
    hi: d?.hi ?? null,
    testCI: d?.testCI ?? null,
    pairedSeeds: paired,
    plannedSeeds: cell.seedStatus.map((s) => s.seed),
    excluded: excludedSeeds(row.scheme, cell, baseline, base, paired),
    p: d?.test?.p ?? null,
    verdict: d ? d.verdict.label : 'no data',
    significant: d ? d.verdict.significant : false,
    direction: d ? d.verdict.direction : 0,
    qualifiers: qualifiersFor(g, [row.scheme, baseline], metric, norm, eps),
  };
}

// ---------------------------------------------------------------- sentences

export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function seedList(seeds: number[]): string {
  return `seed${seeds.length === 1 ? '' : 's'} ${seeds.join(', ')}`;
}

/** "(qualified: gradient-masking on mixup seed 1; steps-not-converged on erm seeds 0, 1)", or "". */
export function qualifierText(q: Qualifier[]): string {
  if (!q.length) return '';
  return ` (qualified: ${q.map((x) => `${x.check} on ${x.on.map((o) => `${o.scheme} ${seedList(o.seeds)}`).join(' and ')}`).join('; ')})`;
}

/** "over 3 seeds" or "over 2 of 3 seeds (label-smoothing seed 2 diverged)". */
export function seedsText(f: Finding): string {
  const n = f.pairedSeeds.length;
  const planned = f.plannedSeeds.length;
  if (n === planned && !f.excluded.length) return `over ${plural(n, 'seed')}`;
  return `over ${n} of ${plural(planned, 'seed')}${f.excluded.length ? ` (${f.excluded.join(', ')})` : ''}`;
}

/** "−9.8 points [−12.8, −6.8], significant" (accuracies) or "−0.80 [−0.85, −0.75], significant" (values). */
function deltaText(f: Finding, withUnit = true): string {
  const unit = f.unit === 'accuracy' && withUnit ? ' points' : '';
  const d = fmtSigned(f.delta as number, f.unit) + unit;
  if (f.verdict === 'n=1, no CI') {
    if (!f.testCI) return `${d}, one seed (no CI, not called significant)`;
    const t = f.testCI;
    return `${d} [${fmtSigned(t.lo, f.unit)}, ${fmtSigned(t.hi, f.unit)}] over the test set only (one seed: not called significant)`;
  }
  const ci = f.lo !== null && f.hi !== null ? ` [${fmtSigned(f.lo, f.unit)}, ${fmtSigned(f.hi, f.unit)}]` : '';
  // The CI alone excludes 0 but the paired test disagrees: say why it is not significant.
  const ciExcludes = f.lo !== null && f.hi !== null && (f.lo > 0 || f.hi < 0);
  const why = !f.significant && ciExcludes && f.p !== null ? ` (the CI excludes 0 but the sign-flip test gives p=${formatP(f.p)})` : '';
  return `${d}${ci}, ${f.verdict}${why}`;
}

/** Why a finding has no difference: "mixup has no finished seed (3 diverged)". */
export function noDataText(f: Finding): string {
  if (f.mean === null) return `${f.scheme} has no finished seed (${f.status})`;
  if (f.baselineMean === null) return `${f.baseline} has no finished seed (${f.baselineStatus})`;
  return 'no seed finished for both';
}

function epsTag(f: Finding, normTags: boolean): string {
  return `ε=${f.eps === null ? f.eps : epsLabel(f.eps)}${normTags ? ` (${f.norm === 'l2' ? 'ℓ2' : 'ℓ∞'})` : ''}`;
}

export function gradientName(probe: string): string {
  const [fam, where] = probe.split('/');
  const norm = fam === 'grad-l1' ? 'ℓ1' : fam === 'grad-l2' ? 'ℓ2' : fam;
  return `median input-gradient ${norm} norm at ${where} points`;
}

/** One sentence per scheme and metric; a scheme with nothing to compare gets one sentence saying why. */
export function findingSentences(fs: Finding[], gradientProbe: string | null): string[] {
  const out: string[] = [];
  const normTags = new Set(fs.filter((f) => f.metric === 'worst').map((f) => f.norm)).size > 1;
  const schemes = [...new Set(fs.map((f) => f.scheme))];
  for (const scheme of schemes) {
    const mine = fs.filter((f) => f.scheme === scheme);
    if (mine.every((f) => f.delta === null)) {
      out.push(`${scheme}: no comparison with ${mine[0].baseline}: ${noDataText(mine[0])}.`);
      continue;
    }
    for (const f of mine.filter((x) => x.metric === 'clean')) {
      out.push(f.delta === null ? `${scheme}: clean accuracy not compared: ${noDataText(f)}.` : `${scheme}: clean accuracy ${deltaText(f)} ${seedsText(f)}${qualifierText(f.qualifiers)}.`);
    }
    const worst = mine.filter((x) => x.metric === 'worst');
    if (worst.length) {
      // "points" once, in the first clause with a difference.
      const first = worst.findIndex((f) => f.delta !== null);
      const clauses = worst.map((f, i) => `at ${epsTag(f, normTags)} ${f.delta === null ? `not compared (${noDataText(f)})` : deltaText(f, i === first)}${qualifierText(f.qualifiers)}`);
      const withData = worst.find((f) => f.delta !== null);
      out.push(`${scheme}: worst-case robust accuracy ${clauses.join('; ')}${withData ? `; ${seedsText(withData)}` : ''}.`);
    }
    for (const f of mine.filter((x) => x.metric === 'gradient')) {
      const name = gradientName(gradientProbe ?? parseProbeColumnKey(f.column) ?? f.column);
      if (f.delta === null || f.mean === null || f.baselineMean === null) {
        out.push(`${scheme}: ${name} not compared: ${noDataText(f)}.`);
        continue;
      }
      const ratio = f.baselineMean > 0 ? ` (×${fmtNumber(f.mean / f.baselineMean, 2)})` : '';
      out.push(
        `${scheme}: ${name} ${fmtValue(f.mean, 'value')} against ${fmtValue(f.baselineMean, 'value')} for ${f.baseline}${ratio}, Δ ${deltaText(f)} ${seedsText(f)}${qualifierText(f.qualifiers)}.`,
      );
    }
  }
  return out;
}

/** "Sanity flags: gradient-masking ×1 (mixup) qualifies 1 of 15 comparisons, marked above." */
function flagLine(g: GroupSummary, fs: Finding[]): string {
  if (!g.flags.length) return 'Sanity flags: none raised in this group; no finding is qualified.';
  const compared = fs.filter((f) => f.delta !== null);
  const checks = [...new Set(g.flags.map((f) => f.check))];
  const parts = checks.map((check) => {
    const flags = g.flags.filter((f) => f.check === check);
    const schemes = [...new Set(flags.map((f) => f.scheme))];
    const k = compared.filter((f) => f.qualifiers.some((q) => q.check === check)).length;
    return `${check} ×${flags.length} (${schemes.join(', ')}) qualifies ${k ? `${k} of ${plural(compared.length, 'comparison')}` : 'none of the comparisons'}`;
  });
  const any = compared.some((f) => f.qualifiers.length);
  return `Sanity flags: ${parts.join('; ')}${any ? '; each qualified comparison says so above' : ''}.`;
}

/** The findings of one group. */
export function groupFindings(g: GroupSummary): GroupFindings {
  const cols = findingColumns(g);
  const grad = gradientColumn(g);
  const worst = g.columns.filter((c) => c.kind === 'worst');
  const norms = [...new Set(worst.map((c) => c.norm as Norm))];
  const base = g.baseline;
  const findings: Finding[] = [];
  if (base) {
    for (const row of g.rows) {
      if (row.scheme === base) continue;
      for (const c of cols) {
        const f = finding(g, base, row, c);
        if (f) findings.push(f);
      }
    }
  }
  const sentences = base ? findingSentences(findings, grad?.probe ?? null) : [`No ${BASELINE} row in this group: nothing to compare against.`];
  if (base && findings.length === 0) sentences.push(`Only ${base} ran in this group: nothing to compare.`);
  return {
    group: g.group,
    baseline: base,
    worstOver: [...new Set(g.attacks.map((a) => a.attack))],
    headlineEps: norms.map((norm) => ({ norm, eps: worst.filter((c) => c.norm === norm).map((c) => c.eps as number) })),
    gradientProbe: grad?.probe ?? null,
    findings,
    sentences,
    flagLine: flagLine(g, findings),
  };
}

/** The findings of every group of a run, in group order. */
export function runFindings(s: Pick<RunSummary, 'groups'>): GroupFindings[] {
  return s.groups.map(groupFindings);
}

/** What a group's findings are about, e.g. "worst case over fgsm, pgd; 300 test examples attacked; seeds 0, 1, 2". */
export function findingsContext(g: GroupSummary, gf: GroupFindings): string {
  const seeds = [...new Set(g.rows.flatMap((r) => r.seeds.map((s) => s.seed)))].sort((a, b) => a - b);
  const parts = [gf.worstOver.length ? `worst case over ${gf.worstOver.join(', ')}` : 'no attacks'];
  if (g.sizes.evaluated !== null) parts.push(`${g.sizes.evaluated} test examples attacked`);
  parts.push(seedList(seeds));
  return parts.join('; ');
}

// ---------------------------------------------------------------- flag summary

export interface FlagSummary {
  check: string;
  /** "error" when any flag of the check is an error. */
  severity: 'error' | 'warning';
  count: number;
  /** Groups and the schemes flagged in each. */
  where: { group: string; schemes: string[] }[];
  /** The first flag of the check, as an example. */
  example: FlagRecord;
}

/** Sanity flags summarised per check, in order of first appearance. */
export function summarizeFlags(flags: readonly FlagRecord[]): FlagSummary[] {
  const out: FlagSummary[] = [];
  for (const f of flags) {
    let s = out.find((x) => x.check === f.check);
    if (!s) {
      s = { check: f.check, severity: f.severity, count: 0, where: [], example: f };
      out.push(s);
    }
    s.count++;
    if (f.severity === 'error') s.severity = 'error';
    let w = s.where.find((x) => x.group === f.group);
    if (!w) {
      w = { group: f.group, schemes: [] };
      s.where.push(w);
    }
    if (!w.schemes.includes(f.scheme)) w.schemes.push(f.scheme);
  }
  return out;
}

/** "3 in moons/mlp: erm, mixup; mnist/mlp: erm" style text of where a check was raised. */
export function flagWhereText(s: FlagSummary): string {
  return s.where.map((w) => `${w.group}: ${w.schemes.join(', ')}`).join('; ');
}
