import type { Rng } from '@gopo/core';
import { groupSumsKernel } from './bootstrap-kernel.js';
import type { ScoreTable } from './score-table.js';

/** A point estimate with a percentile bootstrap interval. */
export interface Interval {
  readonly value: number;
  readonly low: number;
  readonly high: number;
}

/** Linear-interpolated quantile (type 7) of the non-NaN values; sorts `values` in place. */
export function quantile(values: Float64Array, q: number): number {
  const finite = values.filter((v) => !Number.isNaN(v)).sort();
  if (finite.length === 0) return Number.NaN;
  const h = (finite.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, finite.length - 1);
  return finite[lo]! + (h - lo) * (finite[hi]! - finite[lo]!);
}

export interface BootstrapOptions {
  readonly resamples: number;
  readonly confidence: number;
  readonly rng: Rng;
  /** Called after each resample (and permutation) with how many are done out of how many. */
  readonly onResample?: (done: number, total: number) => void;
}

export interface TableIntervals {
  /** One interval per metric, over every row. */
  readonly overall: Interval[];
  /** [group][metric] intervals; the group's rows of each resample (its size varies, as it should). */
  readonly byGroup: Interval[][];
}

/**
 * Multiplicities of one bootstrap resample: n draws with replacement from n rows. Indices use
 * Lemire's multiply-and-reject method on 32-bit draws (unbiased; u * n is exact in a double for
 * n < 2^21, and so are its high and low halves; beyond that it falls back to Rng.int).
 */
function drawCounts(counts: Uint32Array, rng: Rng): void {
  const n = counts.length;
  counts.fill(0);
  if (n === 0) return;
  if (n >= 2 ** 21) {
    for (let k = 0; k < n; k++) {
      const i = rng.int(n);
      counts[i] = counts[i]! + 1;
    }
    return;
  }
  const threshold = (2 ** 32 - n) % n;
  for (let k = 0; k < n; k++) {
    // m = i * 2^32 + low, split without `%` on a double: V8 calls fmod for that (17 vs 7 ns a draw).
    let m = rng.nextU32() * n;
    let i = Math.floor(m * 2.3283064365386963e-10);
    while (m - i * 4294967296 < threshold) {
      m = rng.nextU32() * n;
      i = Math.floor(m * 2.3283064365386963e-10);
    }
    counts[i] = counts[i]! + 1;
  }
}

/** Columns whose denominator is not 1 on every row of every table. */
function varyingDenominators(tables: readonly ScoreTable[], W: number): Int32Array {
  const varies = new Uint8Array(W);
  for (const t of tables) for (let i = 0; i < t.rows * W; i++) if (t.den[i] !== 1) varies[i % W] = 1;
  return Int32Array.from([...varies.keys()].filter((m) => varies[m] === 1));
}

/**
 * Percentile bootstrap of every ratio metric of a table, and of each group's ratio, from the same
 * resamples of sessions. Cost: resamples x (rows random draws + rows x metrics multiply-adds).
 */
