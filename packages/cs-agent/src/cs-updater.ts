/**
 * The CS Agent's compiled update steps (per-turn RL or KTO) over its reply model. The steps train a
 * ParamStore holding copies of the model's weights; after every step the new values are copied into
 * the weights the generation sessions read (the agent must feed weights as inputs, `CsAgent.load(dir,
 * gen, { trainable: true })`), so the next reply is written by the updated model.
 */
import { UsageError } from '@gopo/core';
import { llamaParamShapes } from '@gopo/lm';
import {
  type BatchSpec,
  BucketedTrainer,
  type HostTensor,
  ParamStore,
  type StepResult,
  type TrainerConfigInput,
  type TrainerSnapshot,
} from '@gopo/nn';
import { match } from 'ts-pattern';
import type { CsAgent } from './cs-agent.js';
import {
  clippedSurrogateLoss,
  type KtoConfig,
  ktoLoss,
  type ReplyRlConfig,
  replyTokenLogProbs,
} from './reply-losses.js';

export type CsObjective =
  | { readonly kind: 'rl'; readonly rl: ReplyRlConfig }
  | { readonly kind: 'kto'; readonly kto: KtoConfig };

/** A reply to learn from: its prompt, its tokens (the end-of-turn included) and what the objective needs. */
export interface ReplyItem {
  readonly prompt: readonly number[];
  readonly tokens: readonly number[];
  /** RL: log pi_behaviour of each reply token. */
  readonly logprobs?: readonly number[];
  /** RL: the reply's reward minus its state's group mean. */
  readonly advantage?: number;
  /** KTO: whether the reply is a good one. */
  readonly desirable?: boolean;
  /** KTO: log pi_ref of the whole reply. */
  readonly refLogp?: number;
}

/** Sequence lengths are padded to a multiple of this; each bucket compiles its own step. */
export const CS_LENGTH_BUCKET = 64;

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

function spec(rows: number, seqLen: number, objective: CsObjective): BatchSpec {
  const base: BatchSpec = {
    ids: { dtype: 'int64', shape: [rows, seqLen] },
    attention: { dtype: 'bool', shape: [rows, seqLen] },
    replyMask: { dtype: 'float32', shape: [rows, seqLen - 1] },
  };
  return match(objective)
    .with({ kind: 'rl' }, () => ({
      ...base,
      oldLogp: { dtype: 'float32', shape: [rows, seqLen - 1] },
      advantage: { dtype: 'float32', shape: [rows] },
    }))
    .with({ kind: 'kto' }, () => ({
      ...base,
      refLogp: { dtype: 'float32', shape: [rows] },
      desirable: { dtype: 'float32', shape: [rows] },
      weights: { dtype: 'float32', shape: [rows] },
      zRef: { dtype: 'float32', shape: [] },
    }))
    .exhaustive() as BatchSpec;
}

export class CsUpdater {
  readonly store = new ParamStore();
  private readonly buckets: BucketedTrainer;
  /** Updates applied (tags replies in rollouts). */
  version = 0;

  constructor(
    readonly agent: CsAgent,
    readonly rows: number,
    readonly objective: CsObjective,
    trainer: TrainerConfigInput,
  ) {
    if (agent.model.options.weightsAs !== 'inputs')
      throw new UsageError(
        'a trained CS Agent must feed its weights as inputs (CsAgent.load(dir, gen, { trainable: true }))',
      );
    for (const name of llamaParamShapes(agent.model.config).keys()) {
      const w = agent.model.weightTensor(name);
      this.store.set(name, { ...w, data: (w.data as Float32Array).slice() });
    }
    const cfg = agent.model.config;
    this.buckets = new BucketedTrainer(
      (seqLen) => ({
        spec: spec(rows, seqLen, objective),
        model: (g, x) => {
          const logp = replyTokenLogProbs(g, cfg, x.ids!, x.attention!);
          return match(objective)
            .with({ kind: 'rl' }, (o) =>
              clippedSurrogateLoss(g, logp, x.oldLogp!, x.advantage!, x.replyMask!, o.rl.clipEps),
            )
            .with({ kind: 'kto' }, (o) =>
              ktoLoss(
                g,
                g.reduceSum(g.mul(logp, x.replyMask!), [1]),
                x.refLogp!,
                x.desirable!,
                x.weights!,
                x.zRef!,
                o.kto,
              ),
            )
            .exhaustive();
        },
      }),
      { memoryArena: false, ...trainer },
      this.store,
      roundUp(cfg.max_position_embeddings, CS_LENGTH_BUCKET),
    );
  }

