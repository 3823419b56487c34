import { Rng } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { FlatIndex } from './similarity-index.js';

const unit = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

describe('FlatIndex', () => {
  // Rows and a query whose cosines are worked out by hand: q = (1, 0, 0).
  const rows = [
    [0, 1, 0], // cos 0
    [0.6, 0.8, 0], // cos 0.6
    [0.8, 0, 0.6], // cos 0.8
    [-1, 0, 0], // cos -1
    [0.6, 0, 0.8], // cos 0.6 (ties with row 1: the earlier row first)
  ];
  const index = new FlatIndex(3, 2); // capacity 2: adding grows it
  index.add(Float32Array.from(rows.flat()));
  const q = Float32Array.from([1, 0, 0]);

  it.each(['js', 'ort'] as const)(
    'returns the nearest rows by cosine, best first (%s scan)',
    async (scan) => {
      const top = await index.searchBatch(q, { k: 3, scan });
      expect(top[0]!.map((n) => n.id)).toEqual([2, 1, 4]);
      expect(top[0]!.map((n) => n.similarity)).toEqual([
        expect.closeTo(0.8, 6),
        expect.closeTo(0.6, 6),
        expect.closeTo(0.6, 6),
      ]);
      const filtered = await index.searchBatch(q, {
        k: 5,
        minSimilarity: 0.5,
        accept: (_, id) => id !== 2,
        scan,
      });
      expect(filtered[0]!.map((n) => n.id)).toEqual([1, 4]);
      expect(index.size).toBe(5);
    },
  );

  it('the js and ort scans agree on random unit vectors, query by query', async () => {
    const rng = Rng.fromSeed(3, 'index');
    const d = 16;
    const big = new FlatIndex(d);
    const vecs = Array.from({ length: 700 }, () => unit(Array.from({ length: d }, () => rng.normal())));
    big.add(Float32Array.from(vecs.flat()));
    const queries = Float32Array.from(
      Array.from({ length: 5 }, () => unit(Array.from({ length: d }, () => rng.normal()))).flat(),
    );
    const js = await big.searchBatch(queries, { k: 7, scan: 'js' });
    const ort = await big.searchBatch(queries, { k: 7, scan: 'ort' });
    expect(ort.map((l) => l.map((n) => n.id))).toEqual(js.map((l) => l.map((n) => n.id)));
    // against a plain host computation
    for (let qi = 0; qi < 5; qi++) {
      const qv = queries.subarray(qi * d, (qi + 1) * d);
      const cos = vecs.map((v, id) => ({ id, s: v.reduce((acc, x, j) => acc + x * qv[j]!, 0) }));
      cos.sort((a, b) => b.s - a.s);
      expect(js[qi]!.map((n) => n.id)).toEqual(cos.slice(0, 7).map((c) => c.id));
    }
  });

  it('refuses rows and queries of the wrong width', async () => {
    expect(() => index.add(new Float32Array(4))).toThrow(/whole number of rows/);
    await expect(index.search(new Float32Array(2), { k: 1 })).rejects.toThrow(/whole number of queries/);
  });
});
