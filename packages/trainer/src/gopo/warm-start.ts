/**
 * The SFT warm start of the Expert Agent (DESIGN.md 4.6): a fresh decoder learns the strategy
 * decisions of logged sessions, from a team's logs or, in the simulator, from history sessions
 * played by imperfect scripted agents (never the oracle). Used by `gopo train` (agent.from: sft) and
 * by `gopo expert sft`, which also builds the warm start this package ships.
 */
import { type Logger, Progress, Rng } from '@gopo/core';
import {
  type DialogueEnv,
  loggedDecisions,
  type ReplyPolicy,
  readSessionsAll,
  type Session,
  shopSopDefault,
} from '@gopo/dialogue';
import { shopStrategyPolicies } from '@gopo/envs';
import {
  decisionAccuracy,
  ExpertAgent,
  type ExpertModelConfigInput,
  type ExpertRuntimeOptions,
  ExpertUpdater,
  type RowInput,
  sftWarmStart,
} from '@gopo/expert-agent';
import { loadDefaultTokenizer } from '@gopo/lm';
import type { z } from 'zod';
import type { EpisodeJob } from '../rollout/episodes.js';
import { InProcessPool } from '../rollout/worker-pool.js';
import type { WarmStartConfigSchema } from './config.js';

/** Trajectories of logged sessions as rows for `agent` (turns without a usable label are skipped). */
export function loggedRows(agent: ExpertAgent, sessions: readonly Session[]): RowInput[] {
  const sop = shopSopDefault();
  return sessions.map((s) => {
    const { decisions } = loggedDecisions(s, sop, 0);
    const encoded = agent.encoder.encode(s.turns, decisions);
    return {
      encoded,
      masks: encoded.decisions.map((k) => decisions[k]!.mask),
      actions: encoded.decisions.map((k) => decisions[k]!.action),
    };
  });
}

/** History sessions of a scripted shop policy on scenarios drawn from `seed` (not the held-out ones). */
export async function simulateHistory(
  policy: string,
  episodes: number,
  seed: number,
  makeEnv: () => DialogueEnv,
  reply: ReplyPolicy,
): Promise<Session[]> {
  const base = Rng.fromSeed(seed, 'history').int(1e8);
  const jobs: EpisodeJob[] = Array.from({ length: episodes }, (_, i) => ({
    id: `history-${seed}-${String(i).padStart(5, '0')}`,
    seed: base + i,
    scenario: `history-${i}`,
    group: i,
    sample: 0,
    streamSeed: seed * 1_000_003 + i,
    greedy: false,
  }));
  const pool = new InProcessPool({ strategy: shopStrategyPolicies.get(policy), reply }, makeEnv);
  return (await pool.run(jobs)).map((r) => r.session);
}

export interface WarmStartRequest {
  readonly model: ExpertModelConfigInput;
  readonly warmStart: z.infer<typeof WarmStartConfigSchema>;
  readonly seed: number;
  /** Decision slots per trajectory (the env's turn limit). */
  readonly maxTurns: number;
  readonly threads: number;
  readonly runtime: ExpertRuntimeOptions;
}

export interface WarmStartResult {
  readonly agent: ExpertAgent;
  /** Mean SFT loss of the last 20 steps. */
  readonly loss: number;
  /** Decisions of the held-out tenth of the sessions whose most probable strategy is the logged one. */
  readonly accuracy: number;
  readonly sessions: number;
}

/** Trains a fresh Expert Agent on logged (or simulated history) decisions. */
export async function trainWarmStart(
  req: WarmStartRequest,
  makeEnv: () => DialogueEnv,
  reply: ReplyPolicy,
  log: Logger,
): Promise<WarmStartResult> {
  const ws = req.warmStart;
  const tokenizer = await loadDefaultTokenizer();
  const agent = ExpertAgent.random(req.model, tokenizer, makeEnv().strategies, req.seed, req.runtime);
  let sessions: Session[];
  if (ws.logs) {
    sessions = await readSessionsAll(ws.logs);
    log.info(`warm start: ${sessions.length} logged sessions from ${ws.logs}`);
  } else {
    sessions = await simulateHistory(ws.policy, ws.episodes, req.seed, makeEnv, reply);
    log.info(`warm start: ${sessions.length} simulated sessions of the ${ws.policy} agents`);
  }
  const rows = loggedRows(agent, sessions);
  const held = rows.slice(0, Math.max(1, Math.floor(rows.length / 10)));
  const train = rows.slice(held.length);
  const updater = await ExpertUpdater.create(
    agent,
    { rows: ws.rows, seqLen: agent.maxSeqLen, slots: req.maxTurns },
    { kind: 'sft' },
    {
      lr: ws.lr,
      clipNorm: 1,
      optimizer: { kind: 'adamw', weightDecay: 0.01 },
      intraOpThreads: req.threads,
      seed: req.seed,
    },
  );
  const progress = new Progress({ total: ws.steps, label: 'warm start' });
  const losses = await sftWarmStart(updater, train, {
    steps: ws.steps,
    rng: Rng.fromSeed(req.seed, 'warm-start'),
    onStep: (step, m) => {
      progress.tick(1, `loss ${m.loss!.toFixed(3)}`);
      if ((step + 1) % 50 === 0) log.info(`warm start step ${step + 1}: loss ${m.loss!.toFixed(3)}`);
    },
  });
  progress.done();
  const accuracy = decisionAccuracy(await agent.decisionLogProbs(held), held);
  const tail = losses.slice(-20);
  const loss = tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : Number.NaN;
  log.info(
    `warm start: final loss ${loss.toFixed(3)}, held-out decision accuracy ${(100 * accuracy).toFixed(1)}%`,
  );
  agent.version = 0;
  return { agent, loss, accuracy, sessions: sessions.length };
}
