import { defineCommand, OutputFormatSchema, UsageError, writeFileAtomic } from '@gopo/core';
import { z } from 'zod';
import { BpeTrainConfigSchema, trainBpeFromCounts, WordCounter } from './bpe-trainer.js';
import { CorpusFormatSchema, readCorpusFiles } from './corpus-files.js';
import { CORE_SPECIAL_TOKENS, DEFAULT_STRATEGY_NAMES, strategyToken } from './special-tokens.js';
import { serializeTokenizerJson } from './tokenizer-json.js';

export const trainTokenizerCommand = defineCommand({
  path: ['lm', 'train-tokenizer'],
  describe: 'Train a byte-level BPE tokenizer on text files and write a Hugging Face tokenizer.json',
  options: z.object({
    input: z
      .array(z.string())
      .min(1)
      .describe('training text files (.txt as plain UTF-8 text, .jsonl as records)'),
    inputFormat: CorpusFormatSchema.default('auto'),
    vocabSize: z
      .number()
      .int()
      .positive()
      .default(2048)
      .describe('total vocabulary size, special tokens included'),
    minFrequency: z.number().int().min(1).default(2).describe('least count of a pair worth merging'),
    specialTokens: z
      .array(z.string().min(1))
      .default([...CORE_SPECIAL_TOKENS])
      .describe('special tokens at ids 0..n-1 (roles, padding, boundaries)'),
    strategies: z
      .array(z.string())
      .default([...DEFAULT_STRATEGY_NAMES])
      .describe('strategy names; each gets a <|strategy:NAME|> token after the special tokens'),
    bosToken: z
      .string()
      .default('<|bos|>')
      .describe('token prepended when encoding with special tokens ("" for none)'),
    out: z.string().default('tokenizer.json').describe('where to write tokenizer.json'),
    format: OutputFormatSchema,
  }),
  globals: [],
  files: { inputs: ['input'], outputs: ['out'] },
  examples: [
    ['gopo lm train-tokenizer --input corpus.txt --vocab-size 4096 --out tok.json', 'train on a text file'],
    ['gopo lm train-tokenizer --input logs.jsonl --strategies greet recommend close', 'own strategy set'],
  ],
  async run(args, ctx) {
    const parsed = BpeTrainConfigSchema.safeParse({
      vocabSize: args.vocabSize,
      minFrequency: args.minFrequency,
      specialTokens: args.specialTokens,
      strategies: args.strategies,
      bosToken: args.bosToken === '' ? null : args.bosToken,
    });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const flag = String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const at = issue.path.length > 1 ? ` (item ${String(issue.path[1])})` : '';
      throw new UsageError(`--${flag}${at}: ${issue.message}`);
    }
    const config = parsed.data;
    const counter = new WordCounter([...config.specialTokens, ...config.strategies.map(strategyToken)]);
    for await (const text of readCorpusFiles(args.input, args.inputFormat)) counter.add(text);
    if (counter.totalWords === 0) throw new UsageError(`no text in ${args.input.join(', ')}`);
    ctx.logger.info(
      `counted ${counter.totalWords} words (${counter.counts.size} unique) in ${args.input.length} file(s)`,
    );
    const result = trainBpeFromCounts(counter, config);
    await writeFileAtomic(args.out, serializeTokenizerJson(result.tokenizerJson));
    const s = result.stats;
    if (args.format === 'json') {
      ctx.out(
        JSON.stringify(
          {
            out: args.out,
            vocab: result.parts.vocab.length,
            special: result.parts.specialTokens.length,
            ...s,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    ctx.out(
      `wrote ${args.out}: vocab ${result.parts.vocab.length} (${result.parts.specialTokens.length} special, ` +
        `${s.merges} merges; stopped by ${s.stoppedBy}), ${s.uniqueWords} unique words, ${s.seconds.toFixed(2)} s`,
    );
    return 0;
  },
});
