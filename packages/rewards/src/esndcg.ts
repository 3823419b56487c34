import type { Rng } from '@gopo/core';
import type { AgentTurn, Session } from '@gopo/dialogue';
import type { EsndcgConfig } from './config.js';

/** One judged turn: the ranking the Expert Agent produced and the graded relevance of strategies. */
export interface JudgedTurn {
  /** Strategies, best first (duplicates after the first occurrence are ignored). */
  readonly ranking: readonly string[];
  /** The reference strategy (relevance 2). */
  readonly reference: string;
  /** Other acceptable strategies (relevance 1). */
  readonly acceptable: readonly string[];
}

export function relevance(turn: JudgedTurn, strategy: string): number {
  if (strategy === turn.reference) return 2;
  return turn.acceptable.includes(strategy) ? 1 : 0;
}

/** The agent turns of a session that carry a reference, as judged turns (DESIGN.md 4.4). */
export function judgedTurns(session: Session): JudgedTurn[] {
  const out: JudgedTurn[] = [];
  for (const turn of session.turns) {
    if (turn.role !== 'agent' || !turn.reference) continue;
    out.push(judgedTurn(turn));
  }
  return out;
}

function judgedTurn(turn: AgentTurn): JudgedTurn {
  const ranking = turn.ranking ?? (turn.strategy !== undefined ? [turn.strategy] : []);
  return { ranking, reference: turn.reference!.strategy, acceptable: turn.reference!.acceptable };
}

/** Gains 2^rel - 1 of a ranking cut at k, duplicates dropped (a strategy is credited once). */
function rankedGains(turn: JudgedTurn, k: number): number[] {
  const seen = new Set<string>();
  const gains: number[] = [];
  for (const s of turn.ranking) {
    if (gains.length >= k) break;
    if (seen.has(s)) continue;
    seen.add(s);
    gains.push(2 ** relevance(turn, s) - 1);
  }
  return gains;
}

/** Gains of the ideal ranking: the reference, then the acceptable strategies, cut at k. */
function idealGains(turn: JudgedTurn, k: number): number[] {
  const gains = [3];
  const seen = new Set<string>([turn.reference]);
  for (const s of turn.acceptable) {
    if (gains.length >= k) break;
    if (seen.has(s)) continue;
    seen.add(s);
    gains.push(1);
  }
  return gains.slice(0, k);
}

// disc[r - 1] = p_down^(r-1) / log2(r + 1), computed once per config object.
const discounts = new WeakMap<EsndcgConfig, Float64Array>();
function discountsOf(config: EsndcgConfig): Float64Array {
  let d = discounts.get(config);
  if (!d) {
    d = new Float64Array(config.k);
    for (let r = 1; r <= config.k; r++) d[r - 1] = config.pDown ** (r - 1) / Math.log2(r + 1);
    discounts.set(config, d);
  }
  return d;
}

/** Index of the first occurrence of list[i] in list, scanning only the first i items (k is small). */
function firstIndex(list: readonly string[], i: number): number {
  const x = list[i];
  for (let j = 0; j < i; j++) if (list[j] === x) return j;
  return i;
}

/** Discounted gain of one turn's ranking (duplicates after the first occurrence skipped). */
function turnDcg(
  ranking: readonly string[],
  reference: string,
  acceptable: readonly string[],
  disc: Float64Array,
): number {
  let dcg = 0;
  let r = 0;
  for (let i = 0; i < ranking.length && r < disc.length; i++) {
    if (firstIndex(ranking, i) !== i) continue;
    const s = ranking[i]!;
    const gain = s === reference ? 3 : acceptable.includes(s) ? 1 : 0;
    dcg += gain * disc[r]!;
    r++;
  }
  return dcg;
}

/** Discounted gain of the ideal ranking: the reference, then each distinct acceptable strategy. */
function turnIdcg(reference: string, acceptable: readonly string[], disc: Float64Array): number {
  let dcg = 3 * disc[0]!;
  let r = 1;
  for (let i = 0; i < acceptable.length && r < disc.length; i++) {
    const s = acceptable[i]!;
    if (s === reference || firstIndex(acceptable, i) !== i) continue;
    dcg += disc[r]!;
    r++;
  }
  return dcg;
}

/** Closed-form ESNDCG of a list of judged turns; NaN when there are none. */
export function esndcgOfTurns(turns: readonly JudgedTurn[], config: EsndcgConfig): number {
  if (turns.length === 0) return Number.NaN;
  const disc = discountsOf(config);
  let num = 0;
  let den = 0;
  let w = 1;
  for (const turn of turns) {
    num += w * turnDcg(turn.ranking, turn.reference, turn.acceptable, disc);
    den += w * turnIdcg(turn.reference, turn.acceptable, disc);
    w *= config.pRef;
  }
  return num / den;
}

