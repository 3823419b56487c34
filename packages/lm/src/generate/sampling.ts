/**
 * Next-token choice from one row of logits, in the usual order: repetition penalty, temperature,
 * top-k, top-p (nucleus), then a draw from the renormalised distribution. Temperature 0 is greedy
 * (argmax after the penalty; ties go to the lowest id).
 */
import type { Rng } from '@gopo/core';
import { z } from 'zod';

export const SamplingOptionsSchema = z
  .object({
    temperature: z
      .number()
      .min(0)
      .default(0)
      .describe('softmax temperature; 0 = greedy (argmax), 1 = the model distribution'),
    topK: z.number().int().min(0).default(0).describe('keep only the k most likely tokens (0 = all)'),
    topP: z
      .number()
      .gt(0)
      .max(1)
      .default(1)
      .describe('keep the smallest set of most likely tokens whose probability reaches p (1 = all)'),
    repetitionPenalty: z
      .number()
      .positive()
      .default(1)
      .describe(
        'divide positive (multiply negative) logits of tokens already in the sequence by this (1 = off)',
      ),
  })
  .describe('how the next token is chosen');
export type SamplingOptions = z.infer<typeof SamplingOptionsSchema>;

/** CTRL-style repetition penalty in place: logit / p if positive, logit * p if not, once per seen id. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    const v = logits[id] as number;
    logits[id] = v > 0 ? v / penalty : v * penalty;
  }
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i] as number;
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

/** The k-th largest value of `xs` (1-based k), by quickselect on a copy: O(n) on average. */
export function kthLargest(xs: ArrayLike<number>, k: number): number {
  const a = Float64Array.from(xs as ArrayLike<number>);
  let lo = 0;
  let hi = a.length - 1;
  const want = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) > pivot) i++;
      while ((a[j] as number) < pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else break;
  }
  return a[want] as number;
}

/**
 * Candidate ids and unnormalised weights exp((logit - max) / T) after top-k and top-p, without
 * sorting the whole vocabulary: top-k keeps logits >= the k-th largest (quickselect), and top-p only
 * sorts the tokens above a weight threshold that is lowered until they hold at least p of the mass
 * (the nucleus is always among them). Ids come back in descending weight when a filter ran.
 */
function candidates(
  logits: ArrayLike<number>,
  options: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>,
): { ids: number[]; weights: number[]; sorted: boolean } {
  const t = options.temperature;
  if (!(t > 0)) throw new Error('sampling needs temperature > 0 (0 is greedy)');
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i] as number);
  const floor = options.topK > 0 && options.topK < n ? kthLargest(logits, options.topK) : -Infinity;
  const ids: number[] = [];
  const weights: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const l = logits[i] as number;
    if (l < floor) continue;
    const w = Math.exp((l - max) / t);
    ids.push(i);
    weights.push(w);
    total += w;
  }
  const byWeight = (idx: number[]) =>
    idx.sort(
      (a, b) => (weights[b] as number) - (weights[a] as number) || (ids[a] as number) - (ids[b] as number),
    );
  if (options.topP >= 1) {
    if (floor === -Infinity) return { ids, weights, sorted: false };
    const order = byWeight(ids.map((_, i) => i));
    return {
      ids: order.map((i) => ids[i] as number),
      weights: order.map((i) => weights[i] as number),
      sorted: true,
    };
  }
  // Lower the threshold until the tokens above it hold p of the mass; the nucleus lies among them.
  let tau = 1e-3;
  let pool: number[] = [];
  for (;;) {
    pool = [];
    let mass = 0;
    for (let i = 0; i < ids.length; i++) {
      if ((weights[i] as number) >= tau) {
        pool.push(i);
        mass += weights[i] as number;
      }
    }
    if (mass >= options.topP * total || tau === 0) break;
    tau = tau < 1e-300 ? 0 : tau * 1e-3;
  }
  const order = byWeight(pool);
  let cum = 0;
  let cut = order.length;
  for (let i = 0; i < order.length; i++) {
    cum += (weights[order[i] as number] as number) / total;
    if (cum >= options.topP) {
      cut = i + 1;
      break;
    }
  }
  // Ties with the last kept token stay in, as for top-k.
  const last = weights[order[cut - 1] as number] as number;
  while (cut < order.length && weights[order[cut] as number] === last) cut++;
  const kept = order.slice(0, cut);
  return {
    ids: kept.map((i) => ids[i] as number),
    weights: kept.map((i) => weights[i] as number),
    sorted: true,
  };
}

/**
 * The distribution sampling draws from, after temperature, top-k and top-p: candidate ids in
 * descending probability (ties by id) and their renormalised probabilities.
 */
export function filteredDistribution(
  logits: ArrayLike<number>,
  options: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>,
): { ids: number[]; probs: number[] } {
  const c = candidates(logits, options);
  const order = c.ids.map((_, i) => i);
  if (!c.sorted)
    order.sort(
      (a, b) =>
        (c.weights[b] as number) - (c.weights[a] as number) || (c.ids[a] as number) - (c.ids[b] as number),
    );
  const total = c.weights.reduce((a, w) => a + w, 0);
  return {
    ids: order.map((i) => c.ids[i] as number),
    probs: order.map((i) => (c.weights[i] as number) / total),
  };
}

/** Picks the next token for one row. `logits` is modified in place by the repetition penalty. */
export function sampleNext(
  logits: Float32Array,
  seen: Iterable<number>,
  options: SamplingOptions,
  rng: Rng,
): number {
  applyRepetitionPenalty(logits, seen, options.repetitionPenalty);
  if (options.temperature === 0) return argmax(logits);
  const { ids, weights } = candidates(logits, options);
  let total = 0;
  for (const w of weights) total += w;
  const u = rng.float() * total;
  let cum = 0;
  for (let i = 0; i < ids.length; i++) {
    cum += weights[i] as number;
    if (u < cum) return ids[i] as number;
  }
  return ids[ids.length - 1] as number;
}
