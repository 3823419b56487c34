/**
 * The CS Agent's compiled update steps (per-turn RL, KTO or token-level PPO with a value head) over
 * its reply model. The steps train a
 * ParamStore holding copies of the model's weights; after every step the new values are copied into
 * the weights the generation sessions read (the agent must feed weights as inputs, `CsAgent.load(dir,
 * gen, { trainable: true })`), so the next reply is written by the updated model.
 */
import { join } from 'node:path';
import { UsageError } from '@gopo/core';
import { llamaParamShapes, TOKENIZER_FILE } from '@gopo/lm';
import {
  type BatchSpec,
  BucketedTrainer,
  Forward,
  type HostTensor,
  ParamStore,
  type StepResult,
  type TrainerConfigInput,
  type TrainerSnapshot,
} from '@gopo/nn';
import { match } from 'ts-pattern';
import type { CsAgent } from './cs-agent.js';
import { type PpoConfig, ppoLoss, replyLogProbsAndValues } from './ppo-losses.js';
import {
  clippedSurrogateLoss,
  type KtoConfig,
  ktoLoss,
  type ReplyRlConfig,
  replyTokenLogProbs,
} from './reply-losses.js';
import { saveValueHead, VALUE_HEAD_PARAMS } from './value-head.js';

export type CsObjective =
  | { readonly kind: 'rl'; readonly rl: ReplyRlConfig }
  | { readonly kind: 'kto'; readonly kto: KtoConfig }
  | { readonly kind: 'ppo'; readonly ppo: PpoConfig };

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
  /** PPO: per reply token, the (whitened) advantage. */
  readonly advantages?: readonly number[];
  /** PPO: per reply token, the value target (lambda-return). */
  readonly returns?: readonly number[];
  /** PPO: per reply token, the value the advantages were computed with. */
  readonly values?: readonly number[];
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
    .with({ kind: 'ppo' }, () => ({
      ...base,
      oldLogp: { dtype: 'float32', shape: [rows, seqLen - 1] },
      advantages: { dtype: 'float32', shape: [rows, seqLen - 1] },
      returns: { dtype: 'float32', shape: [rows, seqLen - 1] },
      oldValues: { dtype: 'float32', shape: [rows, seqLen - 1] },
    }))
    .exhaustive() as BatchSpec;
}

export class CsUpdater {
  readonly store = new ParamStore();
  private readonly buckets: BucketedTrainer;
  /** PPO: per sequence-length bucket, the forward pass that reads the values off the current weights. */
  private readonly valueForwards = new Map<number, Promise<Forward>>();
  /** Updates applied (tags replies in rollouts). */
  version = 0;

