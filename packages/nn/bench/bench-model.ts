/**
 * The benchmark model of DESIGN.md section 3 and its trainer settings, shared by train-step.ts,
 * provider-step.ts and profile-step.ts so all of them measure the same step: GPT (d_model 256,
 * 4 layers, 4 heads, context 128, vocab 4096, batch 16), tanh-GELU and a tied head like the PyTorch
 * peer. BENCH_QUICK=1 shrinks it; BENCH_THREADS sets threads.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeJsonAtomic } from '@gopo/core';
import {
  crossEntropy,
  type Graph,
  type HostTensor,
  type Tensor,
  type TrainerConfigInput,
  type TransformerConfig,
  transformerLM,
} from '../src/index.js';

export const quick = process.env.BENCH_QUICK === '1';
export const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
export const B = quick ? 4 : 16;
export const T = quick ? 64 : 128;
export const cfg: TransformerConfig = {
  vocabSize: quick ? 1024 : 4096,
  dModel: quick ? 128 : 256,
  numLayers: 4,
  numHeads: 4,
  mlp: 'gelu',
  activation: 'gelu_tanh',
  norm: 'layernorm',
  rope: true,
  tieEmbeddings: true,
};

export const batchSpec = {
  ids: { dtype: 'int64', shape: [B, T] },
  targets: { dtype: 'int64', shape: [B, T] },
} as const;

export const lossModel = (g: Graph, b: Readonly<Record<string, Tensor>>) =>
  crossEntropy(g, transformerLM(g, b.ids as Tensor, cfg), b.targets as Tensor);

/** The step's optimizer and clipping (the PyTorch peer uses the same); callers add threads, provider. */
export const benchTrainerConfig = {
  optimizer: { kind: 'adamw', beta1: 0.9, beta2: 0.95, weightDecay: 0.1 },
  lr: 3e-4,
  clipNorm: 1,
} as const satisfies TrainerConfigInput;

/** Deterministic token ids [B, T] (a multiplicative hash of the position, offset by `seed`). */
export function tokenIds(seed: number): HostTensor {
  return {
    dtype: 'int64',
    dims: [B, T],
    data: BigInt64Array.from({ length: B * T }, (_, i) =>
      BigInt((i * 2654435761 + seed * 97) % cfg.vocabSize),
    ),
  };
}

/** Prints a bench's table and writes bench-results/<name>.json (atomically) and <name>.md. */
export async function writeBenchResults(name: string, result: unknown, table: string): Promise<void> {
  console.log(table);
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results');
  await writeJsonAtomic(join(out, `${name}.json`), result);
  writeFileSync(join(out, `${name}.md`), `${table}\n`);
}
