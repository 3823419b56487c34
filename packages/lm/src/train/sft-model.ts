/**
 * The graph an SFT step runs: decoder logits for packed rows, next-token cross-entropy on the
 * completion tokens only, optionally with LoRA adapters. Packed rows need attention restricted to the
 * block diagonal of their segment ids; the builder says whether it can do that.
 */
import { ConfigError } from '@gopo/core';
import { crossEntropy, type Graph, type Tensor, type TransformerConfig, transformerLM } from '@gopo/nn';
import { type LoraConfig, withLora } from '../lora/lora.js';
import type { LlamaConfig } from '../model/config.js';
import { llamaLogits } from '../model/model.js';
import { IGNORE_INDEX } from './packing.js';

export interface SftLogitsInputs {
  /** int64 [B, T] RoPE positions (restart at 0 for each packed example); absent: 0..T-1. */
  readonly positions?: Tensor;
  /** bool [B, T, T]: query i may see key j (block diagonal of the segments); causal is added by the model. */
  readonly attendMask?: Tensor;
}

/** A decoder as SFT sees it. */
export interface SftModel {
  /** Whether `logits` honours `attendMask` (needed for packing). */
  readonly blockMask: boolean;
  readonly name: string;
  logits(g: Graph, ids: Tensor, inputs: SftLogitsInputs): Tensor;
}

/** The Llama decoder of model/ (positions fed; no block mask yet, so no packing). */
export function llamaSftModel(cfg: LlamaConfig): SftModel {
  return {
    blockMask: false,
    name: 'llama',
    logits: (g, ids, inputs) => llamaLogits(g, ids, cfg, { positions: inputs.positions }),
  };
}

/**
 * nn's transformerLM configured to compute exactly the Llama decoder of `cfg` (same parameter names
 * and maths), or the first config field it cannot express. Its attention takes a block mask.
 */
export function llamaAsTransformer(cfg: LlamaConfig): TransformerConfig | { unsupported: string } {
  const kv = cfg.num_key_value_heads ?? cfg.num_attention_heads;
  if (cfg.head_dim !== undefined && cfg.head_dim * cfg.num_attention_heads !== cfg.hidden_size)
    return { unsupported: 'head_dim' };
  if (cfg.attention_bias === true || (cfg.attention_bias === undefined && cfg.model_type === 'qwen2'))
    return { unsupported: 'attention_bias' };
  if (cfg.mlp_bias) return { unsupported: 'mlp_bias' };
  if (cfg.rms_norm_eps !== 1e-6) return { unsupported: 'rms_norm_eps' };
  const rs = cfg.rope_scaling;
  if (rs && (rs.rope_type ?? rs.type ?? 'default') !== 'default') return { unsupported: 'rope_scaling' };
  return {
    vocabSize: cfg.vocab_size,
    dModel: cfg.hidden_size,
    numLayers: cfg.num_hidden_layers,
    numHeads: cfg.num_attention_heads,
    numKvHeads: kv,
    hidden: cfg.intermediate_size,
    mlp: 'swiglu',
    norm: 'rmsnorm',
    rope: true,
    ropeTheta: cfg.rope_theta,
    tieEmbeddings: cfg.tie_word_embeddings,
  };
}

/** transformerLM standing in for the Llama decoder (block masks supported). */
export function transformerSftModel(cfg: LlamaConfig, seqLen: number): SftModel {
  const t = llamaAsTransformer(cfg);
  if ('unsupported' in t)
    throw new ConfigError(
      { file: 'config.json', path: [t.unsupported] },
      'packed SFT with a block-diagonal mask needs a decoder without this feature (or set packing: off)',
    );
  const c = { ...t, maxPositions: seqLen };
  return {
    blockMask: true,
    name: 'transformerLM',
    logits: (g, ids, inputs) =>
      transformerLM(g, ids, c, { positions: inputs.positions, attendMask: inputs.attendMask }),
  };
}

/** The decoder SFT trains: Llama, or its transformerLM twin when packing needs a block mask. */
export function sftModelFor(cfg: LlamaConfig, packing: boolean, seqLen: number): SftModel {
  const llama = llamaSftModel(cfg);
  if (!packing || llama.blockMask) return llama;
  return transformerSftModel(cfg, seqLen);
}

export interface SftGraphOptions {
  readonly model: SftModel;
  readonly packing: boolean;
  readonly lora?: LoraConfig | null;
  /** Adapter dropout on (training graph) or off (evaluation). */
  readonly train: boolean;
}

/** Logits for a batch {ids, positions, segments} (with LoRA adapters when configured). */
export function sftLogits(g: Graph, batch: Readonly<Record<string, Tensor>>, o: SftGraphOptions): Tensor {
  const ids = batch.ids as Tensor;
  const [b, t] = ids.shape as [number, number];
  let attendMask: Tensor | undefined;
  if (o.packing) {
    if (!o.model.blockMask) g.fail('sft', [ids], `${o.model.name} cannot mask packed examples apart`);
    const seg = batch.segments as Tensor;
    attendMask = g.equal(g.reshape(seg, [b, t, 1]), g.reshape(seg, [b, 1, t]));
  }
  // Unpacked rows start every example at position 0, the model's default: feeding positions would
  // only cost a gather (and a slower broadcast in the Llama builder).
  const positions = o.packing ? (batch.positions as Tensor) : undefined;
  const build = () => o.model.logits(g, ids, { positions, attendMask });
  return o.lora ? withLora(g, o.lora, build, { train: o.train }) : build();
}

/** Mean next-token cross-entropy over the counted targets of the batch. */
export function sftLoss(g: Graph, batch: Readonly<Record<string, Tensor>>, o: SftGraphOptions): Tensor {
  return crossEntropy(g, sftLogits(g, batch, o), batch.targets as Tensor, { ignoreIndex: IGNORE_INDEX });
}

/** Summed NLL and count of counted targets (for perplexity over a whole eval set). */
export function sftEvalOutputs(
  g: Graph,
  batch: Readonly<Record<string, Tensor>>,
  o: SftGraphOptions,
): Record<string, Tensor> {
  const targets = batch.targets as Tensor;
  const nll = crossEntropy(g, sftLogits(g, batch, o), targets, {
    ignoreIndex: IGNORE_INDEX,
    reduction: 'sum',
  });
  const count = g.reduceSum(g.cast(g.not(g.equal(targets, g.scalar(IGNORE_INDEX, 'int64'))), 'float32'));
  return { nll: g.cast(nll, 'float32'), count };
}
