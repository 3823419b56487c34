/**
 * Memory-layout choices that the CPU kernels care about (they are harmless elsewhere).
 */
import type { FloatDType } from './graph.js';

/**
 * A row width for activations that keeps MLAS's Gemm off a 4 KiB row stride. A 32 KiB 8-way L1 has
 * 64 sets, so rows 4 KiB apart share one set, and the A rows the kernel reads together evict each
 * other: [2048, 1024] x [1024, 256] ran at 80 GFLOP/s (median) against 134 with a 1040-wide A
 * (nn README, Benchmark). Widths whose rows would be a multiple of 4 KiB get one 64-byte cache line
 * of zero padding; others are returned as they are.
 */
export function paddedWidth(width: number, dtype: FloatDType = 'float32'): number {
  const bytes = dtype === 'float64' ? 8 : 4;
  return (width * bytes) % 4096 === 0 ? width + 64 / bytes : width;
}
