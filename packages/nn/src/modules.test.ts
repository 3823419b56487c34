import { describe, expect, it } from 'vitest';
import { gradients } from './autodiff.js';
import { emitModel } from './emit.js';
import { Graph, type Tensor } from './graph.js';
import { crossEntropy, logSigmoid, mse, sequenceLogProbs } from './losses.js';
import {
  applyRope,
  attention,
  dropout,
  embedding,
  layerNorm,
  linear,
  mlp,
  rmsNorm,
  ropeTables,
  ropeTiledTables,
  swapHalves,
  swiglu,
  transformerLM,
  withLinearAdapters,
} from './modules.js';
import { getSession, type HostTensor } from './runtime.js';
import { allClose, assertAllClose, checkGradient, type GradCheckInput } from './testing.js';

const f = (name: string, ...shape: number[]): GradCheckInput => ({ name, shape });
const ids = (name: string, shape: number[], values: number[]): GradCheckInput => ({
  name,
  shape,
  dtype: 'int64',
  values,
});
const x0 = (x: Tensor[]) => x[0] as Tensor;

describe('attention', () => {
  it('tiled RoPE on [B, T, heads*hd] equals per-head rotate-half RoPE (HF layout)', async () => {
    const [t, heads, hd] = [5, 3, 4];
    const g = new Graph();
    const x = g.input('x', 'float32', [1, t, heads * hd]);
    const tiled = ropeTiledTables(g, t, hd, heads, 10000, 'float32');
    g.output('flat', g.add(g.mul(x, tiled.cos), g.mul(swapHalves(g, x, heads, hd), tiled.sin)));
    const perHead = g.transpose(g.reshape(x, [1, t, heads, hd]), [0, 2, 1, 3]);
    const { cos, sin } = ropeTables(g, t, hd, 10000, 'float32');
    g.output(
      'ref',
      g.reshape(g.transpose(applyRope(g, perHead, cos, sin), [0, 2, 1, 3]), [1, t, heads * hd]),
    );
    const s = await getSession(emitModel(g), { intraOpThreads: 1 });
    const r = await s.run({
      x: {
        dtype: 'float32',
        dims: [1, t, heads * hd],
        data: Float32Array.from({ length: t * heads * hd }, (_, i) => Math.sin(i * 0.9)),
      },
    });
    assertAllClose((r.flat as HostTensor).data as Float32Array, (r.ref as HostTensor).data as Float32Array, {
      rtol: 1e-6,
      atol: 1e-6,
    });
  });

  it('explicit positions match the default; RoPE is shift-invariant but sees gaps', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [1, 4, 8]);
    const pos = g.input('pos', 'int64', [4]);
    const cfg = { numHeads: 2, numKvHeads: 1, maxPositions: 12 };
    g.output('a', attention(g, 'attn', x, cfg));
    g.output('b', attention(g, 'attn', x, cfg, { positions: pos }));
    const s = await getSession(emitModel(g), { intraOpThreads: 1 });
    const xs: HostTensor = {
      dtype: 'float32',
      dims: [1, 4, 8],
      data: Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)),
    };
    const params = Object.fromEntries(
      [...g.params].map(([n, p]) => [
        n,
        {
          dtype: 'float32',
          dims: p.spec.shape,
          data: Float32Array.from({ length: p.tensor.size }, (_, i) => Math.cos(i * 1.7) * 0.3),
        } as HostTensor,
      ]),
    );
    const run = async (p: number[]) =>
      s.run({
        x: xs,
        pos: { dtype: 'int64', dims: [4], data: BigInt64Array.from(p.map(BigInt)) },
        ...params,
      });
    const same = await run([0, 1, 2, 3]);
    assertAllClose((same.b as HostTensor).data as Float32Array, (same.a as HostTensor).data as Float32Array, {
      rtol: 1e-6,
      atol: 1e-7,
    });
    // Scores depend only on relative positions: a uniform shift changes nothing, a gap does.
    const shifted = await run([5, 6, 7, 8]);
    assertAllClose(
      (shifted.b as HostTensor).data as Float32Array,
      (same.a as HostTensor).data as Float32Array,
      { rtol: 1e-4, atol: 1e-5 },
    );
    const gap = await run([0, 1, 2, 7]);
    expect(
      allClose((gap.b as HostTensor).data as Float32Array, (same.a as HostTensor).data as Float32Array, {
        rtol: 1e-3,
        atol: 1e-4,
      }).ok,
    ).toBe(false);
  });
});

