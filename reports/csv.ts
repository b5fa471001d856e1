/**
 * CSV report in long format: one row per run x group x scheme x attack x eps x
 * seed. The clean accuracy is the row with attack "clean" (eps 0), the
 * worst case over attacks has attack "worst-case". Seeds that diverged or
 * failed get rows with their status and empty numbers, never a value.
 */
import { LoadedRun } from '../contract/run-folder';
import { EvalJobResult } from '../contract/results';
import { RunSummary } from './summary';

export const CSV_COLUMNS = ['run', 'study', 'group', 'scheme', 'scheme_name', 'seed', 'status', 'attack', 'norm', 'eps', 'n', 'accuracy', 'mean_loss', 'error', 'train_job', 'eval_job'] as const;

export function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(s: RunSummary, run: LoadedRun): string {
  const lines = [CSV_COLUMNS.join(',')];
  const runName = s.header.dir.split(/[\\/]/).filter(Boolean).pop() ?? s.header.dir;
  for (const g of s.groups) {
    const robust = g.columns.filter((c) => c.kind === 'robust');
    const worst = g.columns.filter((c) => c.kind === 'worst');
    for (const row of g.rows) {
      for (const sj of row.seeds) {
        const ev = sj.evalJobId ? (run.results.get(sj.evalJobId) as EvalJobResult | undefined) : undefined;
        const evOk = ev && ev.kind === 'eval' && ev.status === 'ok' ? ev : undefined;
        const emit = (status: string, attack: string, norm: string, eps: number, n: number | null, acc: number | null, loss: number | null) => {
          const rec: Record<(typeof CSV_COLUMNS)[number], unknown> = {
            run: runName,
            study: s.header.study,
            group: g.group,
            scheme: row.scheme,
            scheme_name: row.name,
            seed: sj.seed,
            status,
            attack,
            norm,
            eps,
            n,
            accuracy: status === 'ok' ? acc : null,
            mean_loss: status === 'ok' ? loss : null,
            error: status === 'ok' ? null : (sj.error ?? null),
            train_job: sj.trainJobId,
            eval_job: sj.evalJobId,
          };
          lines.push(CSV_COLUMNS.map((c) => csvField(rec[c])).join(','));
        };
        // Clean accuracy, from the eval job (on the same examples as the attacks).
        const clean = row.cells.clean.values.find((v) => v.seed === sj.seed);
        const cleanStatus = row.cells.clean.seedStatus.find((x) => x.seed === sj.seed)?.status ?? 'missing';
        emit(clean ? 'ok' : cleanStatus, 'clean', '', 0, evOk?.n ?? null, clean?.value ?? null, null);
        for (const c of robust) {
          const st = row.cells[c.key].seedStatus.find((x) => x.seed === sj.seed)?.status ?? 'missing';
          if (st === 'n/a') continue;
          const a = evOk?.attacks.find((x) => x.attack === c.attack && x.norm === c.norm && x.eps === c.eps);
          emit(a ? 'ok' : st, c.attack as string, c.norm as string, c.eps as number, a?.n ?? null, a?.robustAccuracy ?? null, a?.meanLoss ?? null);
        }
        for (const c of worst) {
          const st = row.cells[c.key].seedStatus.find((x) => x.seed === sj.seed)?.status ?? 'missing';
          if (st === 'n/a') continue;
          const w = evOk?.worstCase.find((x) => x.norm === c.norm && x.eps === c.eps);
          emit(w ? 'ok' : st, 'worst-case', c.norm as string, c.eps as number, w ? (evOk?.n ?? null) : null, w?.robustAccuracy ?? null, null);
        }
      }
    }
  }
  return `${lines.join('\n')}\n`;
}
