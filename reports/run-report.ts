/** The report written at the end of `vicinal run` (see suite/commands/run.ts). */
import * as path from 'path';
import { loadRun } from '../contract/run-folder';
import { FILE_FORMATS, writeReport } from './report';
import { summarizeRun } from './summary';
import { renderTerminal } from './terminal';

/**
 * Called by `vicinal run` when a study finishes: writes every file format of
 * the registry (formats.ts) into RUN/report/ and prints the terminal report
 * unless `quiet` (every table with `detail`). Returns the paths written.
 */
export async function finishRunReport(runDir: string, quiet: boolean, detail = false): Promise<string[]> {
  const run = loadRun(runDir);
  const summary = summarizeRun(run);
  const files = await writeReport(run, summary, path.join(runDir, 'report'), FILE_FORMATS);
  if (!quiet) process.stdout.write(renderTerminal(summary, { detail }));
  console.log(`report: ${files.join(', ')}`);
  return files;
}