export function bootstrapTable(table: ScoreTable, groups: number, opts: BootstrapOptions): TableIntervals {
  const { width: W, rows: n, num, den, group } = table;
  const B = opts.resamples;
  const G = groups + 1; // slot `groups` is the whole table
  const draws = new Float64Array(B * G * W);
  const sn = new Float64Array(G * W);
  const sd = new Float64Array(G * W);
  const all = groups * W;
  // Columns whose denominator is 1 on every row (most per-session means) need no denominator sums:
  // a group's sum is its number of drawn rows.
  const varCols = varyingDenominators([table], W);
  const V = varCols.length;
  // Rows grouped (file order within a group) and copied in that order, numerators and the varying
  // denominators: each group's sums are then one pass of the generated kernel over a contiguous
  // block. The copy costs a second table's memory while the bootstrap runs.
  const order = new Uint32Array(n);
  const starts = new Int32Array(groups + 1);
  for (let i = 0; i < n; i++) starts[group[i]! + 1]!++;
  for (let g = 0; g < groups; g++) starts[g + 1]! += starts[g]!;
  const next = starts.slice(0, groups);
  for (let i = 0; i < n; i++) order[next[group[i]!]!++] = i;
  const x = new Float64Array(n * W);
  const d = new Float64Array(n * V);
  for (let k = 0; k < n; k++) {
    const row = order[k]! * W;
    x.set(num.subarray(row, row + W), k * W);
    for (let v = 0; v < V; v++) d[k * V + v] = den[row + varCols[v]!]!;
  }
  const sums = groupSumsKernel(W, V);
  const sdVar = new Float64Array(groups * V);
  const drawn = new Float64Array(groups);
  const counts = new Uint32Array(n);
  for (let b = 0; b < B; b++) {
    sn.fill(0);
    sd.fill(0);
    drawCounts(counts, opts.rng);
    for (let g = 0; g < groups; g++)
      drawn[g] = sums(counts, order, x, d, starts[g]!, starts[g + 1]!, sn, g * W, sdVar, g * V);
    for (let g = 0; g < groups; g++) {
      sd.fill(drawn[g]!, g * W, g * W + W);
      for (let v = 0; v < V; v++) sd[g * W + varCols[v]!] = sdVar[g * V + v]!;
    }
    for (let g = 0; g < groups; g++) {
      for (let m = 0; m < W; m++) {
        sn[all + m] = sn[all + m]! + sn[g * W + m]!;
        sd[all + m] = sd[all + m]! + sd[g * W + m]!;
      }
    }
    for (let j = 0; j < G * W; j++) draws[b * G * W + j] = sd[j] === 0 ? Number.NaN : sn[j]! / sd[j]!;
    opts.onResample?.(b + 1, B);
  }
  const alpha = (1 - opts.confidence) / 2;
  const intervalOf = (slot: number, m: number, value: number): Interval => {
    const col = new Float64Array(B);
    for (let b = 0; b < B; b++) col[b] = draws[b * G * W + slot * W + m]!;
    return { value, low: quantile(col, alpha), high: quantile(col, 1 - alpha) };
  };
  const overall: Interval[] = [];
  for (let m = 0; m < W; m++) overall.push(intervalOf(groups, m, table.ratio(m)));
  const byGroup: Interval[][] = [];
  for (let g = 0; g < groups; g++) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (group[i] === g) rows.push(i);
    const list: Interval[] = [];
    for (let m = 0; m < W; m++) list.push(intervalOf(g, m, table.ratio(m, rows)));
    byGroup.push(list);
  }
  return { overall, byGroup };
}

/** Percentile bootstrap interval of the mean of `values` (NaN values are left out). */
export function bootstrapMean(values: ArrayLike<number>, opts: BootstrapOptions): Interval {
  const kept = Array.from(values).filter((v) => !Number.isNaN(v));
  const n = kept.length;
  if (n === 0) return { value: Number.NaN, low: Number.NaN, high: Number.NaN };
  const value = kept.reduce((a, b) => a + b, 0) / n;
  const draws = new Float64Array(opts.resamples);
  for (let b = 0; b < opts.resamples; b++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += kept[opts.rng.int(n)]!;
    draws[b] = s / n;
  }
  const alpha = (1 - opts.confidence) / 2;
  return { value, low: quantile(draws, alpha), high: quantile(draws, 1 - alpha) };
}

export interface PairedDifference {
  /** value(A) - value(B) on the paired sessions. */
  readonly delta: number;
  readonly low: number;
  readonly high: number;
  /** Two-sided p-value of "no difference". */
  readonly pValue: number;
}

export type PairedTest = 'paired-bootstrap' | 'permutation';

/**
 * Compares two systems scored on the same sessions: row i of `a` and of `b` are the same session.
 * The interval of the difference is always the paired percentile bootstrap. The p-value is either
 * the paired bootstrap's (resampled differences re-centred on zero, Koehn 2004 style) or an exact-
 * in-distribution permutation test that swaps A and B within each pair at random.
 * Both count |stat| >= |observed| and add one to numerator and denominator.
 */
