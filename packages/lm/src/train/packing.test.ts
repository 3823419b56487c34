import { Forward, type HostTensor, ParamStore } from '@gopo/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LlamaConfig, LlamaConfigSchema } from '../model/config.js';
import type { SftExample } from './data.js';
import { IGNORE_INDEX, packExamples, rowsToBatch } from './packing.js';
import { llamaSftModel, sftLogits } from './sft-model.js';

const ex = (ids: number[], mask: number[]): SftExample => ({ ids, mask, source: 'test' });
const P = -100;

describe('packExamples', () => {
  const a = ex([1, 2, 3, 4], [0, 0, 1, 1]);
  const b = ex([5, 6, 7], [0, 1, 1]);

  it('packs examples into one row with restarting positions, segments and shifted masked targets', () => {
    const { rows } = packExamples([a, b], { seqLen: 8, packing: true, padId: 0 });
    expect(rows.length).toBe(1);
    const r = rows[0]!;
    expect([...r.ids]).toEqual([1, 2, 3, 4, 5, 6, 7, 0]);
    expect([...r.targets]).toEqual([P, 3, 4, P, 6, 7, P, P]);
    expect([...r.positions]).toEqual([0, 1, 2, 3, 0, 1, 2, 0]);
    expect([...r.segments]).toEqual([0, 0, 0, 0, 1, 1, 1, -1]);
    expect(r.tokens).toBe(7);
    expect(r.targetTokens).toBe(4);
  });

  it('gives each example its own row without packing, and starts a new row when one does not fit', () => {
    const solo = packExamples([a, b], { seqLen: 8, packing: false, padId: 0 }).rows;
    expect(solo.map((r) => r.tokens)).toEqual([4, 3]);
    expect([...solo[1]!.ids]).toEqual([5, 6, 7, 0, 0, 0, 0, 0]);
    expect(packExamples([a, b], { seqLen: 6, packing: true, padId: 0 }).rows.length).toBe(2);
  });

  it('first fit: a later short example fills the gap left in an earlier row', () => {
    const long = ex([1, 2, 3, 4, 5, 6], [0, 1, 1, 1, 1, 1]);
    const short = ex([8, 9], [0, 1]);
    // rows: [a(4) + short(2)... ] -> a opens row 0, long needs a new row 1, short fits in row 0
    const { rows } = packExamples([a, long, short], { seqLen: 7, packing: true, padId: 0 });
    expect(rows.map((r) => r.tokens)).toEqual([6, 6]);
    expect([...rows[0]!.segments]).toEqual([0, 0, 0, 0, 1, 1, -1]);
    expect([...rows[0]!.positions]).toEqual([0, 1, 2, 3, 0, 1, 0]);
  });

  it('truncates long examples and drops ones left without a trained token', () => {
    const r = packExamples([a, ex([9, 9, 9, 9, 9], [0, 0, 0, 0, 1])], { seqLen: 3, packing: true, padId: 0 });
    expect(r.truncated).toBe(2);
    expect(r.dropped).toBe(1);
    expect([...r.rows[0]!.targets]).toEqual([P, 3, P]);
  });

  it('keeps every trained target exactly once (property)', () => {
    const exArb = fc
      .array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.boolean()), { minLength: 2, maxLength: 12 })
      .map((toks) =>
        ex(
          toks.map((t) => t[0]),
          toks.map((t, i) => (i > 0 && t[1] ? 1 : 0)),
        ),
      );
    fc.assert(
      fc.property(fc.array(exArb, { minLength: 1, maxLength: 10 }), fc.boolean(), (exs, packing) => {
        const { rows } = packExamples(exs, { seqLen: 12, packing, padId: 0 });
        const want = exs.flatMap((e) => e.ids.filter((_, i) => e.mask[i] === 1)).sort((x, y) => x - y);
        const got = rows
          .flatMap((r) => [...r.targets].filter((t) => t !== IGNORE_INDEX))
          .sort((x, y) => x - y);
        expect(got).toEqual(want);
        for (const r of rows) {
          expect(r.tokens).toBeLessThanOrEqual(12);
          expect([...r.segments].filter((x) => x >= 0).length).toBe(r.tokens);
        }
        if (!packing) expect(rows.length).toBe(exs.filter((e) => e.mask.slice(1, 12).includes(1)).length);
      }),
      { numRuns: 100 },
    );
  });
});

describe('block-diagonal attention for packed rows', () => {
  const base = {
    vocab_size: 29,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  };
  // The second config has features nn's transformerLM cannot express (q/k/v biases, head_dim apart
  // from hidden / heads, llama3 RoPE scaling, another norm epsilon): packing must not depend on them.
  const configs: [string, LlamaConfig][] = [
    ['llama', LlamaConfigSchema.parse(base)],
    [
      'qwen2 biases, head_dim 6, llama3 RoPE',
      LlamaConfigSchema.parse({
        ...base,
        model_type: 'qwen2',
        head_dim: 6,
        rms_norm_eps: 1e-5,
        rope_scaling: {
          rope_type: 'llama3',
          factor: 4,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8,
        },
      }),
    ],
  ];
  const T = 10;
  const spec = Object.fromEntries(
    ['ids', 'targets', 'positions', 'segments'].map((k) => [k, { dtype: 'int64', shape: [1, T] } as const]),
  );

  async function logits(cfg: LlamaConfig, batch: Record<string, HostTensor>, store: ParamStore) {
    const model = llamaSftModel(cfg);
    const f = await Forward.create(
      (g, b) => ({ logits: sftLogits(g, b, { model, packing: true, train: false }) }),
      spec,
      store,
      { intraOpThreads: 1 },
    );
    return (await f.run(batch)).logits!.data as Float32Array;
  }

  it.each(configs)(
    'a packed example gets the logits it gets alone; without the mask it would not (%s)',
    async (_, cfg) => {
      const first = ex([3, 4, 5, 6], [0, 1, 1, 1]);
      const second = ex([7, 8, 9, 10, 11], [0, 0, 1, 1, 1]);
      const store = new ParamStore();
      const packed = rowsToBatch(
        packExamples([first, second], { seqLen: T, packing: true, padId: 0 }).rows,
        T,
      );
      const alone = rowsToBatch(packExamples([second], { seqLen: T, packing: true, padId: 0 }).rows, T);
      const lp = await logits(cfg, packed, store);
      const la = await logits(cfg, alone, store);
      const v = cfg.vocab_size;
      let d = 0;
      for (let t = 0; t < 5; t++)
        for (let k = 0; k < v; k++) d = Math.max(d, Math.abs(lp[(4 + t) * v + k]! - la[t * v + k]!));
      expect(d).toBeLessThan(1e-5);
      // the first example is unaffected by what follows it (causal), so it matches alone too
      const firstAlone = await logits(
        cfg,
        rowsToBatch(packExamples([first], { seqLen: T, packing: true, padId: 0 }).rows, T),
        store,
      );
      let d1 = 0;
      for (let p = 0; p < 4 * v; p++) d1 = Math.max(d1, Math.abs(lp[p]! - firstAlone[p]!));
      expect(d1).toBeLessThan(1e-5);
      // the same packed row without the block mask (segments all one) differs
      const leaky = { ...packed, segments: { ...packed.segments!, data: new BigInt64Array(T) } };
      const ll = await logits(cfg, leaky, store);
      let d2 = 0;
      for (let t = 0; t < 5; t++)
        for (let k = 0; k < v; k++) d2 = Math.max(d2, Math.abs(ll[(4 + t) * v + k]! - la[t * v + k]!));
      expect(d2).toBeGreaterThan(1e-3);
    },
  );
});
