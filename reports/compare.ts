/**
 * Compares two runs (A = reference, B = candidate) metric by metric: for every
 * group x scheme x column present in both, the difference B - A with the 95%
 * CI of that difference, and regressions flagged against thresholds:
 *  - clean accuracy: mean down by more than `cleanAccuracyDrop` (default 0.01 = 1 point);
 *  - robust (and worst-case) accuracy: down beyond its CI, i.e. the 95% CI of
 *    B - A lies entirely below 0 (`robustBeyondCI`, default on). With one
 *    common seed there is no CI; the exact McNemar test between A's and B's
 *    per-example correctness decides instead (p < 0.05 and down). With more
 *    seeds the same test (the paired sign-flip test of stats.ts, summed over
 *    the common seeds) is shown beside the CI;
 *  - wall time: up by more than `wallTimeIncrease` (default 0.25 = 25%);
 *  - a scheme with seeds that diverged or failed in B but not in A.
 * The CI of B - A pairs seeds (same seed in both runs) when the runs share
 * seeds, else it is Welch's unpaired interval. Probe medians are reported,
 * never flagged.
 */
import { UsageError } from '../contract/errors';
import { fmtNumber, fmtSeconds } from './format';
import { mdEscape, mdTable } from './markdown';
import { MeanCI, SignFlipTest, formatP, pairedDiff, signFlipTest, welchDiff } from './stats';
import { Cell, Column, RunSummary, sortColumns } from './summary';

export interface Thresholds {
  /** Largest allowed drop of mean clean accuracy, as a share (0.01 = 1 point). */
  cleanAccuracyDrop: number;
  /** Flag robust accuracy that is down beyond the CI of the difference. */
  robustBeyondCI: boolean;
  /** Largest allowed relative increase of the run's wall time (0.25 = 25%). */
  wallTimeIncrease: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { cleanAccuracyDrop: 0.01, robustBeyondCI: true, wallTimeIncrease: 0.25 };
const THRESHOLD_KEYS = Object.keys(DEFAULT_THRESHOLDS) as (keyof Thresholds)[];

function thresholdValue(key: keyof Thresholds, raw: unknown, where: string): number | boolean {
  if (key === 'robustBeyondCI') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    throw new UsageError(`${where}: robustBeyondCI must be true or false, got ${JSON.stringify(raw)}`);
  }
  const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UsageError(`${where}: ${key} must be a number >= 0, got ${JSON.stringify(raw)}`);
  return v;
}

/** Thresholds from an object (RUN_B's config `thresholds`); unknown keys and bad values are UsageErrors. */
export function thresholdsFromObject(o: unknown, where: string, base: Thresholds = DEFAULT_THRESHOLDS): Thresholds {
  if (o === undefined || o === null) return { ...base };
  if (typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`${where}: thresholds must be an object, got ${JSON.stringify(o)}`);
  const out: Thresholds = { ...base };
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (!(THRESHOLD_KEYS as string[]).includes(k)) throw new UsageError(`${where}: unknown threshold "${k}"; allowed: ${THRESHOLD_KEYS.join(', ')}`);
    (out as unknown as Record<string, unknown>)[k] = thresholdValue(k as keyof Thresholds, v, where);
  }
  return out;
}

/** Thresholds from "key=value" items (the --thresholds flag). */
export function thresholdsFromFlag(items: string[], base: Thresholds): Thresholds {
  const o: Record<string, string> = {};
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq < 1) throw new UsageError(`--thresholds: expected key=value items (${THRESHOLD_KEYS.join(', ')}), got "${it}"`);
    o[it.slice(0, eq).trim()] = it.slice(eq + 1).trim();
  }
  return thresholdsFromObject(o, '--thresholds', base);
}

