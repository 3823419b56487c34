import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import { type HostTensor, runOnnxFile } from '@gopo/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TOKENIZER_PATH,
  exportCommand,
  generateCommand,
  LlamaModel,
  lmCommands,
  Tokenizer,
} from '../src/index.js';
import { saveTinyRandomModel } from '../src/testing.js';

let dir: string;
let tok: Tokenizer;
const { ctx, output } = testCliContext({ seed: 0 });

beforeAll(async () => {
  dir = await saveTinyRandomModel(path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'lm-cmd-')), 'model'), {
    seed: 3,
    maxPositions: 128,
  });
  tok = await Tokenizer.load(DEFAULT_TOKENIZER_PATH);
});

describe('gopo lm generate / export', () => {
  it('are exported in lmCommands next to train-tokenizer', () => {
    expect(lmCommands.map((c) => c.path.join(' '))).toEqual(
      expect.arrayContaining(['lm train-tokenizer', 'lm generate', 'lm export']),
    );
  });

  it('generate prints one continuation per prompt, equal to the library call', async () => {
    output.length = 0;
    const args = generateCommand.options.parse({
      model: dir,
      prompt: ['Hello! Where is my order?', 'Hi'],
      maxNewTokens: 6,
      temperature: 0.9,
      topK: 50,
      format: 'json',
    });
    expect(await generateCommand.run(args, { ...ctx, seed: 4 })).toBe(0);
    expect(output).toHaveLength(1);
    const rows = JSON.parse(output[0]!) as { text: string; tokens: number[] }[];
    expect(rows).toHaveLength(2);
    const model = await LlamaModel.fromPretrained(dir);
    const lib = await model.generate(
      ['Hello! Where is my order?', 'Hi'].map((p) => tok.encode(p, { addSpecial: true })),
      { maxNewTokens: 6, temperature: 0.9, topK: 50, seed: 4 },
      { tokenizer: tok },
    );
    expect(rows.map((r) => r.tokens)).toEqual(lib.map((r) => r.tokens));
    expect(rows.map((r) => r.text)).toEqual(lib.map((r) => r.text));
    output.length = 0;
    await generateCommand.run({ ...args, format: 'text', cache: false }, { ...ctx, seed: 4 });
    expect(output).toEqual(lib.map((r) => r.text));
    // Greedy: --tokens-per-run 1 (one session run per token) prints what the Loop path prints.
    output.length = 0;
    await generateCommand.run({ ...args, temperature: 0, format: 'text' }, ctx);
    const loopTexts = [...output];
    output.length = 0;
    await generateCommand.run({ ...args, temperature: 0, format: 'text', tokensPerRun: 1 }, ctx);
    expect(output).toEqual(loopTexts);
  });

  it('generate falls back to @huggingface/tokenizers for tokenizer.json files ours does not implement', async () => {
    const words = ['[UNK]', 'hello', 'world', ...Array.from({ length: 37 }, (_, i) => `w${i + 3}`)];
    const other = path.join(path.dirname(dir), 'wordlevel');
    const model = LlamaModel.random(
      {
        vocab_size: 40,
        hidden_size: 16,
        intermediate_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        max_position_embeddings: 64,
      },
      5,
    );
    const tokJson = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
      model: {
        type: 'WordLevel',
        vocab: Object.fromEntries(words.map((w, i) => [w, i])),
        unk_token: '[UNK]',
      },
    };
    await model.save(other, { 'tokenizer.json': JSON.stringify(tokJson) });
    output.length = 0;
    await generateCommand.run(
      generateCommand.options.parse({
        model: other,
        prompt: ['hello world'],
        maxNewTokens: 4,
        format: 'json',
      }),
      ctx,
    );
    const [row] = JSON.parse(output[0] as string) as { text: string; tokens: number[] }[];
    const lib = await model.generate([[1, 2]], { maxNewTokens: 4 });
    expect(row!.tokens).toEqual(lib[0]?.tokens);
    expect(row!.text).toBe(row!.tokens.map((t) => words[t]).join(' '));
  });

  it('generate without a tokenizer is a usage error', async () => {
    const bare = path.join(path.dirname(dir), 'bare');
    await fs.mkdir(bare, { recursive: true });
    for (const f of ['config.json', 'model.safetensors'])
      await fs.copyFile(path.join(dir, f), path.join(bare, f));
    await expect(
      generateCommand.run(generateCommand.options.parse({ model: bare, prompt: ['x'] }), ctx),
    ).rejects.toThrow(UsageError);
  });

  it('export writes an .onnx that plain onnxruntime runs, with the first-token logits of the model', async () => {
    output.length = 0;
    const out = path.join(path.dirname(dir), 'm.onnx');
    await exportCommand.run(exportCommand.options.parse({ model: dir, out, capacity: 8 }), ctx);
    expect(output[0]).toMatch(/wrote .*m\.onnx/);
    const model = await LlamaModel.fromPretrained(dir);
    const zeros: Record<string, HostTensor> = {};
    for (const k of ['key', 'value'])
      zeros[`past_key_values.0.${k}`] = { dtype: 'float32', dims: [1, 2, 8, 8], data: new Float32Array(128) };
    const i64 = (v: number[], dims: number[]): HostTensor => ({
      dtype: 'int64',
      dims,
      data: BigInt64Array.from(v.map(BigInt)),
    });
    const res = await runOnnxFile(out, {
      input_ids: i64([tok.bosId], [1, 1]),
      position_ids: i64([0], [1, 1]),
      attention_mask: i64([0, 0, 0, 0, 0, 0, 0, 1], [1, 8]),
      ...zeros,
    });
    const want = (await model.logits([[tok.bosId]])).data as Float32Array;
    const got = res.logits?.data as Float32Array;
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++)
      expect(Math.abs((got[i] as number) - (want[i] as number))).toBeLessThan(1e-5);
  });
});
