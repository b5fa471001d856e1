/**
 * Turns a loaded run folder into a typed comparison model that every output
 * format (terminal, Markdown, JSON, CSV, HTML) renders without further
 * statistics of its own.
 *
 * Per group (dataset/model): rows are schemes (erm first, then study order),
 * columns are metrics (clean accuracy, robust accuracy per attack and
 * epsilon, worst-case robust accuracy per epsilon, probe medians). Each cell
 * holds the per-seed values of the seeds that finished, their mean and 95%
 * Student-t CI, and the paired difference against erm with its CI, the paired
 * sign-flip test of that difference over test examples and a verdict (see stats.ts). Diverged or failed seeds never
 * become numbers: a cell with no successful seed carries only its status.
 */
import { Distribution, EvalJobResult, JobStatus, PlannedJob, RunManifest, SanityFlag, TrainJobResult } from '../contract/results';
import { LoadedRun } from '../contract/run-folder';
import { MeanCI, PairedDiff, SignFlipTest, TestSetCI, Verdict, meanCI, newcombePairedCI, pairedCounts, pairedDiff, signFlipTest, verdict, wilsonCI } from './stats';
import type { Norm } from '../contract/norms';
import { epsLabel, parseBallKey, parseProbeKey, probeColumnKey, robustColumnKey, robustKey, worstColumnKey } from '../contract/keys';
import { attackLabel } from '../attacks/types';
import { isPointsDataset } from '../data/registry';
import { trainingRecipeLine } from './recipe';

export const SUMMARY_FORMAT = 'vicinal-summary/2';
export const BASELINE = 'erm';

export type ColumnKind = 'clean' | 'robust' | 'worst' | 'probe';

export interface Column {
  /** Stable key: "clean", "robust:<attack>@<norm>:<eps>", "worst@<norm>:<eps>", "probe:<name>". */
  key: string;
  kind: ColumnKind;
  /** Short display label, e.g. "pgd ε=0.1", "worst ε=0.1", "grad-l1/test". */
  label: string;
  attack?: string;
  norm?: Norm;
  eps?: number;
  probe?: string;
  /** "accuracy" values are shares in [0, 1]; "value" are raw numbers (probe medians). */
  unit: 'accuracy' | 'value';
  /** Which direction is better; null when the metric is descriptive (probes). */
  better: 'higher' | null;
  /** The best scheme(s): the top mean plus every scheme not significantly different from it. */
  best: BestMark | null;
}

export interface BestMark {
  /** Scheme with the highest mean among complete cells. */
  top: string;
  /** Schemes whose difference to `top` is not significant (a tie within the noise). */
  tied: string[];
  /** True when `top` is significantly better than every other complete scheme. */
  clear: boolean;
}

/** Status of a (scheme, seed) job pair, or of a cell aggregated over seeds. */
export type SeedStatus = JobStatus | 'missing' | 'n/a';
export type CellStatus = 'ok' | 'partial' | 'diverged' | 'failed' | 'missing' | 'n/a';

export interface SeedValue {
  seed: number;
  value: number;
}

export interface DiffVsBaseline extends PairedDiff {
  baseline: string;
  /** Paired sign-flip test of the same difference over test examples, summed over the paired seeds; null without per-example data. */
  test: SignFlipTest | null;
  verdict: Verdict;
  /** With one paired seed (no seed CI): Newcombe's paired 95% CI of the same difference over the test examples (test-set noise only); null otherwise. */
  testCI: TestSetCI | null;
}

export interface Cell {
  status: CellStatus;
  /** Why the cell is not plain "ok": e.g. "2/3 seeds (1 diverged)". */
  note?: string;
  /** Per-seed values of the seeds that succeeded. */
  values: SeedValue[];
  /** Per-seed status of every planned seed. */
  seedStatus: { seed: number; status: SeedStatus }[];
  /** Mean and 95% CI across the successful seeds; null when there are none. */
  stat: MeanCI | null;
  /** With one seed (no seed CI): the Wilson 95% CI of the accuracy over the test examples (test-set noise only); null otherwise. */
  testCI: TestSetCI | null;
  /** Paired difference vs the baseline; null for the baseline row or without a baseline. */
  diff: DiffVsBaseline | null;
  /** Part of the column's best set. */
  best: boolean;
}

export interface SeedJobs {
  seed: number;
  trainJobId: string | null;
  evalJobId: string | null;
  /** Combined status: train's when not ok, else eval's (missing when not run yet). */
  status: SeedStatus;
  trainStatus: SeedStatus;
  evalStatus: SeedStatus;
  error?: string;
  trainWallSeconds: number | null;
  evalWallSeconds: number | null;
}

export interface SchemeRow {
  /** Display label, e.g. "mixup(alpha=0.2)". */
  scheme: string;
  /** Scheme name, e.g. "mixup". */
  name: string;
  /** Resolved scheme settings from the first result that has them. */
  settings: Record<string, unknown>;
  seeds: SeedJobs[];
  /** "ok" when every seed finished ok; otherwise the worst of diverged > failed > missing, or "partial". */
  status: CellStatus;
  cells: Record<string, Cell>;
  /** Per probe, quantiles averaged over the successful seeds (for box plots). */
  probeDistributions: Record<string, Distribution & { seeds: number }>;
}

