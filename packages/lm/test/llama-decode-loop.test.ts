import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { emitModel, Graph, type HostTensor } from '@gopo/nn';
import { describe, expect, it, vi } from 'vitest';
import {
  buildStepGraph,
  decodeLoopModel,
  type GenerateOptionsInput,
  type GenerationResult,
  LlamaModel,
  type LlamaWeights,
  pastName,
  presentName,
  STEPS_PER_ITERATION,
  type TokenEvent,
} from '../src/index.js';

// Greedy decoding with several tokens per session run (an ONNX Loop with the argmax in the graph)
// must give exactly the tokens of one run per token: same ids, finish reasons, texts and streamed
// events, and log-probs within float rounding of the host's float64 log-sum-exp.

const FIXTURES = path.join(import.meta.dirname, 'fixtures');

/** A toy detokenizer: id i -> one letter, so stop strings and streamed text can be checked. */
const letters = {
  decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join(''),
};

async function both(
  model: LlamaModel,
  prompts: number[][],
  options: GenerateOptionsInput,
  tokensPerRun: number,
  withText = false,
) {
  const run = async (k: number) => {
    const events: TokenEvent[] = [];
    const out = await model.generate(
      prompts,
      { ...options, tokensPerRun: k },
      withText ? { tokenizer: letters, onToken: (e) => events.push(e) } : { onToken: (e) => events.push(e) },
    );
    return { out, events };
  };
  return { one: await run(1), many: await run(tokensPerRun) };
}

function expectSame(a: GenerationResult[], b: GenerationResult[]) {
  expect(b.map((r) => r.tokens)).toEqual(a.map((r) => r.tokens));
  expect(b.map((r) => r.finishReason)).toEqual(a.map((r) => r.finishReason));
  expect(b.map((r) => r.text)).toEqual(a.map((r) => r.text));
  a.forEach((r, i) => {
    const other = b[i] as GenerationResult;
    expect(other.logprobs).toHaveLength(r.logprobs.length);
    r.logprobs.forEach((lp, j) => {
      expect(Math.abs(lp - (other.logprobs[j] as number))).toBeLessThan(1e-6);
    });
  });
}

describe.each(['tiny-llama', 'tiny-llama-tied'])('%s: several tokens per run', (name) => {
  it('greedy continuations equal the float64 reference and one run per token, batched and alone', async () => {
    const dir = path.join(FIXTURES, name);
    const expected = JSON.parse(await fs.readFile(path.join(dir, 'expected.json'), 'utf8')) as {
      sequences: { input_ids: number[]; greedy_tokens: number[] }[];
    };
    const model = await LlamaModel.fromPretrained(dir, { intraOpThreads: 1 });
    const prompts = expected.sequences.map((s) => s.input_ids);
    for (const k of [3, 8, 32]) {
      const { one, many } = await both(model, prompts, { maxNewTokens: 8, stopTokenIds: [] }, k);
      many.out.forEach((r, i) => {
        expect(r.tokens).toEqual(expected.sequences[i]?.greedy_tokens);
      });
      expectSame(one.out, many.out);
      expect(many.events).toEqual(one.events);
    }
    const [single] = await model.generate([prompts[1] as number[]], {
      maxNewTokens: 8,
      stopTokenIds: [],
      tokensPerRun: 5,
    });
    expect(single?.tokens).toEqual(expected.sequences[1]?.greedy_tokens);
  });
});

const CONFIGS = {
  'llama GQA, own head': {
    model_type: 'llama',
    num_attention_heads: 4,
    num_key_value_heads: 2,
    tie_word_embeddings: false,
  },
  'llama MHA, tied head': {
    model_type: 'llama',
    num_attention_heads: 2,
    num_key_value_heads: 2,
    tie_word_embeddings: true,
  },
  'qwen2 biases, GQA 3:1': {
    model_type: 'qwen2',
    num_attention_heads: 3,
    num_key_value_heads: 1,
    tie_word_embeddings: true,
  },
} as const;

/** A random model with weights scaled up from the 0.02 init, so greedy paths are far from uniform. */
function randomModel(overrides: (typeof CONFIGS)[keyof typeof CONFIGS], seed: number): LlamaModel {
  const base = LlamaModel.random(
    {
      ...overrides,
      vocab_size: 40,
      hidden_size: 24,
      intermediate_size: 40,
      num_hidden_layers: 2,
      head_dim: 8,
      max_position_embeddings: 96,
      eos_token_id: 2,
    },
    seed,
  );
  const weights: LlamaWeights = new Map(
    [...base.weights].map(([n, w]) => [
      n,
      { shape: w.shape, data: n.endsWith('norm.weight') ? w.data : w.data.map((x) => x * 12) },
    ]),
  );
  return new LlamaModel(base.config, weights, { intraOpThreads: 1 });
}

