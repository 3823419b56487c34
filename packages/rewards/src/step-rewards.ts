/**
 * Step-by-step rewards for task-oriented dialogue (Du et al., Findings EMNLP 2024), as written in
 * DESIGN.md 4.5. SV is the ground-truth set of slot values, SV^ the predicted one; S and S^ the
 * requested slots the reply should provide and the ones it provides.
 */

export interface SetOverlap {
  /** |truth|. */
  readonly truth: number;
  /** |truth ∩ predicted|. */
  readonly hit: number;
}

export function overlap(truth: Iterable<string>, predicted: Iterable<string>): SetOverlap {
  const t = new Set(truth);
  const p = new Set(predicted);
  let hit = 0;
  for (const x of p) if (t.has(x)) hit++;
  return { truth: t.size, hit };
}

/** |A ∩ B| exp(-rate |A \ B| / |A|): the weighted hit count shared by Ru, Rg and Rtod. */
function weightedHits(o: SetOverlap, rate: number): number {
  if (o.truth === 0) return 0;
  return o.hit * Math.exp((-rate * (o.truth - o.hit)) / o.truth);
}

/** Ru = |SV ∩ SV^| rho_u / |SV|, rho_u = exp(-alpha |SV \ SV^| / |SV|); 0 when SV is empty. */
export function understandingReward(o: SetOverlap, alpha: number): number {
  return o.truth === 0 ? 0 : weightedHits(o, alpha) / o.truth;
}

/** Rg: the same over requested slots with rate beta. */
export function generationReward(o: SetOverlap, beta: number): number {
  return o.truth === 0 ? 0 : weightedHits(o, beta) / o.truth;
}

/** Rtod = (|SV ∩ SV^| rho_u + |S ∩ S^| rho_g) / (|SV| + |S|); 0 when both sets are empty. */
export function todReward(slots: SetOverlap, requests: SetOverlap, alpha: number, beta: number): number {
  const den = slots.truth + requests.truth;
  return den === 0 ? 0 : (weightedHits(slots, alpha) + weightedHits(requests, beta)) / den;
}

/** A slot value or requested slot that becomes complete at token `token` (0-based) of the output. */
export interface TokenMark {
  readonly token: number;
  readonly kind: 'slot' | 'request';
  /** e.g. "hotel-area=east" for a slot value, "hotel-phone" for a requested slot. */
  readonly key: string;
}

export interface ProgressiveInput {
  readonly truthSlots: Iterable<string>;
  readonly truthRequests: Iterable<string>;
  readonly marks: readonly TokenMark[];
  readonly numTokens: number;
  readonly alpha: number;
  readonly beta: number;
  /** Which reward to hand out: 'u' (Ru), 'g' (Rg) or 'tod' (Rtod). */
  readonly reward: 'u' | 'g' | 'tod';
}

/**
 * Token-level progressive reward: the reward of the prefix ending at token t minus that of the
 * prefix ending at t - 1, so rewards arrive as the counts grow and sum to the reward of the whole
 * output. Marks past the last token count at the last token.
 */
export function progressiveRewards(input: ProgressiveInput): Float64Array {
  const out = new Float64Array(input.numTokens);
  if (input.numTokens === 0) return out;
  const slots = new Set(input.truthSlots);
  const reqs = new Set(input.truthRequests);
  const marks = [...input.marks].sort((a, b) => a.token - b.token);
  const gotSlots = new Set<string>();
  const gotReqs = new Set<string>();
  const value = () => {
    const s: SetOverlap = { truth: slots.size, hit: gotSlots.size };
    const r: SetOverlap = { truth: reqs.size, hit: gotReqs.size };
    return input.reward === 'u'
      ? understandingReward(s, input.alpha)
      : input.reward === 'g'
        ? generationReward(r, input.beta)
        : todReward(s, r, input.alpha, input.beta);
  };
  let prev = value();
  let k = 0;
  for (let t = 0; t < input.numTokens; t++) {
    const last = t === input.numTokens - 1;
    while (k < marks.length && (marks[k]!.token <= t || last)) {
      const m = marks[k++]!;
      if (m.kind === 'slot' && slots.has(m.key)) gotSlots.add(m.key);
      else if (m.kind === 'request' && reqs.has(m.key)) gotReqs.add(m.key);
    }
    const v = value();
    out[t] = v - prev;
    prev = v;
  }
  return out;
}
