import type { Command } from '../command';
import { EXIT, UsageError } from '../../contract/errors';
import { loadRun, writeFileAtomic } from '../../contract/run-folder';
import { DEFAULT_THRESHOLDS, compareRuns, renderComparisonMarkdown, thresholdsFromFlag, thresholdsFromObject } from '../../reports/compare';
import { renderComparisonJUnit } from '../../reports/junit';
import { correctnessLookup, summarizeRun } from '../../reports/summary';

export const command: Command = {
  spec: {
    name: 'compare',
    summary: 'per-metric deltas (with the CI of each difference) between two runs; exit 1 when something regressed',
    usage: 'vicinal compare RUN_A RUN_B [--thresholds cleanAccuracyDrop=0.01,robustBeyondCI=true,wallTimeIncrease=0.25] [--md FILE] [--junit FILE]',
    flags: {
      thresholds: {
        kind: 'strings',
        help: `key=value overrides (cleanAccuracyDrop: share, 0.01 = 1 point; robustBeyondCI: true|false; wallTimeIncrease: share, 0.25 = 25%); defaults ${JSON.stringify(DEFAULT_THRESHOLDS)}, then RUN_B's config "thresholds", then this flag`,
      },
      md: { kind: 'string', help: 'also write the Markdown summary to FILE' },
      junit: { kind: 'string', help: 'also write a JUnit XML report to FILE: one test case per compared accuracy metric (group, scheme, metric, ε), regressions as failures' },
    },
  },
  async main(flags, positional) {
    if (positional.length !== 2) throw new UsageError(`compare takes two run folders (RUN_A RUN_B), got ${positional.length}${positional.length ? `: ${positional.join(' ')}` : ''}`);
    const [dirA, dirB] = positional;
    const runA = loadRun(dirA);
    const runB = loadRun(dirB);
    const sources = ['defaults'];
    let t = { ...DEFAULT_THRESHOLDS };
    const fromConfig = (runB.manifest.config as Record<string, unknown>).thresholds;
    if (fromConfig !== undefined) {
      t = thresholdsFromObject(fromConfig, `${dirB}/manifest.json config.thresholds`, t);
      sources.push("RUN_B's config");
    }
    const flag = flags.thresholds as string[] | undefined;
    if (flag?.length) {
      t = thresholdsFromFlag(flag, t);
      sources.push('--thresholds');
    }
    const a = summarizeRun(runA);
    const b = summarizeRun(runB);
    const c = compareRuns(a, b, t, sources.join(' < '), correctnessLookup(runA, a), correctnessLookup(runB, b));
    const md = renderComparisonMarkdown(c);
    if (flags.md !== undefined) writeFileAtomic(String(flags.md), md);
    if (flags.junit !== undefined) writeFileAtomic(String(flags.junit), renderComparisonJUnit(c));
    process.stdout.write(md);
    return c.regressions.length ? EXIT.failed : EXIT.ok;
  },
};
