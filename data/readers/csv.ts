/**
 * CSV with a header row: one row per example, the label in the column named
 * `labelColumn`, every other column an input feature in file order.
 * Comma-separated, optional double quotes, LF or CRLF line ends; blank lines
 * are ignored. Every value must be a finite number.
 */
import { NdArray, fileError, readMaybeGzipped } from './ndarray';

function splitRow(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') out.push(cur), (cur = '');
    else cur += c;
  }
  out.push(cur);
  return out;
}

export function readCsv(file: string, labelColumn: string): { x: NdArray; y: NdArray; columns: string[] } {
  const text = readMaybeGzipped(file)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/);
  let li = 0;
  while (li < lines.length && lines[li].trim() === '') li++;
  if (li === lines.length) throw fileError(file, 'empty: a CSV needs a header row and at least one row');
  const header = splitRow(lines[li]).map((h) => h.trim());
  const labelAt = header.indexOf(labelColumn);
  if (labelAt < 0)
    throw fileError(file, `no column "${labelColumn}" in the header (columns: ${header.slice(0, 8).join(', ')}${header.length > 8 ? ', ...' : ''}); name the label column with labelColumn`);
  if (header.length < 2) throw fileError(file, 'needs at least one input column besides the label');
  const d = header.length - 1;
  let xs = new Float32Array(1024 * d);
  let nx = 0;
  const ys: number[] = [];
  for (li++; li < lines.length; li++) {
    const line = lines[li];
    if (line.trim() === '') continue;
    const cells = splitRow(line);
    if (cells.length !== header.length) throw fileError(file, `line ${li + 1}: ${cells.length} columns, the header has ${header.length}`);
    for (let c = 0; c < cells.length; c++) {
      const s = cells[c].trim();
      const v = s === '' ? NaN : Number(s);
      if (!Number.isFinite(v)) throw fileError(file, `line ${li + 1}, column "${header[c]}": ${s === '' ? 'empty' : `"${s}"`} is not a finite number`);
      if (c === labelAt) ys.push(v);
      else {
        if (nx === xs.length) {
          const grown = new Float32Array(2 * xs.length);
          grown.set(xs);
          xs = grown;
        }
        xs[nx++] = v;
      }
    }
  }
  if (ys.length === 0) throw fileError(file, 'no data rows after the header');
  return {
    x: { shape: [ys.length, d], values: xs.slice(0, nx), dtype: 'float64', source: file },
    y: { shape: [ys.length], values: Float64Array.from(ys), dtype: 'float64', source: file },
    columns: header.filter((_, i) => i !== labelAt),
  };
}
