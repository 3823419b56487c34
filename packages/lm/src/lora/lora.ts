/**
 * LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): a frozen weight W
 * [out, in] gets a trainable low-rank update, W' = W + (alpha / r) B A with A [r, in] and B [out, r].
 * The adapters are graph parameters named as PEFT names them (`<module>.lora_A.weight`,
 * `<module>.lora_B.weight`); nn's `linear` adds them when `withLinearAdapters` says so.
 */
import { UsageError } from '@gopo/core';
import { type Graph, type HostTensor, type LinearAdapter, withLinearAdapters } from '@gopo/nn';
import { z } from 'zod';

export const LORA_A = 'lora_A.weight';
export const LORA_B = 'lora_B.weight';

export const LoraConfigSchema = z
  .object({
    r: z.number().int().positive().default(8).describe('adapter rank'),
    alpha: z
      .number()
      .positive()
      .default(16)
      .describe('scaling numerator: the update is (alpha / r) B A (PEFT lora_alpha)'),
    dropout: z
      .number()
      .min(0)
      .lt(1)
      .default(0)
      .describe('dropout on the adapter input during training (PEFT lora_dropout)'),
    targetModules: z
      .union([z.array(z.string().min(1)).min(1), z.string().min(1)])
      .default(['q_proj', 'v_proj'])
      .describe(
        'modules that get adapters: a list of names matching the end of a module path (q_proj matches ' +
          'model.layers.0.self_attn.q_proj), or one regular expression matched against the whole path (as PEFT)',
      ),
  })
  .strict()
  .describe('LoRA adapters');
export type LoraConfig = z.infer<typeof LoraConfigSchema>;
export type LoraConfigInput = z.input<typeof LoraConfigSchema>;

/** Whether the linear layer at `modulePath` gets an adapter under `targets` (PEFT's matching rule). */
export function matchesTarget(modulePath: string, targets: LoraConfig['targetModules']): boolean {
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(modulePath);
  return targets.some((t) => modulePath === t || modulePath.endsWith(`.${t}`));
}

export function loraScale(c: Pick<LoraConfig, 'r' | 'alpha'>): number {
  return c.alpha / c.r;
}

/**
 * Runs a model builder with adapters on the targeted linear layers. `train` turns adapter dropout on
 * (it becomes a `random.*` input the nn Trainer feeds); evaluation graphs leave it off.
 */
export function withLora<T>(g: Graph, config: LoraConfig, fn: () => T, options: { train?: boolean } = {}): T {
  const adapter: LinearAdapter = {
    r: config.r,
    alpha: config.alpha,
    dropout: options.train ? config.dropout : 0,
  };
  return withLinearAdapters(g, (path) => (matchesTarget(path, config.targetModules) ? adapter : null), fn);
}

export function isLoraParam(name: string): boolean {
  return name.endsWith(`.${LORA_A}`) || name.endsWith(`.${LORA_B}`);
}

/** Module paths carrying an adapter (both A and B present), sorted. */
export function loraModules(names: Iterable<string>): string[] {
  const set = new Set(names);
  const out: string[] = [];
  for (const n of set) {
    if (!n.endsWith(`.${LORA_A}`)) continue;
    const m = n.slice(0, -LORA_A.length - 1);
    if (set.has(`${m}.${LORA_B}`)) out.push(m);
  }
  return out.sort();
}

/** Parameter names the trainer keeps frozen for LoRA training: everything but the adapters. */
export function loraFrozenNames(names: Iterable<string>): string[] {
  return [...names].filter((n) => !isLoraParam(n));
}

type Weights = ReadonlyMap<string, HostTensor>;

function f32(name: string, t: HostTensor | undefined): Float32Array {
  if (!t) throw new UsageError(`LoRA merge: tensor ${name} is missing`);
  if (t.dtype !== 'float32') throw new UsageError(`LoRA merge: ${name} must be float32, got ${t.dtype}`);
  return t.data as Float32Array;
}

/**
 * W + sign (alpha / r) B A for every adapted module, into a new map (inputs untouched). The product
 * is accumulated in float64 and rounded once, so merge then unmerge returns W to within one float32
 * rounding of each step.
 */
function applyAdapters(
  weights: Weights,
  config: Pick<LoraConfig, 'r' | 'alpha'>,
  sign: 1 | -1,
): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  const modules = loraModules(weights.keys());
  const scale = sign * loraScale(config);
  for (const [name, t] of weights) if (!isLoraParam(name)) out.set(name, t);
  for (const m of modules) {
    const wName = `${m}.weight`;
    const w = weights.get(wName);
    const wData = f32(wName, w);
    const a = f32(`${m}.${LORA_A}`, weights.get(`${m}.${LORA_A}`));
    const b = f32(`${m}.${LORA_B}`, weights.get(`${m}.${LORA_B}`));
    const [outF, inF] = (w as HostTensor).dims as [number, number];
    const r = a.length / inF;
    if (!Number.isInteger(r) || b.length !== outF * r || r !== config.r) {
      throw new UsageError(
        `LoRA merge: adapters of ${m} do not fit weight [${outF}, ${inF}] with rank ${config.r}`,
      );
    }
    const merged = new Float32Array(wData.length);
    for (let o = 0; o < outF; o++) {
      for (let i = 0; i < inF; i++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += (b[o * r + k] as number) * (a[k * inF + i] as number);
        merged[o * inF + i] = (wData[o * inF + i] as number) + scale * s;
      }
    }
    out.set(wName, { dtype: 'float32', dims: [outF, inF], data: merged });
  }
  return out;
}

/** Folds every adapter into its base weight: W + (alpha / r) B A; adapter tensors are dropped. */
export function mergeLora(
  weights: Weights,
  config: Pick<LoraConfig, 'r' | 'alpha'>,
): Map<string, HostTensor> {
  return applyAdapters(weights, config, 1);
}

/**
 * Undoes `mergeLora`: given merged weights and the adapters (in `adapters`), returns W - (alpha / r) B A
 * (the base weights back, within float32 rounding) with the adapters kept beside them.
 */
export function unmergeLora(
  merged: Weights,
  adapters: Weights,
  config: Pick<LoraConfig, 'r' | 'alpha'>,
): Map<string, HostTensor> {
  const both = new Map(merged);
  for (const [n, t] of adapters) if (isLoraParam(n)) both.set(n, t);
  const base = applyAdapters(both, config, -1);
  for (const [n, t] of adapters) if (isLoraParam(n)) base.set(n, t);
  return base;
}
