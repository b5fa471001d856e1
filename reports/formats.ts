/**
 * The report formats, in one registry: name -> where it goes and how it is
 * rendered. `vicinal report --format`, `vicinal report` (all), and the report
 * written at the end of `vicinal run` all read their lists from here, so a new
 * format is its own renderer file plus one entry below.
 *
 * A format with an `extension` is a file, written as `report.<extension>`;
 * one without (terminal) is printed only.
 */
import { LoadedRun } from '../contract/run-folder';
import { adversarialGrids } from './adversarial-grid';
import { renderBenchmarkJson } from './benchmark-json';
import { renderCsv } from './csv';
import type * as Fig from './figures2d';
import type { Figures2D } from './figures2d';
import { renderHtml } from './html';
import { renderJson } from './json';
import { renderMarkdown } from './markdown';
import { RunSummary, is2DGroup } from './summary';
import { renderTerminal } from './terminal';

export interface FormatSpec {
  /** File extension of `report.<extension>`; null for a format that is printed, not written. */
  extension: string | null;
  render(run: LoadedRun, summary: RunSummary): string | Promise<string>;
}

/** The 2-D figures (decision boundaries, vicinal samples); loads TensorFlow.js only when a group is 2-D. */
export async function figuresFor(run: LoadedRun, summary: RunSummary): Promise<Figures2D[]> {
  if (!summary.groups.some(is2DGroup)) return [];
  // Loaded lazily: it imports TensorFlow.js.
  const { computeFigures2D } = require('./figures2d') as typeof Fig;
  return computeFigures2D(run, summary);
}

export const FORMATS = {
  terminal: { extension: null, render: (_run, s) => renderTerminal(s) },
  md: { extension: 'md', render: (_run, s) => renderMarkdown(s) },
  json: { extension: 'json', render: (_run, s) => renderJson(s) },
  csv: { extension: 'csv', render: (run, s) => renderCsv(s, run) },
  html: { extension: 'html', render: async (run, s) => renderHtml(s, await figuresFor(run, s), adversarialGrids(run, s)) },
  'benchmark-json': { extension: 'benchmark.json', render: (_run, s) => renderBenchmarkJson(s) },
} satisfies Record<string, FormatSpec>;

export type ReportFormat = keyof typeof FORMATS;
/** The formats that are written as files (every format with an extension). */
export type FileFormat = { [K in ReportFormat]: (typeof FORMATS)[K]['extension'] extends null ? never : K }[ReportFormat];

/** Every format, in registry order. */
export const REPORT_FORMATS = Object.keys(FORMATS) as ReportFormat[];
/** The formats written as files, in registry order. */
export const FILE_FORMATS = REPORT_FORMATS.filter((f): f is FileFormat => FORMATS[f].extension !== null);

/** "report.<extension>" of a file format. */
export function fileName(format: FileFormat): string {
  return `report.${FORMATS[format].extension}`;
}
