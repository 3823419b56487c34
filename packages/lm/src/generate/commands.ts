import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { type CliContext, defineCommand, FileFormatError, OutputFormatSchema, UsageError } from '@gopo/core';
import { z } from 'zod';
import { LlamaModel } from '../model/llama-model.js';
import { TOKENIZER_FILE } from '../model/weights.js';
import { loadHfTokenizer } from '../tokenizer/hf.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import {
  CorruptTokenizerError,
  checkTokenizerIntegrity,
  type TokenizerJson,
} from '../tokenizer/tokenizer-json.js';
import { GenerateOptionsSchema } from './generate.js';

const providerOf = (ctx: CliContext) => ctx.device;

interface PromptTokenizer {
  encode(text: string, addSpecial: boolean): number[];
  decode(ids: readonly number[]): string;
}

/**
 * Our byte-level BPE `Tokenizer` when it accepts the file (the fast path); otherwise, for checkpoints
 * whose tokenizer.json uses features it does not implement (other pre-tokenizers, normalizers, other
 * models), @huggingface/tokenizers. A corrupt file (ids used twice or with gaps, merges of unknown
 * tokens) is an error either way, never handed on to the other library.
 */
async function loadAnyTokenizer(file: string, ctx: CliContext): Promise<PromptTokenizer> {
  try {
    const tok = await Tokenizer.load(file);
    return { encode: (t, addSpecial) => tok.encode(t, { addSpecial }), decode: (ids) => tok.decode(ids) };
  } catch (e) {
    if (!(e instanceof FileFormatError) || e instanceof CorruptTokenizerError) throw e;
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new FileFormatError({ file }, `not valid JSON: ${(err as Error).message}`);
    }
    checkTokenizerIntegrity(json, file);
    ctx.logger.info(`${file}: not a plain byte-level BPE (${e.detail}); using @huggingface/tokenizers`);
    let hf: ReturnType<typeof loadHfTokenizer>;
    try {
      hf = loadHfTokenizer(json as TokenizerJson);
    } catch (err) {
      throw new FileFormatError({ file }, `cannot be loaded: ${(err as Error).message}`);
    }
    return {
      encode: (t, addSpecial) => [...hf.encode(t, { add_special_tokens: addSpecial }).ids],
      decode: (ids) => hf.decode([...ids], { skip_special_tokens: false }),
    };
  }
}

export const generateCommand = defineCommand({
  path: ['lm', 'generate'],
  describe:
    'Generate text from a Hugging Face-layout model directory (config.json, model.safetensors, tokenizer.json)',
  options: z.object({
    model: z.string().describe('model directory'),
    prompt: z.array(z.string()).min(1).describe('prompt text(s); several prompts run as one padded batch'),
    tokenizer: z
      .string()
      .optional()
      .describe('tokenizer.json to use (default: the one in the model directory)'),
    maxNewTokens: GenerateOptionsSchema.shape.maxNewTokens,
    temperature: GenerateOptionsSchema.shape.temperature,
    topK: GenerateOptionsSchema.shape.topK,
    topP: GenerateOptionsSchema.shape.topP,
    repetitionPenalty: GenerateOptionsSchema.shape.repetitionPenalty,
    tokensPerRun: GenerateOptionsSchema.shape.tokensPerRun,
    stop: z.array(z.string().min(1)).default([]).describe('stop strings (the text is cut before them)'),
    cache: z
      .boolean()
      .default(true)
      .describe('decode with the KV cache (--no-cache recomputes the whole prefix every step)'),
    addSpecial: z
      .boolean()
      .default(true)
      .describe("encode prompts with the tokenizer's special tokens (e.g. a leading bos)"),
    format: OutputFormatSchema.describe(
      'text: each generated text; json: a JSON array with one object per prompt (text, tokens, finish reason)',
    ),
  }),
  globals: ['seed', 'device'],
  files: { inputDirs: ['model'], inputs: ['tokenizer'] },
  examples: [
    ['gopo lm generate --model ./tiny --prompt "Hello" --max-new-tokens 20', 'greedy continuation'],
    [
      'gopo lm generate --model ./tiny --prompt "Hi" "Where is" --temperature 0.8 --top-p 0.9 --seed 1',
      'sampled batch',
    ],
  ],
  async run(args, ctx) {
    const tokFile = args.tokenizer ?? path.join(args.model, TOKENIZER_FILE);
    if (!existsSync(tokFile))
      throw new UsageError(`no tokenizer: ${tokFile} does not exist (pass --tokenizer FILE)`);
    const tokenizer = await loadAnyTokenizer(tokFile, ctx);
    const model = await LlamaModel.fromPretrained(args.model, { provider: providerOf(ctx) });
    const prompts = args.prompt.map((p) => tokenizer.encode(p, args.addSpecial));
    ctx.logger.info(`loaded ${args.model}; prompt lengths ${prompts.map((p) => p.length).join(', ')}`);
    const results = await model.generate(
      prompts,
      {
        maxNewTokens: args.maxNewTokens,
        temperature: args.temperature,
        topK: args.topK,
        topP: args.topP,
        repetitionPenalty: args.repetitionPenalty,
        stopStrings: args.stop,
        // the global --seed seeds sampling
        seed: ctx.seed,
        useCache: args.cache,
        tokensPerRun: args.tokensPerRun,
      },
      { tokenizer },
    );
    if (args.format === 'json') {
      const rows = results.map((r, i) => ({
        prompt: args.prompt[i],
        text: r.text,
        tokens: r.tokens,
        finishReason: r.finishReason,
      }));
      ctx.out(JSON.stringify(rows, null, 2));
    } else for (const r of results) ctx.out(r.text ?? '');
    return 0;
  },
});
