import { createRegistry, type Registry } from '@gopo/core';
import type {
  ChatMessage,
  ToolAgent,
  ToolAgentStep,
  ToolAgentView,
  ToolMessage,
  UserMessage,
} from '@gopo/dialogue';

/*
 * What the tool environments (ToolWOZ, tau-bench retail) share: reset/step in the style of ShopEnv,
 * with the agent acting through the tool-calling interface of @gopo/dialogue. A step is one tool
 * call (answered by the tool's output) or one reply (answered by the simulated user).
 */

export interface ToolStepInfo {
  /** The action was not admissible under the environment's SOP. */
  readonly sopViolation: boolean;
  /** It was not admissible and was not executed (hard SOP). */
  readonly blocked: boolean;
  /** Why the episode ended, on the last step. */
  readonly endReason?: string;
}

export interface ToolStepResult {
  /** The tool's output or the user's reply; absent when the agent's move ended the episode. */
  readonly observation: ToolMessage | UserMessage | undefined;
  readonly done: boolean;
  /** The episode's reward on the last step, 0 before. */
  readonly reward: number;
  readonly info: ToolStepInfo;
}

/** One finished episode: the dialogue in chat format, the agent's plans, the reward and its parts. */
export interface ToolEpisode {
  readonly id: string;
  readonly env: string;
  readonly agent: string;
  readonly messages: readonly ChatMessage[];
  /** The agent's plans by step (undefined where it wrote none). */
  readonly plans: readonly (string | undefined)[];
  readonly reward: number;
  readonly steps: number;
  readonly sopViolations: number;
  readonly endReason: string;
  /** Environment-specific details of the reward. */
  readonly details: Readonly<Record<string, unknown>>;
}

/**
 * A tool environment after reset. `P` is what its oracle may know (the hidden goal or task): it
 * reaches an agent only through `privileged()`, which scripted oracles use and learned agents never do.
 */
export interface ToolEnv<P> {
  readonly name: string;
  readonly done: boolean;
  /** What the agent sees: system prompt, tools, dialogue so far. */
  view(): ToolAgentView;
  step(step: ToolAgentStep): ToolStepResult;
  /** The privileged channel: the hidden goal, for oracle agents only. */
  privileged(): P;
  /** The finished (or current) episode. */
  episode(agent: string): ToolEpisode;
}

/** Runs an agent until the environment is done; returns the episode. */
export async function runToolEpisode<P>(env: ToolEnv<P>, agent: ToolAgent): Promise<ToolEpisode> {
  while (!env.done) env.step(await agent.act(env.view()));
  return env.episode(agent.name);
}

/** A scripted agent by name; `create` gets the privileged goal, which only oracles read. */
export interface ToolPolicy<P> {
  readonly name: string;
  readonly description: string;
  create(privileged: P): ToolAgent;
}

export function toolPolicyRegistry<P>(
  kind: string,
  policies: readonly ToolPolicy<P>[],
): Registry<ToolPolicy<P>> {
  return createRegistry(kind, Object.fromEntries(policies.map((p) => [p.name, p])));
}

/** Call ids for scripted agents: call_1, call_2, ... */
export function callIds(): () => string {
  let n = 0;
  return () => `call_${++n}`;
}
