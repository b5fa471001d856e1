import type { Command } from '../command';
import { EXIT, UsageError } from '../../contract/errors';
import { finishRunReport } from '../../reports/run-report';
import { mergeRuns } from '../merge';

export const command: Command = {
  spec: {
    name: 'merge',
    summary: 'merge the shard folders of `vicinal run --shard I/N` (same plan, engine and commit) into one run folder',
    usage: 'vicinal merge SHARD_DIR... --out RUN [--quiet]',
    flags: {
      out: { kind: 'string', help: 'the merged run folder to create (must not exist, or be empty)' },
      quiet: { kind: 'boolean', help: 'do not print the terminal report' },
    },
  },
  async main(flags, positional) {
    if (flags.out === undefined) throw new UsageError('merge needs --out RUN (the merged run folder to create); allowed: vicinal merge SHARD_DIR... --out RUN');
    if (positional.length === 0) throw new UsageError('merge needs at least one shard folder; allowed: vicinal merge SHARD_DIR... --out RUN');
    const out = String(flags.out);
    const m = mergeRuns(positional, out);
    await finishRunReport(out, Boolean(flags.quiet));
    const have = m.jobs - m.missing.length;
    console.log(`merged ${positional.length} folder(s) into ${out}: ${have}/${m.jobs} jobs, ${m.duplicates} identical duplicate(s) kept once`);
    if (m.missing.length > 0) {
      const shards = m.missingShards.length ? ` (shard${m.missingShards.length > 1 ? 's' : ''} ${m.missingShards.join(', ')} not given)` : '';
      console.error(`merged run is incomplete: ${m.missing.length} of ${m.jobs} jobs have no result${shards}; merge again when every shard has finished`);
      return EXIT.failed;
    }
    if (m.notOk.length > 0) {
      console.error(`${m.notOk.length} job(s) did not succeed:`);
      for (const f of m.notOk) console.error(`  ${f.job.label}: ${f.status}${f.error ? `: ${f.error}` : ''}`);
      return EXIT.failed;
    }
    return EXIT.ok;
  },
};
