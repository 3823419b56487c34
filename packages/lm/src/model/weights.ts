/**
 * Hugging Face model directories: config.json + model.safetensors (+ tokenizer.json). Loading checks
 * every tensor against the shapes the config implies; half-precision weights widen to float32.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { FileFormatError, MissingFileError, publishFiles, writeFileAtomic } from '@gopo/core';
import {
  bf16ToFloat32,
  f16ToFloat32,
  readSafetensors,
  type SafetensorsTensor,
  writeSafetensors,
} from '@gopo/nn';
import { type LlamaConfig, readLlamaConfig } from './config.js';
import { llamaParamShapes } from './model.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const TOKENIZER_FILE = 'tokenizer.json';

/** float32 weights by Hugging Face name, with their shapes. */
export type LlamaWeights = Map<string, { shape: number[]; data: Float32Array }>;

function toFloat32(file: string, name: string, t: SafetensorsTensor): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return t.data as Float32Array;
    case 'BF16':
      return bf16ToFloat32(t.data as Uint16Array);
    case 'F16':
      return f16ToFloat32(t.data as Uint16Array);
    case 'F64':
      return Float32Array.from(t.data as Float64Array);
    default:
      throw new FileFormatError(
        { file, path: [name] },
        `dtype ${t.dtype} is not a float type (F32, F16, BF16, F64)`,
      );
  }
}

/**
 * Reads and validates weights for `cfg`: a missing tensor, an unexpected one or a wrong shape is an
 * error naming the tensor and the file. A tied model may carry a redundant lm_head.weight equal to the
 * embedding (some exporters write it); it is dropped.
 */
export async function readLlamaWeights(file: string, cfg: LlamaConfig): Promise<LlamaWeights> {
  if (!existsSync(file)) throw new MissingFileError(file, 'model weights (model.safetensors)');
  const expected = llamaParamShapes(cfg);
  const { tensors } = await readSafetensors(file);
  const missing = [...expected.keys()].filter((n) => !tensors.has(n));
  if (missing.length > 0) {
    throw new FileFormatError(
      { file, path: [missing[0] as string] },
      `missing tensor${missing.length > 1 ? `s (${missing.length}): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}` : ''}`,
    );
  }
  const extra = [...tensors.keys()].filter(
    (n) =>
      !expected.has(n) &&
      !(cfg.tie_word_embeddings && n === 'lm_head.weight') &&
      !n.endsWith('.rotary_emb.inv_freq'),
  );
  if (extra.length > 0) {
    throw new FileFormatError(
      { file, path: [extra[0] as string] },
      `unexpected tensor${extra.length > 1 ? `s (${extra.length}): ${extra.slice(0, 5).join(', ')}` : ''} for this config.json (wrong architecture or config?)`,
    );
  }
  const out: LlamaWeights = new Map();
  for (const [name, shape] of expected) {
    const t = tensors.get(name) as SafetensorsTensor;
    if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      throw new FileFormatError(
        { file, path: [name] },
        `shape [${t.shape.join(', ')}] does not match the config's [${shape.join(', ')}]`,
      );
    }
    out.set(name, { shape, data: toFloat32(file, name, t) });
  }
  return out;
}

/** Loads a model directory's config and weights. */
export async function loadLlamaDir(dir: string): Promise<{ config: LlamaConfig; weights: LlamaWeights }> {
  if (!existsSync(dir)) throw new MissingFileError(dir, 'model directory');
  const config = await readLlamaConfig(path.join(dir, CONFIG_FILE));
  const weights = await readLlamaWeights(path.join(dir, WEIGHTS_FILE), config);
  return { config, weights };
}

/**
 * Writes config.json and model.safetensors (float32) into `dir`. The two files are staged in a
 * temporary sibling directory and renamed into place one by one, each rename atomic, so an
 * interrupted save never leaves a truncated file; `extra` files (e.g. tokenizer.json) go along.
 */
export async function saveLlamaDir(
  dir: string,
  config: LlamaConfig,
  weights: LlamaWeights,
  extra: Record<string, string | Uint8Array> = {},
): Promise<void> {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [name, w] of weights) tensors[name] = { dtype: 'F32', shape: w.shape, data: w.data };
  await publishFiles(dir, async (stage) => {
    await writeSafetensors(path.join(stage, WEIGHTS_FILE), tensors, { metadata: { format: 'pt' } });
    await writeFile(
      path.join(stage, CONFIG_FILE),
      `${JSON.stringify({ ...config, torch_dtype: 'float32' }, null, 2)}\n`,
    );
    for (const [name, content] of Object.entries(extra))
      await writeFileAtomic(path.join(stage, name), content);
    return [WEIGHTS_FILE, CONFIG_FILE, ...Object.keys(extra)];
  });
}
