/**
 * Memory-layout choices that the CPU kernels care about (they are harmless elsewhere).
 */
import { isStaticDim } from './dims.js';
import { type FloatDType, numel, type Tensor } from './graph.js';

/**
 * A row width for activations that keeps MLAS's Gemm off a 4 KiB row stride. A 32 KiB 8-way L1 has
 * 64 sets, so rows 4 KiB apart share one set, and the A rows the kernel reads together evict each
 * other: [2048, 1024] x [1024, 256] ran at 80 GFLOP/s (median) against 134 with a 1040-wide A
 * (nn bench/NOTES.md, session 5). Widths whose rows would be a multiple of 4 KiB get one 64-byte cache line
 * of zero padding; others are returned as they are.
 */
export function paddedWidth(width: number, dtype: FloatDType = 'float32'): number {
  const bytes = dtype === 'float64' ? 8 : 4;
  return (width * bytes) % 4096 === 0 ? width + 64 / bytes : width;
}

/**
 * Rows (tokens) from which padding pays: below them a Gemm is memory-bound on its weight, and a
 * padded copy of the weight (made every run when weights are fed as inputs) would cost more than
 * the set conflicts do. Symbolic row counts (a decode step's batch) are not padded.
 */
export const MIN_PADDED_ROWS = 512;

/**
 * Zero columns to append to a [..., hidden] row-major tensor whose rows are `x`'s leading dims (an
 * activation computed from x, or x itself): paddedWidth's padding when x has at least
 * MIN_PADDED_ROWS static rows, else 0. The MLP's hidden width and the CPU emitter's Gemm padding
 * share this rule.
 */
export function hiddenPadding(x: Tensor, hidden: number): number {
  const lead = x.shape.slice(0, -1);
  if (!lead.every(isStaticDim)) return 0;
  const rows = numel(lead);
  return rows >= MIN_PADDED_ROWS ? paddedWidth(hidden, x.dtype as FloatDType) - hidden : 0;
}

/**
 * Rows from which a sum over a tensor's leading axes runs as ones[1, rows] x [rows, cols] on the
 * CPU: MLAS's one-row Gemm streams the tensor once, where ORT's ReduceSum over leading axes took
 * 2-3x as long inside the train step (nn README, "What the backward reuses and fuses").
 */
export const MIN_MATVEC_SUM_ROWS = 256;
