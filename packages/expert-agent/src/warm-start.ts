/**
 * SFT warm start of the Expert Agent on logged strategy decisions (DESIGN.md 4.6): the NLL of each
 * logged strategy under the SOP-masked policy, over every decision of a trajectory in one pass.
 */
import type { Rng } from '@gopo/core';
import type { ExpertUpdater } from './expert-updater.js';
import type { RowInput } from './rows.js';

export interface WarmStartOptions {
  readonly steps: number;
  readonly rng: Rng;
  /** Called after every step with its loss and metrics. */
  readonly onStep?: (step: number, metrics: Record<string, number>) => void;
}

/**
 * Minibatches of `rows` trajectories for one epoch: shuffled, then sorted by length within windows
 * of eight minibatches, so a step pads to about its own longest dialogue rather than the corpus's.
 */
export function lengthBucketedBatches<T extends RowInput>(
  items: readonly T[],
  rows: number,
  rng: Rng,
): T[][] {
  const order = rng.shuffle(items.slice());
  const out: T[][] = [];
  const window = rows * 8;
  for (let at = 0; at < order.length; at += window) {
    const part = order.slice(at, at + window).sort((a, b) => a.encoded.ids.length - b.encoded.ids.length);
    for (let k = 0; k < part.length; k += rows) out.push(part.slice(k, k + rows));
  }
  return rng.shuffle(out);
}

/** Runs `steps` SFT steps over `items` (epochs of length-bucketed minibatches); returns the losses. */
export async function sftWarmStart(
  updater: ExpertUpdater,
  items: readonly RowInput[],
  options: WarmStartOptions,
): Promise<number[]> {
  if (updater.objective.kind !== 'sft') throw new RangeError('sftWarmStart needs an sft updater');
  const usable = items.filter((i) => i.actions.length > 0);
  if (usable.length === 0) throw new RangeError('no logged decisions to warm-start on');
  const losses: number[] = [];
  let queue: RowInput[][] = [];
  for (let step = 0; step < options.steps; step++) {
    if (queue.length === 0) queue = lengthBucketedBatches(usable, updater.shape.rows, options.rng);
    const r = await updater.step(queue.pop()!);
    losses.push(r.loss);
    options.onStep?.(step, { loss: r.loss, grad_norm: r.gradNorm, lr: r.lr, ...r.metrics });
  }
  return losses;
}

/** Share of decisions whose most probable strategy (SOP-masked) is the logged one. */
export function decisionAccuracy(
  logps: readonly (readonly Float64Array[])[],
  items: readonly RowInput[],
): number {
  let ok = 0;
  let n = 0;
  logps.forEach((list, i) => {
    list.forEach((lp, k) => {
      let best = 0;
      for (let j = 1; j < lp.length; j++) if (lp[j]! > lp[best]!) best = j;
      n++;
      if (best === items[i]!.actions[k]) ok++;
    });
  });
  return n === 0 ? Number.NaN : ok / n;
}
