import { Rng } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { bootstrapMean, bootstrapTable, pairedCompare, quantile } from './bootstrap.js';
import { ScoreTable } from './score-table.js';

function bernoulliTable(n: number, p: number, seed: number, group = 0): ScoreTable {
  const rng = Rng.fromSeed(seed);
  const t = new ScoreTable(2, 4);
  for (let i = 0; i < n; i++) {
    const o = t.addRow(i % 2 === 0 ? group : 1);
    t.num[o] = rng.bool(p) ? 1 : 0;
    t.den[o] = 1;
    // a turn-level rate: 0..3 eligible turns
    const turns = rng.int(4);
    t.num[o + 1] = rng.int(turns + 1);
    t.den[o + 1] = turns;
  }
  return t;
}

/** One resample's multiplicities: Lemire's multiply-and-reject draws, in BigInt arithmetic. */
function referenceCounts(rows: number, rng: Rng): number[] {
  const n = BigInt(rows);
  const threshold = (2n ** 32n - n) % n;
  const counts = new Array<number>(rows).fill(0);
  for (let k = 0; k < rows; k++) {
    let m = BigInt(rng.nextU32()) * n;
    while ((m & 0xffffffffn) < threshold) m = BigInt(rng.nextU32()) * n;
    counts[Number(m >> 32n)]!++;
  }
  return counts;
}

/**
 * The bootstrap written plainly, row by row in file order, with the same draws: bootstrapTable's
 * grouped, generated kernel must give bit-identical intervals.
 */
function referenceBootstrap(t: ScoreTable, groups: number, resamples: number, seed: number) {
  const rng = Rng.fromSeed(seed);
  const W = t.width;
  const out: number[][] = [];
  for (let b = 0; b < resamples; b++) {
    const counts = referenceCounts(t.rows, rng);
    const sn = new Array<number>((groups + 1) * W).fill(0);
    const sd = new Array<number>((groups + 1) * W).fill(0);
    for (let i = 0; i < t.rows; i++) {
      if (counts[i] === 0) continue;
      for (let m = 0; m < W; m++) {
        const j = t.group[i]! * W + m;
        sn[j] = sn[j]! + counts[i]! * t.num[i * W + m]!;
        sd[j] = sd[j]! + counts[i]! * t.den[i * W + m]!;
      }
    }
    for (let g = 0; g < groups; g++)
      for (let m = 0; m < W; m++) {
        sn[groups * W + m] = sn[groups * W + m]! + sn[g * W + m]!;
        sd[groups * W + m] = sd[groups * W + m]! + sd[g * W + m]!;
      }
    out.push(sn.map((x, j) => (sd[j] === 0 ? Number.NaN : x / sd[j]!)));
  }
  return out;
}

