/**
 * JOSH (Lee et al. 2024, "Sparse Rewards Can Self-Train Dialogue Agents"): turn-level beam search over
 * the agent's turns in a tool environment with a scripted user. A turn is the agent's steps up to the
 * next user message (tool calls, then a reply) or the end of the episode. Each depth, every live beam
 * is expanded with `branching` sampled turns; the children are the next beams, at most `maxBeams` of
 * them (a seeded uniform sample: the reward is sparse, nothing ranks unfinished dialogues). A child
 * whose episode ended is a leaf: with reward >= successReward the search stops at once (the golden
 * path), otherwise it is a failed leaf and is dropped.
 *
 * Branching by replay: ToolEnv has no clone (its user simulator holds a seeded RNG and private
 * state), but every environment here is deterministic given (item, seed, the agent's steps). So a beam
 * stores its steps, and expanding it resets the environment and replays them; the replayed dialogue
 * is checked against the beam's recorded one (ReplayDivergenceError otherwise). The agents that
 * expand beams must be functions of the view and their seed (JoshPolicy), because each turn is taken
 * by a fresh agent at a replayed point of the dialogue.
 */
import { GopoError, hashString, Rng } from '@gopo/core';
import type { ChatMessage, ToolAgent, ToolAgentStep, ToolAgentView } from '@gopo/dialogue';
import type { ResettableToolEnv } from '@gopo/envs';
import { z } from 'zod';

export const JoshSearchConfigSchema = z
  .object({
    branching: z.number().int().min(1).default(2).describe('sampled turns per beam at each depth'),
    maxBeams: z.number().int().min(1).default(8).describe('beams kept at each depth'),
    maxDepth: z.number().int().min(1).default(20).describe('agent turns before the search gives up'),
    maxStepsPerTurn: z
      .number()
      .int()
      .min(1)
      .default(8)
      .describe('agent steps in one turn before it is cut off (the episode is then a failed leaf)'),
    successReward: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe('a leaf with this reward or more is a success'),
  })
  .strict()
  .describe('JOSH beam search');
export type JoshSearchConfig = z.infer<typeof JoshSearchConfigSchema>;

/** A policy JOSH can branch: a fresh agent for one turn, a function of the view and `seed`. */
export interface JoshPolicy<P> {
  readonly name: string;
  create(privileged: P, seed: number): ToolAgent;
}

/** One agent step with the view it was taken in. */
export interface JoshStep {
  readonly view: ToolAgentView;
  readonly step: ToolAgentStep;
}

/** A node of the search tree: the turn that led to it from its parent. */
export interface JoshNode {
  readonly id: number;
  readonly parent: number | null;
  readonly depth: number;
  /** The turn's steps (empty at the root). */
  readonly turn: readonly JoshStep[];
  /** Every step from the reset, for replay. */
  readonly steps: readonly ToolAgentStep[];
  /** The dialogue after the turn (checked on replay). */
  readonly messages: readonly ChatMessage[];
  readonly done: boolean;
  readonly reward: number;
  readonly success: boolean;
}

export type JoshOutcome =
  | { readonly kind: 'success'; readonly golden: readonly JoshNode[] }
  | { readonly kind: 'exhausted' }
  | { readonly kind: 'depth_limit' };

export interface JoshSearchResult {
  readonly outcome: JoshOutcome;
  /** Every node created, by id (the root is 0). */
  readonly nodes: readonly JoshNode[];
  /** Live beams at each depth (never above maxBeams). */
  readonly beamsPerDepth: readonly number[];
  /** Turns sampled (agent calls grouped by turn). */
  readonly expansions: number;
}

/** A replayed dialogue differs from the one recorded: the environment is not deterministic. */
export class ReplayDivergenceError extends GopoError {
  constructor(
    readonly item: string,
    readonly depth: number,
  ) {
    super(
      `JOSH replay of ${item} at depth ${depth} gave another dialogue than the one recorded; the environment must be deterministic given (item, seed, steps)`,
    );
  }
}

