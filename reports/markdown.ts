/**
 * Markdown report, in the reader's order: the findings per dataset and model
 * (findings.ts) as sentences, then one summary table per group (clean, worst
 * case at every ε, median gradient norm), the sanity flags per check and in
 * full, the run header, and per group (dataset/model) every table, one per
 * column section, with rows = schemes (erm first). A cell reads "mean ± CI"
 * and, for non-baseline rows, the paired difference vs erm with its CI, the
 * sign-flip test's p and verdict. Best values are bold (★ when the best is
 * significantly ahead of every other scheme). Diverged/failed seeds show as words.
 */
import { findingColumns, findingsContext, flagWhereText, runFindings, summarizeFlags } from './findings';
import { fmtCellParts, fmtDiff, fmtSeconds, columnSections, groupFacts, headerFacts, rowStatusLine } from './format';
import { recipeHeaderLines } from './recipe';
import { Cell, Column, GroupSummary, RunSummary } from './summary';

export function mdEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function mdCell(cell: Cell, col: Column): string {
  const p = fmtCellParts(cell, col);
  let v = mdEscape(p.value);
  if (cell.best) v = `**${v}**${col.best?.clear ? ' ★' : ''}`;
  const lines = [v];
  if (p.note) lines.push(mdEscape(p.note));
  const d = fmtDiff(cell.diff, col);
  if (d) lines.push(mdEscape(d));
  return lines.join('<br>');
}

/** A Markdown table from a header row and body rows (cells already escaped). */
export function mdTable(head: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const sep = head.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : ':---'));
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

function resultsTable(g: GroupSummary, columns: Column[]): string {
  return mdTable(
    ['scheme', ...columns.map((c) => mdEscape(c.label))],
    g.rows.map((r) => [mdEscape(r.scheme), ...columns.map((c) => mdCell(r.cells[c.key], c))]),
    ['l', ...columns.map(() => 'r' as const)],
  );
}

function findingsSection(s: RunSummary): string[] {
  const out = ['## Findings', ''];
  out.push(
    'Each scheme against `erm`: Δ is the paired difference over seeds (accuracies in points) with its 95% CI; significant means the CI excludes 0 and the paired sign-flip test over test examples agrees (p < 0.05). The worst case counts an example as robust only if it survives every attack.',
    '',
  );
  const all = runFindings(s);
  s.groups.forEach((g, i) => {
    const gf = all[i];
    out.push(`### ${mdEscape(g.group)}`, '', `*${mdEscape(findingsContext(g, gf))}*`, '');
    for (const sentence of gf.sentences) out.push(`- ${mdEscape(sentence)}`);
    out.push('', `*${mdEscape(gf.flagLine)}*`, '');
  });
  return out;
}

function flagsSection(s: RunSummary): string[] {
  if (!s.flags.length) return ['No sanity flags raised.', ''];
  const out = [`## Sanity flags (${s.flags.length})`, '', 'By check:', ''];
  for (const f of summarizeFlags(s.flags)) {
    const e = f.example;
    out.push(`- **${mdEscape(f.check)}** ×${f.count} (${f.severity}) in ${mdEscape(flagWhereText(f))}; e.g. ${mdEscape(`${e.scheme} seed ${e.seed}: ${e.message}`)}`);
  }
  out.push('', 'Every flag:', '');
  out.push(
    mdTable(
      ['severity', 'check', 'group', 'scheme', 'seed', 'message'],
      s.flags.map((f) => [f.severity, f.check, f.group, f.scheme, String(f.seed), f.message].map(mdEscape)),
    ),
    '',
  );
  return out;
}

export function renderMarkdown(s: RunSummary): string {
  const out: string[] = [];
  const h = s.header;
  out.push(`# vicinal report: ${mdEscape(h.study)}`, '');
  out.push(`${mdEscape(`${h.source}; backend ${h.backend}; seeds ${h.seeds.join(', ')}; wall time ${fmtSeconds(h.wallSeconds)}; ${h.jobs.ok} of ${h.jobs.planned} jobs ok`)}. Run details below.`, '');
  for (const l of recipeHeaderLines(s.groups)) out.push(`- ${mdEscape(l)}`);
  if (s.groups.length) out.push('');
  out.push(...findingsSection(s));
  out.push('## Summary tables', '');
  for (const g of s.groups) {
    out.push(`### ${mdEscape(g.group)}: clean and worst-case robust accuracy (%), median gradient norm`, '');
    const statusLines = g.rows.map(rowStatusLine).filter((x): x is string => x !== null);
    for (const l of statusLines) out.push(`- not ok: ${mdEscape(l)}`);
    if (statusLines.length) out.push('');
    out.push(resultsTable(g, findingColumns(g)), '');
  }
  out.push(...flagsSection(s));
  out.push('## Run', '');
  for (const [k, v] of headerFacts(h)) out.push(`- **${k}**: ${mdEscape(v)}`);
  out.push('');
  for (const g of s.groups) {
    out.push(`## ${mdEscape(g.group)}`, '');
    for (const [k, v] of groupFacts(g)) out.push(`- **${mdEscape(k)}**: ${mdEscape(v)}`);
    const statusLines = g.rows.map(rowStatusLine).filter((x): x is string => x !== null);
    if (statusLines.length) {
      out.push('', '**Runs that did not finish ok:**', '');
      for (const l of statusLines) out.push(`- ${mdEscape(l)}`);
    }
    out.push('');
    for (const sec of columnSections(g.columns)) out.push(`### ${sec.title}`, '', resultsTable(g, sec.columns), '');
  }
  out.push('## Methods', '');
  for (const m of s.methods) out.push(`- ${mdEscape(m)}`);
  out.push(
    '- Cells: mean ± 95% CI half-width; Δ: paired difference vs erm [95% CI] in percentage points for accuracies; p: paired sign-flip test of Δ over test examples; sig / ns / n=1: verdict. **Bold**: best (with ties within the noise); ★: significantly ahead of every other scheme.',
  );
  out.push('');
  return out.join('\n');
}
