import type { ChatMessage } from '@gopo/dialogue';
import type { KeyOrder, RetailData, RetailTask } from './data.js';
import { RetailDb } from './db.js';
import { executeRetailCall, RETAIL_TERMINATE_TOOLS } from './tools.js';

/** The action name of a reply in tau-bench's task files. */
export const RESPOND_ACTION = 'respond';

/**
 * Replays a task's gold actions on a fresh copy of the database, as upstream's reward does: every
 * action but replies and episode-ending tools runs as a tool call; a failing call leaves its error
 * text and the database as it was.
 */
export function replayGoldActions(
  data: RetailData,
  task: RetailTask,
  keyOrder?: KeyOrder,
  onOutput?: (output: string, index: number) => void,
): RetailDb {
  const db = new RetailDb(data, keyOrder);
  task.actions.forEach((action, i) => {
    if (action.name === RESPOND_ACTION || (RETAIL_TERMINATE_TOOLS as readonly string[]).includes(action.name))
      return;
    const output = executeRetailCall(db, { name: action.name, arguments: action.kwargs });
    onOutput?.(output, i);
  });
  return db;
}

/** tau-bench's reward and its parts. */
export interface RetailReward {
  readonly reward: number;
  /** The final database hash equals the gold replay's. */
  readonly databaseMatches: boolean;
  readonly hash: string;
  readonly goldHash: string;
  /** Each required output and whether some reply contains it (absent when the task has none). */
  readonly outputs?: Readonly<Record<string, boolean>>;
}

/**
 * The reward of an episode (Yao et al. 2024): 1 when the final database's hash equals the hash after
 * replaying the gold actions on a fresh copy and every required output appears, lower-cased, in some
 * reply of the agent with its commas removed; 0 otherwise.
 */
export function retailReward(
  db: RetailDb,
  task: RetailTask,
  messages: readonly ChatMessage[],
  goldHash = replayGoldActions(db.base, task, db.keyOrder).hash(),
): RetailReward {
  const hash = db.hash();
  const databaseMatches = hash === goldHash;
  let reward = databaseMatches ? 1 : 0;
  if (task.outputs.length === 0) return { reward, databaseMatches, hash, goldHash };
  const replies = messages
    .filter((m) => m.role === 'assistant' && typeof m.content === 'string' && !m.tool_calls?.length)
    .map((m) => (m.content as string).toLowerCase().replaceAll(',', ''));
  const outputs: Record<string, boolean> = {};
  for (const o of task.outputs) {
    outputs[o] = replies.some((r) => r.includes(o.toLowerCase()));
    if (!outputs[o]) reward = 0;
  }
  return { reward, databaseMatches, hash, goldHash, outputs };
}