export interface MetricDelta {
  group: string;
  scheme: string;
  column: string;
  label: string;
  kind: Column['kind'];
  unit: Column['unit'];
  a: MeanCI | null;
  b: MeanCI | null;
  aStatus: Cell['status'] | 'absent';
  bStatus: Cell['status'] | 'absent';
  /** mean(B) - mean(A); null when either side has no number. */
  delta: number | null;
  /** 95% CI of the difference; null with one seed (then `note` says so). */
  lo: number | null;
  hi: number | null;
  method: 'paired by seed' | 'unpaired (Welch)' | 'none';
  /** Paired sign-flip test of B - A over the examples, summed over the common seeds (exact McNemar with one seed). */
  test: SignFlipTest | null;
  regression: boolean;
  reason?: string;
  note?: string;
}

export interface Comparison {
  a: RunSummary['header'];
  b: RunSummary['header'];
  thresholds: Thresholds;
  thresholdSource: string;
  deltas: MetricDelta[];
  wall: { a: number | null; b: number | null; change: number | null; regression: boolean; reason?: string };
  /** One line per regression. */
  regressions: string[];
  /** What could not be compared, and why. */
  notes: string[];
}

function correctMap(cell: Cell, correct: Map<number, number[]> | undefined): Map<number, number[]> {
  const m = new Map<number, number[]>();
  if (!correct) return m;
  for (const v of cell.values) {
    const c = correct.get(v.seed);
    if (c) m.set(v.seed, c);
  }
  return m;
}

/** Per-example correctness vectors per (group, scheme, column, seed), read back from the runs' results. */
export type CorrectLookup = (group: string, scheme: string, column: string) => Map<number, number[]> | undefined;

function compareCell(group: string, scheme: string, col: Column, ca: Cell | undefined, cb: Cell | undefined, t: Thresholds, corrA: CorrectLookup, corrB: CorrectLookup): MetricDelta {
  const base: MetricDelta = {
    group,
    scheme,
    column: col.key,
    label: col.label,
    kind: col.kind,
    unit: col.unit,
    a: ca?.stat ?? null,
    b: cb?.stat ?? null,
    aStatus: ca?.status ?? 'absent',
    bStatus: cb?.status ?? 'absent',
    delta: null,
    lo: null,
    hi: null,
    method: 'none',
    test: null,
    regression: false,
  };
  if (!ca?.stat || !cb?.stat) return { ...base, note: !ca ? 'only in B' : !cb ? 'only in A' : 'no number on one side' };
  const am = new Map(ca.values.map((v) => [v.seed, v.value]));
  const bm = new Map(cb.values.map((v) => [v.seed, v.value]));
  const common = [...am.keys()].filter((s) => bm.has(s));
  let delta = cb.stat.mean - ca.stat.mean;
  let ci: MeanCI;
  let method: MetricDelta['method'];
  if (common.length > 0) {
    const d = pairedDiff(bm, am);
    ci = d;
    delta = d.mean;
    method = 'paired by seed';
  } else {
    ci = welchDiff(
      cb.values.map((v) => v.value),
      ca.values.map((v) => v.value),
    );
    method = 'unpaired (Welch)';
  }
  let test: SignFlipTest | null = null;
  if (col.kind !== 'probe' && common.length > 0) {
    const xa = correctMap(ca, corrA(group, scheme, col.key));
    const xb = correctMap(cb, corrB(group, scheme, col.key));
    const seeds = common.filter((s) => xa.has(s) && xb.has(s));
    if (seeds.length === common.length) {
      test = signFlipTest(new Map(seeds.map((s) => [s, xb.get(s) as number[]])), new Map(seeds.map((s) => [s, xa.get(s) as number[]])));
    }
  }
  const out: MetricDelta = { ...base, delta, lo: ci.lo, hi: ci.hi, method, test, ...(ci.lo === null ? { note: ci.note ?? 'no CI' } : {}) };
  if (col.kind === 'clean') {
    if (delta < -t.cleanAccuracyDrop - 1e-12) {
      out.regression = true;
      out.reason = `clean accuracy down ${(-delta * 100).toFixed(2)} points (threshold ${(t.cleanAccuracyDrop * 100).toFixed(2)})`;
    }
  } else if ((col.kind === 'robust' || col.kind === 'worst') && t.robustBeyondCI) {
    if (ci.hi !== null && ci.hi < 0) {
      out.regression = true;
      out.reason = `${col.label} down ${(-delta * 100).toFixed(2)} points, 95% CI of the difference [${(ci.lo! * 100).toFixed(2)}, ${(ci.hi * 100).toFixed(2)}] below 0`;
    } else if (ci.hi === null && test && delta < 0 && test.direction < 0 && test.p < 0.05) {
      out.regression = true;
      out.reason = `${col.label} down ${(-delta * 100).toFixed(2)} points; one seed (no CI), McNemar p=${formatP(test.p)}`;
    }
  }
  return out;
}

