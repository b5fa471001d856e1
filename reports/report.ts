/**
 * The report pipeline: load a run folder, build the comparison model, render
 * every format, write them atomically into a folder. The formats themselves
 * are registered in formats.ts.
 */
import * as path from 'path';
import { LoadedRun, writeFileAtomic } from '../contract/run-folder';
import { FILE_FORMATS, FORMATS, FileFormat, ReportFormat, fileName } from './formats';
import { RunSummary } from './summary';

export { FILE_FORMATS, REPORT_FORMATS, figuresFor } from './formats';
export type { FileFormat, ReportFormat } from './formats';

/** File name per file format, e.g. md -> "report.md". */
export const FILE_NAMES = Object.fromEntries(FILE_FORMATS.map((f) => [f, fileName(f)])) as Record<FileFormat, string>;

export async function renderFormat(format: ReportFormat, run: LoadedRun, summary: RunSummary): Promise<string> {
  return FORMATS[format].render(run, summary);
}

/** Writes the given file formats (default: every one) into `outDir`, each file atomically; returns the paths written. */
export async function writeReport(run: LoadedRun, summary: RunSummary, outDir: string, formats: readonly FileFormat[] = FILE_FORMATS): Promise<string[]> {
  const written: string[] = [];
  for (const f of formats) {
    if (FORMATS[f].extension === null) throw new Error(`report format "${f}" is printed, not written to a file`);
    const file = path.join(outDir, fileName(f));
    writeFileAtomic(file, await renderFormat(f, run, summary));
    written.push(file);
  }
  return written;
}