export interface AttackSetting {
  attack: string;
  norm: Norm;
  eps: number[];
  /** Settings equal at every epsilon. */
  settings: Record<string, unknown>;
  /** Settings that differ between epsilons (e.g. a step size proportional to eps), per epsilon. */
  perEps: { eps: number; settings: Record<string, unknown> }[];
}

export interface FlagRecord extends SanityFlag {
  group: string;
  scheme: string;
  seed: number;
  jobId: string;
}

export interface GroupSummary {
  group: string;
  dataset: Record<string, unknown>;
  model: Record<string, unknown>;
  /** The train config the results recorded (ModelIdentity.train, less the per-row seed); null when no result has one (not trained yet, or an imported model). */
  train: Record<string, unknown> | null;
  /** That config in words (recipe.ts): what every report's header names. */
  recipe: string;
  /** Sizes from the dataset identity and the eval results. */
  sizes: { train: number | null; test: number | null; evaluated: number | null };
  /** The baseline scheme label, or null when the group has no erm row. */
  baseline: string | null;
  columns: Column[];
  rows: SchemeRow[];
  attacks: AttackSetting[];
  flags: FlagRecord[];
}

export interface RunHeader {
  dir: string;
  source: string;
  study: string;
  vicinal: string;
  startedAt: string;
  endedAt: string | null;
  /** Wall time of the run (manifest), or null while it is unfinished. */
  wallSeconds: number | null;
  /** Sum of the jobs' own wall times. */
  jobSeconds: number;
  workers: number;
  backend: string;
  backendPackage: string;
  backendRequested: string;
  gpu: boolean;
  tfjsVersion: string;
  patchedKernels: string[];
  node: string;
  platform: string;
  cpus: string;
  cores: number;
  gitCommit: string | null;
  /** Backends named by result files when they differ from the manifest's (a resumed run on another machine). */
  otherBackends: string[];
  seeds: number[];
  jobs: { planned: number; finished: number; ok: number; diverged: number; failed: number; missing: number };
}

export interface RunSummary {
  format: typeof SUMMARY_FORMAT;
  header: RunHeader;
  groups: GroupSummary[];
  /** Every sanity flag raised, over all groups. */
  flags: FlagRecord[];
  /** Statistical conventions, in words (printed by the reports). */
  methods: string[];
}

export const METHODS = [
  'Values are means over seeds with a 95% Student-t confidence interval (t quantile with n-1 df); with one seed: "n=1, no CI".',
  'With one seed an accuracy also gets a 95% CI over the test examples only ("test CI": Wilson score interval; for Δ, Newcombe\'s paired square-and-add interval on the same examples). It measures test-set noise, not training noise, so it never makes a difference significant.',
  'Δ is the paired difference scheme − erm over the seeds both finished (same seed = same data order and initialisation), with its 95% t CI.',
  'p: two-sided paired sign-flip permutation test of the same difference over test examples: per example d = Σ over the paired seeds of (correct under the scheme − correct under erm); the statistic Σ d (= seeds × examples × the accuracy difference, so it points the same way as Δ) is compared with its distribution when the sign of every d is flipped at random. Exact, or 20,000 seeded Monte Carlo draws beyond a work limit (recorded); with one seed it equals the exact McNemar test.',
  'A difference is significant when its CI excludes 0, p < 0.05 (where per-example data exist) and the test points the same way as Δ; with one seed nothing is called significant. No multiple-comparison correction.',
  '"Best" marks the highest mean and every scheme not significantly different from it (ties within the noise are marked together).',
  'Diverged or failed seeds are excluded from the numbers and shown by status; a cell with some seeds missing says so.',
];

/** The per-example vector of an attack at (norm, eps): keys carry ε exactly (contract/keys.ts), so the key finds it or nothing does. */
function findRobustCorrect(r: EvalJobResult, attack: string, norm: string, eps: number): number[] | null {
  return r.robustCorrect?.[robustKey(attack, norm, eps)] ?? null;
}

/** Per-example survival of every attack in `attacks` at (norm, eps); null when any vector is missing. */
function worstCorrect(r: EvalJobResult, norm: string, eps: number, attacks: string[]): number[] | null {
  let acc: number[] | null = null;
  for (const a of attacks) {
    const v = findRobustCorrect(r, a, norm, eps);
    if (!v) return null;
    if (acc === null) acc = v.map((x) => (x ? 1 : 0));
    else {
      const n: number = Math.min(acc.length, v.length);
      const next: number[] = new Array(n);
      for (let i = 0; i < n; i++) next[i] = acc[i] && v[i] ? 1 : 0;
      acc = next;
    }
  }
  return acc;
}

