#!/usr/bin/env node
import * as path from 'path';
import { formatHelp, parseArgs } from './args';
import type { Command } from './command';
import { EXIT, UsageError } from '../contract/errors';

/** Part of the path of any loaded TensorFlow.js module (wherever npm placed the package). */
const TFJS_CORE = `${path.sep}@tensorflow${path.sep}tfjs-core${path.sep}`;

const COMMANDS: Record<string, () => Command> = {
  run: () => require('./commands/run').command,
  report: () => require('./commands/report').command,
  compare: () => require('./commands/compare').command,
  attack: () => require('./commands/attack').command,
  sample: () => require('./commands/sample').command,
  doctor: () => require('./commands/doctor').command,
  bench: () => require('./commands/bench').command,
  export: () => require('./commands/export').command,
  merge: () => require('./commands/merge').command,
};

const USAGE = `vicinal: does mixup-style training change adversarial robustness?

usage: vicinal <command> [options]    (vicinal <command> --help for its options)

commands:
  run [config|profile]   train and attack every model of a study (profiles: quick, nightly, full); --shard I/N runs a share
  merge SHARD_DIR...     merge the shard folders of run --shard into one run folder
  report RUN             tables and plots of a finished run (terminal, md, json, csv, html, benchmark-json)
  compare RUN_A RUN_B    per-metric deltas and regressions between two runs
  attack                 attack a saved model and write per-example results
  sample                 draw vicinal samples around a training point
  doctor                 verify gradients of the compute backend
  bench                  measure throughput
  export                 write a saved model as a standard .onnx file

exit codes: 0 ok, 1 a job or check failed / regression found, 2 bad input`;

export async function cli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name ? EXIT.ok : EXIT.usage;
  }
  const load = COMMANDS[name];
  if (!load) throw new UsageError(`unknown command "${name}"; allowed: ${Object.keys(COMMANDS).join(', ')}`);
  const command = load();
  const { flags, positional, help } = parseArgs(command.spec, rest);
  if (help) {
    console.log(formatHelp(command.spec));
    return EXIT.ok;
  }
  // Commands that touch tensors without selecting a backend (report's figures, export) load
  // TensorFlow.js with their modules; its cpu backend must not print its advert.
  if (Object.keys(require.cache).some((m) => m.includes(TFJS_CORE))) require('../backend/quiet').silenceTfjsAdvert();
  return command.main(flags, positional);
}

if (require.main === module) {
  cli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        console.error(`vicinal: ${err.message}`);
        process.exitCode = EXIT.usage;
      } else {
        console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
        process.exitCode = EXIT.failed;
      }
    },
  );
}