  exportState(): Promise<TrainerSnapshot> {
    return this.buckets.exportState();
  }

  async importState(snapshot: TrainerSnapshot): Promise<void> {
    await this.buckets.importState(snapshot);
    this.syncModel();
  }

  /** Copies the trained weights into the ones generation reads. */
  private syncModel(): void {
    for (const name of llamaParamShapes(this.agent.model.config).keys())
      (this.agent.model.weightTensor(name).data as Float32Array).set(
        this.store.get(name).data as Float32Array,
      );
  }

  /** One step on at most `rows` replies; `zRef` is KTO's reference point (ignored by RL). */
  async step(items: readonly ReplyItem[], zRef = 0): Promise<StepResult & { rolledBack: boolean }> {
    if (items.length === 0 || items.length > this.rows)
      throw new UsageError(`a CS step takes 1 to ${this.rows} replies, got ${items.length}`);
    const cap = this.agent.model.config.max_position_embeddings;
    const longest = Math.max(...items.map((i) => Math.min(cap, i.prompt.length + i.tokens.length)));
    const seqLen = Math.min(roundUp(Math.max(2, longest), CS_LENGTH_BUCKET), roundUp(cap, CS_LENGTH_BUCKET));
    const batch = packReplies(items, this.rows, seqLen, this.agent.tokenizer.padId, this.objective, zRef);
    const r = await this.buckets.step(seqLen, batch);
    if (!r.rolledBack) {
      this.version++;
      this.syncModel();
    }
    return r;
  }
}

/** Prompt + reply rows, right padded, with the reply mask and the objective's inputs. */
export function packReplies(
  items: readonly ReplyItem[],
  rows: number,
  seqLen: number,
  padId: number,
  objective: CsObjective,
  zRef = 0,
): Record<string, HostTensor> {
  const ids = new BigInt64Array(rows * seqLen).fill(BigInt(padId));
  const attention = new Uint8Array(rows * seqLen);
  const t1 = seqLen - 1;
  const mask = new Float32Array(rows * t1);
  const oldLogp = new Float32Array(rows * t1);
  const advantage = new Float32Array(rows);
  const refLogp = new Float32Array(rows);
  const desirable = new Float32Array(rows);
  const weights = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const it = items[r];
    if (!it) {
      attention[r * seqLen] = 1;
      continue;
    }
    const seq = [...it.prompt, ...it.tokens].slice(0, seqLen);
    seq.forEach((tok, i) => {
      ids[r * seqLen + i] = BigInt(tok);
      attention[r * seqLen + i] = 1;
    });
    for (let k = 0; k < it.tokens.length; k++) {
      const pos = it.prompt.length + k; // index of the reply token in the row
      if (pos >= seqLen || pos < 1) continue;
      mask[r * t1 + pos - 1] = 1;
      oldLogp[r * t1 + pos - 1] = it.logprobs?.[k] ?? 0;
    }
    advantage[r] = it.advantage ?? 0;
    refLogp[r] = it.refLogp ?? 0;
    desirable[r] = it.desirable ? 1 : 0;
    weights[r] = 1;
  }
  const f = (data: Float32Array, dims: number[]): HostTensor => ({ dtype: 'float32', dims, data });
  const base = {
    ids: { dtype: 'int64' as const, dims: [rows, seqLen], data: ids },
    attention: { dtype: 'bool' as const, dims: [rows, seqLen], data: attention },
    replyMask: f(mask, [rows, t1]),
  };
  return match(objective)
    .with({ kind: 'rl' }, () => ({
      ...base,
      oldLogp: f(oldLogp, [rows, t1]),
      advantage: f(advantage, [rows]),
    }))
    .with({ kind: 'kto' }, () => ({
      ...base,
      refLogp: f(refLogp, [rows]),
      desirable: f(desirable, [rows]),
      weights: f(weights, [rows]),
      zRef: f(Float32Array.of(zRef), []),
    }))
    .exhaustive();
}
