import { describe, expect, it } from 'vitest';
import { filteredDistribution, LlamaModel, type LlamaWeights, type TokenEvent } from '../src/index.js';

// A hand-set model whose logits are LOGITS whatever the input: every layer weight is zero (attention
// and MLP add nothing), every embedding row is e0, and norm + lm_head map e0 to LOGITS.
const LOGITS = [0.1, 2, 1.5, 3, -1, 0.5, 2.5, 1];
function fixedLogitModel(): LlamaModel {
  const config = {
    vocab_size: 8,
    hidden_size: 4,
    intermediate_size: 4,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    rms_norm_eps: 1e-12,
    max_position_embeddings: 64,
    eos_token_id: 7,
    pad_token_id: 0,
  };
  const base = LlamaModel.random(config, 0);
  const weights: LlamaWeights = new Map();
  for (const [name, w] of base.weights) {
    const data = new Float32Array(w.data.length);
    if (name === 'model.embed_tokens.weight') for (let v = 0; v < 8; v++) data[v * 4] = 1;
    if (name === 'model.norm.weight') data[0] = 0.5; // rmsnorm(e0) = 2 e0
    if (name === 'lm_head.weight')
      LOGITS.forEach((l, v) => {
        data[v * 4] = l;
      });
    weights.set(name, { shape: w.shape, data });
  }
  return new LlamaModel(base.config, weights);
}
const letters = { decode: (ids: readonly number[]) => ids.map((i) => 'abcdefgh'[i]).join('') };

describe('generation on a model with known logits', () => {
  it('returns the hand-set logits', async () => {
    const out = await fixedLogitModel().logits([[0, 5, 2]]);
    for (let t = 0; t < 3; t++)
      LOGITS.forEach((l, v) => {
        expect(out.data[t * 8 + v] as number).toBeCloseTo(l, 5);
      });
  });

  it('greedy with a repetition penalty walks down the logits, skipping seen tokens', async () => {
    const m = fixedLogitModel();
    for (const useCache of [true, false]) {
      const [r] = await m.generate([[0]], {
        maxNewTokens: 6,
        repetitionPenalty: 1e6,
        stopTokenIds: [],
        useCache,
      });
      expect(r?.tokens).toEqual([3, 6, 1, 2, 7, 5]);
    }
    const [plain] = await m.generate([[0]], { maxNewTokens: 3, stopTokenIds: [] });
    expect(plain?.tokens).toEqual([3, 3, 3]);
  });

  it('sampled first tokens follow temperature / top-k / top-p (1000 rows, one RNG stream each)', async () => {
    const m = fixedLogitModel();
    const opts = { temperature: 0.8, topK: 5, topP: 0.9 };
    const rows = Array.from({ length: 1000 }, () => [0]);
    const out = await m.generate(rows, { ...opts, maxNewTokens: 1, seed: 11 });
    const d = filteredDistribution(LOGITS, opts);
    expect(d.ids.length).toBeLessThan(5); // top-p cut something
    for (const r of out) expect(d.ids).toContain(r.tokens[0]);
    d.ids.forEach((id, i) => {
      const freq = out.filter((r) => r.tokens[0] === id).length / out.length;
      expect(Math.abs(freq - (d.probs[i] as number))).toBeLessThan(0.05);
    });
    const again = await m.generate(rows, { ...opts, maxNewTokens: 1, seed: 11 });
    expect(again.map((r) => r.tokens)).toEqual(out.map((r) => r.tokens));
  });

  it('stops at stop strings and stop ids, and streams in step-then-row order', async () => {
    const m = fixedLogitModel();
    const events: TokenEvent[] = [];
    const [a, b] = await m.generate(
      [[0], [0, 4, 4]],
      { maxNewTokens: 6, repetitionPenalty: 1e6, stopStrings: ['bc'], stopTokenIds: [] },
      { tokenizer: letters, onToken: (e) => events.push(e) },
    );
    // row 0: d g b c -> "bc" appears: cut before it; row 1 the same tokens (4 is never chosen here)
    expect(a).toMatchObject({ tokens: [3, 6, 1, 2], text: 'dg', finishReason: 'stop_string' });
    expect(b).toEqual(a);
    expect(events.map((e) => [e.step, e.row])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 1],
      [3, 0],
      [3, 1],
    ]);
    for (const row of [0, 1]) {
      const mine = events.filter((e) => e.row === row);
      expect(mine.map((e) => e.text).join('')).toBe('dg');
      expect(mine.map((e) => e.token)).toEqual([3, 6, 1, 2]);
      expect(mine.at(-1)?.finishReason).toBe('stop_string');
      expect(mine.slice(0, -1).every((e) => e.finishReason === undefined)).toBe(true);
    }
    const [eos] = await m.generate(
      [[0]],
      { maxNewTokens: 6, repetitionPenalty: 1e6, stopTokenIds: [1] },
      { tokenizer: letters },
    );
    expect(eos).toMatchObject({ tokens: [3, 6, 1], text: 'dg', finishReason: 'eos' });
    // The config's eos (7) is the default stop id.
    const [cfgEos] = await m.generate([[0]], { maxNewTokens: 8, repetitionPenalty: 1e6 });
    expect(cfgEos).toMatchObject({ tokens: [3, 6, 1, 2, 7], finishReason: 'eos' });
    // logprobs are of the raw model distribution (the penalty only steers the choice)
    const lse = Math.log(LOGITS.reduce((acc, l) => acc + Math.exp(l), 0));
    cfgEos?.logprobs.forEach((lp, i) => {
      expect(lp).toBeCloseTo((LOGITS[cfgEos.tokens[i] as number] as number) - lse, 5);
    });
  });

  it('rejects bad prompts with clear errors', async () => {
    const m = fixedLogitModel();
    await expect(m.generate([[0, 9]])).rejects.toThrow(/token id 9 is outside the vocabulary/);
    await expect(m.generate([[]])).rejects.toThrow(/prompt 0 is empty/);
    await expect(m.generate([[0]], { maxNewTokens: 100 })).rejects.toThrow(/max_position_embeddings 64/);
    await expect(m.generate([[0]], { stopStrings: ['x'] })).rejects.toThrow(/need a tokenizer/);
  });
});
