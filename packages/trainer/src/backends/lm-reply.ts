import * as path from 'node:path';
import { replyPromptFor } from '@gopo/cs-agent';
import type { ReplyPolicy, ReplyRequest } from '@gopo/dialogue';
import { ChatTemplate, LlamaModel, TOKENIZER_FILE, Tokenizer } from '@gopo/lm';
import type { ReplyBackendConfig } from '../gopo/config.js';

type LmConfig = Extract<ReplyBackendConfig, { kind: 'lm' }>;

/**
 * A reply backend on a @gopo/lm decoder: the CS prompt (replyPromptFor) with the commanded strategy
 * token, generated in one batch for all live dialogues with the KV cache, stopping at end of turn.
 * With temperature > 0 the batch shares one seed (the first request's), so sampled replies depend on
 * the batch; greedy replies do not.
 */
export class LmReplyPolicy implements ReplyPolicy {
  readonly name = 'lm';

  private constructor(
    private readonly model: LlamaModel,
    private readonly tokenizer: Tokenizer,
    private readonly chat: ChatTemplate,
    private readonly config: LmConfig,
  ) {}

  static async load(config: LmConfig): Promise<LmReplyPolicy> {
    const model = await LlamaModel.fromPretrained(config.dir);
    const tokenizer = await Tokenizer.load(path.join(config.dir, TOKENIZER_FILE));
    return new LmReplyPolicy(model, tokenizer, new ChatTemplate(tokenizer), config);
  }

  async reply(requests: readonly ReplyRequest[]): Promise<string[]> {
    if (requests.length === 0) return [];
    const prompts = requests.map((r) =>
      this.chat.generationPrompt(replyPromptFor(r.state), { strategy: r.strategy }),
    );
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
}
