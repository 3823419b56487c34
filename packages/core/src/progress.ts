export interface ProgressOptions {
  readonly total?: number;
  readonly label?: string;
  /** Defaults to: on when stderr is a TTY and CI is not set. */
  readonly enabled?: boolean;
  readonly stream?: NodeJS.WriteStream;
  /** Minimum milliseconds between redraws. */
  readonly intervalMs?: number;
}

/** Whether interactive progress output is appropriate for this process. */
export function progressEnabled(stream: NodeJS.WriteStream = process.stderr): boolean {
  const ci = process.env.CI;
  if (ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false') return false;
  return Boolean(stream.isTTY);
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * A one-line progress bar on stderr with rate and ETA. When disabled (no TTY, or CI set) it prints
 * nothing, so logs stay clean; callers log milestones themselves.
 */
export class Progress {
  private current = 0;
  private lastDraw = 0;
  private readonly start = Date.now();
  private readonly enabled: boolean;
  private readonly stream: NodeJS.WriteStream;
  private status = '';

  constructor(private readonly options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.enabled = options.enabled ?? progressEnabled(this.stream);
  }

  get value(): number {
    return this.current;
  }

  tick(n = 1, status?: string): void {
    this.current += n;
    if (status !== undefined) this.status = status;
    const now = Date.now();
    if (this.enabled && now - this.lastDraw >= (this.options.intervalMs ?? 100)) {
      this.lastDraw = now;
      this.draw();
    }
  }

  /** Renders the current line (exposed for tests). */
  render(): string {
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.current / elapsed : 0;
    const label = this.options.label ? `${this.options.label} ` : '';
    const status = this.status ? ` ${this.status}` : '';
    const total = this.options.total;
    if (total && total > 0) {
      const frac = Math.min(1, this.current / total);
      const width = 24;
      const filled = Math.round(frac * width);
      const eta = rate > 0 ? (total - this.current) / rate : Number.POSITIVE_INFINITY;
      return `${label}[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.current}/${total} ${rate.toFixed(1)}/s eta ${formatDuration(eta)}${status}`;
    }
    return `${label}${this.current} ${rate.toFixed(1)}/s ${formatDuration(elapsed)}${status}`;
  }

  private draw(): void {
    this.stream.write(`\r\x1b[2K${this.render()}`);
  }

  done(): void {
    if (this.enabled) {
      this.draw();
      this.stream.write('\n');
    }
  }
}