const sameMessages = (a: readonly ChatMessage[], b: readonly ChatMessage[]) =>
  JSON.stringify(a) === JSON.stringify(b);

/** Resets `env` and replays `steps`; returns the env at that point. */
export function replaySteps<P, G>(
  env: ResettableToolEnv<P, G>,
  item: G,
  seed: number,
  id: string,
  steps: readonly ToolAgentStep[],
): ResettableToolEnv<P, G> {
  env.reset(item, seed, id);
  for (const s of steps) env.step(s);
  return env;
}

/**
 * Runs JOSH on one goal or task. `seed` is the episode seed (the user's wording); branch samples are
 * seeded from it, the node and the branch index, so a search is reproducible.
 */
export async function joshSearch<P, G>(
  env: ResettableToolEnv<P, G>,
  item: { readonly id: string; readonly item: G },
  policy: JoshPolicy<P>,
  seed: number,
  config: Partial<JoshSearchConfig> = {},
): Promise<JoshSearchResult> {
  const c = JoshSearchConfigSchema.parse(config);
  const rng = Rng.fromSeed(seed, `josh/${item.id}`);
  env.reset(item.item, seed, item.id);
  const nodes: JoshNode[] = [
    {
      id: 0,
      parent: null,
      depth: 0,
      turn: [],
      steps: [],
      messages: env.view().messages.slice(),
      done: env.done,
      reward: 0,
      success: false,
    },
  ];
  let beams: JoshNode[] = [nodes[0]!];
  const beamsPerDepth: number[] = [];
  let expansions = 0;
  const golden = (leaf: JoshNode): JoshNode[] => {
    const path: JoshNode[] = [];
    for (let n: JoshNode | undefined = leaf; n; n = n.parent === null ? undefined : nodes[n.parent])
      path.unshift(n);
    return path;
  };
  for (let depth = 0; depth < c.maxDepth; depth++) {
    beamsPerDepth.push(beams.length);
    const children: JoshNode[] = [];
    for (const beam of beams)
      for (let b = 0; b < c.branching; b++) {
        replaySteps(env, item.item, seed, item.id, beam.steps);
        if (!sameMessages(env.view().messages, beam.messages))
          throw new ReplayDivergenceError(item.id, depth);
        const agent = policy.create(env.privileged(), hashString(`${seed}/${beam.id}/${b}`));
        const turn: JoshStep[] = [];
        let reward = 0;
        while (!env.done && turn.length < c.maxStepsPerTurn) {
          const view = env.view();
          const snapshot: ToolAgentView = { ...view, messages: view.messages.slice() };
          const step = await agent.act(snapshot);
          turn.push({ view: snapshot, step });
          const r = env.step(step);
          reward = r.reward;
          if (r.done || r.observation?.role === 'user') break;
        }
        expansions++;
        // A turn cut off by maxStepsPerTurn (the agent looped on tool calls) is a failed leaf.
        const cutOff = !env.done && env.view().messages.at(-1)?.role !== 'user';
        const node: JoshNode = {
          id: nodes.length,
          parent: beam.id,
          depth: depth + 1,
          turn,
          steps: [...beam.steps, ...turn.map((t) => t.step)],
          messages: env.view().messages.slice(),
          done: env.done || cutOff,
          reward,
          success: env.done && reward >= c.successReward,
        };
        nodes.push(node);
        if (node.success)
          return { outcome: { kind: 'success', golden: golden(node) }, nodes, beamsPerDepth, expansions };
        if (!node.done) children.push(node);
      }
    if (children.length === 0) return { outcome: { kind: 'exhausted' }, nodes, beamsPerDepth, expansions };
    beams = children.length > c.maxBeams ? rng.shuffle(children).slice(0, c.maxBeams) : children;
  }
  return { outcome: { kind: 'depth_limit' }, nodes, beamsPerDepth, expansions };
}
