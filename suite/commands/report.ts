import * as path from 'path';
import { EXIT, UsageError } from '../../contract/errors';
import type { Command } from '../command';
import { loadRun, writeFileAtomic } from '../../contract/run-folder';
import { DEFAULT_HISTORY_METRICS, collectHistory, renderHistoryHtml, renderHistoryMarkdown, renderHistoryTerminal } from '../../reports/history';
import { REPORT_FORMATS, ReportFormat, writeReport } from '../../reports/report';
import { summarizeRun } from '../../reports/summary';
import { renderTerminal } from '../../reports/terminal';

const FORMAT_CHOICES = [...REPORT_FORMATS, 'all'] as const;

export const command: Command = {
  spec: {
    name: 'report',
    summary: `tables and plots of a run folder (${REPORT_FORMATS.join(', ')}), or the trend across many runs`,
    usage: `vicinal report RUN [--format ${FORMAT_CHOICES.join('|')}] [--out DIR] [--detail]\n       vicinal report --history DIR [--metric clean,worst,wall,...] [--out DIR]`,
    flags: {
      format: { kind: 'string', help: `${FORMAT_CHOICES.join('|')}; all prints the terminal report and writes every file format`, default: 'all' },
      out: { kind: 'string', help: 'folder for the report files (default RUN/report, or DIR/history with --history)' },
      detail: { kind: 'boolean', help: 'terminal: print every table, flag and setting (default: findings, flags per check, one compact table per group)' },
      history: { kind: 'string', help: 'trend of metrics across every run folder under DIR, sorted by start time' },
      metric: {
        kind: 'strings',
        help: 'with --history: metrics as column keys or key prefixes (clean, robust:pgd@linf:0.1, worst, probe:grad-l1/test, wall)',
        default: DEFAULT_HISTORY_METRICS,
      },
    },
  },
  async main(flags, positional) {
    const out = flags.out !== undefined ? String(flags.out) : undefined;
    if (flags.history !== undefined) {
      if (positional.length) throw new UsageError(`report --history takes no RUN argument, got: ${positional.join(' ')}`);
      const dir = String(flags.history);
      const metrics = (flags.metric as string[] | undefined) ?? DEFAULT_HISTORY_METRICS;
      if (metrics.length === 0) throw new UsageError('--metric needs at least one metric');
      const h = collectHistory(dir, metrics);
      const outDir = out ?? path.join(dir, 'history');
      process.stdout.write(renderHistoryTerminal(h));
      writeFileAtomic(path.join(outDir, 'history.md'), renderHistoryMarkdown(h));
      writeFileAtomic(path.join(outDir, 'history.html'), renderHistoryHtml(h));
      console.log(`history: ${path.join(outDir, 'history.md')}, ${path.join(outDir, 'history.html')}`);
      return EXIT.ok;
    }
    if (positional.length !== 1) throw new UsageError(`report takes one run folder, got ${positional.length}${positional.length ? `: ${positional.join(' ')}` : ''} (or use --history DIR)`);
    const format = String(flags.format);
    if (!(FORMAT_CHOICES as readonly string[]).includes(format)) throw new UsageError(`unknown --format "${format}"; allowed: ${FORMAT_CHOICES.join(', ')}`);
    const runDir = positional[0];
    const run = loadRun(runDir);
    const summary = summarizeRun(run);
    const outDir = out ?? path.join(runDir, 'report');
    const fileFormats = (format === 'all' ? REPORT_FORMATS.filter((f) => f !== 'terminal') : format === 'terminal' ? [] : [format]) as Exclude<ReportFormat, 'terminal'>[];
    if (format === 'all' || format === 'terminal') process.stdout.write(renderTerminal(summary, { detail: Boolean(flags.detail) }));
    if (fileFormats.length) {
      const files = await writeReport(run, summary, outDir, fileFormats);
      console.log(`report written: ${files.join(', ')}`);
    }
    return EXIT.ok;
  },
};
