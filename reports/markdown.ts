/**
 * Markdown report: header facts, then per group (dataset/model) one table per
 * column section with rows = schemes (erm first). A cell reads
 * "mean ± CI" and, for non-baseline rows, the paired difference vs erm with
 * its CI, the sign-flip test's p and verdict. Best values are bold (★ when the best is
 * significantly ahead of every other scheme). Diverged/failed seeds show as words.
 */
import { fmtCellParts, fmtDiff, columnSections, groupFacts, headerFacts, rowStatusLine } from './format';
import { Cell, Column, RunSummary } from './summary';

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

export function renderMarkdown(s: RunSummary): string {
  const out: string[] = [];
  out.push(`# vicinal report: ${mdEscape(s.header.study)}`, '');
  for (const [k, v] of headerFacts(s.header)) out.push(`- **${k}**: ${mdEscape(v)}`);
  out.push('');
  if (s.flags.length) {
    out.push(`## Sanity flags (${s.flags.length})`, '');
    out.push(
      mdTable(
        ['severity', 'check', 'group', 'scheme', 'seed', 'message'],
        s.flags.map((f) => [f.severity, f.check, f.group, f.scheme, String(f.seed), f.message].map(mdEscape)),
      ),
      '',
    );
  } else {
    out.push('No sanity flags raised.', '');
  }
  for (const g of s.groups) {
    out.push(`## ${mdEscape(g.group)}`, '');
    for (const [k, v] of groupFacts(g)) out.push(`- **${mdEscape(k)}**: ${mdEscape(v)}`);
    const statusLines = g.rows.map(rowStatusLine).filter((x): x is string => x !== null);
    if (statusLines.length) {
      out.push('', '**Runs that did not finish ok:**', '');
      for (const l of statusLines) out.push(`- ${mdEscape(l)}`);
    }
    out.push('');
    for (const sec of columnSections(g.columns)) {
      out.push(`### ${sec.title}`, '');
      out.push(
        mdTable(
          ['scheme', ...sec.columns.map((c) => mdEscape(c.label))],
          g.rows.map((r) => [mdEscape(r.scheme), ...sec.columns.map((c) => mdCell(r.cells[c.key], c))]),
          ['l', ...sec.columns.map(() => 'r' as const)],
        ),
        '',
      );
    }
  }
  out.push('## Methods', '');
  for (const m of s.methods) out.push(`- ${mdEscape(m)}`);
  out.push('- Cells: mean ± 95% CI half-width; Δ: paired difference vs erm [95% CI] in percentage points for accuracies; p: paired sign-flip test of Δ over test examples; sig / ns / n=1: verdict. **Bold**: best (with ties within the noise); ★: significantly ahead of every other scheme.');
  out.push('');
  return out.join('\n');
}
