/**
 * Terminal report drawn with the `table` package: header facts, sanity flags,
 * then per group one table per column section (rows = schemes, erm first).
 * Each cell has two lines: "mean ± CI" and the paired difference vs erm.
 * Best values carry "*" (tied within the noise) or "**" (significantly
 * ahead of every other scheme).
 */
import { table, getBorderCharacters } from 'table';
import { columnSections, fmtCellParts, fmtDiff, groupFacts, headerFacts, rowStatusLine } from './format';
import { Cell, Column, RunSummary } from './summary';

function termCell(cell: Cell, col: Column): string {
  const p = fmtCellParts(cell, col);
  const lines = [p.value + (cell.best ? (col.best?.clear ? ' **' : ' *') : '')];
  if (p.note) lines.push(p.note);
  const d = fmtDiff(cell.diff, col);
  if (d) lines.push(d);
  return lines.join('\n');
}

/** Draws rows with `table`; columns after the first are right-aligned. */
export function drawTable(head: string[], rows: string[][]): string {
  return table([head, ...rows], {
    border: getBorderCharacters('norc'),
    columns: head.map((_, i) => ({ alignment: i === 0 ? 'left' : 'right' })),
    drawHorizontalLine: (i, size) => i === 0 || i === 1 || i === size,
  });
}

export function renderTerminal(s: RunSummary): string {
  const out: string[] = [];
  out.push(`vicinal report: ${s.header.study}`);
  const facts = headerFacts(s.header);
  const w = Math.max(...facts.map(([k]) => k.length));
  for (const [k, v] of facts) out.push(`  ${k.padEnd(w)}  ${v}`);
  out.push('');
  if (s.flags.length) {
    out.push(`sanity flags (${s.flags.length}):`);
    for (const f of s.flags) out.push(`  [${f.severity}] ${f.check} ${f.group} ${f.scheme} seed ${f.seed}: ${f.message}`);
  } else out.push('sanity flags: none');
  for (const g of s.groups) {
    out.push('', `== ${g.group} ==`);
    for (const [k, v] of groupFacts(g)) out.push(`  ${k}: ${v}`);
    for (const l of g.rows.map(rowStatusLine)) if (l) out.push(`  not ok: ${l}`);
    for (const sec of columnSections(g.columns)) {
      out.push('', sec.title);
      out.push(drawTable(['scheme', ...sec.columns.map((c) => c.label)], g.rows.map((r) => [r.scheme, ...sec.columns.map((c) => termCell(r.cells[c.key], c))])).trimEnd());
    }
  }
  out.push('', 'How to read: mean ± 95% CI half-width over seeds (accuracies in %); Δ = paired difference vs erm [95% CI] in points,');
  out.push('p = paired sign-flip test of Δ over test examples (exact McNemar with one seed); sig = CI excludes 0, p < 0.05, same direction;');
  out.push('ns = not significant; n=1 = one seed, no CI, nothing called significant. * best within the noise, ** significantly best.');
  return out.join('\n') + '\n';
}
