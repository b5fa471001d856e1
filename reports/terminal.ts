/**
 * Terminal report drawn with the `table` package. It opens with the answer,
 * one sentence per dataset and model (headline.ts), then the findings: one
 * sentence per scheme (all of findings.ts's sentences, with CIs, under
 * `detail`), then the sanity flags summarised per check. By default it then shows one compact
 * table per group (clean, worst case at each ε, median gradient norm), and
 * every line fits in `width` (120) columns: wide tables are split, long
 * lines wrapped. `detail` adds everything else: the run header, every flag,
 * every table (per attack, every probe); the files (Markdown, HTML, JSON,
 * CSV) always keep everything.
 *
 * Each table cell reads "mean ± CI" over seeds and, for schemes other than
 * erm, the paired difference Δ vs erm. Best values carry "*" (tied within the
 * noise) or "**" (significantly ahead of every other scheme).
 */
import { table, getBorderCharacters } from 'table';
import { FlagSummary, findingColumns, findingsContext, flagWhereText, gradientColumn, runFindings, summarizeFlags } from './findings';
import { groupAnswer, schemeSentences } from './headline';
import { recipeHeaderLines } from './recipe';
import { columnSections, fmtCellParts, fmtDiff, fmtSigned, fmtSeconds, fmtValue, groupFacts, headerFacts, isStatusCell, rowStatusLine, verdictTag, wrapText } from './format';
import { Cell, Column, GroupSummary, RunSummary } from './summary';

/** The default terminal width every line of the default report fits in. */
export const TERMINAL_WIDTH = 120;

export interface TerminalOptions {
  /** Print everything: run header, every flag, every table (lines may then exceed `width`). */
  detail?: boolean;
  /** Line width of the default report. Default 120. */
  width?: number;
}

function bestMark(cell: Cell, col: Column): string {
  return cell.best ? (col.best?.clear ? ' **' : ' *') : '';
}

/** A full cell: "mean ± CI" (best mark), the partial-seed note, "Δ ... [CI] p verdict". */
function termCell(cell: Cell, col: Column): string {
  const p = fmtCellParts(cell, col);
  const lines = [p.value + bestMark(cell, col)];
  if (p.note) lines.push(p.note);
  const d = fmtDiff(cell.diff, col);
  if (d) lines.push(d);
  return lines.join('\n');
}

/** A compact cell: "mean ± CI" (best mark), "k/n seeds" when partial, "Δ +1.2 sig" (the CI is in the findings). */
function compactCell(cell: Cell, col: Column): string {
  const p = fmtCellParts(cell, col);
  if (isStatusCell(cell)) return p.value;
  // One seed: the bare mean (the Δ line's "n=1" says there is no CI).
  const value = cell.stat && cell.stat.halfWidth === null ? fmtValue(cell.stat.mean, col.unit) : p.value;
  const lines = [value + bestMark(cell, col)];
  if (cell.status === 'partial') lines.push(`${cell.values.length}/${cell.seedStatus.filter((s) => s.status !== 'n/a').length} seeds`);
  if (cell.diff && cell.diff.n > 0) lines.push(`Δ ${fmtSigned(cell.diff.mean, col.unit)} ${verdictTag(cell.diff)}`);
  return lines.join('\n');
}

/** Draws rows with `table`; columns after the first are right-aligned; `firstWidth` wraps the first column. */
export function drawTable(head: string[], rows: string[][], firstWidth?: number): string {
  return table([head, ...rows], {
    border: getBorderCharacters('norc'),
    columns: head.map((_, i) => ({ alignment: i === 0 ? 'left' : 'right', ...(i === 0 && firstWidth ? { width: firstWidth, wrapWord: true } : {}) })),
    drawHorizontalLine: (i, size) => i === 0 || i === 1 || i === size,
  });
}

const textWidth = (s: string) => Math.max(0, ...s.split('\n').map((l) => [...l].length));

/**
 * Draws a table within `maxWidth` columns: the first (scheme) column wraps
 * when too wide, and value columns that still do not fit go into further
 * tables that repeat the first column.
 */
