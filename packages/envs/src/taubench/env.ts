import { Rng } from '@gopo/core';
import {
  assistantMessage,
  type ChatMessage,
  type Sop,
  type ToolAgentStep,
  type ToolAgentView,
  type ToolCall,
  toolResultMessage,
  type UserMessage,
} from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { z } from 'zod';
import type { ToolEnv, ToolEpisode, ToolStepResult } from '../tool-env.js';
import type { KeyOrder, RetailData, RetailTask } from './data.js';
import { RetailDb } from './db.js';
import { type RetailReward, replayGoldActions, retailReward } from './reward.js';
import { RETAIL_REPLY_STRATEGY, retailSop } from './sop.js';
import { executeRetailCall, RETAIL_TERMINATE_TOOLS, RETAIL_TOOLS } from './tools.js';
import { RetailCustomer, type RetailIdentity, retailIdentity } from './user.js';

export const RetailEnvConfigSchema = z.object({
  maxSteps: z
    .number()
    .int()
    .min(1)
    .default(50)
    .describe('agent steps (tool calls and replies) before the episode is cut off (upstream runs 30)'),
  sopEnforcement: z
    .enum(['block', 'record'])
    .default('block')
    .describe(
      'block: an action the policy SOP does not admit is not executed (hard SOP, DESIGN.md 4.1); record: it runs, as upstream, and is counted',
    ),
  patience: z
    .number()
    .int()
    .min(1)
    .default(4)
    .describe('customer replies that move nothing before the customer leaves'),
});
export type RetailEnvConfig = z.infer<typeof RetailEnvConfigSchema>;
export type RetailEnvConfigInput = z.input<typeof RetailEnvConfigSchema>;

/** The agent's instructions: the retail policy in our words (DESIGN.md 5, data/taubench_retail/README.md). */
export const RETAIL_SYSTEM_PROMPT = [
  'You are a customer service agent of an online retail store. You can cancel or modify pending orders,',
  "return or exchange delivered orders, change a user's default address, and give information about the",
  "user's own profile, orders and the store's products.",
  'Policy: first authenticate the user by finding their user id by email, or by name and zip code, even',
  'when they give a user id. Help one user per conversation only. Before any change to the database',
  '(cancel, modify, return, exchange, address change) list the details and get an explicit "yes" from the',
  'user. Orders are pending, processed, delivered or cancelled: only pending orders can be cancelled',
  '(reason "no longer needed" or "ordered by mistake") or modified (address, payment method, or item',
  'options within the same product, items once); only delivered orders can be returned (refund to the',
  'original payment method or a gift card) or exchanged (same product, another available option, once).',
  'A gift card must cover any amount charged to it. Make at most one tool call at a time and do not',
  'reply to the user in the same step. Do not make up information. Transfer to a human agent only',
  'when the request cannot be handled with your tools.',
].join(' ');

/** What the retail oracle may know: the task and the customer's identity. */
export interface RetailPrivileged {
  readonly task: RetailTask;
  readonly identity: RetailIdentity;
}

export type RetailEndReason = 'done' | 'user_left' | 'transfer' | 'step_limit';

/** The tools whose target user is named by an argument, or by the order they act on. */
function targetUser(db: RetailDb, call: ToolCall): string | undefined {
  const a = call.arguments;
  if (
    typeof a.user_id === 'string' &&
    (call.name === 'get_user_details' || call.name === 'modify_user_address')
  )
    return a.user_id;
  if (typeof a.order_id === 'string') return db.order(a.order_id)?.user_id;
  return undefined;
}

/**
 * tau-bench retail as an environment: `reset(task, seed)` starts a conversation with the scripted
 * customer of the task; each `step` is a tool call on the episode's copy of the database or a reply
 * to the customer. The retail policy runs as an SOP over the actions (authenticate first, one user,
 * an explicit yes before each write); the episode ends when the customer is done or leaves, on a
 * transfer to a human, or after `maxSteps`; its reward is tau-bench's database-hash reward with the
 * outputs check.
 */
export class RetailEnv implements ToolEnv<RetailPrivileged> {
  readonly name = 'taubench-retail';
  readonly config: RetailEnvConfig;
  private task!: RetailTask;
  private taskId = '';
  private identity!: RetailIdentity;
  private user!: RetailCustomer;
  private db!: RetailDb;
  private goldHash = '';
  private mask = 0;
  private authenticatedUser: string | undefined;
  private messages: ChatMessage[] = [];
  private plans: (string | undefined)[] = [];
  private steps = 0;
  private violations = 0;
  private end: RetailEndReason | undefined;
  private reward: RetailReward | undefined;

  constructor(
    readonly data: RetailData,
    readonly keyOrder?: KeyOrder,
    config: RetailEnvConfigInput = {},
    readonly sop: Sop = retailSop(),
  ) {
    this.config = RetailEnvConfigSchema.parse(config);
  }

