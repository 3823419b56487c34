/**
 * Standalone inference .onnx with a KV cache: the cached step graph with the weights baked in as
 * initializers, runnable by plain onnxruntime in any language. Batch size and tokens per call are
 * dynamic axes by default (dim_param `batch_size` and `sequence_length`: one file prefills whole
 * prompts, decodes one token per call, and takes any batch); passing `batch` or `tokens` fixes
 * them. The cache capacity is fixed at export. A JSON sidecar `<file>.json` records the I/O
 * contract so a runtime does not have to read the graph.
 */
import { writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import { emitModel, Graph } from '@gopo/nn';
import { z } from 'zod';
import { llamaDims } from '../model/config.js';
import { buildStepGraph, type LlamaModel } from '../model/llama-model.js';

export const OnnxExportOptionsSchema = z
  .object({
    batch: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('fixed batch size (default: a dynamic batch_size axis)'),
    tokens: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        'fixed new tokens per call, 1 = decode only (default: a dynamic sequence_length axis, up to the capacity)',
      ),
    capacity: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("KV cache slots; default the config's max_position_embeddings"),
    allLogits: z
      .boolean()
      .default(false)
      .describe('output logits for every new token [B, T, V] instead of the last one [B, V]'),
  })
  .superRefine((o, ctx) => {
    if (o.capacity !== undefined && o.tokens !== undefined && o.tokens > o.capacity)
      ctx.addIssue({
        code: 'custom',
        path: ['tokens'],
        message: `tokens ${o.tokens} exceed capacity ${o.capacity}`,
      });
  })
  .describe('shapes of the exported inference graph');
export type OnnxExportOptions = z.infer<typeof OnnxExportOptionsSchema>;
export type OnnxExportOptionsInput = z.input<typeof OnnxExportOptionsSchema>;

/** Names of the dynamic axes (ONNX dim_param) of an export without a fixed batch / tokens. */
export const BATCH_AXIS = 'batch_size';
export const TOKENS_AXIS = 'sequence_length';

export interface OnnxExportManifest {
  format: 'gopo-llama-kv-onnx';
  version: 1;
  /** Fixed batch size, or the name of the dynamic axis. */
  batch: number | string;
  /** Fixed tokens per call, or the name of the dynamic axis (any length up to capacity). */
  tokens: number | string;
  capacity: number;
  layers: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
  inputs: { name: string; dtype: string; shape: readonly (number | string)[] }[];
  outputs: { name: string; dtype: string; shape: readonly (number | string)[] }[];
  notes: string;
}

/** Writes `file` (.onnx) and `file.json` (manifest) atomically; returns the manifest. */
export async function exportLlamaOnnx(
  model: LlamaModel,
  file: string,
  options: OnnxExportOptionsInput = {},
): Promise<OnnxExportManifest> {
  const o = OnnxExportOptionsSchema.parse(options);
  const cap = o.capacity ?? model.config.max_position_embeddings;
  if (o.tokens !== undefined && o.tokens > cap) throw new Error(`tokens ${o.tokens} exceed capacity ${cap}`);
  const batch = o.batch ?? BATCH_AXIS;
  const tokens = o.tokens ?? TOKENS_AXIS;
  const g = new Graph({ name: 'llama_kv' });
  for (const [name, t] of Object.entries(
    buildStepGraph(g, model.config, batch, tokens, cap, !o.allLogits, model.config.max_position_embeddings),
  ))
    g.output(name, t);
  const values = new Map([...g.params.keys()].map((n) => [n, model.weightTensor(n).data]));
  const emitted = emitModel(g, {
    paramValues: values,
    docString: 'gopo Llama decoder step with KV cache (see the .json manifest)',
  });
  const d = llamaDims(model.config);
  const manifest: OnnxExportManifest = {
    format: 'gopo-llama-kv-onnx',
    version: 1,
    batch,
    tokens,
    capacity: cap,
    layers: d.layers,
    kvHeads: d.kvHeads,
    headDim: d.headDim,
    vocabSize: d.vocab,
    inputs: emitted.inputs,
    outputs: emitted.outputs,
    notes:
      'The cache is a window of the last `capacity` tokens, newest last: present = concat(past, new)[:, :, tokens:]. ' +
      `Dynamic axes: ${BATCH_AXIS} (any batch) and ${TOKENS_AXIS} (new tokens per call, 1..capacity: a whole prompt, then 1 per decode step). ` +
      'Per call: position_ids are RoPE positions (real tokens counted from 0 per row, < max_position_embeddings); ' +
      'attention_mask [batch, capacity] marks the slots of the present window that hold real tokens (shift the ' +
      "previous mask left by `tokens` and append this call's); feed present.* back as past_key_values.* (start " +
      'from zeros with mask 0). Layout [batch, kv_heads, capacity, head_dim], keys already rotated.',
  };
  await writeFileAtomic(file, emitted.bytes);
  await writeJsonAtomic(`${file}.json`, manifest);
  return manifest;
}