describe('padded hidden widths', () => {
  // The padding's gradients are checked with `linear` (padOut, inFeatures, LoRA) in the module
  // gradient table; here the MLPs built on it give the plain MLPs' values and parameter gradients.
  const rows = 512;
  const widths = (g: Graph) => g.nodes.filter((n) => n.op === 'Gemm').map((n) => n.outputs[0]?.shape[1]);
  const plainMlp = (g: Graph, x: Tensor) =>
    g.scope('mlp', () =>
      linear(g, 'down_proj', g.gelu(linear(g, 'up_proj', x, 1024, { bias: true }), 'tanh'), 8, {
        bias: true,
      }),
    );
  const plainSwiglu = (g: Graph, x: Tensor) =>
    g.scope('mlp', () =>
      linear(
        g,
        'down_proj',
        g.mul(g.silu(linear(g, 'gate_proj', x, 1024)), linear(g, 'up_proj', x, 1024)),
        8,
      ),
    );
  const cases: [string, (g: Graph, x: Tensor) => Tensor, (g: Graph, x: Tensor) => Tensor][] = [
    ['MLP', (g, x) => mlp(g, 'mlp', x, 1024, { activation: 'gelu_tanh', bias: true }), plainMlp],
    ['SwiGLU', (g, x) => swiglu(g, 'mlp', x, 1024), plainSwiglu],
  ];
  for (const [label, padded, plain] of cases)
    it(`a float32 ${label} over ${rows} rows computes through a 1040-wide activation what the plain one does`, async () => {
      const build = (usePadded: boolean) => {
        const g = new Graph();
        const y = (usePadded ? padded : plain)(g, g.input('x', 'float32', [rows, 8]));
        g.output('y', y);
        const params = [...g.params.values()].map((p) => p.tensor);
        gradients(g.reduceSum(g.mul(y, y)), params).forEach((d, i) => {
          g.output(`d${i}`, d as Tensor);
        });
        return g;
      };
      const padG = build(true);
      expect(widths(padG)).toContain(1040);
      const feeds: Record<string, HostTensor> = {
        x: {
          dtype: 'float32',
          dims: [rows, 8],
          data: Float32Array.from({ length: rows * 8 }, (_, i) => Math.sin(i)),
        },
      };
      for (const [name, { spec }] of padG.params) {
        const n = spec.shape.reduce((p: number, d) => p * (d as number), 1);
        feeds[name] = {
          dtype: 'float32',
          dims: spec.shape as number[],
          data: Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.37 + name.length) * 0.3),
        };
      }
      const run = async (g: Graph) =>
        (await (await getSession(emitModel(g))).run(feeds)) as Record<string, HostTensor>;
      const [a, b] = [await run(padG), await run(build(false))];
      expect(Object.keys(a).length).toBeGreaterThan(3);
      for (const k of Object.keys(b))
        assertAllClose(a[k]?.data as Float32Array, b[k]?.data as Float32Array, {
          rtol: 1e-4,
          atol: 1e-5,
          what: k,
        });
    });

  it('few rows (a decode step) or symbolic ones are not padded: no per-run copy of the weights', () => {
    for (const shape of [
      [8, 8],
      ['batch', 8],
    ] as const) {
      const g = new Graph();
      mlp(g, 'mlp', g.input('x', 'float32', [...shape]), 1024);
      swiglu(g, 'glu', g.input('z', 'float32', [...shape]), 1024);
      expect(widths(g)).not.toContain(1040);
    }
  });
});

