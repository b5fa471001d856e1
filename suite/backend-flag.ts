import { BackendChoice, BACKEND_CHOICES } from '../contract/results';
import { UsageError } from '../contract/errors';
import type { FlagSpec } from './args';

/** The `--backend` flag every command that computes shares: its spec and its validation. */
export function backendFlagSpec(help = 'compute backend', withDefault = true): FlagSpec {
  return { kind: 'string', help: `${help}: ${BACKEND_CHOICES.join('|')}`, ...(withDefault ? { default: 'auto' } : {}) };
}

/** The validated backend choice, or a UsageError naming the allowed values. */
export function parseBackendFlag(value: unknown): BackendChoice {
  const b = String(value);
  if (!(BACKEND_CHOICES as readonly string[]).includes(b)) throw new UsageError(`unknown backend "${b}"; allowed: ${BACKEND_CHOICES.join(', ')}`);
  return b as BackendChoice;
}
