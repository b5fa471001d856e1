/**
 * Self-contained HTML report: inline CSS and inline SVG only (no scripts, no
 * network; a Content-Security-Policy forbids any fetch). In the reader's
 * order: the findings (findings.ts) for every group; then per group robust
 * accuracy vs epsilon per attack and the worst case (mean per scheme with 95%
 * CI bands), the summary table (clean, worst case at every ε, median gradient
 * norm), gradient-norm distributions (horizontal box plots from quantiles at
 * train / test / vicinal points), for image groups whose eval jobs kept
 * adversarial examples a grid of clean and adversarial images per scheme
 * (adversarial-grid.ts), for 2-D groups the decision boundaries and
 * (two moons) the vicinal sample figures, and every table, collapsed; then
 * the sanity flags per check with every flag collapsed, the run header and
 * the methods. Series elements carry data-series="<scheme>"; axis labels
 * carry data-axis.
 */
import { epsLabel, parseBallKey } from '../contract/keys';
import type { AdversarialGrid } from './adversarial-grid';
import type { Figures2D, VicinityPanel } from './figures2d';
import { GroupFindings, findingColumns, findingsContext, flagWhereText, runFindings, summarizeFlags } from './findings';
import { columnSections, fmtCellParts, fmtDiff, fmtNumber, fmtSeconds, groupFacts, headerFacts, isStatusCell, rowStatusLine } from './format';
import { recipeHeaderLines } from './recipe';
import { Cell, Column, GroupSummary, RunSummary, probeFamily } from './summary';
import * as S from './svg';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;margin:24px auto;max-width:1280px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:36px;border-bottom:1px solid #ccc}h3{font-size:15px;margin-top:22px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:3px 7px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;white-space:nowrap}
td small{color:#555}td.best{background:#eaf5ea}td.status{color:#a00;font-style:italic}
table.facts td:first-child{font-weight:600;white-space:nowrap}
.plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #eee;padding:6px}
figcaption{font-size:12px;color:#444;max-width:560px}
svg{max-width:100%;height:auto;background:#fff;font-family:inherit}
svg .tick{font-size:11px;fill:#333}svg .label{font-size:12px;fill:#222}svg .legend-text{font-size:11px;fill:#222}
svg .axis{stroke:#333}svg .tickmark{stroke:#333}svg .grid{stroke:#e6e6e6}
.note{color:#555;font-size:13px}.error{color:#a00}
#findings li{margin:3px 0}#findings li.qualified{background:#fff6e0}.flagline{font-size:13px;color:#444}
img.example{image-rendering:pixelated;border:1px solid #ccc;margin:1px}td.fooled{background:#fdeeee}details{margin:12px 0}summary{cursor:pointer;font-weight:600}table.compact td.num{white-space:nowrap}.scroll{overflow-x:auto}
`;

function h(tag: string, content: string, a: Record<string, string | number | boolean | undefined> = {}): string {
  return `<${tag}${S.attrs(a)}>${content}</${tag}>`;
}

function factsTable(facts: [string, string][]): string {
  return h('table', facts.map(([k, v]) => h('tr', h('td', S.esc(k)) + h('td', S.esc(v)))).join(''), { class: 'facts' });
}

function htmlCell(cell: Cell, col: Column): string {
  const p = fmtCellParts(cell, col);
  const text = S.esc(p.value);
  const d = fmtDiff(cell.diff, col);
  const isStatus = isStatusCell(cell);
  const body = (cell.best ? `<strong>${text}</strong>${col.best?.clear ? ' ★' : ''}` : text) + (p.note ? `<br><small>${S.esc(p.note)}</small>` : '') + (d ? `<br><small>${S.esc(d)}</small>` : '');
  const cls = ['num', cell.best ? 'best' : '', isStatus ? 'status' : ''].filter(Boolean).join(' ');
  return h('td', body, { class: cls, 'data-status': cell.status, 'data-column': col.key });
}

function resultsTable(g: GroupSummary, columns: Column[], cls: string): string {
  const head = h('tr', h('th', 'scheme') + columns.map((c) => h('th', S.esc(c.label))).join(''));
  const body = g.rows.map((r) => h('tr', h('th', S.esc(r.scheme)) + columns.map((c) => htmlCell(r.cells[c.key], c)).join(''), { 'data-scheme': r.scheme, 'data-status': r.status })).join('');
  // Wide tables scroll sideways inside their own box instead of widening the page.
  return h('div', h('table', head + body, { class: cls, 'data-group': g.group }), { class: 'scroll' });
}

const pct = (v: number) => `${Math.round(v * 1000) / 10}`;
/** Legend labels longer than this are shortened (the full label stays in a tooltip). */
const LEGEND_CHARS = 48;
const clip01 = (v: number) => Math.min(1, Math.max(0, v));

/** Robust accuracy vs epsilon for one attack (or the worst case): a line per scheme, CI band when n >= 2. */
export function robustVsEpsPlot(g: GroupSummary, title: string, cols: Column[], dataAttrs: Record<string, string>): string {
  const epsList = [...new Set(cols.map((c) => c.eps as number))].sort((a, b) => a - b);
  const maxEps = epsList.length ? epsList[epsList.length - 1] : 1;
  const series = g.rows.map((row, i) => {
    const cells = [{ eps: 0, cell: row.cells.clean }, ...cols.map((c) => ({ eps: c.eps as number, cell: row.cells[c.key] }))];
    const pts = cells.filter((p) => p.cell?.stat && p.cell.status !== 'n/a').map((p) => [p.eps, p.cell.stat!.mean] as S.Point);
    const bandPts = cells
      .filter((p) => p.cell?.stat && p.cell.stat.lo !== null && p.cell.stat.hi !== null)
      .map((p) => [p.eps, clip01(p.cell.stat!.lo as number), clip01(p.cell.stat!.hi as number)] as const);
    const n = Math.max(0, ...cells.map((p) => p.cell?.stat?.n ?? 0));
    const item: S.LegendItem = pts.length
      ? { label: `${row.scheme}${row.status === 'partial' ? ' (partial)' : ''}${n === 1 ? ' (n=1, no CI)' : ''}`, color: S.colorAt(i), series: row.scheme }
      : { label: `${row.scheme} (${row.status})`, color: '#bbb', series: row.scheme, dash: '2 3' };
    return { row, pts, bandPts, item, color: S.colorAt(i) };
  });
  const items = series.map((x) => x.item);
  // The legend sits right of the plot, as wide as its longest label and as tall as its rows.
  const right = Math.ceil(14 + S.legendWidth(items, LEGEND_CHARS) + 10);
  const height = Math.max(320, 16 + 10 + 16 * items.length + 10);
  const f = S.frame({ width: 370 + right, height, xDomain: [0, maxEps > 0 ? maxEps : 1], yDomain: [0, 1], margin: { right } });
  const parts: string[] = [S.axes(f, { xLabel: 'ε', yLabel: 'accuracy (%)', xTicks: [0, ...epsList], yTicks: [0, 0.2, 0.4, 0.6, 0.8, 1], yFormat: pct, grid: true })];
  const clipId = `clip-${hashString(title)}`;
  parts.push(`<defs>${S.clipRect(f, clipId)}</defs>`);
  for (const { row, pts, bandPts, color } of series) {
    if (pts.length === 0) continue;
    const style: S.SeriesStyle = { series: row.scheme, color, data: { status: row.status } };
    parts.push(`<g clip-path="url(#${clipId})">${S.band(f, bandPts, style)}${S.line(f, pts, style)}</g>`);
    parts.push(S.scatter(f, pts, { ...style, r: 3, hollow: row.status === 'partial' }));
  }
  parts.push(S.legend(items, f.width - f.margin.right + 14, f.margin.top + 10, 16, LEGEND_CHARS));
  const svg = S.svg(f.width, f.height, parts.join(''), { title, plot: 'robust-vs-eps', data: { ...dataAttrs, group: g.group } });
  return h('figure', svg + h('figcaption', `${S.esc(title)}. ε = 0 is clean accuracy. Lines: mean over seeds; bands: 95% t CI (none with one seed).`), {
    'data-plot': 'robust-vs-eps',
    ...prefixData(dataAttrs),
  });
}

/** Short deterministic id from a string (FNV-1a), for element ids. */
function hashString(s: string): string {
  let x = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return x.toString(36);
}

function prefixData(d: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [`data-${k}`, v]));
}

const LOCATION_COLORS: Record<string, string> = { train: '#0072B2', test: '#D55E00', vicinal: '#009E73', '': '#555555' };

/** Legend text of a probe location: "at test points", "linf ε=0.3", "margin-first-order". */
function locationLabel(loc: string, family: string): string {
  if (loc === 'train' || loc === 'test' || loc === 'vicinal') return `at ${loc} points`;
  const ball = parseBallKey(loc);
  if (ball) return `${ball.norm === 'l2' ? 'ℓ2' : ball.norm === 'linf' ? 'ℓ∞' : ball.norm} ε=${epsLabel(ball.eps)}`;
  return loc || family;
}

/** Widest a scheme label may be (px) before it wraps onto more lines. */
const BOX_LABEL_PX = 210;

/**
 * Box plots (q05, q25, median, q75, q95, averaged over seeds) of one probe
 * family, laid out horizontally: a row per scheme, named on the y axis (long
 * names wrap onto several lines, so no two labels can overlap), a box per
 * location (train / test / vicinal, or ε-ball) within the row, values along x.
 */
export function probeBoxPlot(g: GroupSummary, family: string, keys: string[]): string {
  const locs = keys.map((k) => probeFamily(k).location);
  const rows = g.rows;
  const vals: number[] = [];
  for (const r of rows)
    for (const k of keys) {
      const d = r.probeDistributions[k];
      if (d) vals.push(d.q05, d.q95, d.median);
    }
  const finite = vals.filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 1;
  const useLog = lo > 0 && hi / lo > 30;
  const xDomain: [number, number] = useLog ? [lo / 1.2, hi * 1.2] : [Math.min(0, lo), hi > lo ? hi + (hi - lo) * 0.05 : lo + 1];
  const labels = rows.map((r) => S.wrapLabel(r.scheme, BOX_LABEL_PX));
  const left = Math.ceil(Math.max(60, ...labels.flat().map((l) => S.textWidth(l))) + 16);
  const legendItems = keys.map((_k, j) => ({ label: locationLabel(locs[j], family), color: LOCATION_COLORS[locs[j]] ?? S.colorAt(j), mark: 'box' as const }));
  const right = Math.ceil(14 + S.legendWidth(legendItems) + 10);
  const box = 9;
  const step = box + 3;
  const rowPx = Math.max(keys.length * step + 9, Math.max(...labels.map((l) => l.length)) * S.TICK_LINE_PX + 8);
  const top = 12;
  const bottom = 44;
  const height = Math.max(top + rows.length * rowPx + bottom, top + 10 + 16 * keys.length + bottom);
  const plotPx = height - top - bottom;
  const f = S.frame({ width: left + 380 + right, height, xDomain, xLog: useLog, yDomain: [plotPx / rowPx, 0], margin: { left, right, top, bottom } });
  const parts = [S.axes(f, { xLabel: `${family}${useLog ? ' (log scale)' : ''}`, yCategories: labels, xTicks: f.x.ticks(5), xFormat: (v) => fmtNumber(v, 2), grid: true })];
  // Row separators.
  for (let i = 1; i < rows.length; i++) parts.push(`<line x1="${f.x.range[0]}" x2="${f.x.range[1]}" y1="${f.y(i)}" y2="${f.y(i)}" class="grid"/>`);
  const first = (rowPx - (keys.length * step - 3)) / 2 + box / 2;
  rows.forEach((r, i) => {
    keys.forEach((k, j) => {
      const d = r.probeDistributions[k];
      if (!d || ![d.q05, d.q25, d.median, d.q75, d.q95].every(Number.isFinite)) return;
      if (useLog && !(d.q05 > 0)) return;
      const y = i + (first + j * step) / rowPx;
      parts.push(S.hBoxPlot(f, y, box / rowPx, d, { series: r.scheme, color: LOCATION_COLORS[locs[j]] ?? S.colorAt(j), data: { probe: k, location: locs[j] || family, seeds: d.seeds } }));
    });
  });
  parts.push(S.legend(legendItems, f.width - f.margin.right + 14, f.margin.top + 10));
  const title = `${g.group}: ${family} distribution per scheme`;
  const svg = S.svg(f.width, f.height, parts.join(''), { title, plot: 'probe-box', data: { family, group: g.group } });
  return h('figure', svg + h('figcaption', `${S.esc(title)}. Box: quartiles, line: median, whiskers: 5% and 95% quantiles; each quantile averaged over the seeds.`), {
    'data-plot': 'probe-box',
    'data-family': family,
  });
}

function classColor(c: number): string {
  return c === 0 ? '#2166ac' : c === 1 ? '#b2182b' : S.colorAt(c + 2);
}

function dataScatter(f: S.Frame, pts: [number, number, number][], r: number, opacity: number, series = 'data'): string {
  const classes = [...new Set(pts.map((p) => p[2]))].sort((a, b) => a - b);
  return classes
    .map((c) =>
      S.scatter(
        f,
        pts.filter((p) => p[2] === c).map((p) => [p[0], p[1]] as S.Point),
        { series, color: classColor(c), r, opacity, stroke: '#fff', data: { class: c } },
      ),
    )
    .join('');
}

/** Decision boundary of one scheme: mean P(class 1) over seeds as a heatmap, each seed's 0.5 contour, the training data. */
export function boundaryPlot(fig: Figures2D, b: Figures2D['boundaries'][number]): string {
  const f = S.frame({ width: 340, height: 290, xDomain: fig.extent.x, yDomain: fig.extent.y, margin: { left: 44, bottom: 36, right: 10, top: 10 } });
  const title = `${fig.group}: ${b.scheme} decision boundary`;
  const parts = [S.axes(f, { xLabel: 'x₁', yLabel: 'x₂' })];
  if (b.perSeed.length) {
    parts.push(S.heatmap(f, b.mean, (v) => S.divergingColor(Math.round(v * 20) / 20), { series: b.scheme, data: { seeds: b.seeds.join(',') } }));
    b.perSeed.forEach((g, i) => parts.push(S.contour(f, g, 0.5, { series: b.scheme, color: '#111', width: 1.4, dash: i === 0 ? undefined : '4 3', data: { seed: b.seeds[i] } })));
  } else {
    parts.push(`<text x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle" class="label" data-series="${S.esc(b.scheme)}" data-kind="unavailable">${S.esc(b.error ?? 'unavailable')}</text>`);
  }
  parts.push(dataScatter(f, fig.data, 1.6, 0.55));
  const svg = S.svg(f.width, f.height, parts.join(''), { title, plot: 'boundary', data: { series: b.scheme, group: fig.group } });
  const cap = b.perSeed.length
    ? `${S.esc(b.scheme)}: colour = P(class 1) averaged over seeds ${b.seeds.join(', ')} (blue 0, red 1); black: 0.5 contour per seed (solid: seed ${b.seeds[0]}).${b.error ? ` <span class="error">${S.esc(b.error)}</span>` : ''}`
    : `<span class="error">${S.esc(b.scheme)}: ${S.esc(b.error ?? 'no model')}</span>`;
  return h('figure', svg + h('figcaption', cap), { 'data-plot': 'boundary', 'data-series': b.scheme });
}

/** One vicinal-sample panel: data (labelled by class, unlabelled grey), the chosen point, its vicinal samples. */
export function vicinityPlot(p: VicinityPanel, index: number): string {
  const all = [...p.labelled.map((q) => [q[0], q[1]] as S.Point), ...p.unlabelled, ...p.samples].filter((q) => Number.isFinite(q[0]) && Number.isFinite(q[1]));
  const xs = all.map((q) => q[0]);
  const ys = all.map((q) => q[1]);
  const pad = (a: number, b: number): [number, number] => (a < b ? [a - (b - a) * 0.06, b + (b - a) * 0.06] : [a - 1, a + 1]);
  const xd = xs.length ? pad(Math.min(...xs), Math.max(...xs)) : ([-1.5, 2.5] as [number, number]);
  const yd = ys.length ? pad(Math.min(...ys), Math.max(...ys)) : ([-1, 1.5] as [number, number]);
  const f = S.frame({ width: 360, height: 290, xDomain: xd, yDomain: yd, margin: { left: 44, bottom: 36, right: 10, top: 10 } });
  const parts = [S.axes(f, { xLabel: 'x₁', yLabel: 'x₂' })];
  const panelData = { panel: index, scheme: p.scheme };
  if (p.error) {
    parts.push(`<text x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle" class="label error" data-kind="unavailable">${S.esc(p.error.slice(0, 90))}</text>`);
  } else {
    if (p.unlabelled.length) parts.push(S.scatter(f, p.unlabelled, { series: 'unlabelled', color: '#9a9a9a', r: 1, opacity: 0.5, data: panelData }));
    parts.push(dataScatter(f, p.labelled, p.labelled.length <= 200 ? 3.5 : 1.6, p.labelled.length <= 200 ? 0.95 : 0.5, 'labelled'));
    parts.push(S.scatter(f, p.samples, { series: 'vicinal', color: '#009E73', r: 1.8, opacity: 0.7, data: panelData }));
    parts.push(S.scatter(f, [[p.point[0], p.point[1]]], { series: 'point', color: '#000', r: 6, hollow: true, data: panelData }));
  }
  const svg = S.svg(f.width, f.height, parts.join(''), { title: p.title, plot: 'vicinity', data: { panel: String(index), scheme: p.scheme } });
  const lam = p.lambdas.length ? ` Mean λ (weight on the point) ${fmtNumber(p.lambdas.reduce((a, b) => a + b, 0) / p.lambdas.length)}.` : '';
  const pool = p.unlabelledTotal ? ` Grey: unlabelled pool (${p.unlabelledTotal.toLocaleString('en')} points${p.unlabelled.length < p.unlabelledTotal ? `, ${p.unlabelled.length} shown` : ''}).` : '';
  const cap = p.error
    ? `${S.esc(p.title)}: <span class="error">${S.esc(p.error)}</span>`
    : `${S.esc(p.title)}. Circled: the training point; green: ${p.samples.length} vicinal samples; blue/red: labelled points by class.${S.esc(pool)}${S.esc(lam)}`;
  return h('figure', svg + h('figcaption', cap), { 'data-plot': 'vicinity', 'data-panel': index });
}

/** One group's part of the findings: context, a sentence per scheme and metric, the flag line. */
function findingsBlock(g: GroupSummary, gf: GroupFindings): string {
  const items = gf.sentences.map((x) => h('li', S.esc(x), { class: x.includes('(qualified:') ? 'qualified' : undefined })).join('');
  return h('div', h('h3', S.esc(g.group)) + h('p', S.esc(findingsContext(g, gf)), { class: 'note' }) + h('ul', items) + h('p', S.esc(gf.flagLine), { class: 'flagline' }), {
    class: 'findings',
    'data-findings-group': g.group,
  });
}

function findingsSection(s: RunSummary): string {
  const all = runFindings(s);
  const intro =
    'Each scheme against erm. Δ is the paired difference over seeds (accuracies in points) with its 95% CI; significant means the CI excludes 0 and the paired sign-flip test over test examples agrees (p &lt; 0.05). The worst case counts an example as robust only if it survives every attack.';
  return h('section', h('h2', 'Findings') + h('p', intro, { class: 'note' }) + s.groups.map((g, i) => findingsBlock(g, all[i])).join(''), { id: 'findings', 'data-part': 'findings' });
}

/** Robust accuracy vs ε: one plot per (attack, norm), then the worst case per norm. */
function curvePlots(g: GroupSummary): string[] {
  const plots: string[] = [];
  const byAttack = new Map<string, Column[]>();
  for (const c of g.columns.filter((c) => c.kind === 'robust')) {
    const k = `${c.attack}|${c.norm}`;
    byAttack.set(k, [...(byAttack.get(k) ?? []), c]);
  }
  for (const [k, cols] of byAttack) {
    const [attack, norm] = k.split('|');
    plots.push(robustVsEpsPlot(g, `${g.group}: robust accuracy vs ε under ${attack} (${norm})`, cols, { attack, norm }));
  }
  for (const norm of [...new Set(g.columns.filter((c) => c.kind === 'worst').map((c) => c.norm as string))]) {
    plots.push(
      robustVsEpsPlot(
        g,
        `${g.group}: worst case over attacks vs ε (${norm})`,
        g.columns.filter((c) => c.kind === 'worst' && c.norm === norm),
        { attack: 'worst-case', norm },
      ),
    );
  }
  return plots;
}

/**
 * One group in the reader's order: robust accuracy vs ε, the summary table
 * (the columns the findings read), probe distributions, the 2-D figures,
 * then every table and the group's settings, collapsed.
 */
function groupSection(g: GroupSummary, fig: Figures2D | undefined, grid: AdversarialGrid | undefined): string {
  const out: string[] = [h('h2', S.esc(g.group))];
  const plots = curvePlots(g);
  if (plots.length) out.push(h('div', h('h3', 'Robust accuracy vs ε') + h('div', plots.join(''), { class: 'plots' }), { 'data-part': 'curves' }));

  const status = g.rows.map(rowStatusLine).filter((x): x is string => x !== null);
  const statusP = status.length ? h('p', `<strong>Runs that did not finish ok:</strong><br>${status.map(S.esc).join('<br>')}`, { class: 'error' }) : '';
  out.push(h('div', h('h3', 'Summary: clean and worst-case robust accuracy (%), median gradient norm') + statusP + resultsTable(g, findingColumns(g), 'compact'), { 'data-part': 'compact' }));

  // Probe distributions, one plot per family (grad-l1, grad-l2, loss, local-lipschitz, margin); the
  // first-order diagnostics stay in the tables.
  const families = new Map<string, string[]>();
  for (const c of g.columns.filter((c) => c.kind === 'probe')) {
    const p = c.probe as string;
    const fam = probeFamily(p).family;
    if (fam.startsWith('first-order')) continue;
    families.set(fam, [...(families.get(fam) ?? []), p]);
  }
  if (families.size) {
    out.push(
      h('div', h('h3', 'Gradient norms and other probes: train vs test vs vicinal points') + h('div', [...families].map(([fam, keys]) => probeBoxPlot(g, fam, keys)).join(''), { class: 'plots' }), {
        'data-part': 'probes',
      }),
    );
  }

  if (grid) out.push(adversarialGridSection(grid));

  if (fig) {
    const figs: string[] = [];
    if (fig.vicinity) {
      figs.push(h('h3', 'Vicinal samples (two moons)'));
      figs.push(h('div', fig.vicinity.map((p, i) => vicinityPlot(p, i)).join(''), { class: 'plots', 'data-figure': 'vicinity' }));
    }
    figs.push(h('h3', 'Decision boundaries'));
    figs.push(h('div', fig.boundaries.map((b) => boundaryPlot(fig, b)).join(''), { class: 'plots', 'data-figure': 'boundaries' }));
    out.push(h('div', figs.join(''), { 'data-part': 'figures' }));
  }

  const full = [factsTable(groupFacts(g))];
  for (const sec of columnSections(g.columns)) full.push(h('h3', S.esc(sec.title)), resultsTable(g, sec.columns, 'results'));
  out.push(h('details', h('summary', `Every table of ${S.esc(g.group)}: per attack, every probe; dataset, model and attack settings`) + full.join('\n'), { 'data-part': 'full-tables' }));
  return h('section', out.join('\n'), { class: 'group', 'data-group': g.group });
}

/** Flags summarised per check, then every flag in a collapsed list. */
function flagsSection(s: RunSummary): string {
  if (!s.flags.length) return h('section', h('h2', 'Sanity flags (0)') + h('p', 'No sanity flags raised.', { class: 'note' }), { 'data-part': 'flags' });
  const sums = summarizeFlags(s.flags);
  const summary = h(
    'table',
    h('tr', ['check', 'count', 'where (group: schemes)', 'example'].map((x) => h('th', x)).join('')) +
      sums
        .map((f) =>
          h('tr', [f.check, `${f.count} (${f.severity})`, flagWhereText(f), `${f.example.scheme} seed ${f.example.seed}: ${f.example.message}`].map((x) => h('td', S.esc(x))).join(''), {
            'data-check': f.check,
          }),
        )
        .join(''),
    { class: 'flag-summary' },
  );
  const list = h(
    'table',
    h('tr', ['severity', 'check', 'group', 'scheme', 'seed', 'message'].map((x) => h('th', x)).join('')) +
      s.flags.map((f) => h('tr', [f.severity, f.check, f.group, f.scheme, String(f.seed), f.message].map((x) => h('td', S.esc(x))).join(''), { 'data-severity': f.severity })).join(''),
    { class: 'flags' },
  );
  return h('section', h('h2', `Sanity flags (${s.flags.length})`) + summary + h('details', h('summary', `Every flag (${s.flags.length})`) + list, { 'data-part': 'flag-list' }), {
    'data-part': 'flags',
  });
}

/** Clean and adversarial examples side by side, a row per scheme (reports/adversarial-grid.ts). */
export function adversarialGridSection(grid: AdversarialGrid): string {
  const n = Math.max(0, ...grid.rows.map((r) => r.cells.length));
  const head = h('tr', h('th', 'scheme') + Array.from({ length: n }, (_, i) => h('th', `example ${i + 1}`)).join(''));
  const img = (src: string, alt: string) => `<img src="${src}" alt="${S.esc(alt)}" width="56" height="56" class="example">`;
  const body = grid.rows
    .map((r) => {
      const label = `${r.scheme}${r.seed !== null ? ` (seed ${r.seed})` : ''}`;
      if (!r.cells.length) return h('tr', h('th', S.esc(label)) + h('td', S.esc(r.error ?? 'no examples at this ε'), { colspan: Math.max(1, n), class: 'status' }), { 'data-scheme': r.scheme });
      const cells = r.cells.map((c) => {
        const caption = `#${c.index} label ${c.label}: clean → ${c.cleanPred}, ${c.attack} → ${c.advPred}`;
        const verdict = c.cleanPred !== c.label ? 'wrong when clean' : c.fooled ? 'fooled' : 'survived';
        const images = img(c.clean, `clean #${c.index}`) + img(c.adversarial, `${c.attack} #${c.index}`);
        return h('td', `${images}<br><small>${S.esc(caption)}<br>${verdict}</small>`, {
          'data-verdict': verdict,
          class: verdict === 'fooled' ? 'fooled' : '',
        });
      });
      return h('tr', h('th', S.esc(label)) + cells.join(''), { 'data-scheme': r.scheme });
    })
    .join('');
  const note = `Left: the clean test image; right: the adversarial one at ${grid.norm} ε=${epsLabel(grid.eps)} (the ε where the baseline's worst case is nearest half its clean accuracy), from the first attack that fools the model, else the last attack. Predictions are the model's.`;
  return h(
    'div',
    h('h3', `Clean and adversarial examples (ε=${epsLabel(grid.eps)})`) + h('p', S.esc(note), { class: 'note' }) + h('div', h('table', head + body, { class: 'examples' }), { class: 'scroll' }),
    {
      'data-part': 'adversarial-examples',
    },
  );
}

export function renderHtml(s: RunSummary, figures: Figures2D[] = [], grids: AdversarialGrid[] = []): string {
  const title = `vicinal report: ${s.header.study}`;
  const hd = s.header;
  const lead = `${hd.source}; backend ${hd.backend}${hd.gpu ? ' (gpu)' : ''}; seeds ${hd.seeds.join(', ')}; wall time ${fmtSeconds(hd.wallSeconds)}; ${hd.jobs.ok} of ${hd.jobs.planned} jobs ok. Run details at the end.`;
  const body = [
    h('h1', S.esc(title)),
    h('p', S.esc(lead), { class: 'note' }),
    ...recipeHeaderLines(s.groups).map((l) => h('p', S.esc(l), { class: 'note recipe' })),
    findingsSection(s),
    ...s.groups.map((g) =>
      groupSection(
        g,
        figures.find((f) => f.group === g.group),
        grids.find((x) => x.group === g.group),
      ),
    ),
    flagsSection(s),
    h('h2', 'Run'),
    factsTable(headerFacts(s.header)),
    h('h2', 'Methods'),
    h(
      'ul',
      [
        ...s.methods,
        'Table cells: mean ± 95% CI half-width (accuracies in %); second line: paired difference vs erm [95% CI] in points, sign-flip test p, verdict (sig / ns / n=1). Bold/green: best within the noise; ★: significantly ahead of every other scheme.',
      ]
        .map((m) => h('li', S.esc(m)))
        .join(''),
    ),
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${S.esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
