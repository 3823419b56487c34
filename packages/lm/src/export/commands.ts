import { defineCommand, OutputFormatSchema, UsageError } from '@gopo/core';
import { z } from 'zod';
import { LlamaModel } from '../model/llama-model.js';
import { exportLlamaOnnx, OnnxExportOptionsSchema } from './onnx.js';

export const exportCommand = defineCommand({
  path: ['lm', 'export'],
  describe:
    'Export a model directory as an inference .onnx with KV cache (plus a .json manifest of its inputs/outputs)',
  options: z.object({
    model: z.string().describe('model directory (config.json + model.safetensors)'),
    out: z.string().default('model.onnx').describe('output .onnx file'),
    batch: OnnxExportOptionsSchema.shape.batch,
    tokens: OnnxExportOptionsSchema.shape.tokens,
    capacity: OnnxExportOptionsSchema.shape.capacity,
    allLogits: OnnxExportOptionsSchema.shape.allLogits,
    format: OutputFormatSchema,
  }),
  globals: [],
  files: { inputDirs: ['model'], outputs: ['out'] },
  examples: [
    [
      'gopo lm export --model ./tiny --out tiny.onnx',
      'dynamic batch_size and sequence_length axes, cache of max_position_embeddings',
    ],
    [
      'gopo lm export --model ./tiny --out tiny-b8.onnx --batch 8 --tokens 1 --capacity 512',
      'fixed-shape decoding graph',
    ],
  ],
  async run(args, ctx) {
    if (args.capacity !== undefined && args.tokens !== undefined && args.tokens > args.capacity)
      throw new UsageError(`--tokens ${args.tokens} exceeds --capacity ${args.capacity}`);
    const model = await LlamaModel.fromPretrained(args.model);
    const m = await exportLlamaOnnx(model, args.out, {
      batch: args.batch,
      tokens: args.tokens,
      capacity: args.capacity,
      allLogits: args.allLogits,
    });
    if (args.format === 'json') {
      ctx.out(JSON.stringify({ out: args.out, manifest: `${args.out}.json`, ...m }, null, 2));
      return 0;
    }
    ctx.out(
      `wrote ${args.out} (+ ${args.out}.json): batch ${m.batch}, ${m.tokens} token(s) per call, cache ${m.capacity} slots, ${m.layers} layers`,
    );
    return 0;
  },
});
