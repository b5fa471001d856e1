/**
 * Trend of chosen metrics across many run folders (e.g. nightly runs under
 * runs/): every folder below DIR holding a manifest.json is summarised, runs
 * are sorted by start time, and each metric becomes one series per scheme
 * (mean and 95% CI over seeds). Rendered as terminal tables and an HTML page
 * with one line plot per group x metric.
 *
 * Metric selectors (--metric): a column key of the summary ("clean",
 * "robust:pgd@linf:0.1", "worst@linf:0.1", "probe:grad-l1/test"), a prefix of
 * keys ("worst" = every worst-case column, "robust:pgd" = pgd at every eps),
 * or "wall" for the run's wall time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UsageError } from '../contract/errors';
import { MANIFEST, loadRun } from '../contract/run-folder';
import { fmtMeanCI, fmtSeconds } from './format';
import { mdEscape, mdTable } from './markdown';
import { MeanCI } from './stats';
import { Column, RunSummary, sortColumns, summarizeRun } from './summary';
import * as S from './svg';
import { drawTable } from './terminal';

export const DEFAULT_HISTORY_METRICS = ['clean', 'worst', 'wall'];
const SKIP_DIRS = new Set(['report', 'results', 'models', 'history', 'node_modules', '.git']);

export interface HistoryRun {
  dir: string;
  name: string;
  startedAt: string;
  gitCommit: string | null;
  wallSeconds: number | null;
  backend: string;
}

export interface HistoryPoint {
  run: number;
  stat: MeanCI | null;
  status: string;
}

export interface HistorySeries {
  group: string;
  metric: string;
  label: string;
  unit: 'accuracy' | 'value' | 'seconds';
  /** scheme -> one point per run (index into `runs`). */
  schemes: { scheme: string; points: HistoryPoint[] }[];
}

export interface History {
  dir: string;
  runs: HistoryRun[];
  series: HistorySeries[];
  skipped: string[];
}

/** Run folders (with manifest.json) under `dir`, up to `depth` levels deep. */
export function findRunFolders(dir: string, depth = 3): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`history folder not found: ${dir}`);
  const out: string[] = [];
  const walk = (d: string, level: number) => {
    if (fs.existsSync(path.join(d, MANIFEST))) {
      out.push(d);
      return;
    }
    if (level >= depth) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && !SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) walk(path.join(d, e.name), level + 1);
    }
  };
  walk(dir, 0);
  return out.sort();
}

/** Whether a column key matches a selector (exact key or key prefix). */
export function metricMatches(selector: string, key: string): boolean {
  return key === selector || key.startsWith(selector);
}