export function fitTables(head: string[], rows: string[][], maxWidth: number): string[] {
  const widths = head.map((h, i) => Math.max(textWidth(h), ...rows.map((r) => textWidth(r[i]))));
  // Each column takes its width + 2 padding + 1 border; plus the left border.
  const span = (ws: number[]) => 1 + ws.reduce((a, w) => a + w + 3, 0);
  // One table when wrapping the first column (down to 16 characters) is enough; otherwise the value
  // columns are split into chunks and the first column keeps up to 32 characters a line.
  const valuesSpan = span(widths.slice(1)) - 1;
  const oneTable = maxWidth - valuesSpan - 1 - 3;
  const firstWidth = Math.min(widths[0], oneTable >= 16 ? oneTable : Math.max(16, Math.min(32, maxWidth - 1 - 3 - (Math.max(0, ...widths.slice(1)) + 3))));
  const wrapFirst = firstWidth < widths[0] ? firstWidth : undefined;
  const chunks: number[][] = [];
  let cur: number[] = [];
  for (let i = 1; i < head.length; i++) {
    const trial = [...cur, i];
    if (cur.length && span([firstWidth, ...trial.map((j) => widths[j])]) > maxWidth) {
      chunks.push(cur);
      cur = [i];
    } else cur = trial;
  }
  if (cur.length || chunks.length === 0) chunks.push(cur);
  return chunks.map((cols) =>
    drawTable(
      [head[0], ...cols.map((j) => head[j])],
      rows.map((r) => [r[0], ...cols.map((j) => r[j])]),
      wrapFirst,
    ).trimEnd(),
  );
}

/** Flags summarised per check: count, where, one example message (cut to two lines). */
function flagSummaryLines(sums: FlagSummary[], width: number): string[] {
  const out: string[] = [];
  for (const s of sums) {
    out.push(...wrapText(`${s.check} ×${s.count} (${s.severity}) in ${flagWhereText(s)}`, width, '  ', '      '));
    const e = s.example;
    let ex = wrapText(`e.g. ${e.group} ${e.scheme} seed ${e.seed}: ${e.message}`, width, '    ', '      ');
    if (ex.length > 2) ex = [ex[0], `${ex[1].slice(0, width - 1)}…`];
    out.push(...ex);
  }
  return out;
}

/** The answer: one sentence per group on the worst-case robust accuracy against erm. */
function answerLines(s: RunSummary, width: number): string[] {
  const out = wrapText('Is each scheme more robust than erm? (worst case over every attack; significant: the 95% CI over seeds excludes 0 and the paired sign-flip test agrees, p < 0.05)', width);
  for (const gf of runFindings(s)) out.push(...wrapText(groupAnswer(gf), width, '  ', '    '));
  return out;
}

/** The findings per group: one sentence per scheme, or (detail) every sentence with its CI and p. */
function findingsLines(s: RunSummary, width: number, detail: boolean): string[] {
  const out = wrapText(
    detail
      ? 'Findings, each scheme against erm: Δ is the paired difference over seeds (accuracies in points) with its 95% CI; significant means the CI excludes 0 and the paired sign-flip test over test examples agrees (p < 0.05).'
      : 'Findings, each scheme against erm: Δ over seeds in points (CIs and p-values: --detail or report.md).',
    width,
  );
  const all = runFindings(s);
  s.groups.forEach((g, i) => {
    const gf = all[i];
    out.push('', ...wrapText(`${g.group} (${findingsContext(g, gf)})`, width));
    const sentences = detail || !gf.baseline || !gf.findings.length ? gf.sentences : schemeSentences(gf);
    for (const sentence of sentences) out.push(...wrapText(sentence, width, '  ', '    '));
    // The compact report names a group's flags only where it has some (the run's flags follow below).
    if (detail || g.flags.length) out.push(...wrapText(gf.flagLine, width, '  ', '    '));
  });
  return out;
}

