/**
 * The run as the two arrays benchmark-tracking CI actions read
 * (github-action-benchmark's tools customBiggerIsBetter and
 * customSmallerIsBetter: entries {name, unit, value, range?, extra?}):
 *  - customBiggerIsBetter: mean clean, robust (per attack and ε) and
 *    worst-case (per ε) accuracy of every group and scheme, in percent, with
 *    the 95% CI half-width as the range;
 *  - customSmallerIsBetter: the run's wall time, the job time summed, and per
 *    group and scheme the mean train and eval job time of a seed, in seconds.
 * Cells without a number (every seed diverged, failed or missing) are left
 * out: a tracked series never gets a made-up value. Probe medians are
 * descriptive (neither direction is better), so they are not tracked.
 * Each array is one key of the file: `jq .customBiggerIsBetter` gives the
 * file the action takes.
 */
import { RunSummary } from './summary';

export interface BenchmarkEntry {
  name: string;
  unit: string;
  value: number;
  /** "± half-width" of the 95% CI across seeds (absent with one seed). */
  range?: string;
  extra?: string;
}

export interface BenchmarkJson {
  customBiggerIsBetter: BenchmarkEntry[];
  customSmallerIsBetter: BenchmarkEntry[];
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

export function benchmarkEntries(s: RunSummary): BenchmarkJson {
  const bigger: BenchmarkEntry[] = [];
  const smaller: BenchmarkEntry[] = [];
  const study = s.header.study;
  for (const g of s.groups) {
    for (const row of g.rows) {
      for (const col of g.columns) {
        if (col.kind === 'probe' || col.unit !== 'accuracy') continue;
        const stat = row.cells[col.key]?.stat;
        if (!stat || !Number.isFinite(stat.mean)) continue;
        const what = col.kind === 'clean' ? 'clean accuracy' : col.kind === 'worst' ? `worst-case robust accuracy ${col.norm} ε=${col.eps}` : `robust accuracy ${col.attack} ${col.norm} ε=${col.eps}`;
        bigger.push({
          name: `${study} ${g.group} ${row.scheme} ${what}`,
          unit: '%',
          value: round(stat.mean * 100, 4),
          ...(stat.halfWidth !== null ? { range: `± ${round(stat.halfWidth * 100, 4)}` } : {}),
          extra: `${stat.n} seed(s)${stat.halfWidth !== null ? '; range: 95% CI half-width' : `; ${stat.note ?? 'no CI'}`}`,
        });
      }
      const times = (pick: (x: (typeof row.seeds)[number]) => number | null) => row.seeds.map(pick).filter((v): v is number => v !== null && Number.isFinite(v));
      for (const [kind, values] of [
        ['train', times((x) => x.trainWallSeconds)],
        ['eval', times((x) => x.evalWallSeconds)],
      ] as const) {
        if (!values.length) continue;
        smaller.push({ name: `${study} ${g.group} ${row.scheme} ${kind} job time per seed`, unit: 's', value: round(mean(values), 3), extra: `mean over ${values.length} seed(s)` });
      }
    }
  }
  const h = s.header;
  const run: BenchmarkEntry[] = [];
  if (h.wallSeconds !== null && Number.isFinite(h.wallSeconds))
    run.push({ name: `${study} wall time`, unit: 's', value: round(h.wallSeconds, 3), extra: `${h.workers} worker(s), backend ${h.backend}` });
  if (Number.isFinite(h.jobSeconds)) run.push({ name: `${study} job time summed`, unit: 's', value: round(h.jobSeconds, 3), extra: `${h.jobs.finished} job(s)` });
  smaller.unshift(...run);
  return { customBiggerIsBetter: bigger, customSmallerIsBetter: smaller };
}

export function renderBenchmarkJson(s: RunSummary): string {
  return `${JSON.stringify(benchmarkEntries(s), null, 1)}\n`;
}
