import { Norm } from '../contract/norms';

/** Per-example outcome of one attack at one eps. */
export interface PerExampleAttack {
  /** "attack@norm:eps", the EvalJobResult.robustCorrect key. */
  key: string;
  attack: string;
  norm: Norm;
  eps: number;
  /** Predicted class at the adversarial example. */
  pred: Int32Array;
  /** Cross-entropy of the true label at the adversarial example. */
  loss: Float32Array;
  /** 1 when clean-correct and still correct under the attack. */
  correct: Uint8Array;
}

/** Everything recorded per evaluated test example. */
export interface PerExampleData {
  /** Row in dataset.test. */
  index: Int32Array;
  label: Int32Array;
  cleanPred: Int32Array;
  cleanLoss: Float32Array;
  /** ||grad_x loss||_1 and _2 at the clean example. */
  gradL1: Float32Array;
  gradL2: Float32Array;
  attacks: PerExampleAttack[];
  /** Survival of every attack at (norm, eps). */
  worstCase: { key: string; norm: Norm; eps: number; correct: Uint8Array }[];
}

export type PerExampleRow = Record<string, number>;

/**
 * One flat row per example: index, label, cleanPred, cleanLoss, gradL1,
 * gradL2, then per attack key "<key>.pred", "<key>.loss", "<key>.correct",
 * then "worst-case@<norm>:<eps>.correct".
 */
export function perExampleRows(d: PerExampleData): PerExampleRow[] {
  const rows: PerExampleRow[] = [];
  for (let i = 0; i < d.index.length; i++) {
    const r: PerExampleRow = {
      index: d.index[i],
      label: d.label[i],
      cleanPred: d.cleanPred[i],
      cleanLoss: d.cleanLoss[i],
      gradL1: d.gradL1[i],
      gradL2: d.gradL2[i],
    };
    for (const a of d.attacks) {
      r[`${a.key}.pred`] = a.pred[i];
      r[`${a.key}.loss`] = a.loss[i];
      r[`${a.key}.correct`] = a.correct[i];
    }
    for (const w of d.worstCase) r[`${w.key}.correct`] = w.correct[i];
    rows.push(r);
  }
  return rows;
}

/** Column order of perExampleRows. */
export function perExampleColumns(d: PerExampleData): string[] {
  const cols = ['index', 'label', 'cleanPred', 'cleanLoss', 'gradL1', 'gradL2'];
  for (const a of d.attacks) cols.push(`${a.key}.pred`, `${a.key}.loss`, `${a.key}.correct`);
  for (const w of d.worstCase) cols.push(`${w.key}.correct`);
  return cols;
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV with a header line; numbers in shortest round-trip form, NaN as "NaN". */
export function toCsv(rows: Record<string, unknown>[], columns?: string[]): string {
  const cols = columns ?? (rows.length ? Object.keys(rows[0]) : []);
  const lines = [cols.map(csvCell).join(',')];
  for (const r of rows) lines.push(cols.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}

/** The per-example table as CSV. */
export function perExampleCsv(d: PerExampleData): string {
  return toCsv(perExampleRows(d), perExampleColumns(d));
}