describe('bootstrap', () => {
  it('gives the paired-bootstrap interval and p-value of a plain row-by-row loop, bit for bit', () => {
    const rng = Rng.fromSeed(12);
    const a = bernoulliTable(600, 0.4, 5);
    const b = bernoulliTable(600, 0.45, 6);
    for (let i = 0; i < 600 * 2; i += 2) a.num[i] = rng.normal(); // a continuous column too
    const B = 150;
    const got = pairedCompare(a, b, 'paired-bootstrap', {
      resamples: B,
      confidence: 0.95,
      rng: Rng.fromSeed(8),
    });
    const draws = Rng.fromSeed(8);
    const boot: number[][] = [];
    for (let r = 0; r < B; r++) {
      const c = referenceCounts(600, draws);
      const row: number[] = [];
      for (let m = 0; m < 2; m++) {
        let sa = 0;
        let da = 0;
        let sb = 0;
        let db = 0;
        for (let i = 0; i < 600; i++) {
          if (c[i] === 0) continue;
          sa += c[i]! * a.num[i * 2 + m]!;
          da += c[i]! * a.den[i * 2 + m]!;
          sb += c[i]! * b.num[i * 2 + m]!;
          db += c[i]! * b.den[i * 2 + m]!;
        }
        row.push(da === 0 || db === 0 ? Number.NaN : sa / da - sb / db);
      }
      boot.push(row);
    }
    const alpha = (1 - 0.95) / 2;
    for (let m = 0; m < 2; m++) {
      const delta = a.ratio(m) - b.ratio(m);
      const col = Float64Array.from(boot, (r) => r[m]!);
      const extreme = boot.filter((r) => Math.abs(r[m]! - delta) >= Math.abs(delta) - 1e-12).length;
      expect(got[m]).toEqual({
        delta,
        low: quantile(col.slice(), alpha),
        high: quantile(col.slice(), 1 - alpha),
        pValue: (1 + extreme) / (1 + B),
      });
    }
  });

  it('gives the intervals of a plain row-by-row bootstrap, bit for bit', () => {
    const rng = Rng.fromSeed(9);
    const t = new ScoreTable(5, 4);
    for (let i = 0; i < 700; i++) {
      // group 3 of 4 stays empty; column 2 has varying denominators and column 4 is undefined on many rows
      const o = t.addRow([0, 1, 2, 0][rng.int(4)]!);
      t.num[o] = rng.float();
      t.den[o] = 1;
      t.num[o + 1] = rng.normal() * 1e3;
      t.den[o + 1] = 1;
      const turns = rng.int(5);
      t.num[o + 2] = rng.int(turns + 1);
      t.den[o + 2] = turns;
      t.num[o + 3] = -rng.float();
      t.den[o + 3] = 1;
      const defined = rng.bool(0.3);
      t.num[o + 4] = defined ? rng.float() : 0;
      t.den[o + 4] = defined ? 1 : 0;
    }
    const B = 120;
    const ci = bootstrapTable(t, 4, { resamples: B, confidence: 0.9, rng: Rng.fromSeed(4) });
    const ref = referenceBootstrap(t, 4, B, 4);
    const interval = (slot: number, m: number) => {
      const col = Float64Array.from(ref, (r) => r[slot * 5 + m]!);
      const alpha = (1 - 0.9) / 2; // as bootstrapTable computes it (not exactly 0.05)
      return [quantile(col.slice(), alpha), quantile(col.slice(), 1 - alpha)];
    };
    for (let m = 0; m < 5; m++) {
      expect([ci.overall[m]!.low, ci.overall[m]!.high]).toEqual(interval(4, m));
      for (let g = 0; g < 4; g++)
        expect([ci.byGroup[g]![m]!.low, ci.byGroup[g]![m]!.high]).toEqual(interval(g, m));
    }
    expect(ci.byGroup[3]![0]!.low).toBeNaN();
    // Progress: one call per resample, and the same intervals as without the callback.
    const calls: [number, number][] = [];
    const again = bootstrapTable(t, 4, {
      resamples: B,
      confidence: 0.9,
      rng: Rng.fromSeed(4),
      onResample: (done, total) => calls.push([done, total]),
    });
    expect(again).toEqual(ci);
    expect(calls).toEqual(Array.from({ length: B }, (_, i) => [i + 1, B]));
    const paired: number[] = [];
    pairedCompare(t, t, 'permutation', {
      resamples: 10,
      confidence: 0.9,
      rng: Rng.fromSeed(1),
      onResample: (done, total) => paired.push(done / total),
    });
    expect(paired).toHaveLength(20);
    expect(paired.at(-1)).toBe(1);
  });

  it('type-7 quantiles by hand, NaN left out', () => {
    const v = new Float64Array([3, 1, Number.NaN, 2, 4]);
    expect(quantile(v, 0)).toBe(1);
    expect(quantile(v, 0.5)).toBe(2.5);
    expect(quantile(v, 0.25)).toBe(1.75);
  });

  it('is seeded: the same seed gives the same intervals, another seed different ones', () => {
    const t = bernoulliTable(500, 0.3, 1);
    const run = (seed: number) =>
      bootstrapTable(t, 2, { resamples: 200, confidence: 0.95, rng: Rng.fromSeed(seed) });
    expect(run(5)).toEqual(run(5));
    expect(run(5).overall[0]!.low).not.toBe(run(6).overall[0]!.low);
  });

  it('a proportion interval matches the normal approximation at large n', () => {
    const n = 4000;
    const t = bernoulliTable(n, 0.3, 2);
    const ci = bootstrapTable(t, 2, { resamples: 1000, confidence: 0.95, rng: Rng.fromSeed(3) });
    const p = ci.overall[0]!.value;
    const half = 1.96 * Math.sqrt((p * (1 - p)) / n);
    expect(ci.overall[0]!.low).toBeCloseTo(p - half, 2);
    expect(ci.overall[0]!.high).toBeCloseTo(p + half, 2);
    expect(ci.overall[1]!.low).toBeLessThan(ci.overall[1]!.value);
    // groups: each half of the rows
    expect(ci.byGroup[0]!.length).toBe(2);
    expect(ci.byGroup[0]![0]!.low).toBeLessThan(ci.byGroup[0]![0]!.value);
    expect(ci.byGroup[0]![0]!.high - ci.byGroup[0]![0]!.low).toBeGreaterThan(
      ci.overall[0]!.high - ci.overall[0]!.low,
    );
    const m = bootstrapMean([1, 0, 1, Number.NaN, 1], {
      resamples: 200,
      confidence: 0.9,
      rng: Rng.fromSeed(1),
    });
    expect(m.value).toBe(0.75);
    expect(m.low).toBeLessThanOrEqual(0.75);
  });

  it.each(['paired-bootstrap', 'permutation'] as const)(
    '%s: identical systems p = 1, a clear gain p small, no gain p not small',
    (test) => {
      const a = bernoulliTable(600, 0.5, 10);
      const same = pairedCompare(a, a, test, { resamples: 300, confidence: 0.95, rng: Rng.fromSeed(1) });
      expect(same[0]).toEqual({ delta: 0, low: 0, high: 0, pValue: 1 });
      // b = a with 15% of successes turned into failures: a real paired difference
      const b = new ScoreTable(2, 600);
      const rng = Rng.fromSeed(11);
      for (let i = 0; i < a.rows; i++) {
        const o = b.addRow(0);
        b.num[o] = a.num[o]! === 1 && rng.bool(0.15) ? 0 : a.num[o]!;
        b.den[o] = 1;
        b.num[o + 1] = a.num[o + 1]!;
        b.den[o + 1] = a.den[o + 1]!;
      }
      const d = pairedCompare(a, b, test, { resamples: 500, confidence: 0.95, rng: Rng.fromSeed(2) });
      expect(d[0]!.delta).toBeGreaterThan(0.05);
      expect(d[0]!.pValue).toBeLessThan(0.01);
      expect(d[0]!.low).toBeGreaterThan(0);
      // two independent draws of the same process: no real difference
      const c = bernoulliTable(600, 0.5, 99);
      const n = pairedCompare(a, c, test, { resamples: 500, confidence: 0.95, rng: Rng.fromSeed(2) });
      expect(n[0]!.pValue).toBeGreaterThan(0.05);
      expect(n[0]!.low).toBeLessThan(n[0]!.delta);
    },
  );
});

describe('resample draws', () => {
  it('every row is drawn about once per resample on average (unbiased index draws)', () => {
    // A table whose row i holds the value i: the bootstrap mean of the resampled means is the mean.
    const n = 1000;
    const t = new ScoreTable(1, n);
    for (let i = 0; i < n; i++) {
      const o = t.addRow(0);
      t.num[o] = i;
      t.den[o] = 1;
    }
    const ci = bootstrapTable(t, 1, { resamples: 2000, confidence: 0.5, rng: Rng.fromSeed(4) });
    // the mean is 499.5 and the resampled mean's sd is about 288.7 / sqrt(1000) = 9.13; the middle
    // 50% of resampled means lies within about 0.674 sd of the mean
    expect(ci.overall[0]!.value).toBe(499.5);
    expect((ci.overall[0]!.low + ci.overall[0]!.high) / 2).toBeCloseTo(499.5, -0.5);
    expect(ci.overall[0]!.high - ci.overall[0]!.low).toBeCloseTo(2 * 0.674 * 9.13, -0.5);
  });
});
