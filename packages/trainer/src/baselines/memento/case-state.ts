/**
 * The state a Memento case is filed under: what the Expert Agent reads before it decides (its SOP
 * state and facts, `decisionStateText`), plus two facts of the dialogue so far that it also sees and
 * that the SOP state alone does not show: how many agent turns have been played and the strategy of
 * the last one. Without them the third "reassure" in a row and the first would be one state.
 */
import { type AgentState, decisionStateText, type Turn } from '@gopo/dialogue';

/** The case-state text of a decision: its decision-state block, the agent turn count, the last strategy. */
export function caseStateText(decisionState: string, turnsBefore: readonly Turn[]): string {
  let agentTurns = 0;
  let last = 'none';
  for (const t of turnsBefore) {
    if (t.role !== 'agent') continue;
    agentTurns++;
    last = t.strategy ?? 'unlabeled';
  }
  return `${decisionState}\nagent turns: ${agentTurns}\nlast strategy: ${last}`;
}

/** The case-state text of a live decision, from what the policy is handed. */
export function agentCaseState(state: AgentState): string {
  return caseStateText(decisionStateText(state.sopState, state.facts), state.turns);
}
