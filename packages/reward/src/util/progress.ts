/**
 * A progress line on stderr: count, rate and ETA. Redrawn in place on a TTY, printed at most every
 * few seconds otherwise (CI logs), and silent when disabled.
 */
export class Progress {
  private done = 0;
  private readonly start = Date.now();
  private lastPrint = 0;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly opts: { enabled?: boolean; stream?: NodeJS.WriteStream; unit?: string } = {},
  ) {
    this.tty = Boolean((opts.stream ?? process.stderr).isTTY);
  }

  tick(n = 1, extra = ''): void {
    this.done += n;
    const now = Date.now();
    const interval = this.tty ? 100 : 5000;
    if (this.done < this.total && now - this.lastPrint < interval) return;
    this.lastPrint = now;
    this.print(extra);
  }

  /** The line as it would be printed now (also used by tests). */
  line(extra = ''): string {
    const secs = (Date.now() - this.start) / 1000;
    const rate = secs > 0 ? this.done / secs : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : NaN;
    const pct = this.total > 0 ? ((100 * this.done) / this.total).toFixed(0) : '100';
    const unit = this.opts.unit ?? 'it';
    return (
      `${this.label} ${this.done}/${this.total} (${pct}%) ${rate.toFixed(2)} ${unit}/s ` +
      `elapsed ${formatDuration(secs)} eta ${Number.isFinite(eta) ? formatDuration(eta) : '?'}` +
      (extra ? ` ${extra}` : '')
    );
  }

  private print(extra: string): void {
    if (this.opts.enabled === false) return;
    const stream = this.opts.stream ?? process.stderr;
    if (this.tty) stream.write(`\r\x1b[2K${this.line(extra)}${this.done >= this.total ? '\n' : ''}`);
    else stream.write(`${this.line(extra)}\n`);
  }
}

export function formatDuration(secs: number): string {
  if (!Number.isFinite(secs)) return '?';
  const s = Math.round(secs);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
