/**
 * The flat PPO baseline's agent as episode roles: one reply model (a CsAgent whose prompts carry no
 * strategy) writes every reply; the shop NLU reads the strategy the reply performs, and that is the
 * action the simulator executes and logs (rollout/episodes.ts FlatRoles).
 */
import { CsAgent, type CsGenerationConfigInput, type GeneratedReply } from '@gopo/cs-agent';
import { type ReplyPolicy, type ReplyRequest, SHOP_STRATEGIES, type StrategyJudge } from '@gopo/dialogue';
import { nluJudge } from '@gopo/envs';
import type { FlatRoles } from '../../rollout/episodes.js';

export interface FlatRolesOptions {
  /** The environment's strategy set (default: the shop's). */
  readonly strategies?: readonly string[];
  /** Logged when the judge reads no move (see FlatRoles); default 'clarify'. */
  readonly fallbackStrategy?: string;
  /** Who reads the strategy of a reply (default: the shop NLU, the judge the user simulator reacts to). */
  readonly detect?: StrategyJudge;
}

/** The roles of a flat agent around any reply policy. */
export function flatRoles(reply: ReplyPolicy, options: FlatRolesOptions = {}, version = 0): FlatRoles {
  return {
    kind: 'flat',
    reply,
    detect: options.detect ?? nluJudge,
    strategies: options.strategies ?? SHOP_STRATEGIES,
    fallbackStrategy: options.fallbackStrategy ?? 'clarify',
    version,
  };
}

/**
 * A flat reply model folder (`runFlatPpo`'s modelDir, or a flat SFT model) as episode roles for
 * compareMethods (a RolesMethodSpec's `roles`) or evaluateHeldOut. Greedy unless `generation` says
 * otherwise.
 */
export async function loadFlatAgentRoles(
  modelDir: string,
  options: FlatRolesOptions & {
    readonly generation?: Omit<CsGenerationConfigInput, 'strategyToken'>;
    readonly intraOpThreads?: number;
  } = {},
): Promise<FlatRoles> {
  const agent = await CsAgent.load(
    modelDir,
    { ...options.generation, strategyToken: false },
    options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {},
  );
  return flatRoles(agent, options);
}

/**
 * A reply policy that samples from a flat CsAgent and keeps every reply's tokens and behaviour
 * log-probs, keyed by session and turn, for the PPO update after the episodes.
 */
export class RecordingReplyPolicy implements ReplyPolicy {
  readonly name: string;
  private readonly replies = new Map<string, Map<number, GeneratedReply>>();

  constructor(
    readonly agent: CsAgent,
    private readonly overrides: { temperature: number },
  ) {
    this.name = `${agent.name}(recording)`;
  }

  async reply(requests: readonly ReplyRequest[]): Promise<string[]> {
    const out = await this.agent.generate(requests, this.overrides);
    requests.forEach((r, i) => {
      const s = this.replies.get(r.state.sessionId) ?? new Map<number, GeneratedReply>();
      s.set(r.state.turns.length, out[i]!);
      this.replies.set(r.state.sessionId, s);
    });
    return out.map((g) => g.text);
  }

  /** The replies of a session in turn order. */
  repliesOf(sessionId: string): GeneratedReply[] {
    const s = this.replies.get(sessionId);
    return s ? [...s.entries()].sort(([a], [b]) => a - b).map(([, g]) => g) : [];
  }
}
