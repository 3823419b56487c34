import { hashString, Rng } from '@gopo/core';
import { SHOP_STRATEGIES, type ShopStrategy, type StrategyPolicy } from '@gopo/dialogue';
import { realizeStrategy } from './agent-templates.js';
import { ShopEnv, type ShopEnvConfigInput } from './env.js';
import { episodeSeed } from './simulate.js';

/** One template-agent reply in one simulated state, with what the agent could see there. */
export interface TemplateTurn {
  readonly sessionId: string;
  /** Agent turn index in its session (0-based). */
  readonly turn: number;
  readonly sopState: string;
  /** shopFacts of the state the reply was written in (the CS Agent's facts block). */
  readonly facts: readonly string[];
  readonly strategy: ShopStrategy;
  readonly text: string;
  /** The policy played this strategy (false: realised only to cover another admissible move). */
  readonly chosen: boolean;
}

export interface TemplateTurnOptions {
  /** Chooses the strategy that is played at each state (privileged policies get the oracle channel). */
  readonly policy: StrategyPolicy;
  readonly scenarios: number;
  readonly seed: number;
  readonly env?: ShopEnvConfigInput;
  /** Also realise every other SOP-admissible strategy at each state (not played). */
  readonly allAdmissible?: boolean;
}

/**
 * Plays `scenarios` shop sessions with a strategy policy and the template CS agent, and returns every
 * template reply with the facts block and SOP state it was written against: the data the fact checker
 * and the adherence judges are checked on. With `allAdmissible`, every admissible strategy of each
 * state is realised too (only the policy's choice is played). Deterministic for a seed.
 */
export async function collectTemplateTurns(
  options: TemplateTurnOptions,
  env = new ShopEnv(options.env),
): Promise<TemplateTurn[]> {
  const { policy } = options;
  const out: TemplateTurn[] = [];
  for (let i = 0; i < options.scenarios; i++) {
    const seed = episodeSeed(options.seed, i);
    const sessionId = `tt-${options.seed}-${i}`;
    env.reset(seed, { sessionId });
    const draws = Rng.fromSeed(seed, `template-turns:${policy.name}`);
    for (let turn = 0; !env.done; turn++) {
      const state = env.agentState();
      const [decision] = await policy.decide([state], {
        greedy: false,
        uniforms: [draws.float()],
        ...(policy.privileged ? { privileged: [env.privileged()] } : {}),
      });
      const strategy = policy.strategies[decision!.action] as ShopStrategy;
      const replySeed = hashString(`${sessionId}:${turn}`);
      const realise = (s: ShopStrategy) => realizeStrategy(s, state.view!, Rng.fromSeed(replySeed, s));
      const text = realise(strategy);
      const base = { sessionId, turn, sopState: state.sopState, facts: state.facts };
      out.push({ ...base, strategy, text, chosen: true });
      if (options.allAdmissible)
        SHOP_STRATEGIES.forEach((s, k) => {
          if (s !== strategy && state.admissible[k])
            out.push({ ...base, strategy: s, text: realise(s), chosen: false });
        });
      env.step({ strategy, text });
    }
  }
  return out;
}
