/**
 * Reply backends for the CS Agent role: the simulator's template agent (default), an LM from
 * @gopo/lm, or an OpenAI-compatible chat server. All are frozen during Expert phases; `trainable`
 * says whether a CS phase has anything to update.
 */
import { CsAgent } from '@gopo/cs-agent';
import type { ReplyPolicy } from '@gopo/dialogue';
import { templateReplyPolicy } from '@gopo/envs';
import { match } from 'ts-pattern';
import type { ReplyBackendConfig } from '../gopo/config.js';
import { OpenAiReplyPolicy } from './openai-reply.js';

export interface ReplyBackend {
  readonly policy: ReplyPolicy;
  /** Whether CS phases can train it (none of today's backends: they are frozen here). */
  readonly trainable: boolean;
  close(): Promise<void>;
}

export async function createReplyBackend(
  config: ReplyBackendConfig,
  strategies: readonly string[],
  runtime: { readonly intraOpThreads?: number } = {},
): Promise<ReplyBackend> {
  return match(config)
    .with({ kind: 'template' }, async () => ({
      policy: templateReplyPolicy,
      trainable: false,
      close: async () => {},
    }))
    .with({ kind: 'lm' }, async (c) => {
      const policy = await CsAgent.load(
        c.dir,
        { maxNewTokens: c.maxNewTokens, temperature: c.temperature },
        runtime,
      );
      return { policy, trainable: false, close: async () => {} };
    })
    .with({ kind: 'openai' }, async (c) => {
      const policy = new OpenAiReplyPolicy(c, strategies);
      return { policy, trainable: false, close: async () => policy.close() };
    })
    .exhaustive();
}
