import { Rng } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { CaseScorer, CaseScorerConfigSchema, type ScorerExample } from './case-scorer.js';

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('CaseScorer', () => {
  it('pair features: product, strategy one-hot, cosine, advantage, label', () => {
    const s = new CaseScorer(2, 3);
    const f = s.pairFeatures(Float32Array.from([0.6, 0.8]), {
      embedding: Float32Array.from([1, 0]),
      action: 2,
      advantage: -0.25,
    });
    expect(Array.from(f)).toEqual([expect.closeTo(0.6, 6), 0, 0, 0, 1, expect.closeTo(0.6, 6), -0.25, 0]);
  });

  it('its loss falls on a separable toy set and it then scores the two classes apart', async () => {
    // Good pairs: the case took strategy 0 and its outcome beat the mean; bad pairs: anything else.
    const dim = 8;
    const scorer = new CaseScorer(
      dim,
      3,
      CaseScorerConfigSchema.parse({ hidden: 8, batchSize: 16, lr: 0.05, seed: 2, threads: 1 }),
    );
    const rng = Rng.fromSeed(5, 'toy');
    const unit = () => {
      const v = Float32Array.from({ length: dim }, () => rng.normal());
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const examples: ScorerExample[] = Array.from({ length: 64 }, (_, i) => {
      const action = i % 3;
      const advantage = i % 2 === 0 ? 0.4 : -0.4;
      return {
        features: scorer.pairFeatures(unit(), { embedding: unit(), action, advantage }),
        label: action === 0 && advantage > 0 ? 1 : 0,
      };
    });
    const losses = await scorer.train(examples, 150);
    expect(losses).toHaveLength(150);
    expect(mean(losses.slice(-10))).toBeLessThan(0.25 * mean(losses.slice(0, 10)));
    expect(scorer.fits).toBe(1);
    const x = new Float32Array(examples.length * scorer.features);
    examples.forEach((e, i) => {
      x.set(e.features, i * scorer.features);
    });
    const p = await scorer.score(x);
    examples.forEach((e, i) => {
      expect(p[i]! > 0.5).toBe(e.label === 1);
    });
  });

  it('refuses to score before a fit', async () => {
    await expect(new CaseScorer(2, 2).score(new Float32Array(7))).rejects.toThrow(/not been fitted/);
  });
});
