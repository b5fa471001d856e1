/**
 * Progress display for long work: a redrawn status block on a TTY (stderr),
 * silent otherwise or when quiet. Log lines go to the run's log file separately.
 */
export class Progress {
  private lines: string[] = [];
  private drawn = 0;
  private readonly live: boolean;
  private readonly started = Date.now();

  constructor(quiet: boolean, private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.live = !quiet && Boolean(stream.isTTY);
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

  /** Prints a line above the status block (always, when not quiet). */
  message(line: string): void {
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
