/**
 * Named phase timers: wrap each phase of a training step (`rollout`, `update`, ...) and read back
 * totals as `time/<phase>` metrics.
 */
export class PhaseTimers {
  private readonly totals = new Map<string, number>();
  private readonly counts = new Map<string, number>();

  async time<T>(phase: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }

  timeSync<T>(phase: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }

  add(phase: string, ms: number): void {
    this.totals.set(phase, (this.totals.get(phase) ?? 0) + ms);
    this.counts.set(phase, (this.counts.get(phase) ?? 0) + 1);
  }

  /** Seconds spent per phase, keyed `time/<phase>`. */
  metrics(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.totals) out[`time/${k}`] = v / 1000;
    return out;
  }

  reset(): void {
    this.totals.clear();
    this.counts.clear();
  }
}