function promptsFor(seed: number, lengths: number[]): number[][] {
  let r = seed + 1;
  const tok = () => {
    r = (r * 1103515245 + 12345) % 2147483648;
    return 3 + (r % 37);
  };
  return lengths.map((n) => Array.from({ length: n }, tok));
}

describe.each(Object.entries(CONFIGS))('random %s: several tokens per run', (_name, overrides) => {
  const model = randomModel(overrides, 5);

  it('equals one run per token at batch 1 and 5, maxNewTokens not a multiple of tokensPerRun', async () => {
    const loop = vi.spyOn(model, 'decodeLoopGraph');
    for (const [lengths, maxNewTokens, k] of [
      [[6], 11, 4],
      [[1, 9, 4, 17, 2], 11, 4],
      [[3, 3, 8, 1, 12], 7, 32],
      [[5, 2, 7, 1, 3], 9, 2],
    ] as const) {
      const prompts = promptsFor(lengths.length * 10 + maxNewTokens, [...lengths]);
      const { one, many } = await both(model, prompts, { maxNewTokens, stopTokenIds: [] }, k);
      expectSame(one.out, many.out);
      expect(many.events).toEqual(one.events);
      expect(many.out.every((r) => r.tokens.length === maxNewTokens)).toBe(true);
    }
    expect(loop).toHaveBeenCalledTimes(4);
    loop.mockRestore();
  });

  it('stop ids end rows mid-run (the stop id kept), and the run ends early once every row is done', async () => {
    const prompts = promptsFor(7, [4, 1, 10, 6, 3]);
    const free = await model.generate(prompts, { maxNewTokens: 14, stopTokenIds: [], tokensPerRun: 1 });
    // Stop ids that the rows produce at different steps (and the config's eos, the default).
    const stops = [free[0]?.tokens[3] as number, free[2]?.tokens[8] as number];
    for (const k of [3, 5, 16]) {
      const { one, many } = await both(model, prompts, { maxNewTokens: 14, stopTokenIds: stops }, k, true);
      expectSame(one.out, many.out);
      expect(many.events).toEqual(one.events);
      expect(many.out.some((r) => r.finishReason === 'eos')).toBe(true);
      const byDefault = await both(model, prompts, { maxNewTokens: 14 }, k);
      expectSame(byDefault.one.out, byDefault.many.out);
    }
    // Every row stops at its first token choice that is a stop id: one early Loop exit.
    const all = [...new Set(free.map((r) => r.tokens[1] as number))];
    const { one, many } = await both(model, prompts, { maxNewTokens: 14, stopTokenIds: all }, 8);
    expectSame(one.out, many.out);
    expect(many.out.every((r) => r.finishReason === 'eos' && r.tokens.length <= 2)).toBe(true);
  });

  it('stop strings end rows mid-run; texts and streamed deltas equal one run per token', async () => {
    const prompts = promptsFor(11, [2, 7, 5]);
    const free = await model.generate(
      prompts,
      { maxNewTokens: 12, stopTokenIds: [], tokensPerRun: 1 },
      { tokenizer: letters },
    );
    const stopStrings = [(free[1]?.text ?? '').slice(4, 6), (free[0]?.text ?? '').slice(7, 9)];
    for (const k of [4, 12]) {
      const { one, many } = await both(
        model,
        prompts,
        { maxNewTokens: 12, stopTokenIds: [], stopStrings },
        k,
        true,
      );
      expectSame(one.out, many.out);
      expect(many.events).toEqual(one.events);
      expect(many.out.some((r) => r.finishReason === 'stop_string')).toBe(true);
    }
  });

  it('weights fed as inputs (read by the Loop body from the outer graph) give the same tokens', async () => {
    const fed = new LlamaModel(model.config, model.weights, { intraOpThreads: 1, weightsAs: 'inputs' });
    const prompts = promptsFor(13, [5, 2, 9]);
    const a = await model.generate(prompts, { maxNewTokens: 10, stopTokenIds: [], tokensPerRun: 1 });
    const b = await fed.generate(prompts, { maxNewTokens: 10, stopTokenIds: [], tokensPerRun: 8 });
    expectSame(a, b);
  });

  it('sampling and the repetition penalty keep one run per token (same draws whatever tokensPerRun)', async () => {
    const prompts = promptsFor(3, [3, 6]);
    for (const o of [{ temperature: 0.9, seed: 4 }, { repetitionPenalty: 1.3 }]) {
      const a = await model.generate(prompts, { ...o, maxNewTokens: 9, tokensPerRun: 1 });
      const b = await model.generate(prompts, { ...o, maxNewTokens: 9, tokensPerRun: 4 });
      expect(b).toEqual(a);
    }
  });
});

