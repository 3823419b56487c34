import { Rng } from '@gopo/core';
import { SHOP_STRATEGIES } from '@gopo/dialogue';
import { collectTemplateTurns, shopStrategyPolicies } from '@gopo/envs';
import { describe, expect, it } from 'vitest';
import {
  expandPhrasing,
  PARAPHRASE_TEMPLATES,
  ParaphraseTemplateError,
  paraphraseCorpus,
} from './paraphrase-corpus.js';

const words = (t: string) =>
  t
    .toLowerCase()
    .replace(/[^a-z' ]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
const grams = (t: string, n: number) => {
  const w = words(t);
  return Array.from({ length: Math.max(0, w.length - n + 1) }, (_, i) => w.slice(i, i + n).join(' '));
};

describe('paraphraseCorpus', () => {
  const corpus = paraphraseCorpus({ trainPerStrategy: 60, heldOutPerStrategy: 20 });

  it('is deterministic for a config and changes with the seed', () => {
    expect(paraphraseCorpus({ trainPerStrategy: 60, heldOutPerStrategy: 20 })).toEqual(corpus);
    expect(paraphraseCorpus({ trainPerStrategy: 60, heldOutPerStrategy: 20, seed: 2 }).train).not.toEqual(
      corpus.train,
    );
  });

  it('is balanced over the strategy set and keeps held-out phrasings out of training', () => {
    for (const s of SHOP_STRATEGIES) {
      expect(corpus.train.filter((e) => e.strategy === s)).toHaveLength(60);
      expect(corpus.heldOut.filter((e) => e.strategy === s)).toHaveLength(20);
    }
    const trainPhrasings = new Set(corpus.train.map((e) => e.template));
    const heldPhrasings = new Set(corpus.heldOut.map((e) => e.template));
    expect([...heldPhrasings].filter((t) => trainPhrasings.has(t))).toEqual([]);
    // Every phrasing is used: 3 of 4 for training, the 4th held out.
    const total = SHOP_STRATEGIES.reduce((n, s) => n + PARAPHRASE_TEMPLATES[s].length, 0);
    expect(trainPhrasings.size + heldPhrasings.size).toBe(total);
    expect(heldPhrasings.size).toBe(
      SHOP_STRATEGIES.reduce((n, s) => n + Math.floor(PARAPHRASE_TEMPLATES[s].length / 4), 0),
    );
  });

  it('fills every slot of every phrasing, and names an unknown slot', () => {
    const all = [...corpus.train, ...corpus.heldOut];
    for (const e of all) expect(e.text).not.toMatch(/[<>{}]/);
    expect(() => expandPhrasing('the <nope> is here', {}, Rng.fromSeed(1))).toThrow(ParaphraseTemplateError);
    expect(expandPhrasing('{a|b} <x> , ok', { x: 'X' }, Rng.fromSeed(1))).toMatch(/^[ab] X, ok$/);
  });

  it("is not the simulator's phrasing: no reply equal to a template reply, few sharing any five words", async () => {
    const replies = [];
    for (const name of ['oracle', 'uniform'])
      replies.push(
        ...(await collectTemplateTurns({
          policy: shopStrategyPolicies.get(name),
          scenarios: 20,
          seed: 3,
          allAdmissible: true,
        })),
      );
    const texts = new Set(replies.map((r) => r.text));
    const five = new Set(replies.flatMap((r) => grams(r.text, 5)));
    const all = [...corpus.train, ...corpus.heldOut];
    expect(all.filter((e) => texts.has(e.text))).toEqual([]);
    // The few shared 5-grams are item names ("posture task x desk chair").
    const sharing = all.filter((e) => grams(e.text, 5).some((g) => five.has(g))).length;
    expect(sharing / all.length).toBeLessThan(0.05);
  });
});
