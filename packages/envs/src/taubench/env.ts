import { Rng } from '@gopo/core';
import type { ChatMessage, Sop, ToolCall, UserMessage } from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { z } from 'zod';
import { ToolEnvBase, type ToolOutcome, toolEnvConfigFields } from '../tool-env.js';
import type { KeyOrder, RetailData, RetailTask } from './data.js';
import { RetailDb } from './db.js';
import { type RetailReward, replayGoldActions, retailReward } from './reward.js';
import { RETAIL_REPLY_STRATEGY, retailSop } from './sop.js';
import { executeRetailCall, RETAIL_TERMINATE_TOOLS, RETAIL_TOOLS } from './tools.js';
import { RetailCustomer, type RetailIdentity, retailIdentity } from './user.js';

export const RetailEnvConfigSchema = z.object({
  // Upstream runs 30 steps; the scripted customer states up to 7 requests one at a time.
  ...toolEnvConfigFields({ maxSteps: 50, patience: 4 }),
  sopEnforcement: z
    .enum(['block', 'record'])
    .default('block')
    .describe(
      'block: an action the policy SOP does not admit is not executed (hard SOP, DESIGN.md 4.1); record: it runs, as upstream, and is counted',
    ),
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
export class RetailEnv extends ToolEnvBase<RetailPrivileged, RetailReward> {
  readonly name = 'taubench-retail';
  readonly config: RetailEnvConfig;
  protected readonly system = RETAIL_SYSTEM_PROMPT;
  protected readonly tools = RETAIL_TOOLS;
  private task!: RetailTask;
  private identity!: RetailIdentity;
  private user!: RetailCustomer;
  private db!: RetailDb;
  private goldHash = '';
  private mask = 0;
  private authenticatedUser: string | undefined;

  constructor(
    readonly data: RetailData,
    readonly keyOrder?: KeyOrder,
    config: RetailEnvConfigInput = {},
    readonly sop: Sop = retailSop(),
  ) {
    super();
    this.config = RetailEnvConfigSchema.parse(config);
  }

  /** Starts the task's conversation (the customer's wording seeded by `seed`); returns the opening. */
  reset(task: RetailTask, seed: number, id = task.user_id): UserMessage {
    this.task = task;
    this.db = new RetailDb(this.data, this.keyOrder);
    this.goldHash = replayGoldActions(this.data, task, this.keyOrder).hash();
    this.identity = retailIdentity(this.db, task);
    const rng = Rng.fromSeed(seed, `taubench-user/${id}`);
    this.user = new RetailCustomer(this.identity, task, this.db, rng, this.config.patience);
    this.mask = this.sop.initialMask;
    this.authenticatedUser = undefined;
    return this.begin(id, this.user.open());
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

  protected maxSteps(): number {
    return this.config.maxSteps;
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

  protected callTool(call: ToolCall): ToolOutcome {
    const refusal = this.refusal(call);
    const sopViolation = refusal !== undefined;
    if (sopViolation && this.config.sopEnforcement === 'block')
      return { content: `Error: not allowed by the retail policy: ${refusal}`, sopViolation, blocked: true };
    const content = executeRetailCall(this.db, call);
    if (this.sop.strategies.includes(call.name)) this.mask = this.sop.applyStrategy(this.mask, call.name);
    if (call.name.startsWith('find_user_id') && !content.startsWith('Error') && this.db.user(content)) {
      this.authenticatedUser ??= content;
      this.mask = this.sop.applyEvent(this.mask, { type: 'user_authenticated' });
    }
    if ((RETAIL_TERMINATE_TOOLS as readonly string[]).includes(call.name)) this.end = 'transfer';
    return { content, sopViolation, blocked: false };
  }

  protected userReply(text: string): string {
    this.mask = this.sop.applyStrategy(this.mask, RETAIL_REPLY_STRATEGY);
    const r = this.user.react(text);
    if (r.confirmed) this.mask = this.sop.applyEvent(this.mask, { type: 'user_confirmed' });
    if (r.end) this.end = r.end;
    return r.text;
  }

  protected score(messages: readonly ChatMessage[]): RetailReward {
    return retailReward(this.db, this.task, messages, this.goldHash);
  }

  protected details(r: RetailReward): Record<string, unknown> {
    return {
      databaseMatches: r.databaseMatches,
      ...(r.outputs ? { outputs: r.outputs } : {}),
      requestsHandled: this.user.handled,
      requests: this.user.requests.length,
    };
  }
}
