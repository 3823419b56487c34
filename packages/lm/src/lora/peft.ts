/**
 * Adapters on disk in PEFT's layout, so `PeftModel.from_pretrained(base, dir)` loads them:
 *
 *   adapter_config.json          peft_type "LORA", r, lora_alpha, lora_dropout, target_modules, ...
 *   adapter_model.safetensors    base_model.model.<module>.lora_A.weight [r, in] / lora_B.weight [out, r]
 *
 * Both files are staged in a temporary folder and renamed into place, so an interrupted save leaves
 * any earlier adapter intact.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ConfigError, FileFormatError, MissingFileError, publishFiles, writeJsonAtomic } from '@gopo/core';
import { type HostTensor, readSafetensors, type SafetensorsTensor, writeSafetensors } from '@gopo/nn';
import { z } from 'zod';
import { isLoraParam, type LoraConfig, loraModules } from './lora.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** PEFT's prefix on saved adapter tensor names (PeftModel -> LoraModel -> the base model). */
export const PEFT_PREFIX = 'base_model.model.';

/** The fields of PEFT's LoraConfig we write and read; other fields PEFT adds are kept on load. */
export const AdapterConfigSchema = z
  .object({
    peft_type: z.literal('LORA').describe('adapter kind; only LoRA'),
    task_type: z.string().nullable().default('CAUSAL_LM').describe('PEFT task type'),
    r: z.number().int().positive().describe('adapter rank'),
    lora_alpha: z.number().positive().describe('scaling numerator: update = (lora_alpha / r) B A'),
    lora_dropout: z.number().min(0).lt(1).default(0).describe('dropout on the adapter input in training'),
    target_modules: z
      .union([z.array(z.string()), z.string()])
      .describe('module names (suffix match) or one regular expression over module paths'),
    bias: z.literal('none').default('none').describe('which biases were trained: none'),
    fan_in_fan_out: z.literal(false).default(false).describe('weights stored [out, in] (Linear), not Conv1D'),
    base_model_name_or_path: z
      .string()
      .nullable()
      .default(null)
      .describe('the base model the adapter is for'),
    inference_mode: z.boolean().default(true).describe('PEFT loads the adapter frozen'),
    init_lora_weights: z.boolean().default(true).describe('B initialised to zero (PEFT default)'),
    use_rslora: z
      .literal(false)
      .default(false)
      .describe('rank-stabilised scaling alpha/sqrt(r); not supported, must be false'),
    use_dora: z
      .literal(false)
      .default(false)
      .describe('weight-decomposed LoRA; not supported, must be false'),
    modules_to_save: z.null().default(null).describe('fully trained extra modules; none'),
    rank_pattern: z
      .record(z.string(), z.never())
      .default({})
      .describe('per-module rank overrides; not supported, must be empty'),
    alpha_pattern: z
      .record(z.string(), z.never())
      .default({})
      .describe('per-module alpha overrides; not supported, must be empty'),
  })
  .loose()
  .describe('adapter_config.json of a PEFT LoRA adapter');
export type AdapterConfig = z.infer<typeof AdapterConfigSchema>;

export function adapterConfigFrom(config: LoraConfig, baseModel: string | null = null): AdapterConfig {
  return AdapterConfigSchema.parse({
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    target_modules: config.targetModules,
    base_model_name_or_path: baseModel,
  });
}

/** Our LoraConfig from a PEFT adapter config. */
export function loraConfigFrom(c: AdapterConfig): LoraConfig {
  return { r: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout, targetModules: c.target_modules };
}

/** Writes the adapter tensors among `params` (other names are ignored) and the config. */
export async function saveLoraAdapter(
  dir: string,
  params: ReadonlyMap<string, HostTensor>,
  config: LoraConfig,
  options: { baseModel?: string | null } = {},
): Promise<string[]> {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of params) {
    if (!isLoraParam(name)) continue;
    if (t.dtype !== 'float32')
      throw new ConfigError({ file: dir, path: [name] }, `adapter tensor must be float32`);
    tensors.set(`${PEFT_PREFIX}${name}`, { dtype: 'F32', shape: [...t.dims], data: t.data as Float32Array });
  }
  if (tensors.size === 0) throw new ConfigError({ file: dir }, 'no LoRA adapter tensors to save');
  await publishFiles(dir, async (stage) => {
    await writeSafetensors(path.join(stage, ADAPTER_WEIGHTS_FILE), tensors, { metadata: { format: 'pt' } });
    await writeJsonAtomic(
      path.join(stage, ADAPTER_CONFIG_FILE),
      adapterConfigFrom(config, options.baseModel),
    );
    return [ADAPTER_WEIGHTS_FILE, ADAPTER_CONFIG_FILE];
  });
  return [...tensors.keys()].sort();
}

export interface LoadedAdapter {
  readonly config: LoraConfig;
  readonly adapterConfig: AdapterConfig;
  /** Adapter tensors by our parameter names (the PEFT prefix removed). */
  readonly tensors: Map<string, HostTensor>;
}

/** Reads an adapter folder; every problem names the file and the field or tensor. */
export async function loadLoraAdapter(dir: string): Promise<LoadedAdapter> {
  const cfgFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const wFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(cfgFile)) throw new MissingFileError(cfgFile, 'adapter config');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(cfgFile, 'utf8'));
  } catch (e) {
    throw new FileFormatError({ file: cfgFile }, `invalid JSON (${(e as Error).message})`);
  }
  const parsed = AdapterConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    throw new FileFormatError(
      { file: cfgFile, path: issue.path.filter((p): p is string | number => typeof p !== 'symbol') },
      issue.message,
    );
  }
  const adapterConfig = parsed.data;
  const config = loraConfigFrom(adapterConfig);
  const { tensors: raws } = await readSafetensors(wFile);
  const tensors = new Map<string, HostTensor>();
  for (const [full, t] of raws) {
    const name = full.startsWith(PEFT_PREFIX) ? full.slice(PEFT_PREFIX.length) : full;
    // PEFT may write the adapter name into keys (`lora_A.default.weight`); saved files drop it.
    if (!isLoraParam(name)) throw new FileFormatError({ file: wFile, path: [full] }, 'not a LoRA A/B weight');
    if (t.dtype !== 'F32' && t.dtype !== 'F64')
      throw new FileFormatError({ file: wFile, path: [full] }, `dtype ${t.dtype} not supported (F32, F64)`);
    const data = t.dtype === 'F32' ? (t.data as Float32Array) : Float32Array.from(t.data as Float64Array);
    tensors.set(name, { dtype: 'float32', dims: [...t.shape], data });
  }
  for (const m of loraModules(tensors.keys())) {
    const a = tensors.get(`${m}.lora_A.weight`) as HostTensor;
    const b = tensors.get(`${m}.lora_B.weight`) as HostTensor;
    if (a.dims[0] !== config.r || b.dims[1] !== config.r)
      throw new FileFormatError(
        { file: wFile, path: [`${PEFT_PREFIX}${m}`] },
        `adapter rank [${a.dims.join(',')}] / [${b.dims.join(',')}] does not match r = ${config.r}`,
      );
  }
  const unpaired = [...tensors.keys()].filter(
    (n) => !loraModules(tensors.keys()).some((m) => n.startsWith(`${m}.`)),
  );
  if (unpaired.length > 0)
    throw new FileFormatError(
      { file: wFile, path: [`${PEFT_PREFIX}${unpaired[0]}`] },
      'lora_A without lora_B (or the reverse)',
    );
  return { config, adapterConfig, tensors };
}
