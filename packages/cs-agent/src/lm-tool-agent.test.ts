import type { ToolAgentView } from '@gopo/dialogue';
import { DEFAULT_TOKENIZER_PATH, LlamaModel, Tokenizer } from '@gopo/lm';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { fitToolPrompt, LmToolAgent, toolStepIds } from './lm-tool-agent.js';
import { FALLBACK_REPLY, renderToolPrompt } from './tool-step-format.js';

let tokenizer: Tokenizer;
let model: LlamaModel;
const view: ToolAgentView = {
  system: 'You help users find hotels.',
  tools: [],
  messages: Array.from({ length: 12 }, (_, i) =>
    i % 2 === 0
      ? { role: 'user' as const, content: `I want a hotel with ${i} stars in the north of town please.` }
      : { role: 'assistant' as const, content: `Let me look for ${i} options for you.` },
  ),
};

beforeAll(async () => {
  tokenizer = await Tokenizer.load(DEFAULT_TOKENIZER_PATH);
  model = LlamaModel.random(
    {
      vocab_size: tokenizer.vocabSize,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      max_position_embeddings: 192,
      eos_token_id: tokenizer.eosId,
      pad_token_id: tokenizer.padId,
      bos_token_id: tokenizer.bosId,
    },
    3,
  );
});

describe('LmToolAgent', () => {
  it('fits the prompt to its budget by dropping older messages, bos first', () => {
    const full = fitToolPrompt(view, tokenizer, { prompt: { maxMessages: 24, maxToolChars: 400 } }, 10_000);
    expect(full.text).toBe(renderToolPrompt(view));
    const fitted = fitToolPrompt(view, tokenizer, { prompt: { maxMessages: 24, maxToolChars: 400 } }, 80);
    expect(fitted.ids.length).toBeLessThanOrEqual(80);
    expect(fitted.ids[0]).toBe(tokenizer.bosId);
    expect(fitted.text.length).toBeLessThan(full.text.length);
    expect(toolStepIds({ action: { kind: 'reply', text: 'ok' } }, tokenizer).at(-1)).toBe(tokenizer.eosId);
  });

  it('turns a random model’s text into the counted fallback, and a well-formed text into its step', async () => {
    const agent = new LmToolAgent(model, tokenizer, { maxNewTokens: 8, maxPromptTokens: 120 });
    const step = await agent.act(view);
    expect(step.action).toEqual({ kind: 'reply', text: FALLBACK_REPLY });
    expect(agent.stats).toMatchObject({ steps: 1, malformed: 1 });
    vi.spyOn(agent, 'generateText').mockResolvedValue('<|plan|>greet<|reply|>Hello!');
    expect(await agent.act(view)).toEqual({ plan: 'greet', action: { kind: 'reply', text: 'Hello!' } });
    expect(agent.stats.steps).toBe(2);
    expect(agent.stats.malformed).toBe(1);
  });

  it('is a function of the view and its seed', async () => {
    const a = new LmToolAgent(model, tokenizer, {
      maxNewTokens: 6,
      temperature: 1,
      seed: 5,
      maxPromptTokens: 120,
    });
    const b = a.withConfig({});
    expect(await a.generateText(view)).toBe(await b.generateText(view));
  });
});
