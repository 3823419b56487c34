import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CsAgent, DEFAULT_REPLY_HISTORY_TURNS, replyPromptFor } from '@gopo/cs-agent';
import type { AgentState, ReplyRequest, Turn } from '@gopo/dialogue';
import { ShopEnv } from '@gopo/envs';
import { ChatTemplate, DEFAULT_TOKENIZER_PATH, LlamaModel, TOKENIZER_FILE, Tokenizer } from '@gopo/lm';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ReplyBackendConfig, ReplyBackendConfigSchema } from '../gopo/config.js';
import { createReplyBackend, type ReplyBackend } from './reply-backends.js';

type LmConfig = Extract<ReplyBackendConfig, { kind: 'lm' }>;

// The `lm` reply backend (the CS Agent of @gopo/cs-agent) on a tiny random Llama with the shipped
// tokenizer, built in a temp folder the way the lm package's tests build theirs.
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

const backend = (overrides: Partial<LmConfig> = {}): Promise<ReplyBackend> =>
  createReplyBackend(
    ReplyBackendConfigSchema.parse({ kind: 'lm', dir, maxNewTokens: 8, ...overrides }) as LmConfig,
    [],
    { intraOpThreads: 1 },
  );

const requests = (strategy = 'greet'): ReplyRequest[] =>
  states.map((state, i) => ({ state, strategy, seed: 100 + i }));

describe('the lm reply backend on a tiny random Llama', () => {
  it('is the CS Agent, frozen', async () => {
    const b = await backend();
    expect(b.policy).toBeInstanceOf(CsAgent);
    expect(b.trainable).toBeUndefined();
    await b.close();
  });

  it('returns one string per request, the same on every call at temperature 0', async () => {
    const { policy } = await backend();
    const a = await policy.reply(requests());
    expect(a).toHaveLength(3);
    for (const r of a) expect(typeof r).toBe('string');
    expect(await policy.reply(requests())).toEqual(a);
    expect(await policy.reply([])).toEqual([]);
  });

  it('prompts with the CS prompt of @gopo/cs-agent and the commanded strategy token', async () => {
    const { policy } = await backend();
    const spy = vi.spyOn(LlamaModel.prototype, 'generate');
    await policy.reply(requests('recommend'));
    const chat = new ChatTemplate(tokenizer);
    const want = states.map(
      (s) =>
        chat.generationPrompt(replyPromptFor(s, DEFAULT_REPLY_HISTORY_TURNS), { strategy: 'recommend' }).ids,
    );
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![0]).toEqual(want);
    expect(spy.mock.calls[0]![1]).toMatchObject({
      maxNewTokens: 8,
      temperature: 0,
      stopTokenIds: [chat.ids.end],
      rowSeeds: [100, 101, 102],
    });
  });

  it('answers a dialogue longer than the model context (the prompt keeps the last turns)', async () => {
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
    expect(
      chat.generationPrompt(replyPromptFor(long, turns.length), { strategy: 'recommend' }).ids.length,
    ).toBeGreaterThan(CONTEXT);
    const { policy } = await backend({ maxNewTokens: 16 });
    const [reply] = await policy.reply([{ state: long, strategy: 'recommend', seed: 1 }]);
    expect(typeof reply).toBe('string');
  });
});
