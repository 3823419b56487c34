import type { HostTensor } from '@gopo/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LlamaModel, type LlamaWeights, pastName, presentName } from '../src/index.js';

const i64 = (v: number[], dims: number[]): HostTensor => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from(v.map(BigInt)),
});

describe('KV cache invariant', () => {
  it('prefill + teacher-forced cached steps reproduce the full forward at every position (random configs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          kv: fc.constantFrom(1, 2),
          group: fc.constantFrom(1, 2),
          headDim: fc.constantFrom(4, 6),
          hidden: fc.constantFrom(8, 12),
          layers: fc.constantFrom(1, 2),
          tied: fc.boolean(),
          qwen: fc.boolean(),
          promptLens: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 })),
          steps: fc.integer({ min: 1, max: 4 }),
          seed: fc.nat(1000),
        }),
        async (c) => {
          const vocab = 11;
          const base = LlamaModel.random(
            {
              model_type: c.qwen ? 'qwen2' : 'llama',
              vocab_size: vocab,
              hidden_size: c.hidden,
              intermediate_size: 16,
              num_hidden_layers: c.layers,
              num_attention_heads: c.kv * c.group,
              num_key_value_heads: c.kv,
              head_dim: c.headDim,
              tie_word_embeddings: c.tied,
              max_position_embeddings: 64,
            },
            c.seed,
          );
          // Scale weights up from the 0.02 init so attention patterns and logits are far from uniform.
          const weights: LlamaWeights = new Map(
            [...base.weights].map(([n, w]) => [
              n,
              { shape: w.shape, data: n.endsWith('norm.weight') ? w.data : w.data.map((x) => x * 25) },
            ]),
          );
          const model = new LlamaModel(base.config, weights);
          const d = model.dims;
          const b = 2;
          let r = c.seed;
          const tok = () => {
            r = (r * 1103515245 + 12345) % 2147483648;
            return 1 + (r % (vocab - 1));
          };
          const full = c.promptLens.map((n) => Array.from({ length: n + c.steps }, tok));
          const p = Math.max(...c.promptLens);
          const total = p + c.steps;
          // Reference: full sequences left padded to a common length.
          const ids = full.flatMap((s) => [...new Array(total - s.length).fill(0), ...s]);
          const mask = full.flatMap((s) => [...new Array(total - s.length).fill(0), ...s.map(() => 1)]);
          const ref = (await model.logits(
            [ids.slice(0, total), ids.slice(total)],
            [mask.slice(0, total), mask.slice(total)],
          )) as { data: Float32Array };
          const refAt = (row: number, col: number) =>
            ref.data.subarray((row * total + col) * vocab, (row * total + col + 1) * vocab);
          const cap = total + 2;
          const pIds = full.flatMap((s, i) => [
            ...new Array(p - (c.promptLens[i] as number)).fill(0),
            ...s.slice(0, c.promptLens[i]),
          ]);
          const pMask = c.promptLens.flatMap((n) => [...new Array(p - n).fill(0), ...new Array(n).fill(1)]);
          const pPos = c.promptLens.flatMap((n) =>
            Array.from({ length: p }, (_, j) => Math.max(j - (p - n), 0)),
          );
          const prefill = await model.run(await model.prefillGraph(b, p, cap), {
            input_ids: i64(pIds, [b, p]),
            attention_mask: i64(pMask, [b, p]),
            position_ids: i64(pPos, [b, p]),
          });
          const close = (got: Float32Array, want: Float32Array) => {
            for (let v = 0; v < vocab; v++)
              expect(Math.abs((got[v] as number) - (want[v] as number))).toBeLessThan(2e-3);
          };
          for (let row = 0; row < b; row++)
            close(
              ((prefill.logits as HostTensor).data as Float32Array).subarray(row * vocab, (row + 1) * vocab),
              refAt(row, p - 1),
            );
          let past: Record<string, HostTensor> = {};
          for (let l = 0; l < d.layers; l++)
            for (const k of ['key', 'value'] as const)
              past[pastName(l, k)] = prefill[presentName(l, k)] as HostTensor;
          const win = c.promptLens.flatMap((n) => [...new Array(cap - n).fill(0), ...new Array(n).fill(1)]);
          const step = await model.stepGraph(b, 1, cap);
          for (let s = 0; s < c.steps; s++) {
            for (let row = 0; row < b; row++) {
              win.copyWithin(row * cap, row * cap + 1, (row + 1) * cap);
              win[(row + 1) * cap - 1] = 1;
            }
            const out = await model.run(step, {
              input_ids: i64(
                full.map((f, i) => f[(c.promptLens[i] as number) + s] as number),
                [b, 1],
              ),
              position_ids: i64(
                c.promptLens.map((n) => n + s),
                [b, 1],
              ),
              attention_mask: i64(win, [b, cap]),
              ...past,
            });
            for (let row = 0; row < b; row++)
              close(
                ((out.logits as HostTensor).data as Float32Array).subarray(row * vocab, (row + 1) * vocab),
                refAt(row, p + s),
              );
            past = {};
            for (let l = 0; l < d.layers; l++)
              for (const k of ['key', 'value'] as const)
                past[pastName(l, k)] = out[presentName(l, k)] as HostTensor;
          }
        },
      ),
      { numRuns: 8, seed: 42 },
    );
  }, 60_000);
});
