/**
 * The report pipeline: load a run folder, build the comparison model, render
 * every format, write them atomically into a folder.
 */
import * as path from 'path';
import { LoadedRun, writeFileAtomic } from '../contract/run-folder';
import { renderCsv } from './csv';
import type * as Fig from './figures2d';
import type { Figures2D } from './figures2d';
import { renderHtml } from './html';
import { renderJson } from './json';
import { renderMarkdown } from './markdown';
import { RunSummary, is2DGroup } from './summary';
import { renderTerminal } from './terminal';

export const REPORT_FORMATS = ['terminal', 'md', 'json', 'csv', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
export const FILE_NAMES: Record<Exclude<ReportFormat, 'terminal'>, string> = {
  md: 'report.md',
  json: 'report.json',
  csv: 'report.csv',
  html: 'report.html',
};

/** The 2-D figures (decision boundaries, vicinal samples); loads TensorFlow.js only when a group is 2-D. */
export async function figuresFor(run: LoadedRun, summary: RunSummary): Promise<Figures2D[]> {
  if (!summary.groups.some(is2DGroup)) return [];
  // Loaded lazily: it imports TensorFlow.js.
  const { computeFigures2D } = require('./figures2d') as typeof Fig;
  return computeFigures2D(run, summary);
}

export async function renderFormat(format: ReportFormat, run: LoadedRun, summary: RunSummary): Promise<string> {
  switch (format) {
    case 'terminal':
      return renderTerminal(summary);
    case 'md':
      return renderMarkdown(summary);
    case 'json':
      return renderJson(summary);
    case 'csv':
      return renderCsv(summary, run);
    case 'html':
      return renderHtml(summary, await figuresFor(run, summary));
  }
}

/** Writes the given file formats into `outDir` (each file atomically); returns the paths written. */
export async function writeReport(run: LoadedRun, summary: RunSummary, outDir: string, formats: Exclude<ReportFormat, 'terminal'>[]): Promise<string[]> {
  const written: string[] = [];
  for (const f of formats) {
    const file = path.join(outDir, FILE_NAMES[f]);
    writeFileAtomic(file, await renderFormat(f, run, summary));
    written.push(file);
  }
  return written;
}
