/**
 * The cases of finished episodes: one per decision, filed under the state the policy saw then
 * (`caseStateText` of the decision's state block and the turns before it, the same text
 * `agentCaseState` reads from a live `AgentState`), with the episode's sequence reward.
 */
import type { ScoredSession } from '@gopo/dialogue';
import type { EpisodeResult } from '../../rollout/episodes.js';
import type { MementoCase } from './case-bank.js';
import { caseStateText } from './case-state.js';

/** One case per decision of `result`, whose session scored `score` (its total is R(tau)). */
export function episodeCases(
  result: EpisodeResult,
  score: ScoredSession,
  strategies: readonly string[],
): MementoCase[] {
  const { session } = result;
  return result.decisions.map((d) => ({
    episode: session.session_id,
    scenario: result.job.scenario,
    turn: d.turn,
    state: caseStateText(d.state, session.turns.slice(0, d.turn)),
    mask: [...d.mask],
    strategy: strategies[d.action]!,
    reward: score.total,
    status: session.outcome.status,
  }));
}