  /** Starts the task's conversation (the customer's wording seeded by `seed`); returns the opening. */
  reset(task: RetailTask, seed: number, id = task.user_id): UserMessage {
    this.task = task;
    this.taskId = id;
    this.db = new RetailDb(this.data, this.keyOrder);
    this.goldHash = replayGoldActions(this.data, task, this.keyOrder).hash();
    this.identity = retailIdentity(this.db, task);
    this.user = new RetailCustomer(
      this.identity,
      task,
      this.db,
      Rng.fromSeed(seed, `taubench-user/${id}`),
      this.config.patience,
    );
    this.mask = this.sop.initialMask;
    this.authenticatedUser = undefined;
    this.steps = 0;
    this.violations = 0;
    this.end = undefined;
    this.reward = undefined;
    this.plans = [];
    const open: UserMessage = { role: 'user', content: this.user.open() };
    this.messages = [open];
    return open;
  }

  get done(): boolean {
    return this.end !== undefined;
  }

  view(): ToolAgentView {
    return { system: RETAIL_SYSTEM_PROMPT, tools: RETAIL_TOOLS, messages: this.messages };
  }

  privileged(): RetailPrivileged {
    return { task: this.task, identity: this.identity };
  }

  /** The SOP state and flags now (for policies that mask their actions). */
  sopState(): { state: string; flags: Record<string, boolean>; admissible: readonly string[] } {
    return {
      state: this.sop.stateName(this.mask),
      flags: this.sop.toFlags(this.mask),
      admissible: this.sop.admissible(this.mask),
    };
  }

  /** The episode's database (read it; the environment writes it). */
  database(): RetailDb {
    return this.db;
  }

  /** Why the policy refuses a call now, or undefined when it is admissible. */
  private refusal(call: ToolCall): string | undefined {
    const state = this.sop.stateName(this.mask);
    if (this.sop.strategies.includes(call.name) && !this.sop.isAdmissible(this.mask, call.name))
      return match(state)
        .with(
          'unauthenticated',
          () => 'authenticate the user first (find_user_id_by_email or find_user_id_by_name_zip)',
        )
        .with('authenticated', () =>
          call.name.startsWith('find_user_id')
            ? `the user is already authenticated as ${this.authenticatedUser}; one user per conversation`
            : 'list the details and get the user\'s explicit "yes" before changing anything',
        )
        .otherwise(() => `${call.name} is not admissible in state ${state}`);
    const target = targetUser(this.db, call);
    if (this.authenticatedUser && target && target !== this.authenticatedUser)
      return `this conversation is about user ${this.authenticatedUser} only`;
    return undefined;
  }

  private runTool(call: ToolCall): { content: string; violation: boolean; blocked: boolean } {
    const refusal = this.refusal(call);
    const violation = refusal !== undefined;
    if (violation && this.config.sopEnforcement === 'block')
      return { content: `Error: not allowed by the retail policy: ${refusal}`, violation, blocked: true };
    const content = executeRetailCall(this.db, call);
    if (this.sop.strategies.includes(call.name)) this.mask = this.sop.applyStrategy(this.mask, call.name);
    if (call.name.startsWith('find_user_id') && !content.startsWith('Error') && this.db.user(content)) {
      this.authenticatedUser ??= content;
      this.mask = this.sop.applyEvent(this.mask, { type: 'user_authenticated' });
    }
    if ((RETAIL_TERMINATE_TOOLS as readonly string[]).includes(call.name)) this.end = 'transfer';
    return { content, violation, blocked: false };
  }

  step(step: ToolAgentStep): ToolStepResult {
    if (this.end !== undefined) throw new Error('step() after the episode ended; call reset()');
    this.steps++;
    this.plans.push(step.plan);
    this.messages.push(assistantMessage(step.action));
    let violation = false;
    let blocked = false;
    const observation = match(step.action)
      .with({ kind: 'tool_call' }, ({ call }) => {
        const r = this.runTool(call);
        violation = r.violation;
        blocked = r.blocked;
        return toolResultMessage(call, r.content);
      })
      .with({ kind: 'reply' }, ({ text }): UserMessage => {
        this.mask = this.sop.applyStrategy(this.mask, RETAIL_REPLY_STRATEGY);
        const r = this.user.react(text);
        if (r.confirmed) this.mask = this.sop.applyEvent(this.mask, { type: 'user_confirmed' });
        if (r.end) this.end = r.end;
        return { role: 'user', content: r.text };
      })
      .exhaustive();
    if (violation) this.violations++;
    this.messages.push(observation);
    if (this.end === undefined && this.steps >= this.config.maxSteps) this.end = 'step_limit';
    const done = this.end !== undefined;
    return {
      observation,
      done,
      reward: done ? this.result().reward : 0,
      info: { sopViolation: violation, blocked, ...(done ? { endReason: this.end } : {}) },
    };
  }

  /** tau-bench's reward of the conversation so far (final once done). */
  result(): RetailReward {
    if (this.reward && this.done) return this.reward;
    const r = retailReward(this.db, this.task, this.messages, this.goldHash);
    if (this.done) this.reward = r;
    return r;
  }

  episode(agent: string): ToolEpisode {
    const r = this.result();
    return {
      id: this.taskId,
      env: this.name,
      agent,
      messages: this.messages.slice(),
      plans: this.plans.slice(),
      reward: r.reward,
      steps: this.steps,
      sopViolations: this.violations,
      endReason: this.end ?? 'in_progress',
      details: {
        databaseMatches: r.databaseMatches,
        ...(r.outputs ? { outputs: r.outputs } : {}),
        requestsHandled: this.user.handled,
        requests: this.user.requests.length,
      },
    };
  }
}