  constructor(
    readonly agent: CsAgent,
    readonly rows: number,
    readonly objective: CsObjective,
    readonly trainer: TrainerConfigInput,
    /** PPO: a saved value head to start from (loadValueHead); absent: a fresh head that predicts 0. */
    valueHead?: ReadonlyMap<string, HostTensor>,
  ) {
    if (agent.model.options.weightsAs !== 'inputs')
      throw new UsageError(
        'a trained CS Agent must feed its weights as inputs (CsAgent.load(dir, gen, { trainable: true }))',
      );
    for (const name of llamaParamShapes(agent.model.config).keys()) {
      const w = agent.model.weightTensor(name);
      this.store.set(name, { ...w, data: (w.data as Float32Array).slice() });
    }
    if (valueHead && objective.kind === 'ppo')
      for (const name of VALUE_HEAD_PARAMS) {
        const w = valueHead.get(name);
        if (!w) throw new UsageError(`the value head has no tensor "${name}"`);
        this.store.set(name, { ...w, data: (w.data as Float32Array).slice() });
      }
    const cfg = agent.model.config;
    this.buckets = new BucketedTrainer(
      (seqLen) => ({
        spec: spec(rows, seqLen, objective),
        model: (g, x) => {
          // Built inside the branches that use it: PPO reads log-probs and values off one forward.
          const logp = () => replyTokenLogProbs(g, cfg, x.ids!, x.attention!);
          return match(objective)
            .with({ kind: 'rl' }, (o) =>
              clippedSurrogateLoss(g, logp(), x.oldLogp!, x.advantage!, x.replyMask!, o.rl.clipEps),
            )
            .with({ kind: 'kto' }, (o) =>
              ktoLoss(
                g,
                g.reduceSum(g.mul(logp(), x.replyMask!), [1]),
                x.refLogp!,
                x.desirable!,
                x.weights!,
                x.zRef!,
                o.kto,
              ),
            )
            .with({ kind: 'ppo' }, (o) => {
              const { logp, values } = replyLogProbsAndValues(g, cfg, x.ids!, x.attention!);
              return ppoLoss(
                g,
                {
                  logp,
                  oldLogp: x.oldLogp!,
                  advantages: x.advantages!,
                  values,
                  oldValues: x.oldValues!,
                  returns: x.returns!,
                  mask: x.replyMask!,
                },
                o.ppo,
              );
            })
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

  /**
   * PPO: the current value head's value of every reply token (of the state it is predicted from), per
   * item, in `rows`-sized forward passes over the weights being trained.
   */
  async values(items: readonly ReplyItem[]): Promise<number[][]> {
    if (this.objective.kind !== 'ppo') throw new UsageError('values() needs the ppo objective');
    const out: number[][] = [];
    for (let at = 0; at < items.length; at += this.rows) {
      const chunk = items.slice(at, at + this.rows);
      const seqLen = this.seqLenOf(chunk);
      const batch = packReplies(chunk, this.rows, seqLen, this.agent.tokenizer.padId, this.objective);
      const f = await this.valueForward(seqLen);
      const v = (await f.run({ ids: batch.ids!, attention: batch.attention! })).values!.data as Float32Array;
      const t1 = seqLen - 1;
      chunk.forEach((it, r) => {
        out.push(
          it.tokens.map((_, k) => {
            const pos = it.prompt.length + k;
            return pos >= 1 && pos < seqLen ? v[r * t1 + pos - 1]! : 0;
          }),
        );
      });
    }
    return out;
  }

  private valueForward(seqLen: number): Promise<Forward> {
    let f = this.valueForwards.get(seqLen);
    if (!f) {
      const cfg = this.agent.model.config;
      f = Forward.create(
        (g, x) => ({ values: replyLogProbsAndValues(g, cfg, x.ids!, x.attention!).values }),
        {
          ids: { dtype: 'int64', shape: [this.rows, seqLen] },
          attention: { dtype: 'bool', shape: [this.rows, seqLen] },
        },
        this.store,
        {
          memoryArena: false,
          ...(this.trainer.intraOpThreads !== undefined
            ? { intraOpThreads: this.trainer.intraOpThreads }
            : {}),
        },
      );
      this.valueForwards.set(seqLen, f);
    }
    return f;
  }

  /** PPO: writes the value head (value-head.safetensors) into `dir`. */
  async saveValueHead(dir: string): Promise<void> {
    if (this.objective.kind !== 'ppo') throw new UsageError('only the ppo objective has a value head');
    await saveValueHead(dir, (n) => this.store.get(n));
  }

  /**
   * Writes the trained reply model into `dir`: its weights and tokenizer, and under PPO the value
   * head, so a later PPO run from `dir` starts its critic where this one stopped.
   */
  async saveModel(dir: string): Promise<void> {
    await this.agent.model.save(dir);
    await this.agent.tokenizer.save(join(dir, TOKENIZER_FILE));
    if (this.objective.kind === 'ppo') await this.saveValueHead(dir);
  }

  private seqLenOf(items: readonly ReplyItem[]): number {
    const cap = this.agent.model.config.max_position_embeddings;
    const longest = Math.max(...items.map((i) => Math.min(cap, i.prompt.length + i.tokens.length)));
    return Math.min(roundUp(Math.max(2, longest), CS_LENGTH_BUCKET), roundUp(cap, CS_LENGTH_BUCKET));
  }

  /** One step on at most `rows` replies; `zRef` is KTO's reference point (ignored by RL). */
  async step(items: readonly ReplyItem[], zRef = 0): Promise<StepResult & { rolledBack: boolean }> {
    if (items.length === 0 || items.length > this.rows)
      throw new UsageError(`a CS step takes 1 to ${this.rows} replies, got ${items.length}`);
    const seqLen = this.seqLenOf(items);
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
  const advantages = new Float32Array(rows * t1);
  const returns = new Float32Array(rows * t1);
  const oldValues = new Float32Array(rows * t1);
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
      advantages[r * t1 + pos - 1] = it.advantages?.[k] ?? 0;
      returns[r * t1 + pos - 1] = it.returns?.[k] ?? 0;
      oldValues[r * t1 + pos - 1] = it.values?.[k] ?? 0;
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
    .with({ kind: 'ppo' }, () => ({
      ...base,
      oldLogp: f(oldLogp, [rows, t1]),
      advantages: f(advantages, [rows, t1]),
      returns: f(returns, [rows, t1]),
      oldValues: f(oldValues, [rows, t1]),
    }))
    .exhaustive();
}
