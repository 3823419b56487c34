/**
 * The graph an SFT step runs: decoder logits for packed rows, next-token cross-entropy on the
 * completion tokens only, optionally with LoRA adapters. Packed rows need attention restricted to the
 * block diagonal of their segment ids; the builder says whether it can do that.
 */
import { crossEntropy, type Graph, type Tensor } from '@gopo/nn';
import { type LoraConfig, withLora } from '../lora/lora.js';
import type { LlamaConfig } from '../model/config.js';
import { attendMaskFromSegments, llamaLogits } from '../model/model.js';
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

/** The Llama decoder of model/: positions fed, attention masked to the packed blocks. */
export function llamaSftModel(cfg: LlamaConfig): SftModel {
  return {
    blockMask: true,
    name: 'llama',
    logits: (g, ids, inputs) =>
      llamaLogits(g, ids, cfg, { positions: inputs.positions, attendMask: inputs.attendMask }),
  };
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
  let attendMask: Tensor | undefined;
  if (o.packing) {
    if (!o.model.blockMask) g.fail('sft', [ids], `${o.model.name} cannot mask packed examples apart`);
    attendMask = attendMaskFromSegments(g, batch.segments as Tensor);
  }
  // Unpacked rows start every example at position 0, the model's default: feeding positions would
  // only cost a gather (and a slower broadcast in the Llama builder). Packed rows feed theirs rather
  // than have the model count them from the mask.
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
