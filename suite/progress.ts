/** What `jobDone` reports about one finished job. */
export interface JobDoneInfo {
  /** Jobs with a result now (including reused ones), and jobs planned. */
  done: number;
  total: number;
  label: string;
  status: string;
  /** The job's own wall time. */
  seconds: number;
  /** Jobs still running. */
  running: number;
  /**
   * Share of this session's work done, by estimated cost (0..1); the ETA is
   * elapsed / fraction - elapsed. Without it the share of jobs is used.
   */
  fraction?: number;
}

/**
 * Progress display for long work. On a TTY (stderr): a redrawn status block.
 * Off a TTY (CI logs, Slurm output files): one line per finished job with
 * counts, elapsed time and an ETA, so a log shows progress as it happens.
 * Nothing when quiet. Log lines go to the run's log file separately.
 */
export class Progress {
  private lines: string[] = [];
  private drawn = 0;
  private readonly live: boolean;
  /** Line mode: not quiet, not a TTY. */
  private readonly plain: boolean;
  private readonly started = Date.now();
  private sessionDone = 0;
  private sessionTotal = -1;

  constructor(
    quiet: boolean,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr,
  ) {
    this.live = !quiet && Boolean(stream.isTTY);
    this.plain = !quiet && !stream.isTTY;
  }

  /**
   * A job finished: off a TTY one line
   * `[done/total] label: status in 12.3s; N running; 1m02s elapsed, ETA 3m10s`.
   * On a TTY the status block (update) shows the same.
   */
  jobDone(info: JobDoneInfo): void {
    if (!this.plain) return;
    if (this.sessionTotal < 0) this.sessionTotal = info.total - info.done + 1;
    this.sessionDone++;
    const elapsed = (Date.now() - this.started) / 1000;
    const frac = info.fraction ?? (this.sessionTotal > 0 ? this.sessionDone / this.sessionTotal : 1);
    const eta = info.done >= info.total ? 0 : frac > 0 ? (elapsed / frac) * (1 - frac) : NaN;
    const width = String(info.total).length;
    this.stream.write(
      `[${String(info.done).padStart(width)}/${info.total}] ${info.label}: ${info.status} in ${info.seconds.toFixed(1)}s; ` +
        `${info.running} running; ${formatSeconds(elapsed)} elapsed, ETA ${Number.isFinite(eta) ? formatSeconds(eta) : '?'}\n`,
    );
  }

  /** Redraws: an overall bar with ETA plus one line per running job. */
  update(done: number, total: number, running: string[]): void {
    if (!this.live) return;
    const width = 30;
    const frac = total === 0 ? 1 : done / total;
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = done > 0 ? (elapsed / frac) * (1 - frac) : NaN;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    this.lines = [`jobs ${done}/${total} [${bar}] ${formatSeconds(elapsed)} elapsed, ETA ${Number.isFinite(eta) ? formatSeconds(eta) : '?'}`, ...running.map((r) => `  ${r}`)];
    this.draw();
  }

  /** Prints a line above the status block, or as a plain line off a TTY (always, when not quiet). */
  message(line: string): void {
    if (this.plain) {
      this.stream.write(`${line}\n`);
      return;
    }
    if (!this.live) return;
    this.clear();
    this.stream.write(`${line}\n`);
    this.draw();
  }

  finish(): void {
    if (this.live) this.clear();
    this.lines = [];
  }

  private clear(): void {
    for (let i = 0; i < this.drawn; i++) this.stream.write('\x1b[1A\x1b[2K');
    this.drawn = 0;
  }

  private draw(): void {
    this.clear();
    const cols = this.stream.columns || 100;
    for (const l of this.lines) this.stream.write(`${l.slice(0, cols - 1)}\n`);
    this.drawn = this.lines.length;
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}
