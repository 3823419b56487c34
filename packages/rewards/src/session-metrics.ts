import { createRegistry, type Registry } from '@gopo/core';
import { type Session, turnAdherent } from '@gopo/dialogue';
import { type BusinessScope, businessScopeInto, type CompiledBusinessReward } from './business-reward.js';
import type { MetricsConfig } from './config.js';
import { esndcgScore } from './esndcg.js';
import { tseScore } from './tse.js';

/** What a session metric sees: the session, its business-reward scope, and the run's settings. */
export interface SessionView {
  readonly session: Session;
  readonly scope: BusinessScope;
  /** Agent turns that log both a commanded `strategy` and the `detected_strategy` of the reply. */
  readonly adherenceTurns: number;
  readonly adherentTurns: number;
}

export interface ScoringContext {
  readonly config: MetricsConfig;
  readonly business: CompiledBusinessReward;
}

/**
 * A session metric contributes a numerator and a denominator per session; the dataset value is
 * scale * sum(num) / sum(den). Per-session means use den = 1 (0 when undefined for the session);
 * turn-level rates use den = number of eligible turns, so they are micro-averages over turns.
 */
export interface SessionMetric {
  readonly name: string;
  readonly describe: string;
  /** Multiplier of the dataset value (100 for percentages). */
  readonly scale: number;
  readonly higherIsBetter: boolean;
  /** Writes [num, den] into out[0], out[1]. */
  score(view: SessionView, ctx: ScoringContext, out: Float64Array): void;
}

function mean(
  name: string,
  describe: string,
  scale: number,
  higherIsBetter: boolean,
  f: (v: SessionView, c: ScoringContext) => number,
): SessionMetric {
  return {
    name,
    describe,
    scale,
    higherIsBetter,
    score(v, c, out) {
      const x = f(v, c);
      if (Number.isNaN(x)) {
        out[0] = 0;
        out[1] = 0;
      } else {
        out[0] = x;
        out[1] = 1;
      }
    },
  };
}

export const SESSION_METRICS: readonly SessionMetric[] = [
  mean('tse', 'TSE x 100: milestones reached, discounted by user turns (DESIGN 4.3)', 100, true, (v, c) =>
    tseScore(v.session, c.config.tse),
  ),
  mean('esndcg', 'ESNDCG x 100 over sessions with a reference (DESIGN 4.4)', 100, true, (v, c) =>
    esndcgScore(v.session, c.config.esndcg),
  ),
  mean('gre', 'GRE: mean business reward R_goal (DESIGN 4.5)', 1, true, (v, c) =>
    c.business.evaluate(v.scope),
  ),
  mean('success_rate', '% sessions with outcome.status success', 100, true, (v) => v.scope.success),
  mean('conversion_rate', '% sessions with outcome.converted', 100, true, (v) => v.scope.converted),
  mean('resolution_rate', '% sessions with outcome.resolved', 100, true, (v) => v.scope.resolved),
  mean(
    'escalation_rate',
    '% sessions escalated (outcome.escalated or status escalated)',
    100,
    false,
    (v) => v.scope.escalated,
  ),
  mean('user_left_rate', '% sessions that end with a user_left event', 100, false, (v) => v.scope.user_left),
  {
    name: 'sop_compliance',
    describe: '% agent turns without sop_violation (micro-average over turns)',
    scale: 100,
    higherIsBetter: true,
    score(v, _c, out) {
      out[0] = v.scope.agent_turns - v.scope.sop_violations;
      out[1] = v.scope.agent_turns;
    },
  },
  {
    name: 'strategy_adherence',
    describe:
      '% agent turns whose detected_strategy equals the commanded strategy (turns logging both; null detected = not adherent)',
    scale: 100,
    higherIsBetter: true,
    score(v, _c, out) {
      out[0] = v.adherentTurns;
      out[1] = v.adherenceTurns;
    },
  },
  mean('user_turns', 'mean number of user turns per session', 1, false, (v) => v.scope.user_turns),
  mean('agent_turns', 'mean number of agent turns per session', 1, false, (v) => v.scope.agent_turns),
  mean('csat', 'mean outcome.csat over sessions that report it', 1, true, (v) =>
    v.scope.has_csat ? v.scope.csat : Number.NaN,
  ),
];

/** Session metrics by name; unknown names list the valid ones. */
export function createMetricRegistry(): Registry<SessionMetric> {
  return createRegistry<SessionMetric>('metric', Object.fromEntries(SESSION_METRICS.map((m) => [m.name, m])));
}

export const metricRegistry: Registry<SessionMetric> = createMetricRegistry();

/** `m` is the registry's own metric of its name (what worker threads and the scanner can rebuild). */
export function isRegisteredMetric(m: SessionMetric): boolean {
  return metricRegistry.has(m.name) && metricRegistry.get(m.name) === m;
}

/** The view of a session that the metrics read. */
export function sessionView(session: Session): SessionView {
  return sessionViewInto(session, null);
}

type MutableView = { -readonly [K in keyof SessionView]: SessionView[K] };

/**
 * Fills `into` (a view from an earlier call, or null for a new one) with the view of `session` and
 * returns it; streaming scorers reuse one view so that scoring a session allocates nothing. With
 * `session` null it returns an empty view to reuse.
 */
export function sessionViewInto(session: Session, into: SessionView | null): SessionView;
export function sessionViewInto(session: null, into: null): SessionView;
export function sessionViewInto(session: Session | null, into: SessionView | null): SessionView {
  const view = (into ?? {
    session: null as unknown as Session,
    scope: businessScopeInto(null, null),
    adherenceTurns: 0,
    adherentTurns: 0,
  }) as MutableView;
  if (!session) return view;
  let adherenceTurns = 0;
  let adherentTurns = 0;
  const turns = session.turns;
  for (let i = 0; i < turns.length; i++) {
    const turn = turns[i]!;
    if (turn.role !== 'agent') continue;
    const adherent = turnAdherent(turn);
    if (adherent === undefined) continue;
    adherenceTurns++;
    if (adherent) adherentTurns++;
  }
  view.session = session;
  businessScopeInto(session, view.scope);
  view.adherenceTurns = adherenceTurns;
  view.adherentTurns = adherentTurns;
  return view;
}

/**
 * Scores one session on `metrics`, writing num/den pairs into `num[offset + m]`, `den[offset + m]`.
 * `view`, when given, must be sessionViewInto(session, ...) (callers that already built it).
 */
export function scoreSessionInto(
  session: Session,
  metrics: readonly SessionMetric[],
  ctx: ScoringContext,
  num: Float64Array,
  den: Float64Array | Float32Array,
  offset: number,
  scratch: Float64Array = new Float64Array(2),
  view: SessionView = sessionView(session),
): void {
  for (let m = 0; m < metrics.length; m++) {
    metrics[m]!.score(view, ctx, scratch);
    num[offset + m] = scratch[0]!;
    den[offset + m] = scratch[1]!;
  }
}

/** Per-session values of one metric (num / den, NaN where undefined); for tests and quick use. */
export function scoreSession(session: Session, metric: SessionMetric, ctx: ScoringContext): number {
  const out = new Float64Array(2);
  metric.score(sessionView(session), ctx, out);
  return out[1] === 0 ? Number.NaN : out[0]! / out[1]!;
}