/** Closed-form ESNDCG of a session (DESIGN.md 4.4); NaN when no agent turn carries a reference. */
export function esndcgScore(session: Session, config: EsndcgConfig): number {
  const disc = discountsOf(config);
  let num = 0;
  let den = 0;
  let w = 1;
  let judged = 0;
  for (const turn of session.turns) {
    if (turn.role !== 'agent' || !turn.reference) continue;
    judged++;
    const ref = turn.reference;
    const ranking = turn.ranking ?? (turn.strategy !== undefined ? [turn.strategy] : []);
    num += w * turnDcg(ranking, ref.strategy, ref.acceptable, disc);
    den += w * turnIdcg(ref.strategy, ref.acceptable, disc);
    w *= config.pRef;
  }
  return judged === 0 ? Number.NaN : num / den;
}

export interface MonteCarloEstimate {
  readonly value: number;
  /** Delta-method standard error of the ratio estimator. */
  readonly stderr: number;
  readonly paths: number;
}

/**
 * Monte-Carlo ESNDCG: sample scan paths (the user reads turn 1, goes on to the next judged turn with
 * probability p_ref; within a turn reads rank 1 and goes down with probability p_down, up to k), sum
 * gain / log2(r + 1) over what was read for the system's ranking and for the ideal one on the same
 * path, and return the ratio of the two sums. Its expectation is the closed form's numerator and
 * denominator, so the ratio converges to the closed form.
 */
export function esndcgMonteCarlo(
  turns: readonly JudgedTurn[],
  config: EsndcgConfig,
  rng: Rng,
  paths: number,
): MonteCarloEstimate {
  if (turns.length === 0) return { value: Number.NaN, stderr: Number.NaN, paths };
  const sys = turns.map((t) => rankedGains(t, config.k));
  const ideal = turns.map((t) => idealGains(t, config.k));
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let p = 0; p < paths; p++) {
    let x = 0;
    let y = 0;
    for (let t = 0; t < turns.length; t++) {
      if (t > 0 && !(rng.float() < config.pRef)) break;
      const g = sys[t]!;
      const gi = ideal[t]!;
      for (let r = 1; r <= config.k; r++) {
        if (r > 1 && !(rng.float() < config.pDown)) break;
        const disc = Math.log2(r + 1);
        if (r <= g.length) x += g[r - 1]! / disc;
        if (r <= gi.length) y += gi[r - 1]! / disc;
      }
    }
    sx += x;
    sy += y;
    sxx += x * x;
    syy += y * y;
    sxy += x * y;
  }
  const mx = sx / paths;
  const my = sy / paths;
  const value = mx / my;
  const vx = sxx / paths - mx * mx;
  const vy = syy / paths - my * my;
  const cxy = sxy / paths - mx * my;
  const varRatio = (vx - 2 * value * cxy + value * value * vy) / (my * my * paths);
  return { value, stderr: Math.sqrt(Math.max(0, varRatio)), paths };
}

/**
 * ESNDCG from the Expert Agent's probabilities instead of a logged ranking: strategies are ranked by
 * probability, and a group of tied strategies gets the mean discounted gain of the positions it
 * spans (the expectation over random tie-breaking, McSherry and Najork 2008).
 */
export function esndcgFromScores(
  turns: readonly {
    scores: Readonly<Record<string, number>>;
    reference: string;
    acceptable: readonly string[];
  }[],
  config: EsndcgConfig,
): number {
  if (turns.length === 0) return Number.NaN;
  let num = 0;
  let den = 0;
  let w = 1;
  for (const turn of turns) {
    const entries = Object.entries(turn.scores).sort((a, b) => b[1] - a[1]);
    const judged: JudgedTurn = { ranking: [], reference: turn.reference, acceptable: turn.acceptable };
    let dcg = 0;
    let start = 0;
    while (start < entries.length && start < config.k) {
      let end = start + 1;
      while (end < entries.length && entries[end]![1] === entries[start]![1]) end++;
      let gain = 0;
      for (let i = start; i < end; i++) gain += 2 ** relevance(judged, entries[i]![0]) - 1;
      gain /= end - start;
      for (let r = start + 1; r <= Math.min(end, config.k); r++)
        dcg += (config.pDown ** (r - 1) * gain) / Math.log2(r + 1);
      start = end;
    }
    num += w * dcg;
    den += w * turnIdcg(turn.reference, turn.acceptable, discountsOf(config));
    w *= config.pRef;
  }
  return num / den;
}
