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
  /** The trainable reply model when the config asks to train it in CS phases (lm with `train`). */
  readonly trainable?: { readonly agent: CsAgent; readonly reference: CsAgent };
  close(): Promise<void>;
}

export async function createReplyBackend(
  config: ReplyBackendConfig,
  strategies: readonly string[],
  runtime: { readonly intraOpThreads?: number } = {},
): Promise<ReplyBackend> {
  return match(config)
    .with({ kind: 'template' }, async () => ({ policy: templateReplyPolicy, close: async () => {} }))
    .with({ kind: 'lm' }, async (c) => {
      const gen = { maxNewTokens: c.maxNewTokens, temperature: c.temperature };
      const policy = await CsAgent.load(c.dir, gen, {
        trainable: c.train !== undefined,
        intraOpThreads: runtime.intraOpThreads ?? 0,
      });
      const trainable = c.train
        ? {
            agent: policy,
            reference: await CsAgent.load(c.dir, gen, { intraOpThreads: runtime.intraOpThreads ?? 0 }),
          }
        : undefined;
      return { policy, ...(trainable ? { trainable } : {}), close: async () => {} };
    })
    .with({ kind: 'openai' }, async (c) => {
      const policy = new OpenAiReplyPolicy(c, strategies);
      return { policy, close: async () => policy.close() };
    })
    .exhaustive();
}