/** The columns of either run, in report order (ε numerically); B's column where both have it. */
function mergedColumns(a: Column[], b: Column[]): Column[] {
  const byKey = new Map<string, Column>();
  for (const c of a) byKey.set(c.key, b.find((x) => x.key === c.key) ?? c);
  for (const c of b) if (!byKey.has(c.key)) byKey.set(c.key, c);
  return sortColumns([...byKey.values()]);
}

/**
 * Compares summaries A and B. `corrA`/`corrB` give per-example correctness
 * for McNemar (see `correctLookup`).
 */
export function compareRuns(a: RunSummary, b: RunSummary, t: Thresholds, thresholdSource: string, corrA: CorrectLookup, corrB: CorrectLookup): Comparison {
  const deltas: MetricDelta[] = [];
  const regressions: string[] = [];
  const notes: string[] = [];
  for (const gb of b.groups) {
    const ga = a.groups.find((g) => g.group === gb.group);
    if (!ga) {
      notes.push(`group ${gb.group} only in B`);
      continue;
    }
    for (const rb of gb.rows) {
      const ra = ga.rows.find((r) => r.scheme === rb.scheme);
      if (!ra) {
        notes.push(`${gb.group} ${rb.scheme}: only in B`);
        continue;
      }
      // Seeds that finished in A but diverged or failed in B.
      const worse = rb.seeds.filter((s) => (s.status === 'diverged' || s.status === 'failed') && ra.seeds.find((x) => x.seed === s.seed)?.status === 'ok');
      if (worse.length) {
        regressions.push(`${gb.group} ${rb.scheme}: ${worse.map((s) => `seed ${s.seed} ${s.status} in B${s.error ? ` (${s.error})` : ''}`).join('; ')} (ok in A)`);
      }
      const missing = rb.seeds.filter((s) => s.status === 'missing');
      if (missing.length) notes.push(`${gb.group} ${rb.scheme}: seed(s) ${missing.map((s) => s.seed).join(', ')} have no result in B`);
      for (const col of mergedColumns(ga.columns, gb.columns)) {
        const key = col.key;
        const d = compareCell(gb.group, rb.scheme, col, ra.cells[key], rb.cells[key], t, corrA, corrB);
        deltas.push(d);
        if (d.regression) regressions.push(`${gb.group} ${rb.scheme}: ${d.reason}`);
      }
    }
    for (const ra of ga.rows) if (!gb.rows.some((r) => r.scheme === ra.scheme)) notes.push(`${ga.group} ${ra.scheme}: only in A`);
  }
  for (const ga of a.groups) if (!b.groups.some((g) => g.group === ga.group)) notes.push(`group ${ga.group} only in A`);

  const wa = a.header.wallSeconds;
  const wb = b.header.wallSeconds;
  const wall: Comparison['wall'] = { a: wa, b: wb, change: null, regression: false };
  if (wa !== null && wb !== null && wa > 0) {
    wall.change = wb / wa - 1;
    if (wall.change > t.wallTimeIncrease + 1e-12) {
      wall.regression = true;
      wall.reason = `wall time up ${(wall.change * 100).toFixed(1)}% (${fmtSeconds(wa)} -> ${fmtSeconds(wb)}; threshold ${(t.wallTimeIncrease * 100).toFixed(0)}%)`;
      regressions.push(wall.reason);
    }
  } else notes.push('wall time unknown for one of the runs (unfinished): not compared');
  if (a.header.backend !== b.header.backend || a.header.gpu !== b.header.gpu) {
    notes.push(`backends differ: A ${a.header.backend}${a.header.gpu ? ' (gpu)' : ''}, B ${b.header.backend}${b.header.gpu ? ' (gpu)' : ''}: wall times and exact numbers are not comparable`);
  }
  return { a: a.header, b: b.header, thresholds: t, thresholdSource, deltas, wall, regressions, notes };
}