/** `attackName`: how the attack is shown (attackLabel: "autoattack (standard)"); its key name otherwise. */
function columnLabel(c: Omit<Column, 'label' | 'best'>, attackName?: string): string {
  const normTag = (n?: string) => (n === 'l2' ? 'ℓ2 ' : '');
  switch (c.kind) {
    case 'clean':
      return 'clean';
    case 'robust':
      return `${attackName ?? c.attack} ${normTag(c.norm)}ε=${epsLabel(c.eps as number)}`;
    case 'worst':
      return `worst ${normTag(c.norm)}ε=${epsLabel(c.eps as number)}`;
    default:
      return c.probe as string;
  }
}

function makeColumn(c: Omit<Column, 'label' | 'best'>, attackName?: string): Column {
  return { ...c, label: columnLabel(c, attackName), best: null };
}

/**
 * Family and location of a probe key, e.g. "grad-l1/test" -> (grad-l1, test),
 * "local-lipschitz@linf:0.3" -> (local-lipschitz, linf:0.3),
 * "first-order/ratio@linf:0.3" -> (first-order/ratio, linf:0.3),
 * "margin-first-order" -> (margin, margin-first-order).
 */
export function probeFamily(key: string): { family: string; location: string } {
  const { family, location } = parseProbeKey(key);
  return { family, location };
}

/** "norm:eps" (a probe taken in an ε-ball), e.g. "linf:0.05"; null for other locations. */
function ballLocation(location: string): { norm: string; eps: number } | null {
  return parseBallKey(location);
}

/** Location order: train, test, vicinal, then ε-balls by norm and ε as a number (0.05 before 0.1), then the rest by name. */
function locationOrder(a: string, b: string): number {
  const rank = (l: string) => (l === 'train' ? 0 : l === 'test' ? 1 : l === 'vicinal' ? 2 : 3);
  const ba = ballLocation(a);
  const bb = ballLocation(b);
  if (ba && bb) return ba.norm.localeCompare(bb.norm) || ba.eps - bb.eps;
  return rank(a) - rank(b) || (ba ? -1 : bb ? 1 : 0) || a.localeCompare(b);
}

/** Probe order: gradient norms (train, test, vicinal), loss, local Lipschitz, margins, then the rest (first-order checks); ε numerically. */
export function probeOrder(a: string, b: string): number {
  const rank = (k: string) => {
    const { family, location } = probeFamily(k);
    const f = family.startsWith('grad-') ? 0 : family === 'loss' ? 1 : family === 'local-lipschitz' ? 2 : family === 'margin' ? 3 : 4;
    return { f, family, location };
  };
  const x = rank(a);
  const y = rank(b);
  return x.f - y.f || x.family.localeCompare(y.family) || locationOrder(x.location, y.location) || a.localeCompare(b);
}

const KIND_ORDER: Record<ColumnKind, number> = { clean: 0, robust: 1, worst: 2, probe: 3 };

/**
 * Columns in report order: clean; robust accuracy by attack (in the order the
 * attacks first appear in `columns`), norm, then ε as a number; worst case by
 * norm and ε; probes by `probeOrder`. Used by the summary and by every place
 * that merges columns (compare, history), so ε never sorts as text.
 */
export function sortColumns(columns: readonly Column[]): Column[] {
  const attackOrder: string[] = [];
  for (const c of columns) if (c.kind === 'robust' && !attackOrder.includes(c.attack as string)) attackOrder.push(c.attack as string);
  const attackRank = (c: Column) => (c.kind === 'robust' ? attackOrder.indexOf(c.attack as string) : 0);
  return [...columns].sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      attackRank(a) - attackRank(b) ||
      (a.norm ?? '').localeCompare(b.norm ?? '') ||
      (a.eps ?? 0) - (b.eps ?? 0) ||
      (a.kind === 'probe' && b.kind === 'probe' ? probeOrder(a.probe as string, b.probe as string) : 0),
  );
}

/** Value and per-example correctness of one column for one seed's results. */
interface Extracted {
  value: number | null;
  correct: number[] | null;
}

/**
 * Every column, clean accuracy included, comes from the eval result alone: the
 * eval job measures clean and robust accuracy on the same `nExamples` test
 * examples. The training job's test accuracy (on the whole test set) is never
 * used, so a seed whose eval is missing or failed shows as such instead of
 * mixing test-set sizes within a cell.
 */
