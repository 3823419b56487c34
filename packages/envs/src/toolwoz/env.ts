import { Rng } from '@gopo/core';
import type { ToolCall, UserMessage } from '@gopo/dialogue';
import type { ApiCall } from '@gopo/rewards';
import { z } from 'zod';
import { ToolEnvBase, type ToolOutcome, toolEnvConfigFields } from '../tool-env.js';
import type { ToolwozDb } from './db.js';
import type { ToolwozGoal } from './goals.js';
import { ToolwozNlu } from './nlu.js';
import { type ToolwozScore, toolwozScore } from './reward.js';
import { executeToolwozCall, TOOLWOZ_TOOLS } from './tools.js';
import { ToolwozUser, type ToolwozUserEnd } from './user.js';

export const ToolwozEnvConfigSchema = z.object({
  ...toolEnvConfigFields({ maxSteps: 40, patience: 3 }),
  maxResults: z
    .number()
    .int()
    .min(1)
    .default(5)
    .describe('rows a search shows (its count covers all matches)'),
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
export class ToolwozEnv extends ToolEnvBase<ToolwozGoal, ToolwozScore> {
  readonly name = 'toolwoz';
  readonly config: ToolwozEnvConfig;
  readonly nlu: ToolwozNlu;
  protected readonly system = TOOLWOZ_SYSTEM_PROMPT;
  protected readonly tools = TOOLWOZ_TOOLS;
  private goal!: ToolwozGoal;
  private user!: ToolwozUser;
  private calls: ApiCall[] = [];

  constructor(
    readonly db: ToolwozDb,
    config: ToolwozEnvConfigInput = {},
  ) {
    super();
    this.config = ToolwozEnvConfigSchema.parse(config);
    this.nlu = new ToolwozNlu(db);
  }

  /** Starts a dialogue for `goal`; the user's wording is seeded by `seed`. Returns the user's opening. */
  reset(goal: ToolwozGoal, seed: number, id = goal.id): UserMessage {
    this.goal = goal;
    this.calls = [];
    const rng = Rng.fromSeed(seed, `toolwoz-user/${goal.id}`);
    this.user = new ToolwozUser(goal, this.db, this.nlu, rng, this.config.patience);
    return this.begin(id, this.user.open());
  }

  privileged(): ToolwozGoal {
    return this.goal;
  }

  /** The API calls made so far (well-formed calls only), as the reward reads them. */
  apiCalls(): readonly ApiCall[] {
    return this.calls;
  }

  protected maxSteps(): number {
    return this.config.maxSteps;
  }

  protected callTool(call: ToolCall): ToolOutcome {
    const r = executeToolwozCall(this.db, call, this.config);
    if (r.apiCall) this.calls.push(r.apiCall);
    return { content: r.output };
  }

  protected userReply(text: string): string {
    const r = this.user.react(text);
    if (r.end) this.end = r.end;
    return r.text;
  }

  protected score(): ToolwozScore {
    return toolwozScore(this.goal, this.calls);
  }

  protected details(score: ToolwozScore): Record<string, unknown> {
    return {
      goalApis: score.goalApis.map((g) => ({ name: g.goal.name, args: g.goal.args, completed: g.completed })),
      domainsDone: this.user.domainsDone,
      domains: this.goal.domains.length,
    };
  }
}
