import { Rng } from '@gopo/core';
import {
  assistantMessage,
  type ChatMessage,
  type ToolAgentStep,
  type ToolAgentView,
  toolResultMessage,
  type UserMessage,
} from '@gopo/dialogue';
import type { ApiCall } from '@gopo/rewards';
import { match } from 'ts-pattern';
import { z } from 'zod';
import type { ToolEnv, ToolEpisode, ToolStepResult } from '../tool-env.js';
import type { ToolwozDb } from './db.js';
import type { ToolwozGoal } from './goals.js';
import { ToolwozNlu } from './nlu.js';
import { type ToolwozScore, toolwozScore } from './reward.js';
import { executeToolwozCall, TOOLWOZ_TOOLS } from './tools.js';
import { ToolwozUser, type ToolwozUserEnd } from './user.js';

export const ToolwozEnvConfigSchema = z.object({
  maxSteps: z
    .number()
    .int()
    .min(1)
    .default(40)
    .describe('agent steps (tool calls and replies) before the episode is cut off'),
  maxResults: z
    .number()
    .int()
    .min(1)
    .default(5)
    .describe('rows a search shows (its count covers all matches)'),
  patience: z
    .number()
    .int()
    .min(1)
    .default(3)
    .describe('user turns that bring nothing new before the user leaves'),
});
export type ToolwozEnvConfig = z.infer<typeof ToolwozEnvConfigSchema>;
export type ToolwozEnvConfigInput = z.input<typeof ToolwozEnvConfigSchema>;

/** The agent's instructions (our wording). */
export const TOOLWOZ_SYSTEM_PROMPT = [
  'You are the Cambridge TownInfo assistant. You help users find and book restaurants, hotels,',
  'attractions and trains with the tools. Search with the constraints the user gives, offer what you',
  'find, and book only what the user asks for, with the details the user gives. Call one tool at a',
  'time; when you reply to the user, do not call a tool.',
].join(' ');

export type ToolwozEndReason = ToolwozUserEnd | 'step_limit';

/**
 * ToolWOZ as an environment: `reset(goal, seed)` starts a dialogue with a scripted user holding the
 * goal; each `step` is a tool call (run against the MultiWOZ databases) or a reply (answered by the
 * user). The episode ends when the user says goodbye or leaves, or after `maxSteps` steps; its reward
 * is the share of the goal's API calls the agent completed.
 */
export class ToolwozEnv implements ToolEnv<ToolwozGoal> {
  readonly name = 'toolwoz';
  readonly config: ToolwozEnvConfig;
  readonly nlu: ToolwozNlu;
  private goal!: ToolwozGoal;
  private episodeId = '';
  private user!: ToolwozUser;
  private messages: ChatMessage[] = [];
  private plans: (string | undefined)[] = [];
  private calls: ApiCall[] = [];
  private steps = 0;
  private end: ToolwozEndReason | undefined;
  private score: ToolwozScore | undefined;

  constructor(
    readonly db: ToolwozDb,
    config: ToolwozEnvConfigInput = {},
  ) {
    this.config = ToolwozEnvConfigSchema.parse(config);
    this.nlu = new ToolwozNlu(db);
  }

  /** Starts a dialogue for `goal`; the user's wording is seeded by `seed`. Returns the user's opening. */
  reset(goal: ToolwozGoal, seed: number, id = goal.id): UserMessage {
    this.goal = goal;
    this.episodeId = id;
    this.user = new ToolwozUser(
      goal,
      this.db,
      this.nlu,
      Rng.fromSeed(seed, `toolwoz-user/${goal.id}`),
      this.config.patience,
    );
    const open: UserMessage = { role: 'user', content: this.user.open() };
    this.messages = [open];
    this.plans = [];
    this.calls = [];
    this.steps = 0;
    this.end = undefined;
    this.score = undefined;
    return open;
  }

  get done(): boolean {
    return this.end !== undefined;
  }

  view(): ToolAgentView {
    return { system: TOOLWOZ_SYSTEM_PROMPT, tools: TOOLWOZ_TOOLS, messages: this.messages };
  }

  privileged(): ToolwozGoal {
    return this.goal;
  }

  /** The API calls made so far (well-formed calls only), as the reward reads them. */
  apiCalls(): readonly ApiCall[] {
    return this.calls;
  }

  step(step: ToolAgentStep): ToolStepResult {
    if (this.end !== undefined) throw new Error('step() after the episode ended; call reset()');
    this.steps++;
    this.plans.push(step.plan);
    this.messages.push(assistantMessage(step.action));
    const observation = match(step.action)
      .with({ kind: 'tool_call' }, ({ call }) => {
        const r = executeToolwozCall(this.db, call, this.config);
        if (r.apiCall) this.calls.push(r.apiCall);
        return toolResultMessage(call, r.output);
      })
      .with({ kind: 'reply' }, ({ text }): UserMessage => {
        const r = this.user.react(text);
        if (r.end) this.end = r.end;
        return { role: 'user', content: r.text };
      })
      .exhaustive();
    this.messages.push(observation);
    if (this.end === undefined && this.steps >= this.config.maxSteps) this.end = 'step_limit';
    const done = this.end !== undefined;
    return {
      observation,
      done,
      reward: done ? this.result().reward : 0,
      info: { sopViolation: false, blocked: false, ...(done ? { endReason: this.end } : {}) },
    };
  }

  /** The goal-API score of the calls so far (final once done). */
  result(): ToolwozScore {
    if (this.score && this.done) return this.score;
    const s = toolwozScore(this.goal, this.calls);
    if (this.done) this.score = s;
    return s;
  }

  episode(agent: string): ToolEpisode {
    const score = this.result();
    return {
      id: this.episodeId,
      env: this.name,
      agent,
      messages: this.messages.slice(),
      plans: this.plans.slice(),
      reward: score.reward,
      steps: this.steps,
      sopViolations: 0,
      endReason: this.end ?? 'in_progress',
      details: {
        goalApis: score.goalApis.map((g) => ({
          name: g.goal.name,
          args: g.goal.args,
          completed: g.completed,
        })),
        domainsDone: this.user.domainsDone,
        domains: this.goal.domains.length,
      },
    };
  }
}