function fmtV(v: number | null, unit: Column['unit'], signed = false): string {
  if (v === null || !Number.isFinite(v)) return '–';
  const s = unit === 'accuracy' ? (v * 100).toFixed(2) : fmtNumber(v);
  return signed && v > 0 ? `+${s}` : s;
}

function fmtSide(s: MeanCI | null, status: string, unit: Column['unit']): string {
  if (!s) return status;
  const hw = s.halfWidth === null ? ' (n=1)' : ` ± ${unit === 'accuracy' ? (s.halfWidth * 100).toFixed(2) : fmtNumber(s.halfWidth, 2)}`;
  return `${fmtV(s.mean, unit)}${hw}${status === 'partial' ? ' (partial)' : ''}`;
}

export function renderComparisonMarkdown(c: Comparison): string {
  const t = c.thresholds;
  const out: string[] = ['# vicinal compare', ''];
  const side = (name: string, h: RunSummary['header']) =>
    `- **${name}**: ${mdEscape(h.dir)} (${mdEscape(h.study)}, started ${h.startedAt}, ${h.backend}${h.gpu ? ' gpu' : ''}, seeds ${h.seeds.join(',')}${h.gitCommit ? `, commit ${h.gitCommit.slice(0, 12)}` : ''})`;
  out.push(side('A (reference)', c.a), side('B (candidate)', c.b), '');
  out.push(
    `Thresholds (${c.thresholdSource}): clean accuracy down more than ${(t.cleanAccuracyDrop * 100).toFixed(2)} points; ` +
      `robust accuracy down beyond the 95% CI of the difference: ${t.robustBeyondCI ? 'on' : 'off'}; wall time up more than ${(t.wallTimeIncrease * 100).toFixed(0)}%.`,
    '',
  );
  out.push(c.regressions.length ? `## ${c.regressions.length} regression(s)` : '## No regressions', '');
  for (const r of c.regressions) out.push(`- ${mdEscape(r)}`);
  if (c.regressions.length) out.push('');
  out.push(`Wall time: A ${fmtSeconds(c.wall.a)}, B ${fmtSeconds(c.wall.b)}${c.wall.change !== null ? ` (${c.wall.change >= 0 ? '+' : ''}${(c.wall.change * 100).toFixed(1)}%)` : ''}.`, '');
  if (c.notes.length) {
    out.push('Notes:', '');
    for (const n of c.notes) out.push(`- ${mdEscape(n)}`);
    out.push('');
  }
  const groups = [...new Set(c.deltas.map((d) => d.group))];
  for (const g of groups) {
    out.push(`## ${mdEscape(g)}`, '');
    const rows = c.deltas
      .filter((d) => d.group === g)
      .map((d) => [
        mdEscape(d.scheme),
        mdEscape(d.label),
        mdEscape(fmtSide(d.a, d.aStatus, d.unit)),
        mdEscape(fmtSide(d.b, d.bStatus, d.unit)),
        fmtV(d.delta, d.unit, true),
        d.lo !== null && d.hi !== null ? `[${fmtV(d.lo, d.unit, true)}, ${fmtV(d.hi, d.unit, true)}]` : mdEscape(d.note ?? ''),
        d.test ? formatP(d.test.p) : '',
        d.regression ? '**REGRESSION**' : d.kind === 'probe' ? 'info' : d.delta === null ? 'n/a' : 'ok',
      ]);
    out.push(mdTable(['scheme', 'metric', 'A', 'B', 'Δ (B − A)', '95% CI of Δ', 'sign-flip p', 'verdict'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l']), '');
  }
  out.push(
    'Accuracies in %, differences in points. CI of Δ: paired by seed when both runs share seeds (Student t), else Welch; "n=1, no CI" with one common seed. sign-flip p: paired sign-flip test of B − A over the test examples, summed over the common seeds (the exact McNemar test with one seed).',
    '',
  );
  return out.join('\n');
}