describe('module gradients (float64 central differences)', () => {
  const cases: Record<string, Parameters<typeof checkGradient>> = {
    linear: [(g, x) => linear(g, 'proj', x0(x), 3, { bias: true }), [f('x', 2, 2, 4)]],
    'linear with a LoRA adapter (explicit)': [
      (g, x) => linear(g, 'proj', x0(x), 3, { bias: true, adapter: { r: 2, alpha: 3 } }),
      [f('x', 2, 2, 4)],
    ],
    'linear with LoRA adapters chosen by rule (q_proj only)': [
      (g, x) =>
        withLinearAdapters(
          g,
          (path) => (path.endsWith('q_proj') ? { r: 2, alpha: 4 } : null),
          () => g.mul(linear(g, 'q_proj', x0(x), 3), linear(g, 'v_proj', x0(x), 3)),
        ),
      [f('x', 2, 2, 4)],
    ],
    embedding: [
      (g, x) => embedding(g, 'embed_tokens', x0(x), 5, 3, 'float64'),
      [ids('ids', [2, 3], [0, 4, 4, 1, 0, 2])],
    ],
    layerNorm: [(g, x) => layerNorm(g, 'ln', x0(x)), [f('x', 3, 5)]],
    rmsNorm: [(g, x) => rmsNorm(g, 'norm', x0(x)), [f('x', 3, 5)]],
    mlp: [(g, x) => mlp(g, 'mlp', x0(x), 6, { activation: 'gelu_tanh', bias: true }), [f('x', 2, 4)]],
    swiglu: [(g, x) => swiglu(g, 'mlp', x0(x), 6), [f('x', 2, 4)]],
    'linear on padded input columns, with padded output and LoRA': [
      (g, x) =>
        linear(g, 'proj', x0(x), 3, { bias: true, inFeatures: 4, padOut: 2, adapter: { r: 2, alpha: 3 } }),
      [f('x', 2, 6)],
    ],
    dropout: [
      (g, x) => dropout(g, x0(x), 0.5, x[1] as Tensor),
      [
        f('x', 2, 4),
        { name: 'u', shape: [2, 4], values: [0.1, 0.9, 0.6, 0.2, 0.7, 0.3, 0.55, 0.45], wrt: false },
      ],
    ],
    'attention (block-diagonal attend mask)': [
      (g, x) =>
        attention(
          g,
          'self_attn',
          x0(x),
          { numHeads: 2, causal: true, rope: true, maxPositions: 4 },
          {
            attendMask: x[1] as Tensor,
            positions: x[2] as Tensor,
          },
        ),
      [
        f('x', 1, 4, 4),
        // two packed sequences [0, 1] and [2, 3]
        {
          name: 'attend',
          shape: [1, 4, 4],
          dtype: 'bool',
          values: [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1],
        },
        ids('pos', [1, 4], [0, 1, 0, 1]),
      ],
    ],
    'attention (causal, GQA, RoPE at fed positions, key mask)': [
      (g, x) =>
        attention(
          g,
          'self_attn',
          x0(x),
          { numHeads: 4, numKvHeads: 2, causal: true, rope: true, maxPositions: 6 },
          { keyMask: x[1] as Tensor, positions: x[2] as Tensor },
        ),
      [
        f('x', 2, 3, 8),
        { name: 'mask', shape: [2, 3], dtype: 'bool', values: [1, 1, 1, 1, 1, 0] },
        ids('pos', [2, 3], [0, 1, 2, 3, 4, 5]),
      ],
    ],
    'cross-entropy (ignore index, label smoothing, mask)': [
      (g, x) =>
        crossEntropy(g, x0(x), x[1] as Tensor, {
          ignoreIndex: -100,
          labelSmoothing: 0.1,
          mask: x[2] as Tensor,
        }),
      [
        f('logits', 2, 3, 5),
        ids('t', [2, 3], [1, -100, 4, 0, 2, 2]),
        { name: 'm', shape: [2, 3], values: [1, 1, 1, 0.5, 1, 0], wrt: false },
      ],
    ],
    mse: [(g, x) => mse(g, x0(x), x[1] as Tensor), [f('a', 2, 3), f('b', 2, 3)]],
    logSigmoid: [(g, x) => logSigmoid(g, x0(x)), [{ name: 'a', shape: [5], values: [-30, -1, 0.3, 2, 40] }]],
    sequenceLogProbs: [
      (g, x) => sequenceLogProbs(g, x0(x), x[1] as Tensor, x[2] as Tensor, { average: true }),
      [
        f('logits', 2, 3, 4),
        ids('t', [2, 3], [1, 3, 0, 2, 2, 1]),
        { name: 'm', shape: [2, 3], values: [1, 1, 0, 0, 1, 1], wrt: false },
      ],
    ],
  };
  for (const [name, args] of Object.entries(cases)) {
    it(name, async () => {
      const r = await checkGradient(...args);
      expect(r.maxRelError).toBeLessThan(1e-4);
    });
  }

  it('whole tiny transformer (RMSNorm, SwiGLU, GQA, RoPE) matches in every parameter', async () => {
    const r = await checkGradient(
      (g, x) =>
        crossEntropy(
          g,
          transformerLM(g, x0(x), {
            vocabSize: 7,
            dModel: 8,
            numLayers: 2,
            numHeads: 2,
            numKvHeads: 1,
            hidden: 8,
            dtype: 'float64',
          }),
          x[1] as Tensor,
        ),
      [ids('ids', [2, 3], [1, 5, 6, 0, 2, 2]), ids('targets', [2, 3], [5, 6, 3, 2, 2, 4])],
      { paramScale: 0.4 },
    );
    expect(Object.keys(r.errors)).toContain('model.layers.1.self_attn.k_proj.weight');
    expect(r.maxRelError).toBeLessThan(1e-4);
  });

  it('whole tiny GPT-style transformer (LayerNorm, GELU MLP, tied head) matches', async () => {
    const r = await checkGradient(
      (g, x) =>
        crossEntropy(
          g,
          transformerLM(g, x0(x), {
            vocabSize: 6,
            dModel: 8,
            numLayers: 1,
            numHeads: 2,
            hidden: 8,
            mlp: 'gelu',
            norm: 'layernorm',
            tieEmbeddings: true,
            dtype: 'float64',
          }),
          x[1] as Tensor,
        ),
      [ids('ids', [1, 4], [1, 5, 3, 0]), ids('targets', [1, 4], [5, 3, 0, 2])],
      { paramScale: 0.4 },
    );
    expect(r.errors['model.embed_tokens.weight']).toBeLessThan(1e-4);
    expect(r.maxRelError).toBeLessThan(1e-4);
  });
});

