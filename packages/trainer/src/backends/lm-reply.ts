import * as path from 'node:path';
import { UsageError } from '@gopo/core';
import { replyPromptFor } from '@gopo/cs-agent';
import type { ReplyPolicy, ReplyRequest } from '@gopo/dialogue';
import { ChatTemplate, type GenerationPrompt, LlamaModel, TOKENIZER_FILE, Tokenizer } from '@gopo/lm';
import type { ReplyBackendConfig } from '../gopo/config.js';

type LmConfig = Extract<ReplyBackendConfig, { kind: 'lm' }>;

/**
 * A reply backend on a @gopo/lm decoder: the CS prompt (replyPromptFor) with the commanded strategy
 * token, generated in one batch for all live dialogues with the KV cache, stopping at end of turn.
 * With temperature > 0 the batch shares one seed (the first request's), so sampled replies depend on
 * the batch; greedy replies do not. A dialogue too long for the model's context loses its oldest
 * turns (the state and facts block, last in the prompt, always stays).
 */
export class LmReplyPolicy implements ReplyPolicy {
  readonly name = 'lm';

  private constructor(
    private readonly model: LlamaModel,
    private readonly tokenizer: Tokenizer,
    private readonly chat: ChatTemplate,
    private readonly config: LmConfig,
  ) {}

  /** Loads the model folder; `intraOpThreads` as in LlamaModelOptions (0 or absent: ORT's default). */
  static async load(
    config: LmConfig,
    runtime: { readonly intraOpThreads?: number } = {},
  ): Promise<LmReplyPolicy> {
    const model = await LlamaModel.fromPretrained(config.dir, runtime);
    const tokenizer = await Tokenizer.load(path.join(config.dir, TOKENIZER_FILE));
    return new LmReplyPolicy(model, tokenizer, new ChatTemplate(tokenizer), config);
  }

  async reply(requests: readonly ReplyRequest[]): Promise<string[]> {
    if (requests.length === 0) return [];
    const prompts = requests.map((r) => this.prompt(r));
    const out = await this.model.generate(
      prompts.map((p) => p.ids),
      {
        maxNewTokens: this.config.maxNewTokens,
        temperature: this.config.temperature,
        stopTokenIds: [prompts[0]!.stopId],
        seed: requests[0]!.seed,
        padId: this.tokenizer.padId,
      },
      { tokenizer: this.tokenizer },
    );
    return out.map((r) => (r.text ?? '').trim());
  }

  /** The request's generation prompt, without the fewest oldest turns that make it fit the context. */
  private prompt(request: ReplyRequest): GenerationPrompt {
    const messages = replyPromptFor(request.state);
    const room = this.model.config.max_position_embeddings - this.config.maxNewTokens;
    const render = (drop: number) =>
      this.chat.generationPrompt(messages.slice(drop), { strategy: request.strategy });
    const full = render(0);
    if (full.ids.length <= room) return full;
    // Binary search for the fewest dropped messages; the last message (the state block) is kept.
    let lo = 1;
    let hi = messages.length - 1;
    const last = render(hi);
    if (last.ids.length > room)
      throw new UsageError(
        `the reply model's context (${this.model.config.max_position_embeddings} tokens) cannot hold the state block of ${request.state.sessionId} (${last.ids.length} tokens) plus ${this.config.maxNewTokens} new tokens: lower reply.maxNewTokens or use a model with a longer context`,
      );
    let best = last; // always render(hi)
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = render(mid);
      if (p.ids.length <= room) {
        best = p;
        hi = mid;
      } else lo = mid + 1;
    }
    return best;
  }
}
