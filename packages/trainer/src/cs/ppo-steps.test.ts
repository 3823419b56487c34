/**
 * Token-level PPO as a whole (sampling, reference log-probs, values, GAE, whitening, clipped steps)
 * must move a policy toward reward it can reach; the unit tests of each piece (cs-agent's ppo.test.ts)
 * cannot show the pieces agree in sign. Flat PPO on the shop learns little within its budget, and this
 * test separates "the update points the wrong way" from "the signal is too weak".
 */
import { Rng } from '@gopo/core';
import { CsAgent, CsUpdater, type GeneratedReply, PpoConfigSchema } from '@gopo/cs-agent';
import { LlamaModel, loadDefaultTokenizer } from '@gopo/lm';
import { tinyLlamaConfig } from '@gopo/lm/testing';
import { describe, expect, it } from 'vitest';
import { ppoBatch, ppoEpochs } from './ppo-steps.js';

describe('token-level PPO end to end', () => {
  it('raises a sequence reward on the last token that the policy can reach', async () => {
    const tok = await loadDefaultTokenizer();
    const config = tinyLlamaConfig(tok.vocabSize, { pad_token_id: tok.padId });
    // The same seed gives the reference the policy's initial weights.
    const policy = new CsAgent(LlamaModel.random(config, 5, { weightsAs: 'inputs', intraOpThreads: 1 }), tok);
    const reference = new CsAgent(LlamaModel.random(config, 5, { intraOpThreads: 1 }), tok);
    const ppo = PpoConfigSchema.parse({});
    const updater = new CsUpdater(policy, 16, { kind: 'ppo', ppo }, { lr: 1e-2, intraOpThreads: 1, seed: 1 });
    const prompt = [tok.bosId, 11, 12, 13];
    // The first token's distribution, exactly: the last position's softmax.
    const firstTokenProbs = async (): Promise<Float64Array> => {
      const l = await policy.model.logits([prompt]);
      const v = config.vocab_size;
      const last = Array.from((l.data as Float32Array).subarray((prompt.length - 1) * v, prompt.length * v));
      const max = Math.max(...last);
      const e = last.map((x) => Math.exp(x - max));
      const z = e.reduce((a, b) => a + b, 0);
      return Float64Array.from(e, (x) => x / z);
    };
    // Reward 1 when the reply opens with one of the 256 tokens the initial model likes best (about 14%
    // of its replies), paid on the reply's last token as the shop's sequence reward is, so only GAE
    // carries it back to the token that earned it. A rarer reward (the top 32, 2%) leaves most batches
    // without signal, and whitening then turns value noise into unit-variance advantages.
    const p0 = await firstTokenProbs();
    const liked = new Set(
      Array.from(p0.keys())
        .sort((a, b) => p0[b]! - p0[a]!)
        .slice(0, 256),
    );
    const mass = (p: Float64Array) => [...liked].reduce((a, t) => a + p[t]!, 0);
    const reward = (r: GeneratedReply) => (liked.has(r.tokens[0] ?? -1) ? 1 : 0);
    const sample = async (n: number, seedBase: number): Promise<GeneratedReply[]> => {
      const out = await policy.model.generate(
        Array.from({ length: n }, () => prompt),
        {
          maxNewTokens: 4,
          temperature: 1,
          rowSeeds: Array.from({ length: n }, (_, i) => seedBase + i),
          stopTokenIds: [tok.eosId],
          padId: tok.padId,
        },
        { tokenizer: tok },
      );
      return out.map((r) => ({ prompt, tokens: r.tokens, logprobs: r.logprobs, text: r.text ?? '' }));
    };
    const rng = Rng.fromSeed(1, 'ppo-steps-test');
    for (let iteration = 0; iteration < 20; iteration++) {
      const replies = await sample(32, iteration * 100);
      const batch = await ppoBatch(
        replies.map((r) => ({
          replies: [r],
          scores: [r.tokens.map((_, t) => (t === r.tokens.length - 1 ? reward(r) : 0))],
        })),
        { reference, updater, ppo, beta: 0.01 },
      );
      await ppoEpochs(updater, batch.items, 2, rng);
    }
    const before = mass(p0);
    const after = mass(await firstTokenProbs());
    expect(after, `P(first token liked) ${before.toFixed(3)} -> ${after.toFixed(3)}`).toBeGreaterThan(
      2 * before,
    );
  }, 120_000);
});
