/**
 * Encoded trajectories packed into the fixed-shape host tensors the decision graphs read (see
 * decision-graph.ts for the layout). Training steps are compiled per shape, so a step always gets
 * the same [B, T, D]; rows and slots beyond the data are padding with weight 0.
 */
import { UsageError } from '@gopo/core';
import type { HostTensor } from '@gopo/nn';
import type { EncodedTrajectory } from './encoder.js';

/** One trajectory ready to pack: its tokens, decision positions, and per decision mask and action. */
export interface RowInput {
  readonly encoded: EncodedTrajectory;
  /** Per kept decision (encoded.decisions order): SOP admissibility over the strategy set. */
  readonly masks: readonly (readonly boolean[])[];
  readonly actions: readonly number[];
}

export interface RowShape {
  /** Trajectories per batch (B). */
  readonly rows: number;
  /** Tokens per trajectory (T). */
  readonly seqLen: number;
  /** Decision slots per trajectory (D). */
  readonly slots: number;
}

export interface DecisionRows {
  readonly ids: HostTensor;
  readonly attention: HostTensor;
  readonly positions: HostTensor;
  readonly mask: HostTensor;
  readonly actions: HostTensor;
  readonly weights: HostTensor;
  /** Real decisions per row (float32 [B]). */
  readonly turns: HostTensor;
}

/** Packs up to `shape.rows` trajectories; `padId` fills the unused token slots. */
export function packRows(
  items: readonly RowInput[],
  shape: RowShape,
  strategies: number,
  padId: number,
  dtype: 'float32' | 'float64' = 'float32',
): DecisionRows {
  const { rows: b, seqLen: t, slots: d } = shape;
  if (items.length > b) throw new UsageError(`${items.length} trajectories do not fit a batch of ${b}`);
  const ids = new BigInt64Array(b * t).fill(BigInt(padId));
  const attention = new Uint8Array(b * t);
  const positions = new BigInt64Array(b * d);
  const mask = new Uint8Array(b * d * strategies);
  const actions = new BigInt64Array(b * d);
  const Float = dtype === 'float32' ? Float32Array : Float64Array;
  const weights = new Float(b * d);
  const turns = new Float(b);
  for (let r = 0; r < b; r++) {
    const item = items[r];
    const n = item ? Math.min(item.encoded.positions.length, d) : 0;
    if (item) {
      const seq = item.encoded.ids;
      if (seq.length > t) throw new UsageError(`a trajectory of ${seq.length} tokens does not fit ${t}`);
      for (let i = 0; i < seq.length; i++) {
        ids[r * t + i] = BigInt(seq[i]!);
        attention[r * t + i] = 1;
      }
      turns[r] = n;
    } else attention[r * t] = 1;
    for (let k = 0; k < d; k++) {
      const slot = r * d + k;
      if (k < n) {
        positions[slot] = BigInt(r * t + item!.encoded.positions[k]!);
        actions[slot] = BigInt(item!.actions[k]!);
        weights[slot] = 1;
        const m = item!.masks[k]!;
        for (let s = 0; s < strategies; s++) mask[slot * strategies + s] = m[s] ? 1 : 0;
      } else {
        // Padding slots read the row's first token and admit strategy 0: finite, weighted out.
        positions[slot] = BigInt(r * t);
        mask[slot * strategies] = 1;
      }
    }
  }
  return {
    ids: { dtype: 'int64', dims: [b, t], data: ids },
    attention: { dtype: 'bool', dims: [b, t], data: attention },
    positions: { dtype: 'int64', dims: [b, d], data: positions },
    mask: { dtype: 'bool', dims: [b, d, strategies], data: mask },
    actions: { dtype: 'int64', dims: [b, d], data: actions },
    weights: { dtype, dims: [b, d], data: weights },
    turns: { dtype, dims: [b], data: turns },
  };
}

/** `n` rounded up to a multiple of `m`. */
export const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;
