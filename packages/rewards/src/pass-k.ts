/** C(c, k) / C(n, k) as a running product, exact enough for any n a benchmark uses. */
function chooseRatio(c: number, n: number, k: number): number {
  if (k > c) return 0;
  let r = 1;
  for (let i = 0; i < k; i++) r *= (c - i) / (n - i);
  return r;
}

export interface TaskTrials {
  /** Trials run on the task (n). */
  readonly trials: number;
  /** Trials that succeeded (c). */
  readonly successes: number;
}

function check(t: TaskTrials, k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  if (!(t.successes >= 0 && t.successes <= t.trials))
    throw new RangeError(`successes ${t.successes} not in [0, ${t.trials}]`);
  if (k > t.trials) throw new RangeError(`pass^${k} needs at least ${k} trials per task, got ${t.trials}`);
}

/**
 * tau-bench pass^k (Yao et al. 2024): mean over tasks of C(c, k) / C(n, k), the chance that k trials
 * drawn without replacement from the n run all succeed.
 */
export function passHatK(tasks: readonly TaskTrials[], k: number): number {
  if (tasks.length === 0) return Number.NaN;
  let s = 0;
  for (const t of tasks) {
    check(t, k);
    s += chooseRatio(t.successes, t.trials, k);
  }
  return s / tasks.length;
}

/** pass@k (Chen et al. 2021): mean over tasks of 1 - C(n - c, k) / C(n, k), at least one success in k. */
export function passAtK(tasks: readonly TaskTrials[], k: number): number {
  if (tasks.length === 0) return Number.NaN;
  let s = 0;
  for (const t of tasks) {
    check(t, k);
    s += 1 - chooseRatio(t.trials - t.successes, t.trials, k);
  }
  return s / tasks.length;
}

/** Groups binary rewards by task id into trial counts (a reward of 1 is a success). */
export function trialsByTask(results: Iterable<{ task: string; reward: number }>): TaskTrials[] {
  const m = new Map<string, { trials: number; successes: number }>();
  for (const r of results) {
    const e = m.get(r.task) ?? { trials: 0, successes: 0 };
    e.trials++;
    if (r.reward >= 1 - 1e-9) e.successes++;
    m.set(r.task, e);
  }
  return [...m.values()];
}