describe('LoRA adapter on linear', () => {
  const run = async (build: (g: Graph, x: Tensor) => Tensor, params: Record<string, Float32Array>) => {
    const g = new Graph();
    const x = g.input('x', 'float32', [3, 4]);
    g.output('y', build(g, x));
    const s = await getSession(emitModel(g), { intraOpThreads: 1 });
    const feeds: Record<string, HostTensor> = {
      x: { dtype: 'float32', dims: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => Math.cos(i)) },
    };
    for (const [name, { spec }] of g.params)
      feeds[name] = { dtype: 'float32', dims: spec.shape, data: params[name] as Float32Array };
    return { out: (await s.run(feeds)).y as HostTensor, g };
  };
  const w = Float32Array.from({ length: 8 }, (_, i) => Math.sin(i + 1));
  const a = Float32Array.from({ length: 8 }, (_, i) => 0.3 * (i - 4));
  const bZero = new Float32Array(4);
  const bSome = Float32Array.from({ length: 4 }, (_, i) => 0.5 + i);

  it('adds (alpha/r) x A^T B^T with PEFT parameter names; B = 0 leaves the layer unchanged', async () => {
    const plain = await run((g, x) => linear(g, 'q_proj', x, 2), { 'q_proj.weight': w });
    const zero = await run((g, x) => linear(g, 'q_proj', x, 2, { adapter: { r: 2, alpha: 6 } }), {
      'q_proj.weight': w,
      'q_proj.lora_A.weight': a,
      'q_proj.lora_B.weight': bZero,
    });
    expect([...zero.g.params.keys()].sort()).toEqual([
      'q_proj.lora_A.weight',
      'q_proj.lora_B.weight',
      'q_proj.weight',
    ]);
    expect(zero.g.params.get('q_proj.lora_B.weight')?.spec.init.kind).toBe('zeros');
    expect([...(zero.out.data as Float32Array)]).toEqual([...(plain.out.data as Float32Array)]);
    // merged weight W + (alpha/r) B A gives the same outputs as the adapter
    const merged = Float32Array.from(w);
    for (let o = 0; o < 2; o++)
      for (let i = 0; i < 4; i++)
        for (let k = 0; k < 2; k++) merged[o * 4 + i]! += 3 * bSome[o * 2 + k]! * a[k * 4 + i]!;
    const withAdapter = await run((g, x) => linear(g, 'q_proj', x, 2, { adapter: { r: 2, alpha: 6 } }), {
      'q_proj.weight': w,
      'q_proj.lora_A.weight': a,
      'q_proj.lora_B.weight': bSome,
    });
    const mergedOut = await run((g, x) => linear(g, 'q_proj', x, 2), { 'q_proj.weight': merged });
    assertAllClose(withAdapter.out.data as Float32Array, mergedOut.out.data as Float32Array, {
      rtol: 1e-5,
      atol: 1e-5,
    });
    expect(allClose(withAdapter.out.data as Float32Array, plain.out.data as Float32Array).ok).toBe(false);
  });

  it('rules see full module paths; an explicit null opts out; dropout adds a random.* input', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [1, 2, 8]);
    const seen: string[] = [];
    withLinearAdapters(
      g,
      (path) => {
        seen.push(path);
        return { r: 1, alpha: 1, dropout: 0.1 };
      },
      () => {
        g.scope('model', () => attention(g, 'self_attn', x, { numHeads: 2 }));
        linear(g, 'lm_head', x, 3, { adapter: null });
      },
    );
    expect(seen).toEqual([
      'model.self_attn.q_proj',
      'model.self_attn.k_proj',
      'model.self_attn.v_proj',
      'model.self_attn.o_proj',
    ]);
    expect(g.params.has('lm_head.lora_A.weight')).toBe(false);
    expect(g.inputs.filter((t) => t.name.startsWith('random.')).length).toBe(4);
    // outside the callback the rule is gone
    linear(g, 'after', x, 3);
    expect(g.params.has('after.lora_A.weight')).toBe(false);
  });
});