describe('the decode Loop graph', () => {
  it('computes, step for step, the same logit bits as the one-token step graph (its argmax and its logit)', async () => {
    const model = randomModel(CONFIGS['llama GQA, own head'], 9);
    const d = model.dims;
    const [b, cap, steps] = [3, 24, 2 * STEPS_PER_ITERATION];
    const i64 = (v: number[], dims: number[]): HostTensor => ({
      dtype: 'int64',
      dims,
      data: BigInt64Array.from(v.map(BigInt)),
    });
    const zeros = () => {
      const set: Record<string, HostTensor> = {};
      for (let l = 0; l < d.layers; l++)
        for (const kind of ['key', 'value'] as const)
          set[pastName(l, kind)] = {
            dtype: 'float32',
            dims: [b, d.kvHeads, cap, d.headDim],
            data: new Float32Array(b * d.kvHeads * cap * d.headDim),
          };
      return set;
    };
    const first = [5, 17, 30];
    // Host: one run per token, argmax in JavaScript (ties to the lowest id, as the graph's ArgMax).
    const step = await model.stepGraph(b, 1, cap);
    let caches = zeros();
    const mask = new Array<number>(b * cap).fill(0);
    let ids = first;
    const hostTokens: number[] = [];
    const hostLogits: number[] = [];
    for (let s = 0; s < steps; s++) {
      for (let i = 0; i < b; i++) {
        mask.copyWithin(i * cap, i * cap + 1, (i + 1) * cap);
        mask[(i + 1) * cap - 1] = 1;
      }
      const out = await model.run(step, {
        input_ids: i64(ids, [b, 1]),
        position_ids: i64([s, s, s], [b, 1]),
        attention_mask: i64(mask, [b, cap]),
        ...caches,
      });
      const logits = out.logits?.data as Float32Array;
      const v = model.config.vocab_size;
      ids = [0, 1, 2].map((i) => {
        let best = 0;
        for (let t = 1; t < v; t++)
          if ((logits[i * v + t] as number) > (logits[i * v + best] as number)) best = t;
        hostTokens.push(best);
        hostLogits.push(logits[i * v + best] as number);
        return best;
      });
      const next: Record<string, HostTensor> = {};
      for (let l = 0; l < d.layers; l++)
        for (const kind of ['key', 'value'] as const)
          next[pastName(l, kind)] = out[presentName(l, kind)] as HostTensor;
      caches = next;
    }
    const loop = await model.decodeLoopGraph(b, cap);
    const out = await model.run(loop, {
      max_steps: i64([steps / STEPS_PER_ITERATION], []),
      stop_ids: i64([-1], [1]),
      pad_id: i64([0], []),
      input_ids: i64(first, [b, 1]),
      position_ids: i64([0, 0, 0], [b, 1]),
      cache_mask: i64(new Array<number>(b * cap).fill(0), [b, cap]),
      done: { dtype: 'bool', dims: [b], data: new Uint8Array(b) },
      ...zeros(),
    });
    expect(out.tokens?.dims).toEqual([steps / STEPS_PER_ITERATION, STEPS_PER_ITERATION, b]);
    expect(Array.from(out.tokens?.data as BigInt64Array, Number)).toEqual(hostTokens);
    // Bit for bit: Float32Array values compared exactly.
    expect(Array.from(out.token_logits?.data as Float32Array)).toEqual(hostLogits);
    // The state after the loop is the host's: caches and mask.
    for (let l = 0; l < d.layers; l++)
      for (const kind of ['key', 'value'] as const)
        expect(Array.from(out[presentName(l, kind)]?.data as Float32Array)).toEqual(
          Array.from(caches[pastName(l, kind)]?.data as Float32Array),
        );
    expect(Array.from(out['out.cache_mask']?.data as BigInt64Array, Number)).toEqual(mask);
  });

  it('rejects a step that is not one token per row', () => {
    const model = randomModel(CONFIGS['llama MHA, tied head'], 1);
    const g = new Graph({ name: 'step' });
    for (const [n, t] of Object.entries(buildStepGraph(g, model.config, 2, 3, 16, true))) g.output(n, t);
    expect(() => decodeLoopModel(emitModel(g))).toThrow(/one token per row, not 3/);
  });
});
