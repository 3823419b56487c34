import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { checkGradient, Forward, Graph, ParamStore, sequenceLogProbs, type Tensor } from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import {
  attendMaskFromSegments,
  LlamaConfigSchema,
  LlamaModel,
  llamaLogits,
  llamaTokenLogProbs,
  ropeInvFreq,
} from '../src/index.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');

interface Expected {
  sequences: {
    input_ids: number[];
    logits: number[][];
    next_token_logprobs: number[];
    sum_logprob: number;
    greedy_tokens: number[];
  }[];
  right_padded: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][] };
  left_padded: { input_ids: number[][]; attention_mask: number[][]; position_ids: number[][] };
}

async function fixture(name: string) {
  const dir = path.join(FIXTURES, name);
  const expected = JSON.parse(await fs.readFile(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  const model = await LlamaModel.fromPretrained(dir, { intraOpThreads: 1 });
  return { dir, expected, model };
}

function maxAbsDiff(got: Float32Array, offset: number, want: number[]): number {
  let m = 0;
  for (let i = 0; i < want.length; i++)
    m = Math.max(m, Math.abs((got[offset + i] as number) - (want[i] as number)));
  return m;
}

describe.each(['tiny-llama', 'tiny-llama-tied'])('%s against the float64 reference', (name) => {
  it('unpadded logits match within 1e-4', async () => {
    const { expected, model } = await fixture(name);
    for (const seq of expected.sequences) {
      const out = await model.logits([seq.input_ids]);
      const v = model.config.vocab_size;
      expect(out.dims).toEqual([1, seq.input_ids.length, v]);
      for (let t = 0; t < seq.input_ids.length; t++)
        expect(maxAbsDiff(out.data as Float32Array, t * v, seq.logits[t] as number[])).toBeLessThan(1e-4);
    }
  });

  it.each(['right_padded', 'left_padded'] as const)(
    '%s batch logits match at real positions',
    async (kind) => {
      const { expected, model } = await fixture(name);
      const batch = expected[kind];
      const out = await model.logits(batch.input_ids, batch.attention_mask);
      const v = model.config.vocab_size;
      const t = batch.input_ids[0]?.length as number;
      batch.attention_mask.forEach((row, b) => {
        const logits = expected.sequences[b]?.logits as number[][];
        let k = 0;
        row.forEach((m, j) => {
          if (m !== 1) return;
          expect(maxAbsDiff(out.data as Float32Array, (b * t + j) * v, logits[k++] as number[])).toBeLessThan(
            1e-4,
          );
        });
        expect(k).toBe(logits.length);
      });
    },
  );

  it('per-token log-probs of continuations match', async () => {
    const { expected, model } = await fixture(name);
    const prompts = expected.sequences.map((s) => s.input_ids.slice(0, 3));
    const conts = expected.sequences.map((s) => s.input_ids.slice(3));
    const r = await model.scoreContinuations(prompts, conts);
    expected.sequences.forEach((s, i) => {
      const want = s.next_token_logprobs.slice(2);
      expect(r.logprobs[i]?.length).toBe(want.length);
      r.logprobs[i]?.forEach((v, j) => {
        expect(Math.abs(v - (want[j] as number))).toBeLessThan(1e-4);
      });
      const wantSum = want.reduce((a, b) => a + b, 0);
      expect(Math.abs((r.sums[i] as number) - wantSum)).toBeLessThan(1e-3);
    });
  });
});

describe.each(['tiny-llama', 'tiny-llama-tied'])('%s generation', (name) => {
  it('greedy continuations equal the reference, cached and uncached, batched with padding', async () => {
    const { expected, model } = await fixture(name);
    const prompts = expected.sequences.map((s) => s.input_ids);
    for (const useCache of [true, false]) {
      const out = await model.generate(prompts, { maxNewTokens: 8, useCache, stopTokenIds: [] });
      out.forEach((r, i) => {
        expect(r.tokens).toEqual(expected.sequences[i]?.greedy_tokens);
        expect(r.finishReason).toBe('length');
      });
    }
    // One prompt alone (no padding) gives the same tokens.
    const single = await model.generate([prompts[0] as number[]], { maxNewTokens: 8, stopTokenIds: [] });
    expect(single[0]?.tokens).toEqual(expected.sequences[0]?.greedy_tokens);
  });

  it('cached and uncached sampling give identical tokens under one seed', async () => {
    const { expected, model } = await fixture(name);
    const prompts = expected.sequences.map((s) => s.input_ids);
    const opts = {
      maxNewTokens: 12,
      temperature: 1.3,
      topK: 40,
      topP: 0.95,
      repetitionPenalty: 1.2,
      seed: 7,
    };
    const a = await model.generate(prompts, { ...opts, useCache: true });
    const b = await model.generate(prompts, { ...opts, useCache: false });
    expect(a.map((r) => r.tokens)).toEqual(b.map((r) => r.tokens));
    // The behaviour log-probs returned by the cached sampler equal the scoring graph's.
    const scored = await model.scoreContinuations(
      prompts,
      a.map((r) => r.tokens),
    );
    a.forEach((r, i) => {
      expect(r.logprobs).toHaveLength(r.tokens.length);
      r.logprobs.forEach((lp, j) => {
        expect(Math.abs(lp - (scored.logprobs[i]?.[j] as number))).toBeLessThan(1e-4);
      });
    });
    const c = await model.generate(prompts, { ...opts, seed: 8 });
    expect(c.map((r) => r.tokens)).not.toEqual(a.map((r) => r.tokens));
  });
});

describe.each(['tiny-llama', 'tiny-llama-tied'])('%s packed rows (block-diagonal attend mask)', (name) => {
  it('each packed example gets its float64 reference logits alone; without the mask the second does not', async () => {
    const { expected, model } = await fixture(name);
    const [a, b] = expected.sequences as [Expected['sequences'][0], Expected['sequences'][0]];
    const na = a.input_ids.length;
    const nb = b.input_ids.length;
    const t = na + nb + 2;
    // row 0: a, b, 2 padding tokens (own segment); row 1: b, a, padding also masked as keys
    const layout = [
      [a, b],
      [b, a],
    ] as const;
    const ids: number[] = [];
    const seg: number[] = [];
    const pos: number[] = [];
    const mask: number[] = [];
    for (const row of layout) {
      row.forEach((s, k) => {
        s.input_ids.forEach((id, j) => {
          ids.push(id);
          seg.push(k);
          pos.push(j);
          mask.push(1);
        });
      });
      for (let j = 0; j < 2; j++) {
        ids.push(0);
        seg.push(-1);
        pos.push(0);
        mask.push(0);
      }
    }
    const store = new ParamStore();
    for (const [n, w] of model.weights) store.set(n, { dtype: 'float32', dims: w.shape, data: w.data });
    const cfg = model.config;
    const fwd = await Forward.create(
      (g, inp) => {
        const attendMask = attendMaskFromSegments(g, inp.seg as Tensor);
        const ids = inp.ids as Tensor;
        return {
          fed: llamaLogits(g, ids, cfg, { attendMask, positions: inp.pos }),
          // positions counted from the mask, and padding also masked as keys
          derived: llamaLogits(g, ids, cfg, { attendMask, attentionMask: inp.mask }),
          leaky: llamaLogits(g, ids, cfg, { positions: inp.pos }),
        };
      },
      {
        ids: { dtype: 'int64', shape: [2, t] },
        seg: { dtype: 'int64', shape: [2, t] },
        pos: { dtype: 'int64', shape: [2, t] },
        mask: { dtype: 'int64', shape: [2, t] },
      },
      store,
      { intraOpThreads: 1 },
    );
    const i64 = (v: number[]) => ({
      dtype: 'int64' as const,
      dims: [2, t],
      data: BigInt64Array.from(v.map(BigInt)),
    });
    const out = await fwd.run({ ids: i64(ids), seg: i64(seg), pos: i64(pos), mask: i64(mask) });
    const v = cfg.vocab_size;
    const worst = (logits: Float32Array, row: number, offset: number, s: Expected['sequences'][0]) => {
      let m = 0;
      s.logits.forEach((want, j) => {
        m = Math.max(m, maxAbsDiff(logits, (row * t + offset + j) * v, want));
      });
      return m;
    };
    for (const key of ['fed', 'derived'] as const) {
      const l = out[key]?.data as Float32Array;
      layout.forEach((row, r) => {
        expect(worst(l, r, 0, row[0]), `${key} row ${r} first`).toBeLessThan(1e-4);
        expect(worst(l, r, row[0].input_ids.length, row[1]), `${key} row ${r} second`).toBeLessThan(1e-4);
      });
    }
    const leaky = out.leaky?.data as Float32Array;
    expect(worst(leaky, 0, 0, a)).toBeLessThan(1e-4); // causal: nothing before the first example
    expect(worst(leaky, 0, na, b)).toBeGreaterThan(1e-3);
  });
});

/** A two-layer Qwen2 with GQA, q/k/v biases and a tied head, small enough for float64 gradient checks. */
const TINY_QWEN2 = {
  model_type: 'qwen2',
  vocab_size: 7,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  tie_word_embeddings: true,
  rms_norm_eps: 1e-5,
} as const;

describe('training graph', () => {
  it('gradients of masked per-token log-probs match float64 central differences (GQA, biases, tied head, head_dim)', async () => {
    // head_dim 6, not hidden / heads: q_proj is [12, 8], o_proj [8, 12]
    const cfg = LlamaConfigSchema.parse({ ...TINY_QWEN2, head_dim: 6 });
    const mask = [0, 1, 1, 1, 1, 1, 1, 0];
    const r = await checkGradient(
      (g, [ids, m]) => {
        const lp = llamaTokenLogProbs(g, ids as Tensor, cfg, { attentionMask: m, dtype: 'float64' });
        const w = g.cast(g.slice(m as Tensor, [1], [4], [1]), 'float64');
        return g.reduceSum(g.mul(lp, w));
      },
      [
        { name: 'ids', shape: [2, 4], dtype: 'int64', values: [0, 3, 5, 2, 1, 6, 4, 0] },
        { name: 'mask', shape: [2, 4], dtype: 'int64', values: mask },
      ],
      { paramScale: 0.4 },
    );
    expect(r.maxRelError).toBeLessThan(1e-4);
    expect(Object.keys(r.errors)).toContain('model.layers.1.self_attn.k_proj.bias');
  });

  it('a static 512-token graph pads the MLP hidden width (1024 -> 1040) and gives the unpadded logits', async () => {
    const cfg = LlamaConfigSchema.parse({
      ...TINY_QWEN2,
      hidden_size: 8,
      intermediate_size: 1024,
      num_hidden_layers: 1,
      max_position_embeddings: 512,
    });
    const model = LlamaModel.random(cfg, 3);
    const t = 512;
    const ids = Array.from({ length: t }, (_, i) => (i * 5 + 1) % cfg.vocab_size);
    const g = new Graph();
    llamaLogits(g, g.input('ids', 'int64', [1, t]), cfg);
    expect(g.nodes.some((n) => n.op === 'Gemm' && n.outputs[0]?.shape[1] === 1040)).toBe(true);
    const store = new ParamStore();
    for (const [name, w] of model.weights) store.set(name, { dtype: 'float32', dims: w.shape, data: w.data });
    const fwd = await Forward.create(
      (gg, b) => ({ logits: llamaLogits(gg, b.ids as Tensor, cfg) }),
      { ids: { dtype: 'int64', shape: [1, t] } },
      store,
    );
    const padded = await fwd.run({
      ids: { dtype: 'int64', dims: [1, t], data: BigInt64Array.from(ids.map(BigInt)) },
    });
    // LlamaModel's inference graph has a symbolic sequence: no padding there.
    const plain = await model.logits([ids]);
    const a = padded.logits?.data as Float32Array;
    expect(a.length).toBe(plain.data.length);
    expect(maxAbsDiff(a, 0, Array.from(plain.data as Float32Array))).toBeLessThan(1e-4);
  });
});

describe('training graph through the attend mask', () => {
  it('gradients of packed per-token log-probs match float64 central differences (GQA, biases, tied head)', async () => {
    const cfg = LlamaConfigSchema.parse(TINY_QWEN2);
    // row 0: examples of 2 and 3 tokens then padding; row 1: one of 4 then one of 2
    const segments = [0, 0, 1, 1, 1, -1, 1, 1, 1, 1, 2, 2];
    const seg2 = segments.slice(0, 6).concat([0, 0, 0, 0, 1, 1]);
    const r = await checkGradient(
      (g, [ids, seg]) => {
        const s = seg as Tensor;
        const lp = llamaTokenLogProbs(g, ids as Tensor, cfg, {
          attendMask: attendMaskFromSegments(g, s),
          dtype: 'float64',
        });
        // count a next token only inside its own example
        const same = g.equal(g.slice(s, [0], [5], [1]), g.slice(s, [1], [6], [1]));
        const real = g.greater(g.slice(s, [1], [6], [1]), g.scalar(-1, 'int64'));
        return g.reduceSum(g.mul(lp, g.cast(g.and(same, real), 'float64')));
      },
      [
        { name: 'ids', shape: [2, 6], dtype: 'int64', values: [1, 3, 5, 2, 6, 0, 4, 0, 2, 6, 3, 1] },
        { name: 'segments', shape: [2, 6], dtype: 'int64', values: seg2 },
      ],
      { paramScale: 0.4 },
    );
    expect(r.maxRelError).toBeLessThan(1e-4);
    expect(Object.keys(r.errors)).toContain('model.layers.0.self_attn.q_proj.weight');
  });
});

describe('configuration', () => {
  it('llama3 RoPE scaling keeps high frequencies, divides low ones by factor, blends between', () => {
    const base = {
      vocab_size: 4,
      hidden_size: 128,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      rope_theta: 500000,
    };
    const plain = ropeInvFreq(LlamaConfigSchema.parse(base));
    const scaled = ropeInvFreq(
      LlamaConfigSchema.parse({
        ...base,
        rope_scaling: {
          rope_type: 'llama3',
          factor: 8,
          low_freq_factor: 1,
          high_freq_factor: 4,
          original_max_position_embeddings: 8192,
        },
      }),
    );
    let kept = 0;
    let divided = 0;
    plain.forEach((f, i) => {
      const wave = (2 * Math.PI) / f;
      const got = scaled[i] as number;
      if (wave < 8192 / 4) {
        expect(got).toBe(f);
        kept++;
      } else if (wave > 8192) {
        expect(got).toBeCloseTo(f / 8, 15);
        divided++;
      } else {
        const smooth = (8192 / wave - 1) / (4 - 1);
        expect(got).toBeCloseTo((1 - smooth) * (f / 8) + smooth * f, 15);
      }
    });
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    const linear = ropeInvFreq(
      LlamaConfigSchema.parse({ ...base, rope_scaling: { type: 'linear', factor: 2 } }),
    );
    linear.forEach((f, i) => {
      expect(f).toBeCloseTo((plain[i] as number) / 2, 15);
    });
  });

  it('weights fed as graph inputs give the same logits as initializers', async () => {
    const dir = path.join(FIXTURES, 'tiny-llama');
    const a = await LlamaModel.fromPretrained(dir);
    const b = await LlamaModel.fromPretrained(dir, { weightsAs: 'inputs' });
    const ids = [
      [1, 5, 9, 33, 2],
      [0, 0, 1, 7, 8],
    ];
    const mask = [
      [1, 1, 1, 1, 1],
      [0, 0, 1, 1, 1],
    ];
    expect([...(await b.logits(ids, mask)).data]).toEqual([...(await a.logits(ids, mask)).data]);
    const ga = await a.generate([[1, 5, 9], [1]], { maxNewTokens: 5, stopTokenIds: [] });
    const gb = await b.generate([[1, 5, 9], [1]], { maxNewTokens: 5, stopTokenIds: [] });
    expect(gb).toEqual(ga);
  });
});

describe('scoring', () => {
  it("continuation log-prob sums equal nn's sequenceLogProbs over llamaLogits in a training-style Forward", async () => {
    const { expected, model } = await fixture('tiny-llama');
    const prompts = [expected.sequences[0]?.input_ids.slice(0, 4) as number[], [1, 9]];
    const conts = [expected.sequences[0]?.input_ids.slice(4) as number[], [33, 2, 40, 41, 7]];
    const scored = await model.scoreContinuations(prompts, conts);
    const t = 9;
    const ids: number[] = [];
    const mask: number[] = [];
    const targets: number[] = [];
    const tmask: number[] = [];
    prompts.forEach((p, i) => {
      const seq = [...p, ...(conts[i] as number[])];
      for (let j = 0; j < t; j++) {
        ids.push(seq[j] ?? 0);
        mask.push(j < seq.length ? 1 : 0);
      }
      for (let j = 0; j < t - 1; j++) {
        targets.push(seq[j + 1] ?? 0);
        tmask.push(j + 1 >= p.length && j + 1 < seq.length ? 1 : 0);
      }
    });
    const store = new ParamStore();
    for (const [name, w] of model.weights) store.set(name, { dtype: 'float32', dims: w.shape, data: w.data });
    const fwd = await Forward.create(
      (g, b) => {
        const logits = llamaLogits(g, b.ids as Tensor, model.config, { attentionMask: b.mask });
        const head = g.slice(logits, [0], [t - 1], [1]);
        return { lp: sequenceLogProbs(g, head, b.targets as Tensor, b.tmask as Tensor) };
      },
      {
        ids: { dtype: 'int64', shape: [2, t] },
        mask: { dtype: 'int64', shape: [2, t] },
        targets: { dtype: 'int64', shape: [2, t - 1] },
        tmask: { dtype: 'float32', shape: [2, t - 1] },
      },
      store,
    );
    const i64 = (v: number[], dims: number[]) => ({
      dtype: 'int64' as const,
      dims,
      data: BigInt64Array.from(v.map(BigInt)),
    });
    const out = await fwd.run({
      ids: i64(ids, [2, t]),
      mask: i64(mask, [2, t]),
      targets: i64(targets, [2, t - 1]),
      tmask: { dtype: 'float32', dims: [2, t - 1], data: Float32Array.from(tmask) },
    });
    const lp = out.lp?.data as Float32Array;
    scored.sums.forEach((s, i) => {
      expect(Math.abs(s - (lp[i] as number))).toBeLessThan(1e-4);
    });
    expect(scored.logprobs[1]).toHaveLength(5);
  });
});