export function collectHistory(dir: string, metrics: string[] = DEFAULT_HISTORY_METRICS): History {
  const skipped: string[] = [];
  const loaded: { run: HistoryRun; summary: RunSummary }[] = [];
  for (const d of findRunFolders(dir)) {
    try {
      const summary = summarizeRun(loadRun(d));
      const h = summary.header;
      loaded.push({ run: { dir: d, name: path.relative(dir, d) || path.basename(d), startedAt: h.startedAt, gitCommit: h.gitCommit, wallSeconds: h.wallSeconds, backend: h.backend }, summary });
    } catch (e) {
      if (e instanceof UsageError) skipped.push(`${d}: ${e.message}`);
      else throw e;
    }
  }
  if (loaded.length === 0) throw new UsageError(`no readable run folder (with ${MANIFEST}) under ${dir}${skipped.length ? `; skipped: ${skipped.join('; ')}` : ''}`);
  loaded.sort((a, b) => Date.parse(a.run.startedAt) - Date.parse(b.run.startedAt) || a.run.name.localeCompare(b.run.name));
  const runs = loaded.map((l) => l.run);
  const series: HistorySeries[] = [];
  for (const sel of metrics) {
    if (sel === 'wall') {
      series.push({
        group: '(run)',
        metric: 'wall',
        label: 'wall time (s)',
        unit: 'seconds',
        schemes: [
          {
            scheme: 'run',
            points: loaded.map((l, i) => ({
              run: i,
              stat: l.run.wallSeconds === null ? null : { n: 1, mean: l.run.wallSeconds, sd: null, halfWidth: null, lo: null, hi: null, level: 0.95 },
              status: l.run.wallSeconds === null ? 'unfinished' : 'ok',
            })),
          },
        ],
      });
      continue;
    }
    // (group, key) pairs: groups in first-seen order, each group's columns over every run in report order.
    const byGroup = new Map<string, Map<string, Column>>();
    for (const l of loaded) {
      for (const g of l.summary.groups) {
        const cols = byGroup.get(g.group) ?? new Map<string, Column>();
        byGroup.set(g.group, cols);
        for (const c of g.columns) if (metricMatches(sel, c.key) && !cols.has(c.key)) cols.set(c.key, c);
      }
    }
    const pairs = [...byGroup].flatMap(([group, cols]) => sortColumns([...cols.values()]).map((c) => ({ group, key: c.key, label: c.label, unit: c.unit })));
    if (pairs.length === 0)
      throw new UsageError(`--metric ${sel} matches no metric in any run; metrics are column keys such as clean, robust:<attack>@<norm>:<eps>, worst@<norm>:<eps>, probe:<name>, or wall`);
    for (const p of pairs) {
      if (series.some((s) => s.group === p.group && s.metric === p.key)) continue;
      const schemes: string[] = [];
      for (const l of loaded) for (const r of l.summary.groups.find((g) => g.group === p.group)?.rows ?? []) if (!schemes.includes(r.scheme)) schemes.push(r.scheme);
      series.push({
        group: p.group,
        metric: p.key,
        label: p.label,
        unit: p.unit,
        schemes: schemes.map((scheme) => ({
          scheme,
          points: loaded.map((l, i) => {
            const cell = l.summary.groups.find((g) => g.group === p.group)?.rows.find((r) => r.scheme === scheme)?.cells[p.key];
            return { run: i, stat: cell?.stat ?? null, status: cell ? cell.status : 'absent' };
          }),
        })),
      });
    }
  }
  return { dir, runs, series, skipped };
}

function fmtPoint(p: HistoryPoint, unit: HistorySeries['unit']): string {
  if (!p.stat) return p.status;
  if (unit === 'seconds') return fmtSeconds(p.stat.mean);
  const s = fmtMeanCI(p.stat, unit);
  return p.status === 'partial' ? `${s} (partial)` : s;
}

function runLabel(r: HistoryRun): string {
  return `${r.startedAt.replace('T', ' ').slice(0, 16)} ${r.name}${r.gitCommit ? ` @${r.gitCommit.slice(0, 8)}` : ''}`;
}

export function renderHistoryTerminal(h: History): string {
  const out = [`vicinal history: ${h.runs.length} run(s) under ${h.dir}, oldest first`];
  for (const s of h.skipped) out.push(`  skipped ${s}`);
  for (const s of h.series) {
    out.push('', `${s.group}: ${s.label}${s.unit === 'accuracy' ? ' (%)' : ''}`);
    out.push(
      drawTable(
        ['run', ...s.schemes.map((x) => x.scheme)],
        h.runs.map((r, i) => [runLabel(r), ...s.schemes.map((x) => fmtPoint(x.points[i], s.unit))]),
      ).trimEnd(),
    );
  }
  return `${out.join('\n')}\n`;
}

export function renderHistoryMarkdown(h: History): string {
  const out = [`# vicinal history: ${mdEscape(h.dir)}`, '', `${h.runs.length} run(s), oldest first.`, ''];
  for (const s of h.skipped) out.push(`- skipped ${mdEscape(s)}`);
  for (const s of h.series) {
    out.push(`## ${mdEscape(s.group)}: ${mdEscape(s.label)}${s.unit === 'accuracy' ? ' (%)' : ''}`, '');
    out.push(
      mdTable(
        ['run', ...s.schemes.map((x) => mdEscape(x.scheme))],
        h.runs.map((r, i) => [mdEscape(runLabel(r)), ...s.schemes.map((x) => mdEscape(fmtPoint(x.points[i], s.unit)))]),
      ),
      '',
    );
  }
  return out.join('\n');
}

