/**
 * Bad input from the user (unknown name, value out of range, missing or
 * corrupt file). The CLI prints its one-line message and exits with code 2,
 * never a stack trace.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit codes of the `vicinal` CLI (documented in the README). */
export const EXIT = {
  ok: 0,
  /** A job failed (diverged training, thrown error), a sanity check failed, or compare found a regression. */
  failed: 1,
  /** Bad input: invalid config/flag, unknown name, missing or corrupt file. */
  usage: 2,
} as const;
