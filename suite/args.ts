import { UsageError } from '../contract/errors';

/** `repeated`: a string flag that may be given several times, each value kept whole (no comma splitting). */
export type FlagKind = 'string' | 'number' | 'boolean' | 'numbers' | 'strings' | 'repeated';

export interface FlagSpec {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean | number[] | string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Text after the options (e.g. the dataset parameters a config may set), built when help is shown. */
  epilogue?: () => string;
}

export type ParsedFlags = Record<string, string | number | boolean | number[] | string[] | undefined>;

/**
 * Parses `--name value`, `--name=value` and boolean `--name` flags against a
 * spec; list flags take comma-separated values. Unknown flags and malformed
 * numbers are UsageErrors naming the flag and what is allowed.
 */
export function parseArgs(spec: CommandSpec, argv: string[]): { flags: ParsedFlags; positional: string[]; help: boolean } {
  const flags: ParsedFlags = {};
  const positional: string[] = [];
  let help = false;
  for (const [k, f] of Object.entries(spec.flags)) if (f.default !== undefined) flags[k] = f.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      help = true;
      continue;
    }
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const f = spec.flags[name];
    if (!f) {
      throw new UsageError(
        `unknown option --${name} for "vicinal ${spec.name}"; allowed: ${
          Object.keys(spec.flags)
            .map((k) => `--${k}`)
            .join(', ') || 'none'
        }`,
      );
    }
    if (f.kind === 'boolean') {
      flags[name] = eq < 0 ? true : a.slice(eq + 1) !== 'false';
      continue;
    }
    const raw = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (raw === undefined) throw new UsageError(`option --${name} needs a value (${f.help})`);
    flags[name] = f.kind === 'repeated' ? [...((flags[name] as string[] | undefined) ?? []), raw] : convert(name, f.kind, raw);
  }
  return { flags, positional, help };
}

function convert(name: string, kind: FlagKind, raw: string): string | number | number[] | string[] {
  const num = (s: string): number => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) throw new UsageError(`option --${name} must be a number, got "${s}"`);
    return v;
  };
  switch (kind) {
    case 'number':
      return num(raw);
    case 'numbers':
      return raw.split(',').map(num);
    case 'strings':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    default:
      return raw;
  }
}

export function formatHelp(spec: CommandSpec): string {
  const lines = [`vicinal ${spec.name}: ${spec.summary}`, '', `usage: ${spec.usage}`, ''];
  const entries = Object.entries(spec.flags);
  if (entries.length) lines.push('options:');
  for (const [k, f] of entries) {
    const def = f.default === undefined ? '' : ` (default: ${Array.isArray(f.default) ? f.default.join(',') : f.default})`;
    lines.push(`  --${k.padEnd(18)} ${f.help}${def}`);
  }
  lines.push('  --help               show this help');
  if (spec.epilogue) lines.push('', spec.epilogue());
  return lines.join('\n');
}
