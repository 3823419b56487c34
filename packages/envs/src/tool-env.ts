import { createRegistry, type Registry } from '@gopo/core';
import {
  assistantMessage,
  type ChatMessage,
  ChatMessageSchema,
  type ToolAgent,
  type ToolAgentStep,
  type ToolAgentView,
  type ToolCall,
  type ToolMessage,
  type ToolSpec,
  toolResultMessage,
  type UserMessage,
} from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { z } from 'zod';

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

/** One finished episode (a line of `gopo eval-policy --out`): the dialogue, the plans, the reward. */
export const ToolEpisodeSchema = z.object({
  id: z.string().describe('the goal or task id'),
  env: z.string().describe('the environment: toolwoz or taubench-retail'),
  agent: z.string().describe('the policy that acted'),
  messages: z.array(ChatMessageSchema).describe('the dialogue in OpenAI chat format (no system message)'),
  plans: z
    .array(z.string().nullish())
    .describe("the agent's plan at each step (undefined, written null, where it wrote none)"),
  reward: z.number().min(0).max(1).describe("the episode's reward"),
  steps: z.number().int().min(0).describe('agent steps taken'),
  sopViolations: z.number().int().min(0).describe('actions the SOP did not admit'),
  endReason: z.string().describe('how the episode ended (user done, user left, step limit, transfer)'),
  details: z.record(z.string(), z.unknown()).describe('environment-specific parts of the reward'),
});
export type ToolEpisode = z.infer<typeof ToolEpisodeSchema>;

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

/** The config fields every tool environment has, with its own defaults. */
export function toolEnvConfigFields(defaults: { readonly maxSteps: number; readonly patience: number }) {
  return {
    maxSteps: z
      .number()
      .int()
      .min(1)
      .default(defaults.maxSteps)
      .describe('agent steps (tool calls and replies) before the episode is cut off'),
    patience: z
      .number()
      .int()
      .min(1)
      .default(defaults.patience)
      .describe('user turns that bring nothing new before the user leaves'),
  };
}

/** What a tool call did: its output and whether the environment's SOP refused it. */
export interface ToolOutcome {
  readonly content: string;
  readonly sopViolation?: boolean;
  readonly blocked?: boolean;
}

/**
 * The bookkeeping both tool environments share: the dialogue in chat format, the plans, the step
 * count and limit, SOP violations, the end, and the episode record. A subclass runs tool calls,
 * lets its user answer replies (setting `end` when the user is done), and scores the episode.
 */
export abstract class ToolEnvBase<P, R extends { readonly reward: number }> implements ToolEnv<P> {
  abstract readonly name: string;
  protected end: string | undefined;
  private messages: ChatMessage[] = [];
  private plans: (string | undefined)[] = [];
  private steps = 0;
  private violations = 0;
  private episodeId = '';
  private scored: R | undefined;

  protected abstract readonly system: string;
  protected abstract readonly tools: readonly ToolSpec[];
  protected abstract maxSteps(): number;
  /** Runs a tool call; its output goes back to the agent. */
  protected abstract callTool(call: ToolCall): ToolOutcome;
  /** The user's answer to a reply; sets `end` when the user ends the dialogue. */
  protected abstract userReply(text: string): string;
  protected abstract score(messages: readonly ChatMessage[]): R;
  /** Environment-specific parts of the episode record. */
  protected abstract details(result: R): Record<string, unknown>;
  abstract privileged(): P;

  /** Starts the bookkeeping of a new episode with the user's opening message. */
  protected begin(id: string, opening: string): UserMessage {
    const open: UserMessage = { role: 'user', content: opening };
    this.messages = [open];
    this.plans = [];
    this.steps = 0;
    this.violations = 0;
    this.episodeId = id;
    this.end = undefined;
    this.scored = undefined;
    return open;
  }

  get done(): boolean {
    return this.end !== undefined;
  }

  view(): ToolAgentView {
    return { system: this.system, tools: this.tools, messages: this.messages };
  }

  step(step: ToolAgentStep): ToolStepResult {
    if (this.end !== undefined) throw new Error('step() after the episode ended; call reset()');
    this.steps++;
    this.plans.push(step.plan);
    this.messages.push(assistantMessage(step.action));
    let outcome: ToolOutcome | undefined;
    const observation = match(step.action)
      .with({ kind: 'tool_call' }, ({ call }) => {
        outcome = this.callTool(call);
        return toolResultMessage(call, outcome.content);
      })
      .with({ kind: 'reply' }, ({ text }): UserMessage => ({ role: 'user', content: this.userReply(text) }))
      .exhaustive();
    const sopViolation = outcome?.sopViolation ?? false;
    if (sopViolation) this.violations++;
    this.messages.push(observation);
    if (this.end === undefined && this.steps >= this.maxSteps()) this.end = 'step_limit';
    const done = this.end !== undefined;
    return {
      observation,
      done,
      reward: done ? this.result().reward : 0,
      info: { sopViolation, blocked: outcome?.blocked ?? false, ...(done ? { endReason: this.end } : {}) },
    };
  }

  /** The score of the episode so far (final once done). */
  result(): R {
    if (this.scored && this.done) return this.scored;
    const r = this.score(this.messages);
    if (this.done) this.scored = r;
    return r;
  }

  episode(agent: string): ToolEpisode {
    const r = this.result();
    return {
      id: this.episodeId,
      env: this.name,
      agent,
      messages: this.messages.slice(),
      plans: this.plans.slice(),
      reward: r.reward,
      steps: this.steps,
      sopViolations: this.violations,
      endReason: this.end ?? 'in_progress',
      details: this.details(r),
    };
  }
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
