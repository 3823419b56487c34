/**
 * The scalar value head of token-level PPO: V(s_t) = w . h_t + b over the reply model's final-normed
 * hidden state at every position. It lives beside the Llama weights (not inside model.safetensors, so
 * the reply model folder stays a plain Hugging Face Llama any backend can read) in
 * value-head.safetensors.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  type Graph,
  type HostTensor,
  readSafetensors,
  type Tensor,
  toHostTensor,
  toSafetensorsTensor,
  writeSafetensors,
} from '@gopo/nn';

/** The value head's file in a reply model folder. */
export const VALUE_HEAD_FILE = 'value-head.safetensors';
/** Parameter names of the value head (in the updater's store and in VALUE_HEAD_FILE). */
export const VALUE_HEAD_PARAMS = ['value_head.weight', 'value_head.bias'] as const;

/**
 * Values [B, T] from hidden states [B, T, d]. The weight starts at zero, so a fresh head predicts 0
 * everywhere and sends no gradient into the trunk until it has learnt something.
 */
export function valueHead(g: Graph, hidden: Tensor): Tensor {
  const d = hidden.shape[hidden.rank - 1] as number;
  const dtype = hidden.dtype as 'float32' | 'float64';
  return g.scope('value_head', () => {
    const w = g.param('weight', [d], { init: { kind: 'zeros' }, decay: false, dtype });
    const b = g.param('bias', [1], { init: { kind: 'zeros' }, decay: false, dtype });
    return g.add(g.reduceSum(g.mul(hidden, w), [hidden.rank - 1]), b);
  });
}

/** Writes the head's tensors (from a parameter lookup such as ParamStore.get) into `dir`. */
export async function saveValueHead(dir: string, get: (name: string) => HostTensor): Promise<void> {
  await writeSafetensors(
    path.join(dir, VALUE_HEAD_FILE),
    Object.fromEntries(VALUE_HEAD_PARAMS.map((n) => [n, toSafetensorsTensor(get(n))])),
  );
}

/** The head saved in `dir`, or undefined when the folder has none (a fresh head is then used). */
export async function loadValueHead(dir: string): Promise<Map<string, HostTensor> | undefined> {
  const file = path.join(dir, VALUE_HEAD_FILE);
  if (!existsSync(file)) return undefined;
  const { tensors } = await readSafetensors(file);
  return new Map(VALUE_HEAD_PARAMS.map((n) => [n, toHostTensor(tensors.get(n)!)]));
}
