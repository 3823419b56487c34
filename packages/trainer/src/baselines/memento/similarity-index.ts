/**
 * Exact top-k search by dot product over a flat float32 matrix of unit vectors (so the dot product
 * is the cosine similarity). The matrix grows by doubling. Similarities come from one ONNX MatMul
 * per chunk of queries (a batch of 64 queries over 10^5 rows ran some 25x faster per query than a
 * loop in JavaScript) or, for small work, from a blocked loop here; the top k is then kept by
 * insertion into a sorted list.
 * Costs are measured at 10^3, 10^4 and 10^5 rows in bench/memento.ts.
 */
import { Forward, ParamStore } from '@gopo/nn';

/** One retrieved row: its id (insertion order) and its similarity to the query. */
export interface Neighbor {
  readonly id: number;
  readonly similarity: number;
}

export interface SearchOptions {
  /** Rows to return per query (fewer when fewer rows pass). */
  readonly k: number;
  /** Rows below this similarity are never returned. */
  readonly minSimilarity?: number;
  /** Only rows it accepts are returned (query index, row id); called only for rows that would enter the top k. */
  readonly accept?: (query: number, id: number) => boolean;
}

/** Rows per block of a batched scan (64 rows of 256 floats: 64 KiB, within L2 with the queries). */
const BLOCK_ROWS = 64;

export class FlatIndex {
  private data: Float32Array;
  private rows = 0;

  constructor(
    readonly dim: number,
    capacity = 1024,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`dim must be a positive integer, got ${dim}`);
    this.data = new Float32Array(Math.max(1, capacity) * dim);
  }

  /** Rows held. */
  get size(): number {
    return this.rows;
  }

  /** Appends `n` rows given back to back ([n, dim]); returns the id of the first. */
  add(vectors: Float32Array): number {
    if (vectors.length % this.dim !== 0)
      throw new RangeError(`add: ${vectors.length} values is not a whole number of rows of ${this.dim}`);
    const n = vectors.length / this.dim;
    const need = (this.rows + n) * this.dim;
    if (need > this.data.length) {
      let cap = this.data.length;
      while (cap < need) cap *= 2;
      const grown = new Float32Array(cap);
      grown.set(this.data.subarray(0, this.rows * this.dim));
      this.data = grown;
    }
    this.data.set(vectors, this.rows * this.dim);
    const first = this.rows;
    this.rows += n;
    return first;
  }

  /** Row `id` (a view, valid until the next `add`). */
  vector(id: number): Float32Array {
    if (!(id >= 0 && id < this.rows)) throw new RangeError(`no row ${id} (size ${this.rows})`);
    return this.data.subarray(id * this.dim, (id + 1) * this.dim);
  }

  /** The top-k rows of one query vector, most similar first (ties: lower id first). */
  async search(query: Float32Array, options: SearchOptions): Promise<Neighbor[]> {
    return (await this.searchBatch(query, options))[0]!;
  }

  /**
   * The top-k rows of each query of `queries` ([Q, dim], back to back), most similar first. `scan`
   * picks how similarities are computed: `js` (a blocked loop in this thread), `ort` (one ONNX MatMul
   * per chunk of queries on onnxruntime through @gopo/nn, 1 thread), `auto` (ort from
   * `ORT_MIN_WORK` multiply-adds per call, where it was faster in bench/memento.ts).
   */
  async searchBatch(
    queries: Float32Array,
    options: SearchOptions & { readonly scan?: 'auto' | 'js' | 'ort' },
  ): Promise<Neighbor[][]> {
    const d = this.dim;
    if (queries.length % d !== 0)
      throw new RangeError(`search: ${queries.length} values is not a whole number of queries of ${d}`);
    const Q = queries.length / d;
    const scan = options.scan ?? 'auto';
    const useOrt = scan === 'ort' || (scan === 'auto' && Q * this.rows * d >= ORT_MIN_WORK);
    if (!useOrt || this.rows === 0) return this.scanJs(queries, Q, options);
    const out: Neighbor[][] = [];
    for (let q0 = 0; q0 < Q; q0 += ORT_QUERY_CHUNK) {
      const q1 = Math.min(Q, q0 + ORT_QUERY_CHUNK);
      const scores = await similarityMatrix(
        queries.subarray(q0 * d, q1 * d),
        this.data.subarray(0, this.rows * d),
        d,
      );
      for (let q = q0; q < q1; q++) {
        const top = new TopList(options.k, options.minSimilarity);
        const row = (q - q0) * this.rows;
        for (let r = 0; r < this.rows; r++) {
          const s = scores[row + r]!;
          if (top.admits(s) && (!options.accept || options.accept(q, r))) top.insert(s, r);
        }
        out.push(top.neighbors());
      }
    }
    return out;
  }

  /** The blocked scan in this thread. */
  private scanJs(queries: Float32Array, Q: number, options: SearchOptions): Neighbor[][] {
    const d = this.dim;
    const tops = Array.from({ length: Q }, () => new TopList(options.k, options.minSimilarity));
    const data = this.data;
    for (let r0 = 0; r0 < this.rows; r0 += BLOCK_ROWS) {
      const r1 = Math.min(this.rows, r0 + BLOCK_ROWS);
      for (let q = 0; q < Q; q++) {
        const qo = q * d;
        const top = tops[q]!;
        for (let r = r0; r < r1; r++) {
          const ro = r * d;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          let j = 0;
          for (; j + 3 < d; j += 4) {
            s0 += queries[qo + j]! * data[ro + j]!;
            s1 += queries[qo + j + 1]! * data[ro + j + 1]!;
            s2 += queries[qo + j + 2]! * data[ro + j + 2]!;
            s3 += queries[qo + j + 3]! * data[ro + j + 3]!;
          }
          for (; j < d; j++) s0 += queries[qo + j]! * data[ro + j]!;
          const s = s0 + s1 + s2 + s3;
          if (top.admits(s) && (!options.accept || options.accept(q, r))) top.insert(s, r);
        }
      }
    }
    return tops.map((t) => t.neighbors());
  }
}

