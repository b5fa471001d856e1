/**
 * Text formatting shared by the terminal, Markdown and HTML renderers: one
 * place decides how a value, a CI, a difference and a status read.
 * Accuracies are shown in percent; differences of accuracies in percentage points.
 */
import { epsLabel } from '../contract/keys';
import { MeanCI, TestSetCI, formatP } from './stats';
import { attackLabel } from '../attacks/types';
import { Cell, Column, DiffVsBaseline, RunHeader, RunSummary, probeFamily } from './summary';

export function fmtNumber(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

/** A value in the column's unit: "91.2" (percent) or "0.0123". */
export function fmtValue(v: number, unit: Column['unit']): string {
  return unit === 'accuracy' ? (v * 100).toFixed(1) : fmtNumber(v);
}

function fmtSpread(v: number, unit: Column['unit']): string {
  return unit === 'accuracy' ? (v * 100).toFixed(1) : fmtNumber(v, 2);
}

/** A signed value in the column's unit with a typographic minus: "+1.2", "−0.4" (accuracies in points). */
export function fmtSigned(v: number, unit: Column['unit']): string {
  const s = unit === 'accuracy' ? (v * 100).toFixed(1) : fmtNumber(v);
  return v > 0 ? `+${s}` : v < 0 ? s.replace('-', '−') : s;
}
const signed = fmtSigned;

/** "91.2 ± 1.3" or "91.2 (n=1, no CI)". */
export function fmtMeanCI(s: MeanCI, unit: Column['unit']): string {
  if (s.n === 0) return 'no data';
  if (s.halfWidth === null) return `${fmtValue(s.mean, unit)} (${s.note ?? 'no CI'})`;
  return `${fmtValue(s.mean, unit)} ± ${fmtSpread(s.halfWidth, unit)}`;
}

/**
 * A one-seed interval over test examples: "n=1; test CI 77.9–86.4" for an
 * accuracy, "n=1; test CI [−9.6, +1.6]" for a difference (in points).
 */
export function fmtTestCI(ci: TestSetCI, unit: Column['unit'], signedBounds: boolean): string {
  if (signedBounds) return `n=1; test CI [${signed(ci.lo, unit)}, ${signed(ci.hi, unit)}]`;
  return `n=1; test CI ${fmtValue(ci.lo, unit)}–${fmtValue(ci.hi, unit)}`;
}

/** True when the cell shows a status word instead of a number. */
export function isStatusCell(cell: Cell): boolean {
  return !cell.stat || cell.status === 'diverged' || cell.status === 'failed' || cell.status === 'missing' || cell.status === 'n/a';
}

/** The cell's value (a number only for seeds that succeeded; otherwise the status word) and its note. */
export function fmtCellParts(cell: Cell, col: Column): { value: string; note: string | null } {
  if (isStatusCell(cell)) return { value: cell.status === 'n/a' ? '–' : cell.status, note: cell.status === 'n/a' ? null : (cell.note ?? null) };
  const stat = cell.stat as MeanCI;
  const value = stat.halfWidth === null && cell.testCI ? `${fmtValue(stat.mean, col.unit)} (${fmtTestCI(cell.testCI, col.unit, false)})` : fmtMeanCI(stat, col.unit);
  return { value, note: cell.status === 'partial' ? `[${cell.note}]` : null };
}

/** Value and note on one line. */
export function fmtCell(cell: Cell, col: Column): string {
  const p = fmtCellParts(cell, col);
  return p.note && !isStatusCell(cell) ? `${p.value} ${p.note}` : p.value;
}

/** Short verdict tag: "sig", "ns", "n=1". */
export function verdictTag(d: DiffVsBaseline): string {
  if (d.verdict.significant) return 'sig';
  if (d.verdict.label === 'n=1, no CI') return 'n=1';
  if (d.verdict.label === 'no paired seeds') return 'no pairs';
  return 'ns';
}

/** "Δ −0.4 [−1.0, +0.2] p=0.31 ns" (accuracy in points); one seed: "Δ +1.2 (n=1; test CI [−0.9, +3.3]) p=0.04 n=1", or "(n=1, no CI)" without per-example data. */
export function fmtDiff(d: DiffVsBaseline | null, col: Column): string {
  if (!d) return '';
  const ci = d.lo !== null && d.hi !== null ? `[${signed(d.lo, col.unit)}, ${signed(d.hi, col.unit)}]` : d.testCI ? `(${fmtTestCI(d.testCI, col.unit, true)})` : `(${d.note ?? 'no CI'})`;
  const fp = d.test ? formatP(d.test.p) : '';
  const p = d.test ? (fp.startsWith('<') ? ` p${fp}` : ` p=${fp}`) : '';
  return `Δ ${signed(d.mean, col.unit)} ${ci}${p} ${verdictTag(d)}`;
}

export function fmtSeconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return 'unknown';
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function fmtSettings(o: Record<string, unknown>): string {
  const e = Object.entries(o);
  if (!e.length) return '(defaults)';
  return e.map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`).join(', ');
}

/** Header facts as label/value pairs (rendered as a list or a table). */
export function headerFacts(h: RunHeader): [string, string][] {
  const facts: [string, string][] = [
    ['study', `${h.study} (${h.source})`],
    ['run folder', h.dir],
    ['backend', `${h.backend} (${h.backendPackage}; requested ${h.backendRequested})${h.patchedKernels.length ? `; patched kernels: ${h.patchedKernels.join(', ')}` : ''}`],
    ['gpu', h.gpu ? 'yes' : 'no'],
    ['tfjs', h.tfjsVersion],
    ['vicinal', `${h.vicinal}${h.gitCommit ? ` (commit ${h.gitCommit.slice(0, 12)})` : ''}`],
    ['machine', `${h.platform}; ${h.cores} × ${h.cpus}; node ${h.node}; ${h.workers} worker(s)`],
    ['seeds', h.seeds.join(', ')],
    ['started', h.startedAt],
    ['ended', h.endedAt ?? 'not finished'],
    ['wall time', `${fmtSeconds(h.wallSeconds)} (job time summed: ${fmtSeconds(h.jobSeconds)})`],
    ['jobs', `${h.jobs.planned} planned, ${h.jobs.finished} finished: ${h.jobs.ok} ok, ${h.jobs.diverged} diverged, ${h.jobs.failed} failed; ${h.jobs.missing} without result`],
  ];
  if (h.otherBackends.length) facts.push(['other backends in results', h.otherBackends.join(', ')]);
  return facts;
}

/** Group facts: dataset, model, sizes, attack settings. */
export function groupFacts(g: RunSummary['groups'][number]): [string, string][] {
  const facts: [string, string][] = [
    ['dataset', fmtSettings(g.dataset)],
    ['model', fmtSettings(g.model)],
    ['training recipe', g.recipe],
    ['sizes', `train ${g.sizes.train ?? '?'}, test ${g.sizes.test ?? '?'}, attacked/probed ${g.sizes.evaluated ?? '?'}`],
  ];
  for (const a of g.attacks) {
    const varying = a.perEps.length ? `; per ε: ${a.perEps.map((p) => `ε=${epsLabel(p.eps)}: ${fmtSettings(p.settings)}`).join('; ')}` : '';
    facts.push([`attack ${attackLabel(a.attack, a.settings)}`, `${a.norm}, ε ∈ {${a.eps.join(', ')}}; ${fmtSettings(a.settings)}${varying}`]);
  }
  if (!g.baseline) facts.push(['baseline', 'no erm row in this group: no differences computed']);
  return facts;
}

/** Per-row status line, e.g. "mixup: 2 ok, 1 diverged (training diverged in epoch 3: ...)". */
export function rowStatusLine(row: RunSummary['groups'][number]['rows'][number]): string | null {
  if (row.status === 'ok') return null;
  const bad = row.seeds.filter((s) => s.status !== 'ok');
  return `${row.scheme}: ${bad.map((s) => `seed ${s.seed} ${s.status}${s.error ? ` (${s.error})` : ''}`).join('; ')}`;
}

/** The column groups a wide table is split into: accuracy (clean + worst), each attack, probes. */
export function columnSections(columns: Column[]): { title: string; columns: Column[] }[] {
  const out: { title: string; columns: Column[] }[] = [];
  const acc = columns.filter((c) => c.kind === 'clean' || c.kind === 'worst');
  out.push({ title: 'Clean and worst-case robust accuracy (%)', columns: acc });
  const attacks: string[] = [];
  for (const c of columns) if (c.kind === 'robust' && !attacks.includes(c.attack as string)) attacks.push(c.attack as string);
  for (const a of attacks) out.push({ title: `Robust accuracy under ${a} (%)`, columns: columns.filter((c) => c.kind === 'robust' && c.attack === a) });
  const families: string[] = [];
  const familyOf = (c: Column) => probeFamily(c.probe as string).family;
  for (const c of columns) if (c.kind === 'probe' && !families.includes(familyOf(c))) families.push(familyOf(c));
  for (const fam of families) {
    const cols = columns.filter((c) => c.kind === 'probe' && familyOf(c) === fam);
    out.push({ title: fam.startsWith('grad-') ? `Median ${fam} gradient norm at train / test / vicinal points` : `Probe medians: ${fam}`, columns: cols });
  }
  return out.filter((s) => s.columns.length > 0);
}

/**
 * Wraps text at spaces into lines of at most `width` characters: the first
 * line starts with `indent`, the others with `hanging`. A word longer than a
 * line is cut. Existing line breaks are kept.
 */
export function wrapText(text: string, width: number, indent = '', hanging = indent): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = indent;
    let empty = true;
    const flush = () => {
      out.push(line.trimEnd());
      line = hanging;
      empty = true;
    };
    for (let word of para.split(/ +/).filter((w) => w.length > 0)) {
      if (!empty && line.length + 1 + word.length > width) flush();
      while (line.length + word.length > width) {
        const room = Math.max(1, width - line.length);
        line += word.slice(0, room);
        word = word.slice(room);
        flush();
      }
      if (word.length === 0) continue;
      line += (empty ? '' : ' ') + word;
      empty = false;
    }
    if (!empty || out.length === 0 || para.length === 0) flush();
  }
  return out;
}