function extract(col: Column, ev: EvalJobResult | null): Extracted | 'n/a' {
  switch (col.kind) {
    case 'clean':
      if (ev?.status !== 'ok') return { value: null, correct: null };
      return { value: ev.cleanAccuracy, correct: ev.cleanCorrect ?? null };
    case 'robust': {
      if (ev?.status !== 'ok') return { value: null, correct: null };
      const s = ev.attacks.find((a) => a.attack === col.attack && a.norm === col.norm && a.eps === col.eps);
      if (!s) return 'n/a';
      return { value: s.robustAccuracy, correct: findRobustCorrect(ev, col.attack as string, col.norm as string, col.eps as number) };
    }
    case 'worst': {
      if (ev?.status !== 'ok') return { value: null, correct: null };
      const w = ev.worstCase.find((x) => x.norm === col.norm && x.eps === col.eps);
      if (!w) return 'n/a';
      return { value: w.robustAccuracy, correct: worstCorrect(ev, w.norm, w.eps, w.attacks) };
    }
    case 'probe': {
      if (ev?.status !== 'ok') return { value: null, correct: null };
      const d = ev.probes[col.probe as string];
      if (!d || !Number.isFinite(d.median)) return 'n/a';
      return { value: d.median, correct: null };
    }
  }
}

/** A seed's status in any column: the training job's when not ok, else the eval job's (every column comes from the eval). */
function combinedStatus(row: SeedJobs): SeedStatus {
  // An imported model has no train job: its evaluation alone.
  return row.trainJobId !== null && row.trainStatus !== 'ok' ? row.trainStatus : row.evalStatus;
}

function aggregateStatus(statuses: SeedStatus[]): { status: CellStatus; note?: string } {
  const relevant = statuses.filter((s) => s !== 'n/a');
  if (relevant.length === 0) return { status: 'n/a' };
  const ok = relevant.filter((s) => s === 'ok').length;
  const count = (k: SeedStatus) => relevant.filter((s) => s === k).length;
  const parts = (['diverged', 'failed', 'missing'] as const).filter((k) => count(k) > 0).map((k) => `${count(k)} ${k}`);
  if (ok === relevant.length) return { status: 'ok' };
  if (ok > 0) return { status: 'partial', note: `${ok}/${relevant.length} seeds (${parts.join(', ')})` };
  const status: CellStatus = count('diverged') > 0 ? 'diverged' : count('failed') > 0 ? 'failed' : 'missing';
  // A note only when the seeds failed in different ways.
  return parts.length > 1 ? { status, note: parts.join(', ') } : { status };
}

/** Paired comparison of two cells' seeds (values and per-example correctness). */
export function compareCells(
  a: { values: SeedValue[]; correct: Map<number, number[]> },
  b: { values: SeedValue[]; correct: Map<number, number[]> },
): {
  diff: PairedDiff;
  test: SignFlipTest | null;
  verdict: Verdict;
  testCI: TestSetCI | null;
} {
  const am = new Map(a.values.map((v) => [v.seed, v.value]));
  const bm = new Map(b.values.map((v) => [v.seed, v.value]));
  const diff = pairedDiff(am, bm);
  const ca = new Map([...a.correct].filter(([s]) => diff.seeds.includes(s)));
  const cb = new Map([...b.correct].filter(([s]) => diff.seeds.includes(s)));
  // The test only when every paired seed has per-example data on both sides: it sums over the same seeds as Δ.
  const complete = diff.seeds.length > 0 && diff.seeds.every((s) => ca.has(s) && cb.has(s));
  const test = complete ? signFlipTest(ca, cb) : null;
  let testCI: TestSetCI | null = null;
  if (complete && diff.seeds.length === 1) {
    const k = pairedCounts(ca.get(diff.seeds[0]) as number[], cb.get(diff.seeds[0]) as number[]);
    if (k.both + k.aOnly + k.bOnly + k.neither > 0) testCI = newcombePairedCI(k.both, k.aOnly, k.bOnly, k.neither);
  }
  return { diff, test, verdict: verdict(diff, test), testCI };
}

/** The planned jobs of one group (dataset/model): schemes in report order, seeds, jobs by key. */
interface GroupJobs {
  group: string;
  schemes: string[];
  seeds: number[];
  train: Map<string, PlannedJob>; // key scheme|seed
  eval: Map<string, PlannedJob>; // key trainJobId
}

/** Collects the manifest's jobs by group; schemes erm first, then the study's order. */
function collectGroups(manifest: RunManifest): GroupJobs[] {
  const groups = new Map<string, GroupJobs>();
  for (const j of manifest.jobs) {
    let g = groups.get(j.group);
    if (!g) {
      g = { group: j.group, schemes: [], seeds: [], train: new Map(), eval: new Map() };
      groups.set(j.group, g);
    }
    if (!g.schemes.includes(j.schemeLabel)) g.schemes.push(j.schemeLabel);
    if (!g.seeds.includes(j.seed)) g.seeds.push(j.seed);
    if (j.kind === 'train') g.train.set(`${j.schemeLabel}|${j.seed}`, j);
    // An imported model's eval job has no train job: keyed by its (scheme label, seed).
    else g.eval.set(j.trainJobId ?? `${j.schemeLabel}|${j.seed}`, j);
  }
  for (const g of groups.values()) {
    g.seeds.sort((a, b) => a - b);
    // erm first, then the study's order.
    const i = g.schemes.indexOf(BASELINE);
    if (i > 0) g.schemes.unshift(...g.schemes.splice(i, 1));
  }
  return [...groups.values()];
}