export function pairedCompare(
  a: ScoreTable,
  b: ScoreTable,
  test: PairedTest,
  opts: BootstrapOptions,
): PairedDifference[] {
  if (a.width !== b.width || a.rows !== b.rows)
    throw new RangeError('paired tables must have the same shape');
  const W = a.width;
  const n = a.rows;
  const B = opts.resamples;
  const observed = new Float64Array(W);
  for (let m = 0; m < W; m++) observed[m] = a.ratio(m) - b.ratio(m);
  const boot = new Float64Array(B * W);
  const perm = new Float64Array(B * W);
  const s = new Float64Array(4 * W);
  const accumulate = (into: Float64Array, bIdx: number) => {
    for (let m = 0; m < W; m++) {
      const da = s[W + m]!;
      const db = s[3 * W + m]!;
      into[bIdx * W + m] = da === 0 || db === 0 ? Number.NaN : s[m]! / da - s[2 * W + m]! / db;
    }
  };
  // A's and B's numerators side by side, and the denominators of the columns where either table's
  // is not always 1 (the others sum to the rows drawn): one generated-kernel pass per resample
  // (see bootstrapTable), rows in file order.
  const varCols = varyingDenominators([a, b], W);
  const V = varCols.length;
  const identity = new Uint32Array(n);
  const x = new Float64Array(n * 2 * W);
  const d = new Float64Array(n * 2 * V);
  for (let i = 0; i < n; i++) {
    identity[i] = i;
    x.set(a.num.subarray(i * W, i * W + W), i * 2 * W);
    x.set(b.num.subarray(i * W, i * W + W), i * 2 * W + W);
    for (let v = 0; v < V; v++) {
      d[i * 2 * V + v] = a.den[i * W + varCols[v]!]!;
      d[i * 2 * V + V + v] = b.den[i * W + varCols[v]!]!;
    }
  }
  const sums = groupSumsKernel(2 * W, 2 * V);
  const sn = new Float64Array(2 * W);
  const sd = new Float64Array(2 * V);
  const counts = new Uint32Array(n);
  for (let r = 0; r < B; r++) {
    drawCounts(counts, opts.rng);
    const rows = sums(counts, identity, x, d, 0, n, sn, 0, sd, 0);
    for (let m = 0; m < W; m++) {
      s[m] = sn[m]!;
      s[W + m] = rows;
      s[2 * W + m] = sn[W + m]!;
      s[3 * W + m] = rows;
    }
    for (let v = 0; v < V; v++) {
      s[W + varCols[v]!] = sd[v]!;
      s[3 * W + varCols[v]!] = sd[V + v]!;
    }
    accumulate(boot, r);
    opts.onResample?.(r + 1, test === 'permutation' ? 2 * B : B);
  }
  if (test === 'permutation') {
    for (let r = 0; r < B; r++) {
      s.fill(0);
      let bits = 0;
      for (let k = 0; k < n; k++) {
        // one 32-bit draw gives the coins of 32 pairs
        if ((k & 31) === 0) bits = opts.rng.nextU32();
        const swap = ((bits >>> (k & 31)) & 1) === 1;
        const row = k * W;
        const x = swap ? b : a;
        const y = swap ? a : b;
        for (let m = 0; m < W; m++) {
          s[m] = s[m]! + x.num[row + m]!;
          s[W + m] = s[W + m]! + x.den[row + m]!;
          s[2 * W + m] = s[2 * W + m]! + y.num[row + m]!;
          s[3 * W + m] = s[3 * W + m]! + y.den[row + m]!;
        }
      }
      accumulate(perm, r);
      opts.onResample?.(B + r + 1, 2 * B);
    }
  }
  const alpha = (1 - opts.confidence) / 2;
  const out: PairedDifference[] = [];
  for (let m = 0; m < W; m++) {
    const d = observed[m]!;
    const col = new Float64Array(B);
    for (let r = 0; r < B; r++) col[r] = boot[r * W + m]!;
    let extreme = 0;
    let valid = 0;
    for (let r = 0; r < B; r++) {
      const stat = test === 'permutation' ? perm[r * W + m]! : boot[r * W + m]! - d;
      if (Number.isNaN(stat)) continue;
      valid++;
      if (Math.abs(stat) >= Math.abs(d) - 1e-12) extreme++;
    }
    const pValue = Number.isNaN(d) || valid === 0 ? Number.NaN : (1 + extreme) / (1 + valid);
    out.push({ delta: d, low: quantile(col, alpha), high: quantile(col, 1 - alpha), pValue });
  }
  return out;
}
