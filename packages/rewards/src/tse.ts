import { type Session, TERMINAL_EVENTS } from '@gopo/dialogue';
import type { Milestone, TseConfig } from './config.js';

const TERMINAL = new Set<string>(TERMINAL_EVENTS);

interface CompiledMilestones {
  /** event type -> milestone index */
  readonly index: Map<string, number>;
  readonly weights: Float64Array;
  readonly total: number;
}

// Compiled once per milestone list (config objects are immutable for a run), so scoring a session
// allocates nothing but the reached-turns array.
const compiled = new WeakMap<readonly Milestone[], CompiledMilestones>();

function compile(milestones: readonly Milestone[]): CompiledMilestones {
  let c = compiled.get(milestones);
  if (!c) {
    const index = new Map<string, number>();
    milestones.forEach((m, i) => {
      if (!index.has(m.event)) index.set(m.event, i);
    });
    const weights = Float64Array.from(milestones, (m) => m.weight);
    c = { index, weights, total: weights.reduce((a, b) => a + b, 0) };
    compiled.set(milestones, c);
  }
  return c;
}

/**
 * t_m for each milestone: the number of user turns up to and including the turn on which its event
 * first appears (at least 1), 0 when never reached. Events listed after a terminal event (user_left,
 * handoff), on its turn or later, happened after the session ended and are not counted.
 */
export function milestoneTurns(session: Session, milestones: readonly Milestone[]): Int32Array {
  const c = compile(milestones);
  const out = new Int32Array(milestones.length);
  if (milestones.length === 0) return out;
  let userTurns = 0;
  let left = milestones.length;
  for (const turn of session.turns) {
    if (turn.role === 'user') userTurns++;
    for (const ev of turn.events) {
      if (TERMINAL.has(ev.type)) return out;
      const m = c.index.get(ev.type);
      if (m !== undefined && out[m] === 0) {
        out[m] = Math.max(userTurns, 1);
        if (--left === 0) return out;
      }
    }
  }
  return out;
}

/**
 * TSE of one session (DESIGN.md 4.3): sum over reached milestones of w_m / log2(1 + t_m), divided by
 * the sum of all weights. NaN when the goal type has no milestones (the session is left out of means).
 */
export function tseScore(session: Session, config: TseConfig): number {
  // A goal type the config does not list (the log schema may gain types) has no milestones.
  const milestones =
    (config.milestones as Partial<Record<string, readonly Milestone[]>>)[session.goal.type] ?? [];
  if (milestones.length === 0) return Number.NaN;
  const c = compile(milestones);
  const turns = milestoneTurns(session, milestones);
  let num = 0;
  for (let m = 0; m < turns.length; m++) {
    const t = turns[m]!;
    if (t > 0) num += c.weights[m]! / Math.log2(1 + t);
  }
  return num / c.total;
}
