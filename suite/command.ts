import type { CommandSpec, ParsedFlags } from './args';

/**
 * One CLI command: its flags and what it does (returns the exit code). It
 * lives below both the commands (suite/commands/*) and the dispatcher
 * (suite/cli.ts), which loads them, so neither imports the other's module.
 */
export interface Command {
  spec: CommandSpec;
  main(flags: ParsedFlags, positional: string[]): Promise<number>;
}