function compactHeader(s: RunSummary, width: number): string[] {
  const h = s.header;
  const j = h.jobs;
  const jobs = `${j.planned} jobs: ${j.ok} ok${j.diverged ? `, ${j.diverged} diverged` : ''}${j.failed ? `, ${j.failed} failed` : ''}${j.missing ? `, ${j.missing} without result` : ''}`;
  const line = `${h.study} (${h.source}); backend ${h.backend}${h.gpu ? ' (gpu)' : ''}, tfjs ${h.tfjsVersion}; seeds ${h.seeds.join(', ')}; wall time ${fmtSeconds(h.wallSeconds)}; ${jobs}; run folder ${h.dir}`;
  return [...wrapText(line, width, '  ', '  '), ...recipeHeaderLines(s.groups).flatMap((l) => wrapText(l, width, '  ', '    '))];
}

function compactGroup(g: GroupSummary, width: number): string[] {
  const grad = gradientColumn(g);
  const title = `== ${g.group} ==`;
  const what = `Clean and worst-case robust accuracy (%)${grad ? `, median ${grad.probe} gradient norm` : ''}; Δ vs erm (sig / ns / n=1)`;
  const out = [title, ...wrapText(what, width)];
  for (const l of g.rows.map(rowStatusLine)) if (l) out.push(...wrapText(`not ok: ${l}`, width, '  ', '    '));
  const cols = findingColumns(g);
  const head = ['scheme', ...cols.map((c) => (c === grad ? (c.probe as string) : c.label))];
  const rows = g.rows.map((r) => [r.scheme, ...cols.map((c) => compactCell(r.cells[c.key], c))]);
  out.push(...fitTables(head, rows, width));
  return out;
}

function detailGroup(g: GroupSummary): string[] {
  const out = [`== ${g.group} ==`];
  for (const [k, v] of groupFacts(g)) out.push(`  ${k}: ${v}`);
  for (const l of g.rows.map(rowStatusLine)) if (l) out.push(`  not ok: ${l}`);
  for (const sec of columnSections(g.columns)) {
    out.push('', sec.title);
    out.push(
      drawTable(
        ['scheme', ...sec.columns.map((c) => c.label)],
        g.rows.map((r) => [r.scheme, ...sec.columns.map((c) => termCell(r.cells[c.key], c))]),
      ).trimEnd(),
    );
  }
  return out;
}

export function renderTerminal(s: RunSummary, o: TerminalOptions = {}): string {
  const width = o.width ?? TERMINAL_WIDTH;
  const out: string[] = [`vicinal report: ${s.header.study}`, '', ...answerLines(s, width), ''];
  if (o.detail) {
    const facts = headerFacts(s.header);
    const w = Math.max(...facts.map(([k]) => k.length));
    for (const [k, v] of facts) out.push(`  ${k.padEnd(w)}  ${v}`);
    for (const l of recipeHeaderLines(s.groups)) out.push(`  ${l}`);
  } else out.push(...compactHeader(s, width));
  out.push('', ...findingsLines(s, width, Boolean(o.detail)), '');
  if (!s.flags.length) out.push('Sanity flags: none raised.');
  else if (o.detail) {
    out.push(`Sanity flags (${s.flags.length}):`);
    for (const f of s.flags) out.push(`  [${f.severity}] ${f.check} ${f.group} ${f.scheme} seed ${f.seed}: ${f.message}`);
  } else {
    out.push(...wrapText(`Sanity flags: ${s.flags.length} raised, by check (every flag: --detail, report.md, report.html):`, width));
    out.push(...flagSummaryLines(summarizeFlags(s.flags), width));
  }
  for (const g of s.groups) out.push('', ...(o.detail ? detailGroup(g) : compactGroup(g, width)));
  out.push('');
  const howTo = [
    'How to read: mean ± 95% CI half-width over seeds (accuracies in %); Δ = paired difference vs erm in points',
    o.detail ? '[95% CI], p = paired sign-flip test of Δ over test examples (exact McNemar with one seed);' : '(its CI: --detail, report.md);',
    'sig = CI excludes 0, p < 0.05, same direction; ns = not significant; n=1 = one seed, no CI, nothing called significant.',
    '* best within the noise, ** significantly best.',
  ].join(' ');
  out.push(...wrapText(howTo, width));
  if (!o.detail) out.push(...wrapText('Per-attack tables, every probe, every flag and the run details: --detail, or report.md / report.html in the report folder.', width));
  return `${out.join('\n')}\n`;
}
