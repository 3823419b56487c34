/**
 * Turns tokenized examples into fixed-shape rows [T] for next-token training:
 *
 *   ids        input tokens (padding: the pad id)
 *   targets    the next token of the same example where the loss counts it, else IGNORE_INDEX
 *   positions  RoPE position within the example (restarts at 0 for each packed example)
 *   segments   which example of the row a token belongs to (padding: -1)
 *
 * With packing several examples share a row: each example goes into the first of the last
 * OPEN_ROWS rows with room for it (first fit; rows come out in the order they were opened), and the
 * model masks attention to the block diagonal of `segments` so no example sees another. Without
 * packing each example gets its own row. Examples longer than T are truncated to T tokens (their tail
 * is lost).
 */
import type { HostTensor } from '@gopo/nn';
import type { SftExample } from './data.js';

export const IGNORE_INDEX = -100;

/** Rows still accepting examples when packing (bounds the first-fit search). */
export const OPEN_ROWS = 64;

export interface PackedRow {
  readonly ids: Int32Array;
  readonly targets: Int32Array;
  readonly positions: Int32Array;
  readonly segments: Int32Array;
  /** Real (non-padding) tokens in the row. */
  readonly tokens: number;
  /** Positions whose target counts in the loss. */
  readonly targetTokens: number;
}

export interface PackOptions {
  readonly seqLen: number;
  readonly packing: boolean;
  readonly padId: number;
}

export interface PackResult {
  readonly rows: PackedRow[];
  /** Examples cut to seqLen tokens. */
  readonly truncated: number;
  /** Examples left with no trained token after truncation (skipped). */
  readonly dropped: number;
}

type Building = ReturnType<typeof emptyRow>;

function emptyRow(t: number, padId: number) {
  return {
    ids: new Int32Array(t).fill(padId),
    targets: new Int32Array(t).fill(IGNORE_INDEX),
    positions: new Int32Array(t),
    segments: new Int32Array(t).fill(-1),
    used: 0,
    count: 0,
    targetTokens: 0,
  };
}

function finish(r: Building): PackedRow {
  return {
    ids: r.ids,
    targets: r.targets,
    positions: r.positions,
    segments: r.segments,
    tokens: r.used,
    targetTokens: r.targetTokens,
  };
}

export function packExamples(examples: readonly SftExample[], options: PackOptions): PackResult {
  const t = options.seqLen;
  const rows: PackedRow[] = [];
  let truncated = 0;
  let dropped = 0;
  const open: Building[] = [];
  for (const ex of examples) {
    let n = ex.ids.length;
    if (n > t) {
      n = t;
      truncated++;
    }
    let trained = 0;
    for (let j = 1; j < n; j++) trained += ex.mask[j] === 1 ? 1 : 0;
    if (trained === 0) {
      dropped++;
      continue;
    }
    let cur = options.packing ? open.find((r) => r.used + n <= t) : undefined;
    if (!cur) {
      cur = emptyRow(t, options.padId);
      open.push(cur);
      // the oldest open row (never the one just opened) is done once the window is full
      if (open.length > OPEN_ROWS) rows.push(finish(open.shift() as Building));
    }
    const off = cur.used;
    const seg = cur.count;
    for (let j = 0; j < n; j++) {
      cur.ids[off + j] = ex.ids[j] as number;
      cur.positions[off + j] = j;
      cur.segments[off + j] = seg;
      if (j + 1 < n && ex.mask[j + 1] === 1) cur.targets[off + j] = ex.ids[j + 1] as number;
    }
    cur.used += n;
    cur.count++;
    cur.targetTokens += trained;
    if (!options.packing) rows.push(finish(open.pop() as Building));
  }
  for (const r of open) rows.push(finish(r));
  return { rows, truncated, dropped };
}

/** Stacks rows into the int64 batch tensors the SFT graph reads. */
export function rowsToBatch(rows: readonly PackedRow[], seqLen: number): Record<string, HostTensor> {
  const b = rows.length;
  const make = (pick: (r: PackedRow) => Int32Array): HostTensor => {
    const data = new BigInt64Array(b * seqLen);
    rows.forEach((r, i) => {
      const src = pick(r);
      for (let j = 0; j < seqLen; j++) data[i * seqLen + j] = BigInt(src[j] as number);
    });
    return { dtype: 'int64', dims: [b, seqLen], data };
  };
  return {
    ids: make((r) => r.ids),
    targets: make((r) => r.targets),
    positions: make((r) => r.positions),
    segments: make((r) => r.segments),
  };
}