/** One line plot: x = run (oldest first), a line per scheme with its CI band. */
export function historyPlot(h: History, s: HistorySeries): string {
  const vals: number[] = [];
  for (const x of s.schemes) for (const p of x.points) if (p.stat) vals.push(p.stat.mean, p.stat.lo ?? p.stat.mean, p.stat.hi ?? p.stat.mean);
  let lo = vals.length ? Math.min(...vals) : 0;
  let hi = vals.length ? Math.max(...vals) : 1;
  if (s.unit === 'accuracy') {
    lo = Math.max(0, lo - 0.02);
    hi = Math.min(1, hi + 0.02);
  }
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.1 + 0.01;
    hi += Math.abs(hi) * 0.1 + 0.01;
  }
  const n = h.runs.length;
  const f = S.frame({ width: 640, height: 300, xDomain: [-0.3, Math.max(0.3, n - 0.7)], yDomain: [lo, hi], margin: { right: 170, bottom: 64 } });
  const ticks = h.runs.map((_, i) => i);
  const step = Math.max(1, Math.ceil(n / 8));
  const parts = [
    S.axes(f, {
      xTicks: ticks.filter((i) => i % step === 0),
      xFormat: (i) => h.runs[i]?.startedAt.slice(0, 10) ?? '',
      yFormat: s.unit === 'accuracy' ? (v) => `${Math.round(v * 1000) / 10}` : S.fmtTick,
      yLabel: `${s.label}${s.unit === 'accuracy' ? ' (%)' : ''}`,
      xLabel: 'run start (oldest first)',
      grid: true,
    }),
  ];
  const items: S.LegendItem[] = [];
  s.schemes.forEach((x, i) => {
    const color = S.colorAt(i);
    const pts = x.points.filter((p) => p.stat).map((p) => [p.run, (p.stat as MeanCI).mean] as S.Point);
    const bandPts = x.points.filter((p) => p.stat && p.stat.lo !== null).map((p) => [p.run, p.stat!.lo as number, p.stat!.hi as number] as const);
    const style: S.SeriesStyle = { series: x.scheme, color, data: { metric: s.metric } };
    parts.push(S.band(f, bandPts, style), S.line(f, pts, style), S.scatter(f, pts, { ...style, r: 3 }));
    items.push({ label: x.scheme, color, series: x.scheme });
  });
  parts.push(S.legend(items, f.width - f.margin.right + 14, f.margin.top + 10));
  const title = `${s.group}: ${s.label} across runs`;
  return `<figure data-plot="history" data-metric="${S.esc(s.metric)}">${S.svg(f.width, f.height, parts.join(''), { title, plot: 'history', data: { metric: s.metric, group: s.group } })}<figcaption>${S.esc(title)}: mean over seeds, band = 95% CI.</figcaption></figure>`;
}

export function renderHistoryHtml(h: History): string {
  const rows = h.runs
    .map(
      (r, i) =>
        `<tr><td>${i}</td><td>${S.esc(r.startedAt)}</td><td>${S.esc(r.name)}</td><td>${S.esc(r.gitCommit?.slice(0, 12) ?? '')}</td><td>${S.esc(r.backend)}</td><td>${S.esc(fmtSeconds(r.wallSeconds))}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>vicinal history</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 7px}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #eee;padding:6px}svg{max-width:100%;height:auto}
svg .tick{font-size:11px}svg .label{font-size:12px}svg .legend-text{font-size:11px}svg .axis,svg .tickmark{stroke:#333}svg .grid{stroke:#e6e6e6}</style>
</head><body>
<h1>vicinal history: ${S.esc(h.dir)}</h1>
<table><tr><th>#</th><th>started</th><th>run</th><th>commit</th><th>backend</th><th>wall time</th></tr>${rows}</table>
${h.skipped.length ? `<p>Skipped: ${h.skipped.map(S.esc).join('<br>')}</p>` : ''}
<div class="plots">${h.series.map((s) => historyPlot(h, s)).join('\n')}</div>
</body></html>
`;
}
