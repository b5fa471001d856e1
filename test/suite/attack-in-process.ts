import * as fs from 'fs';
import { parseArgs } from '../../suite/args';
import { command } from '../../suite/commands/attack';

/** Runs `vicinal attack ... --backend wasm` in process; returns the exit code and what it printed. */
export async function attackOnWasm(argv: string[]): Promise<{ code: number; text: string }> {
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    printed.push(args.map(String).join(' '));
  };
  try {
    const { flags, positional } = parseArgs(command.spec, [...argv, '--backend', 'wasm']);
    const code = await command.main(flags, positional);
    return { code, text: printed.join('\n') };
  } finally {
    console.log = log;
  }
}

export const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
