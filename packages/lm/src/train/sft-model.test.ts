import { Forward, type HostTensor, ParamStore } from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import { LlamaConfigSchema } from '../model/config.js';
import type { SftExample } from './data.js';
import { IGNORE_INDEX, packExamples, rowsToBatch } from './packing.js';
import { llamaSftModel, sftEvalOutputs, sftLogits, sftLoss } from './sft-model.js';

const cfg = LlamaConfigSchema.parse({
  vocab_size: 23,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
});
const T = 8;
const ex = (ids: number[], mask: number[]): SftExample => ({ ids, mask, source: 't' });

describe('SFT loss and evaluation outputs', () => {
  for (const packing of [false, true]) {
    it(`count the completion targets only and match a host log-softmax (packing ${packing})`, async () => {
      const examples = [
        ex([1, 5, 6, 7], [0, 0, 1, 1]),
        ex([2, 9, 3], [0, 1, 1]),
        ex([4, 4, 8, 11, 12], [0, 1, 0, 1, 1]),
      ];
      const rows = packExamples(examples, { seqLen: T, packing, padId: 0 }).rows;
      while (rows.length < 3)
        rows.push({
          ids: new Int32Array(T),
          targets: new Int32Array(T).fill(IGNORE_INDEX),
          positions: new Int32Array(T),
          segments: new Int32Array(T).fill(-1),
          tokens: 0,
          targetTokens: 0,
        });
      expect(rows.length).toBe(packing ? 2 + 1 : 3);
      const batch = rowsToBatch(rows.slice(0, 3), T);
      const spec = Object.fromEntries(
        ['ids', 'targets', 'positions', 'segments'].map((k) => [
          k,
          { dtype: 'int64', shape: [3, T] } as const,
        ]),
      );
      const o = { model: llamaSftModel(cfg), packing, train: false };
      const store = new ParamStore();
      const f = await Forward.create(
        (g, b) => ({ logits: sftLogits(g, b, o), loss: sftLoss(g, b, o), ...sftEvalOutputs(g, b, o) }),
        spec,
        store,
        { intraOpThreads: 1 },
      );
      const out = await f.run(batch);
      const logits = out.logits!.data as Float32Array;
      const targets = batch.targets!.data as BigInt64Array;
      let nll = 0;
      let count = 0;
      const v = cfg.vocab_size;
      for (let p = 0; p < targets.length; p++) {
        const t = Number(targets[p]);
        if (t === IGNORE_INDEX) continue;
        const row = logits.subarray(p * v, (p + 1) * v);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
        nll += lse - row[t]!;
        count++;
      }
      // 2 + 2 + 3 trained tokens, however the rows are laid out
      expect(count).toBe(7);
      expect(Number((out.count as HostTensor).data[0])).toBe(count);
      expect(Number((out.nll as HostTensor).data[0])).toBeCloseTo(nll, 3);
      expect(Number((out.loss as HostTensor).data[0])).toBeCloseTo(nll / count, 5);
    });
  }
});
