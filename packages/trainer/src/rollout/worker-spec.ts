/**
 * What a rollout worker thread builds its roles from: plain, schema-checked data (an Expert Agent
 * folder or a scripted shop policy name, the shop config, the reply backend config), since policy
 * objects cannot cross a thread boundary. The learner's weights follow separately on `sync()`.
 */
import { type DialogueEnv, type StrategyPolicy, shopSopDefault } from '@gopo/dialogue';
import {
  generateWorld,
  ShopEnv,
  type ShopEnvConfig,
  ShopEnvConfigSchema,
  shopStrategyPolicies,
} from '@gopo/envs';
import { ExpertAgent } from '@gopo/expert-agent';
import { z } from 'zod';
import { createReplyBackend, type ReplyBackend } from '../backends/reply-backends.js';
import { ReplyBackendConfigSchema } from '../gopo/config.js';
import type { HierarchicalRoles } from './episodes.js';

export const RolloutPolicySpecSchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('expert').describe('an Expert Agent; sync() sends the learner weights'),
        dir: z
          .string()
          .min(1)
          .describe('the Expert Agent folder the worker loads (config, tokenizer, strategies)'),
        sopMasking: z
          .boolean()
          .optional()
          .describe("SOP-mask the agent's decisions (absent: as the folder's expert.json says)"),
      })
      .strict(),
    z
      .object({
        kind: z.literal('scripted').describe('a scripted shop strategy policy (fixed, sync() is a no-op)'),
        name: z.string().min(1).describe('its name in shopStrategyPolicies'),
      })
      .strict(),
  ])
  .describe('the strategy policy a worker plays with');

export const RolloutWorkerSpecSchema = z
  .object({
    policy: RolloutPolicySpecSchema,
    env: ShopEnvConfigSchema.prefault({}).describe('the shop simulator'),
    reply: ReplyBackendConfigSchema.prefault({ kind: 'template' }),
    maxLive: z.number().int().min(1).default(64).describe('dialogues stepped at once per worker'),
    intraOpThreads: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe("ORT intra-op threads of each worker's models (0: ORT default, all cores)"),
  })
  .strict()
  .describe('what a rollout worker thread builds its environment and policies from');
export type RolloutWorkerSpec = z.infer<typeof RolloutWorkerSpecSchema>;
export type RolloutWorkerSpecInput = z.input<typeof RolloutWorkerSpecSchema>;

/** The shop environment factory of a config: one generated world and SOP shared by every episode. */
export function shopEnvFactoryFor(env: ShopEnvConfig): () => DialogueEnv {
  const world = generateWorld(env.world);
  const sop = shopSopDefault();
  return () => new ShopEnv(env, { world, sop });
}

/** The roles, environment factory and reply backend a worker plays with. */
export interface WorkerRoles {
  readonly roles: HierarchicalRoles;
  readonly makeEnv: () => DialogueEnv;
  /** The Expert Agent whose weights sync() replaces (absent for a scripted policy). */
  readonly agent?: ExpertAgent;
  readonly reply: ReplyBackend;
}

export async function buildWorkerRoles(spec: RolloutWorkerSpec): Promise<WorkerRoles> {
  const makeEnv = shopEnvFactoryFor(spec.env);
  const strategies = makeEnv().strategies;
  const runtime = { intraOpThreads: spec.intraOpThreads, provider: 'cpu' as const };
  let agent: ExpertAgent | undefined;
  let strategy: StrategyPolicy;
  if (spec.policy.kind === 'expert') {
    const { sopMasking } = spec.policy;
    agent = await ExpertAgent.load(spec.policy.dir, {
      ...runtime,
      ...(sopMasking === undefined ? {} : { sopMasking }),
    });
    strategy = agent;
  } else strategy = shopStrategyPolicies.get(spec.policy.name);
  const reply = await createReplyBackend(spec.reply, strategies, { intraOpThreads: spec.intraOpThreads });
  return { roles: { strategy, reply: reply.policy }, makeEnv, reply, ...(agent ? { agent } : {}) };
}
