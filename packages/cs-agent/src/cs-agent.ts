/**
 * The Customer Service Agent: a @gopo/lm decoder that writes the reply for the strategy the Expert
 * Agent chose. Its prompt is the chat-templated last turns, a system message with the SOP state and
 * the facts, then the commanded `<|strategy:NAME|>` token and the agent header (replyPromptFor); the
 * reply ends at `<|end|>`. All live dialogues are answered in one batched generation with the KV
 * cache; each request samples from its own seeded stream, so a reply does not depend on its batch.
 */
import * as path from 'node:path';
import { UsageError } from '@gopo/core';
import type { AgentState, ReplyPolicy, ReplyRequest } from '@gopo/dialogue';
import { ChatTemplate, LlamaModel, TOKENIZER_FILE, Tokenizer } from '@gopo/lm';
import { z } from 'zod';
import { DEFAULT_REPLY_HISTORY_TURNS, replyPromptFor } from './reply-prompt.js';

export const CsGenerationConfigSchema = z
  .object({
    maxNewTokens: z.number().int().min(1).max(512).default(64).describe('reply length cap in tokens'),
    temperature: z.number().min(0).default(0).describe('sampling temperature (0: greedy)'),
    topK: z.number().int().min(0).default(0).describe('keep the k most likely tokens (0: all)'),
    topP: z.number().gt(0).max(1).default(1).describe('nucleus sampling mass'),
    maxHistoryTurns: z
      .number()
      .int()
      .min(0)
      .default(DEFAULT_REPLY_HISTORY_TURNS)
      .describe('turns of the dialogue the prompt keeps before the facts'),
    strategyToken: z
      .boolean()
      .default(true)
      .describe(
        'condition the reply on the commanded strategy token (false: a flat agent, no strategy anywhere in its prompts; the request strategy is ignored)',
      ),
  })
  .strict()
  .describe('how the CS Agent writes replies');
export type CsGenerationConfig = z.infer<typeof CsGenerationConfigSchema>;
export type CsGenerationConfigInput = z.input<typeof CsGenerationConfigSchema>;

/** A prompt and what the reply model wrote, with the behaviour log-probs of its tokens. */
export interface GeneratedReply {
  readonly prompt: readonly number[];
  readonly tokens: readonly number[];
  readonly logprobs: readonly number[];
  readonly text: string;
}

export class CsAgent implements ReplyPolicy {
  readonly name = 'cs-agent';
  readonly chat: ChatTemplate;
  readonly generation: CsGenerationConfig;

  constructor(
    readonly model: LlamaModel,
    readonly tokenizer: Tokenizer,
    generation: CsGenerationConfigInput = {},
  ) {
    this.chat = new ChatTemplate(tokenizer);
    this.generation = CsGenerationConfigSchema.parse(generation);
  }

  /** A reply model folder (Hugging Face layout with tokenizer.json, e.g. `gopo cs sft`'s model/). */
  static async load(
    dir: string,
    generation: CsGenerationConfigInput = {},
    options: { trainable?: boolean; intraOpThreads?: number } = {},
  ): Promise<CsAgent> {
    // A trained agent feeds its weights as inputs, so updates reach every compiled session.
    const model = await LlamaModel.fromPretrained(dir, {
      ...(options.trainable ? { weightsAs: 'inputs' as const } : {}),
      ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
    });
    const tokenizer = await Tokenizer.load(path.join(dir, TOKENIZER_FILE));
    return new CsAgent(model, tokenizer, generation);
  }

  /** The prompt ids of a reply: the state's prompt with the strategy token and the agent header. */
  promptIds(state: AgentState, strategy: string): number[] {
    if (!this.generation.strategyToken)
      return this.chat.generationPrompt(
        replyPromptFor(state, this.generation.maxHistoryTurns, { strategyTokens: false }),
      ).ids;
    if (!this.tokenizer.strategies.includes(strategy))
      throw new UsageError(
        `the reply model has no token for strategy "${strategy}" (its strategies: ${this.tokenizer.strategies.join(', ')})`,
      );
    return this.chat.generationPrompt(replyPromptFor(state, this.generation.maxHistoryTurns), { strategy })
      .ids;
  }

  /** Generates the replies with their tokens and behaviour log-probs (what RL needs). */
  async generate(
    requests: readonly ReplyRequest[],
    overrides: Partial<CsGenerationConfig> = {},
  ): Promise<GeneratedReply[]> {
    if (requests.length === 0) return [];
    const g = { ...this.generation, ...overrides };
    const prompts = requests.map((r) => this.promptIds(r.state, r.strategy));
    const out = await this.model.generate(
      prompts,
      {
        maxNewTokens: g.maxNewTokens,
        temperature: g.temperature,
        topK: g.topK,
        topP: g.topP,
        rowSeeds: requests.map((r) => r.seed),
        stopTokenIds: [this.tokenizer.endId],
        padId: this.tokenizer.padId,
      },
      { tokenizer: this.tokenizer },
    );
    return out.map((r, i) => ({
      prompt: prompts[i]!,
      tokens: r.tokens,
      logprobs: r.logprobs,
      text: (r.text ?? '').trim(),
    }));
  }

  async reply(requests: readonly ReplyRequest[]): Promise<string[]> {
    return (await this.generate(requests)).map((r) => r.text);
  }
}
