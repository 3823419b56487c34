import { type ApiCall, type GoalCall, goalApiReward, goalCallCompleted } from '@gopo/rewards';
import { goalApiCalls, type ToolwozGoal } from './goals.js';

export interface GoalApiStatus {
  readonly goal: GoalCall;
  readonly completed: boolean;
}

/** A dialogue's ToolWOZ reward: the share of its goal API calls completed (JOSH), and which ones. */
export interface ToolwozScore {
  readonly reward: number;
  readonly goalApis: readonly GoalApiStatus[];
}

/**
 * Scores the agent's API calls against a goal: a goal call g(x) is completed by a call of the same
 * API f(y) with x a subset of y (normalised values), or, for a search, by a search whose single
 * result is the goal's entity (`goalCallCompleted` of @gopo/rewards). Reward = completed / total.
 */
export function toolwozScore(goal: ToolwozGoal, calls: readonly ApiCall[]): ToolwozScore {
  const goals = goalApiCalls(goal);
  return {
    reward: goalApiReward(goals, calls),
    goalApis: goals.map((g) => ({ goal: g, completed: goalCallCompleted(g, calls) })),
  };
}
