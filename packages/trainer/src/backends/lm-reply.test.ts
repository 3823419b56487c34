import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '@gopo/core';
import { replyPromptFor } from '@gopo/cs-agent';
import type { AgentState, ReplyRequest, Turn } from '@gopo/dialogue';
import { ShopEnv } from '@gopo/envs';
import { ChatTemplate, DEFAULT_TOKENIZER_PATH, LlamaModel, TOKENIZER_FILE, Tokenizer } from '@gopo/lm';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ReplyBackendConfig, ReplyBackendConfigSchema } from '../gopo/config.js';
import { LmReplyPolicy } from './lm-reply.js';
import { createReplyBackend } from './reply-backends.js';

type LmConfig = Extract<ReplyBackendConfig, { kind: 'lm' }>;

const CONTEXT = 256;
let dir: string;
let tokenizer: Tokenizer;
const states: AgentState[] = [];

beforeAll(async () => {
  dir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'lm-reply-')), 'model');
  tokenizer = await Tokenizer.load(DEFAULT_TOKENIZER_PATH);
  const model = LlamaModel.random(
    {
      vocab_size: tokenizer.vocabSize,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      max_position_embeddings: CONTEXT,
      eos_token_id: tokenizer.eosId,
      pad_token_id: tokenizer.padId,
      bos_token_id: tokenizer.bosId,
    },
    7,
  );
  await model.save(dir, { [TOKENIZER_FILE]: await fs.readFile(DEFAULT_TOKENIZER_PATH) });
  const env = new ShopEnv();
  for (const seed of [1, 2, 3]) {
    env.reset(seed, { sessionId: `s-${seed}` });
    states.push(env.agentState());
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

const lmConfig = (overrides: Partial<LmConfig> = {}): LmConfig =>
  ReplyBackendConfigSchema.parse({ kind: 'lm', dir, maxNewTokens: 8, ...overrides }) as LmConfig;

const requests = (strategy = 'greet'): ReplyRequest[] =>
  states.map((state, i) => ({ state, strategy, seed: 100 + i }));

describe('LmReplyPolicy on a tiny random Llama', () => {
  it('returns one string per request, the same on every call at temperature 0', async () => {
    const policy = await LmReplyPolicy.load(lmConfig());
    const a = await policy.reply(requests());
    const b = await policy.reply(requests());
    expect(a).toHaveLength(3);
    for (const r of a) expect(typeof r).toBe('string');
    expect(b).toEqual(a);
    expect(await policy.reply([])).toEqual([]);
  });

  it('prompts with the CS prompt of @gopo/cs-agent and the commanded strategy token', async () => {
    const spy = vi.spyOn(LlamaModel.prototype, 'generate');
    const policy = await LmReplyPolicy.load(lmConfig());
    await policy.reply(requests('recommend'));
    const chat = new ChatTemplate(tokenizer);
    const want = states.map((s) => chat.generationPrompt(replyPromptFor(s), { strategy: 'recommend' }).ids);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![0]).toEqual(want);
    expect(spy.mock.calls[0]![1]).toMatchObject({
      maxNewTokens: 8,
      temperature: 0,
      stopTokenIds: [chat.ids.end],
    });
  });

  it('is built by createReplyBackend for kind "lm"', async () => {
    const backend = await createReplyBackend(lmConfig(), []);
    expect(backend.policy).toBeInstanceOf(LmReplyPolicy);
    expect(backend.trainable).toBe(false);
    expect(await backend.policy.reply(requests())).toEqual(
      await (await LmReplyPolicy.load(lmConfig())).reply(requests()),
    );
    await backend.close();
  });

  it('drops the oldest turns of a dialogue longer than the context, keeping the state block', async () => {
    const turns: Turn[] = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0
        ? {
            role: 'user',
            text: `Message ${i}: I am still looking for wireless headphones under 80.`,
            events: [],
          }
        : {
            role: 'agent',
            text: `Reply ${i}: we have several models in stock.`,
            strategy: 'clarify',
            events: [],
          },
    );
    const long: AgentState = { ...states[0]!, turns };
    const chat = new ChatTemplate(tokenizer);
    const full = chat.generationPrompt(replyPromptFor(long), { strategy: 'recommend' }).ids;
    expect(full.length).toBeGreaterThan(CONTEXT);
    const spy = vi.spyOn(LlamaModel.prototype, 'generate');
    const policy = await LmReplyPolicy.load(lmConfig({ maxNewTokens: 16 }));
    const [reply] = await policy.reply([{ state: long, strategy: 'recommend', seed: 1 }]);
    expect(typeof reply).toBe('string');
    const prompt = spy.mock.calls[0]![0][0]!;
    expect(prompt.length).toBeLessThanOrEqual(CONTEXT - 16);
    // The fewest turns dropped: one more turn would not fit.
    const messages = replyPromptFor(long);
    const kept = messages.findIndex(
      (_, drop) =>
        chat.generationPrompt(messages.slice(drop), { strategy: 'recommend' }).ids.length <= CONTEXT - 16,
    );
    expect(kept).toBeGreaterThan(0);
    expect(prompt).toEqual(chat.generationPrompt(messages.slice(kept), { strategy: 'recommend' }).ids);
    expect(full.slice(-20)).toEqual(prompt.slice(-20));
  });

  it('a state block that alone overflows the context is a clear error', async () => {
    const policy = await LmReplyPolicy.load(lmConfig({ maxNewTokens: 16 }));
    const huge: AgentState = {
      ...states[0]!,
      facts: Array.from({ length: 60 }, (_, i) => `item p-${i} costs ${i}.00`),
    };
    await expect(policy.reply([{ state: huge, strategy: 'recommend', seed: 1 }])).rejects.toThrow(UsageError);
    await expect(policy.reply([{ state: huge, strategy: 'recommend', seed: 1 }])).rejects.toThrow(
      /context \(256 tokens\) cannot hold the state block of s-1/,
    );
  });
});