/**
 * Multiply-adds per call from which `auto` computes similarities on onnxruntime (one query over 1,000
 * rows of 256, 2^18, already ran faster there: 0.23 against 0.35 ms in bench/memento.ts).
 */
export const ORT_MIN_WORK = 1 << 16;
/** Queries per onnxruntime call (bounds the [queries, rows] score matrix). */
const ORT_QUERY_CHUNK = 64;

/** A sorted top-k list: similarities descending, equal similarities in insertion order. */
class TopList {
  private readonly sims: Float64Array;
  private readonly ids: Int32Array;
  private filled = 0;
  private readonly k: number;
  private readonly min: number;

  constructor(k: number, minSimilarity = Number.NEGATIVE_INFINITY) {
    this.k = Math.max(0, Math.floor(k));
    this.min = minSimilarity;
    this.sims = new Float64Array(this.k);
    this.ids = new Int32Array(this.k);
  }

  /** Whether a row of similarity `s` would enter (strictly better than the k-th; at least the minimum). */
  admits(s: number): boolean {
    if (this.k === 0 || s < this.min) return false;
    return this.filled < this.k || s > this.sims[this.k - 1]!;
  }

  insert(s: number, id: number): void {
    let at = Math.min(this.filled, this.k - 1);
    while (at > 0 && this.sims[at - 1]! < s) {
      this.sims[at] = this.sims[at - 1]!;
      this.ids[at] = this.ids[at - 1]!;
      at--;
    }
    this.sims[at] = s;
    this.ids[at] = id;
    if (this.filled < this.k) this.filled++;
  }

  neighbors(): Neighbor[] {
    return Array.from({ length: this.filled }, (_, i) => ({ id: this.ids[i]!, similarity: this.sims[i]! }));
  }
}

/** One compiled `queries @ bank^T` per dimension (symbolic query and row counts). */
const similaritySessions = new Map<number, Promise<Forward>>();

/** Similarities [Q, rows] of queries [Q, dim] against rows [rows, dim], on onnxruntime (1 thread). */
async function similarityMatrix(
  queries: Float32Array,
  rows: Float32Array,
  dim: number,
): Promise<Float32Array> {
  let fwd = similaritySessions.get(dim);
  if (!fwd) {
    fwd = Forward.create(
      (g, b) => ({ scores: g.matmul(b.queries!, g.transpose(b.rows!, [1, 0])) }),
      {
        queries: { dtype: 'float32', shape: ['queries', dim] },
        rows: { dtype: 'float32', shape: ['rows', dim] },
      },
      new ParamStore(),
      { intraOpThreads: 1 },
    );
    similaritySessions.set(dim, fwd);
  }
  const res = await (await fwd).run({
    queries: { dtype: 'float32', dims: [queries.length / dim, dim], data: queries },
    rows: { dtype: 'float32', dims: [rows.length / dim, dim], data: rows },
  });
  return res.scores!.data as Float32Array;
}