function schemeNameOf(job: PlannedJob | undefined, label: string): string {
  const s = job?.spec?.scheme as { name?: unknown } | undefined;
  return typeof s?.name === 'string' ? s.name : label.replace(/\(.*$/, '');
}

/** Job counts by status, the jobs' summed wall time, and every backend named by a result file. */
function countJobs(run: LoadedRun): { counts: RunHeader['jobs']; jobSeconds: number; backends: Set<string> } {
  const { manifest, results } = run;
  let jobSeconds = 0;
  const backends = new Set<string>();
  const counts = { planned: manifest.jobs.length, finished: 0, ok: 0, diverged: 0, failed: 0, missing: 0 };
  for (const j of manifest.jobs) {
    const r = results.get(j.id);
    if (!r) {
      counts.missing++;
      continue;
    }
    counts.finished++;
    counts[r.status]++;
    jobSeconds += Number.isFinite(r.wallSeconds) ? r.wallSeconds : 0;
    const b = r.env?.backend;
    if (b) backends.add(`${b.name}${b.gpu ? ' (gpu)' : ''}`);
  }
  return { counts, jobSeconds, backends };
}

/** One (scheme, seed): its planned jobs, their results and statuses. */
interface SeedResults {
  jobs: SeedJobs;
  trainJob: PlannedJob | undefined;
  train: TrainJobResult | null;
  eval: EvalJobResult | null;
}

function seedResults(gj: GroupJobs, scheme: string, seed: number, results: LoadedRun['results']): SeedResults {
  const tj = gj.train.get(`${scheme}|${seed}`);
  const ej = gj.eval.get(tj ? tj.id : `${scheme}|${seed}`);
  const tr = tj ? (results.get(tj.id) ?? null) : null;
  const ev = ej ? (results.get(ej.id) ?? null) : null;
  const train = tr && tr.kind === 'train' ? tr : null;
  const evr = ev && ev.kind === 'eval' ? ev : null;
  const trainStatus: SeedStatus = !tj ? 'n/a' : train ? train.status : 'missing';
  const evalStatus: SeedStatus = !ej ? (tj ? 'missing' : 'n/a') : evr ? evr.status : 'missing';
  // Without a train job (an imported model) the evaluation alone decides.
  const status: SeedStatus = tj && trainStatus !== 'ok' ? trainStatus : evalStatus;
  const error = tj && train?.status !== 'ok' ? train?.error : evr?.status !== 'ok' ? evr?.error : undefined;
  const jobs: SeedJobs = {
    seed,
    trainJobId: tj?.id ?? null,
    evalJobId: ej?.id ?? null,
    status,
    trainStatus,
    evalStatus,
    ...(error ? { error } : {}),
    trainWallSeconds: train?.wallSeconds ?? null,
    evalWallSeconds: evr?.wallSeconds ?? null,
  };
  return { jobs, trainJob: tj, train, eval: evr };
}

/** A scheme's seeds, in seed order. */
interface SchemeResults {
  scheme: string;
  seeds: SeedResults[];
}

/** What a group's results say about it beyond the cells: identity, sizes, flags. */
interface GroupFacts {
  settings: Map<string, Record<string, unknown>>;
  dataset: Record<string, unknown>;
  model: Record<string, unknown>;
  train: Record<string, unknown> | null;
  /** Smallest number of examples evaluated by a successful eval job. */
  evaluated: number | null;
  /** The successful eval results, in scheme then seed order. */
  evalResults: EvalJobResult[];
  flags: FlagRecord[];
}

/** Reads every (scheme, seed) of a group: the first identity found names the dataset, model and scheme settings. */
function collectGroupResults(gj: GroupJobs, results: LoadedRun['results']): { schemes: SchemeResults[]; facts: GroupFacts } {
  const facts: GroupFacts = { settings: new Map(), dataset: {}, model: {}, train: null, evaluated: null, evalResults: [], flags: [] };
  const schemes: SchemeResults[] = [];
  for (const scheme of gj.schemes) {
    const seeds: SeedResults[] = [];
    for (const seed of gj.seeds) {
      const sr = seedResults(gj, scheme, seed, results);
      seeds.push(sr);
      const identity = sr.eval?.identity ?? sr.train?.identity;
      if (identity) {
        if (!facts.settings.has(scheme)) facts.settings.set(scheme, identity.scheme.settings ?? {});
        if (Object.keys(facts.dataset).length === 0) facts.dataset = { ...identity.dataset };
        if (Object.keys(facts.model).length === 0) facts.model = { ...identity.model };
        if (!facts.train && identity.train) {
          const { seed: _seed, ...train } = identity.train;
          facts.train = train;
        }
      }
      const evr = sr.eval;
      if (evr && evr.status === 'ok') {
        facts.evalResults.push(evr);
        facts.evaluated = facts.evaluated === null ? evr.n : Math.min(facts.evaluated, evr.n);
      }
      if (evr) for (const f of evr.flags ?? []) facts.flags.push({ ...f, group: gj.group, scheme, seed, jobId: evr.jobId });
      const spec = sr.trainJob?.spec;
      if (Object.keys(facts.dataset).length === 0 && spec?.dataset) facts.dataset = { ...(spec.dataset as Record<string, unknown>) };
      if (Object.keys(facts.model).length === 0 && spec?.model) facts.model = { ...(spec.model as Record<string, unknown>) };
    }
    schemes.push({ scheme, seeds });
  }
  return { schemes, facts };
}

/** Attack settings seen per (attack, norm), by epsilon. */
type AttackSeen = Map<string, { attack: string; norm: Norm; byEps: Map<number, Record<string, unknown>> }>;

/** Columns from every successful eval result of a group (clean, robust, worst, probes), and the attack settings. */
function buildColumns(evalResults: EvalJobResult[]): { columns: Column[]; attacks: AttackSetting[] } {
  const robustSeen = new Map<string, Column>();
  const worstSeen = new Map<string, Column>();
  const probes = new Set<string>();
  const attackSeen: AttackSeen = new Map();
  for (const ev of evalResults) {
    for (const a of ev.attacks) {
      const key = robustColumnKey(a.attack, a.norm, a.eps);
      if (!robustSeen.has(key))
        robustSeen.set(key, makeColumn({ kind: 'robust', key, attack: a.attack, norm: a.norm, eps: a.eps, unit: 'accuracy', better: 'higher' }, attackLabel(a.attack, a.settings)));
      const sk = `${a.attack}|${a.norm}`;
      const s = attackSeen.get(sk) ?? { attack: a.attack, norm: a.norm, byEps: new Map() };
      if (!s.byEps.has(a.eps)) s.byEps.set(a.eps, a.settings ?? {});
      attackSeen.set(sk, s);
    }
    for (const w of ev.worstCase) {
      const key = worstColumnKey(w.norm, w.eps);
      if (!worstSeen.has(key)) worstSeen.set(key, makeColumn({ kind: 'worst', key, norm: w.norm, eps: w.eps, unit: 'accuracy', better: 'higher' }));
    }
    for (const p of Object.keys(ev.probes ?? {})) probes.add(p);
  }
  const probeCols = [...probes].map((p) => makeColumn({ kind: 'probe', key: probeColumnKey(p), probe: p, unit: 'value', better: null }));
  const clean = makeColumn({ kind: 'clean', key: 'clean', unit: 'accuracy', better: 'higher' });
  const columns = sortColumns([clean, ...robustSeen.values(), ...worstSeen.values(), ...probeCols]);
  return { columns, attacks: [...attackSeen.values()].map(splitSettings) };
}

/** Per-example correctness vectors: scheme -> column key -> seed -> vector. */
type CorrectOf = Map<string, Map<string, Map<number, number[]>>>;

/** The Wilson CI over test examples of a one-seed accuracy cell whose per-example vector gives its value; null otherwise. */
function oneSeedTestCI(col: Column, values: SeedValue[], correct: Map<number, number[]>): TestSetCI | null {
  if (col.unit !== 'accuracy' || values.length !== 1) return null;
  const v = correct.get(values[0].seed);
  if (!v || v.length === 0) return null;
  const k = v.reduce((a, x) => a + (x ? 1 : 0), 0);
  // The interval must be about the number shown: a vector that does not give the value has no interval.
  if (Math.abs(k / v.length - values[0].value) > 1e-9) return null;
  return wilsonCI(k, v.length);
}

/** One cell: per-seed values and statuses, mean and CI; the per-example vectors of its seeds on the side. */
function buildCell(col: Column, seeds: SeedResults[]): { cell: Cell; correct: Map<number, number[]> } {
  const values: SeedValue[] = [];
  const seedStatus: { seed: number; status: SeedStatus }[] = [];
  const correct = new Map<number, number[]>();
  for (const sr of seeds) {
    let st = combinedStatus(sr.jobs);
    if (st === 'ok') {
      const x = extract(col, sr.eval);
      if (x === 'n/a') st = 'n/a';
      else if (x.value === null || !Number.isFinite(x.value)) st = 'failed';
      else {
        values.push({ seed: sr.jobs.seed, value: x.value });
        if (x.correct) correct.set(sr.jobs.seed, x.correct);
      }
    }
    seedStatus.push({ seed: sr.jobs.seed, status: st });
  }
  const agg = aggregateStatus(seedStatus.map((s) => s.status));
  const cell: Cell = {
    status: agg.status,
    ...(agg.note ? { note: agg.note } : {}),
    values,
    seedStatus,
    stat: values.length ? meanCI(values.map((v) => v.value)) : null,
    testCI: oneSeedTestCI(col, values, correct),
    diff: null,
    best: false,
  };
  return { cell, correct };
}

/** One scheme row: a cell per column (differences and best marks come later). */
function buildRow(gj: GroupJobs, s: SchemeResults, facts: GroupFacts, columns: Column[], correctOf: CorrectOf): SchemeRow {
  const cells: Record<string, Cell> = {};
  const colCorrect = new Map<string, Map<number, number[]>>();
  for (const col of columns) {
    const { cell, correct } = buildCell(col, s.seeds);
    cells[col.key] = cell;
    colCorrect.set(col.key, correct);
  }
  correctOf.set(s.scheme, colCorrect);
  const seedJobs = s.seeds.map((x) => x.jobs);
  const okEvals = s.seeds.map((x) => x.eval).filter((e): e is EvalJobResult => !!e && e.status === 'ok');
  return {
    scheme: s.scheme,
    name: schemeNameOf(gj.train.get(`${s.scheme}|${gj.seeds[0]}`), s.scheme),
    settings: facts.settings.get(s.scheme) ?? {},
    seeds: seedJobs,
    status: aggregateStatus(seedJobs.map((x) => x.status)).status,
    cells,
    probeDistributions: averageDistributions(okEvals),
  };
}

/** The arguments of `compareCells` for one row's cell of a column. */
function cellSide(row: SchemeRow, key: string, correctOf: CorrectOf): { values: SeedValue[]; correct: Map<number, number[]> } {
  return { values: row.cells[key].values, correct: correctOf.get(row.scheme)?.get(key) ?? new Map() };
}

/** Fills each non-baseline cell's paired difference against the baseline row. */
function addBaselineDiffs(rows: SchemeRow[], columns: Column[], baseline: string | null, correctOf: CorrectOf): void {
  const base = baseline ? rows.find((r) => r.scheme === baseline) : undefined;
  if (!base) return;
  for (const row of rows) {
    if (row === base) continue;
    for (const col of columns) {
      const cell = row.cells[col.key];
      if (!cell.stat || !base.cells[col.key].stat) continue;
      const cmp = compareCells(cellSide(row, col.key, correctOf), cellSide(base, col.key, correctOf));
      cell.diff = { ...cmp.diff, baseline: base.scheme, test: cmp.test, verdict: cmp.verdict, testCI: cmp.testCI };
    }
  }
}

/** Best marks: only among complete ("ok") cells of columns with a direction; ties are schemes not significantly behind the top. */
function markBest(rows: SchemeRow[], columns: Column[], correctOf: CorrectOf): void {
  for (const col of columns) {
    if (!col.better) continue;
    const cands = rows.filter((r) => r.cells[col.key].status === 'ok' && r.cells[col.key].stat);
    if (cands.length < 2) continue;
    cands.sort((a, b) => (b.cells[col.key].stat as MeanCI).mean - (a.cells[col.key].stat as MeanCI).mean);
    const top = cands[0];
    const tied: string[] = [];
    for (const other of cands.slice(1)) {
      const cmp = compareCells(cellSide(top, col.key, correctOf), cellSide(other, col.key, correctOf));
      if (!cmp.verdict.significant) tied.push(other.scheme);
    }
    col.best = { top: top.scheme, tied, clear: tied.length === 0 };
    top.cells[col.key].best = true;
    for (const r of rows) if (tied.includes(r.scheme)) r.cells[col.key].best = true;
  }
}

/** The comparison table of one group. */
function summarizeGroup(gj: GroupJobs, results: LoadedRun['results']): GroupSummary {
  const { schemes, facts } = collectGroupResults(gj, results);
  const { columns, attacks } = buildColumns(facts.evalResults);
  const baseline = gj.schemes.includes(BASELINE) ? BASELINE : null;
  const correctOf: CorrectOf = new Map();
  const rows = schemes.map((s) => buildRow(gj, s, facts, columns, correctOf));
  addBaselineDiffs(rows, columns, baseline, correctOf);
  markBest(rows, columns, correctOf);
  const { dataset } = facts;
  return {
    group: gj.group,
    dataset,
    model: facts.model,
    train: facts.train,
    recipe: trainingRecipeLine(facts.train),
    sizes: {
      train: typeof dataset.nTrain === 'number' ? dataset.nTrain : null,
      test: typeof dataset.nTest === 'number' ? dataset.nTest : null,
      evaluated: facts.evaluated,
    },
    baseline,
    columns,
    rows,
    attacks,
    flags: facts.flags,
  };
}

/** The run header: manifest facts, environment, job counts. */
function buildHeader(run: LoadedRun): RunHeader {
  const { manifest } = run;
  const { counts, jobSeconds, backends } = countJobs(run);
  const env = manifest.env;
  const b = env?.backend;
  const mainBackend = b ? `${b.name}${b.gpu ? ' (gpu)' : ''}` : 'unknown';
  const cfg = manifest.config as { name?: unknown };
  let wallSeconds = manifest.wallSeconds;
  if (wallSeconds === null && manifest.endedAt) wallSeconds = (Date.parse(manifest.endedAt) - Date.parse(manifest.startedAt)) / 1000;
  return {
    dir: run.dir,
    source: manifest.source,
    study: typeof cfg.name === 'string' ? cfg.name : manifest.source,
    vicinal: manifest.vicinal,
    startedAt: manifest.startedAt,
    endedAt: manifest.endedAt,
    wallSeconds: wallSeconds !== null && Number.isFinite(wallSeconds) ? wallSeconds : null,
    jobSeconds,
    workers: manifest.workers,
    backend: b?.name ?? 'unknown',
    backendPackage: b?.package ?? 'unknown',
    backendRequested: b?.requested ?? 'unknown',
    gpu: Boolean(b?.gpu),
    tfjsVersion: b?.tfjsVersion ?? 'unknown',
    patchedKernels: b?.patchedKernels ?? [],
    node: env?.node ?? 'unknown',
    platform: env?.platform ?? 'unknown',
    cpus: env?.cpus ?? 'unknown',
    cores: env?.cores ?? 0,
    gitCommit: env?.gitCommit ?? null,
    otherBackends: [...backends].filter((x) => x !== mainBackend),
    seeds: [...new Set(manifest.jobs.map((j) => j.seed))].sort((x, y) => x - y),
    jobs: counts,
  };
}

/** Builds the comparison model of a loaded run. */
export function summarizeRun(run: LoadedRun): RunSummary {
  const groups = collectGroups(run.manifest).map((gj) => summarizeGroup(gj, run.results));
  return {
    format: SUMMARY_FORMAT,
    header: buildHeader(run),
    groups,
    flags: groups.flatMap((g) => g.flags),
    methods: METHODS,
  };
}

/** Separates the settings common to every epsilon from those that vary with it. */
function splitSettings(a: { attack: string; norm: Norm; byEps: Map<number, Record<string, unknown>> }): AttackSetting {
  const eps = [...a.byEps.keys()].sort((x, y) => x - y);
  const all = eps.map((e) => a.byEps.get(e) as Record<string, unknown>);
  const keys = [...new Set(all.flatMap((s) => Object.keys(s)))];
  const common: Record<string, unknown> = {};
  const varying: string[] = [];
  for (const k of keys) {
    const v0 = JSON.stringify(all[0][k]);
    if (all.every((s) => JSON.stringify(s[k]) === v0)) common[k] = all[0][k];
    else varying.push(k);
  }
  const perEps = varying.length ? eps.map((e, i) => ({ eps: e, settings: Object.fromEntries(varying.map((k) => [k, all[i][k]])) })) : [];
  return { attack: a.attack, norm: a.norm, eps, settings: common, perEps };
}

/** Quantiles averaged over seeds (an approximation of the pooled distribution, adequate for box plots). */
function averageDistributions(evs: EvalJobResult[]): Record<string, Distribution & { seeds: number }> {
  const out: Record<string, Distribution & { seeds: number }> = {};
  const keys = new Set<string>();
  for (const e of evs) for (const k of Object.keys(e.probes ?? {})) keys.add(k);
  for (const k of [...keys].sort(probeOrder)) {
    const ds = evs.map((e) => e.probes[k]).filter((d): d is Distribution => !!d);
    if (!ds.length) continue;
    const avg = (f: (d: Distribution) => number) => ds.reduce((a, d) => a + f(d), 0) / ds.length;
    out[k] = {
      n: ds.reduce((a, d) => a + d.n, 0),
      mean: avg((d) => d.mean),
      q05: avg((d) => d.q05),
      q25: avg((d) => d.q25),
      median: avg((d) => d.median),
      q75: avg((d) => d.q75),
      q95: avg((d) => d.q95),
      seeds: ds.length,
    };
  }
  return out;
}

/** Whether a group's inputs are 2-D points (moons, circles, 2-D files datasets; data/registry.ts decides): decision boundaries can be drawn. */
export function is2DGroup(g: GroupSummary): boolean {
  return isPointsDataset(Object.keys(g.dataset).length ? g.dataset : { name: g.group.split('/')[0] });
}

/** Finds a column by key in a group. */
export function columnByKey(g: GroupSummary, key: string): Column | undefined {
  return g.columns.find((c) => c.key === key);
}

/**
 * Per-example correctness vectors of a summarised run, per (group, scheme,
 * column key): seed -> 1/0 vector (clean, robust and worst-case columns only).
 * Kept out of the summary itself so the JSON report stays small.
 */
export function correctnessLookup(run: LoadedRun, s: RunSummary): (group: string, scheme: string, column: string) => Map<number, number[]> | undefined {
  return (group, scheme, column) => {
    const g = s.groups.find((x) => x.group === group);
    const row = g?.rows.find((r) => r.scheme === scheme);
    const col = g?.columns.find((c) => c.key === column);
    if (!g || !row || !col) return undefined;
    const out = new Map<number, number[]>();
    for (const sj of row.seeds) {
      const ev = sj.evalJobId ? run.results.get(sj.evalJobId) : undefined;
      const x = extract(col, ev?.kind === 'eval' ? ev : null);
      if (x !== 'n/a' && x.correct && x.value !== null) out.set(sj.seed, x.correct);
    }
    return out;
  };
}
