/**
 * SOP masking on the host, in float64: the reference that the ONNX policy graph is checked against, and
 * what rollouts use to sample and rank. A masked-out strategy gets probability exactly zero (log-prob
 * -Infinity), so it can never be sampled and never enters a log-prob sum.
 */

export class NoAdmissibleStrategyError extends Error {
  constructor() {
    super('SOP mask admits no strategy: the SOP machine must always leave at least one move (e.g. escalate)');
    this.name = 'NoAdmissibleStrategyError';
  }
}

/** log-softmax over the admissible entries only; inadmissible entries are -Infinity. */
export function maskedLogSoftmax(
  logits: ArrayLike<number>,
  mask: ArrayLike<boolean>,
  temperature = 1,
): Float64Array {
  if (logits.length !== mask.length)
    throw new RangeError(`logits (${logits.length}) and mask (${mask.length}) differ in length`);
  if (!(temperature > 0)) throw new RangeError(`temperature must be positive, got ${temperature}`);
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++)
    if (mask[i]) max = Math.max(max, (logits[i] as number) / temperature);
  if (max === Number.NEGATIVE_INFINITY) throw new NoAdmissibleStrategyError();
  let sum = 0;
  for (let i = 0; i < logits.length; i++)
    if (mask[i]) sum += Math.exp((logits[i] as number) / temperature - max);
  const logZ = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++)
    out[i] = mask[i] ? (logits[i] as number) / temperature - logZ : Number.NEGATIVE_INFINITY;
  return out;
}

/**
 * Admissible strategy indices, most probable first (the Expert Agent's ranking for ESNDCG). Ties keep
 * the strategy-set order so rankings are deterministic.
 */
export function rankAdmissible(logits: ArrayLike<number>, mask: ArrayLike<boolean>): number[] {
  const idx: number[] = [];
  for (let i = 0; i < logits.length; i++) if (mask[i]) idx.push(i);
  if (idx.length === 0) throw new NoAdmissibleStrategyError();
  return idx.sort((a, b) => (logits[b] as number) - (logits[a] as number) || a - b);
}

/** Draws an admissible index from the masked distribution; `uniform` is a U[0,1) draw. */
export function sampleMasked(logProbs: ArrayLike<number>, uniform: number): number {
  let acc = 0;
  let last = -1;
  for (let i = 0; i < logProbs.length; i++) {
    const lp = logProbs[i] as number;
    if (lp === Number.NEGATIVE_INFINITY) continue;
    acc += Math.exp(lp);
    last = i;
    if (uniform < acc) return i;
  }
  if (last < 0) throw new NoAdmissibleStrategyError();
  return last; // rounding left a sliver above the cumulative sum
}
