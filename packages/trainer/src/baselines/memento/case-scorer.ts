/**
 * Memento's learned case retrieval (Zhou et al. 2025, parametric case memory): a small classifier on
 * the nn engine that reads a (current state, retrieved case) pair and gives the probability that the
 * case's strategy is a good move in the current state.
 *
 * Input features, computed on the host: the elementwise product of the two state embeddings (which
 * features they share; its sum is their cosine), the case strategy one-hot, the cosine, the case's
 * advantage (its episode's reward minus its scenario's mean, `CaseBank.advantage`) and its label
 * (advantage > 0). Model: one ReLU layer and a logit; loss: binary cross-entropy, written with
 * `logSigmoid`; a fused nn `Trainer` step (AdamW, constant learning rate, clipping); inference is one
 * `Forward` with a symbolic batch.
 *
 * Trained online from the bank (`fitFromBank`): a query is a case of the bank, its evidence the
 * nearest cases of other episodes that took the same strategy, and the label whether the query case's
 * own episode beat its scenario mean. So the scorer learns how far, and how much, a neighbour's
 * outcome speaks for the same strategy in a new state.
 */
import { Rng } from '@gopo/core';
import {
  Forward,
  type Graph,
  type HostTensor,
  linear,
  logSigmoid,
  ParamStore,
  type Tensor,
  Trainer,
} from '@gopo/nn';
import { z } from 'zod';
import type { CaseBank } from './case-bank.js';

export const CaseScorerConfigSchema = z
  .strictObject({
    hidden: z.number().int().min(1).max(1024).default(32).describe('width of the ReLU layer'),
    batchSize: z.number().int().min(1).max(4096).default(64).describe('pairs per optimizer step'),
    lr: z.number().positive().default(0.01).describe('AdamW learning rate (constant)'),
    weightDecay: z.number().min(0).default(0.0001).describe('AdamW decoupled weight decay'),
    stepsPerFit: z.number().int().min(1).default(100).describe('optimizer steps of one fit on the bank'),
    queriesPerFit: z
      .number()
      .int()
      .min(1)
      .default(256)
      .describe('bank cases drawn as queries for one fit (their evidence pairs are its training set)'),
    evidence: z
      .number()
      .int()
      .min(1)
      .default(8)
      .describe('nearest same-strategy cases of other episodes paired with each query'),
    seed: z.number().int().default(1).describe('seed of the initial weights and of the query draws'),
    threads: z.number().int().min(1).default(1).describe('ORT intra-op threads (1: reproducible, light)'),
  })
  .describe('the learned case scorer and how it is fitted');
export type CaseScorerConfig = z.infer<typeof CaseScorerConfigSchema>;
export type CaseScorerConfigInput = z.input<typeof CaseScorerConfigSchema>;

/** One training pair: its features (`pairFeatures`) and whether the strategy was good (1) or not (0). */
export interface ScorerExample {
  readonly features: Float32Array;
  readonly label: 0 | 1;
}

/** What a case contributes to a pair besides its embedding. */
export interface CaseEvidence {
  readonly embedding: Float32Array;
  readonly action: number;
  readonly advantage: number;
}

function pairLogit(g: Graph, x: Tensor, hidden: number): Tensor {
  const h = g.relu(linear(g, 'hidden', x, hidden, { bias: true }));
  return g.reshape(linear(g, 'out', h, 1, { bias: true }), [x.shape[0]!]);
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

export class CaseScorer {
  /** Fits run so far (0: untrained). */
  fits = 0;
  private trainer: Trainer | undefined;
  private forward: Forward | undefined;
  private readonly store = new ParamStore();
  private readonly rng: Rng;

  constructor(
    /** Dimensions of the state embeddings. */
    readonly dim: number,
    /** Size of the strategy set. */
    readonly strategies: number,
    readonly config: CaseScorerConfig = CaseScorerConfigSchema.parse({}),
  ) {
    this.rng = Rng.fromSeed(config.seed, 'memento-case-scorer');
  }

  /** Features per pair: product (dim), strategy one-hot, cosine, advantage, label. */
  get features(): number {
    return this.dim + this.strategies + 3;
  }

  /** Writes the features of (query, case) into `out` at `offset`. */
  pairFeaturesInto(query: Float32Array, c: CaseEvidence, out: Float32Array, offset = 0): void {
    const d = this.dim;
    let cos = 0;
    for (let i = 0; i < d; i++) {
      const p = query[i]! * c.embedding[i]!;
      out[offset + i] = p;
      cos += p;
    }
    out.fill(0, offset + d, offset + d + this.strategies);
    out[offset + d + c.action] = 1;
    const o = offset + d + this.strategies;
    out[o] = cos;
    out[o + 1] = c.advantage;
    out[o + 2] = c.advantage > 0 ? 1 : 0;
  }

  pairFeatures(query: Float32Array, c: CaseEvidence): Float32Array {
    const out = new Float32Array(this.features);
    this.pairFeaturesInto(query, c, out);
    return out;
  }

  private async ensureTrainer(): Promise<Trainer> {
    if (this.trainer) return this.trainer;
    const { batchSize: B, hidden } = this.config;
    this.trainer = await Trainer.create(
      (g, b) => {
        const z = pairLogit(g, b.x!, hidden);
        const y = b.y!;
        // -mean(y log s(z) + (1 - y) log s(-z))
        const ll = g.add(g.mul(y, logSigmoid(g, z)), g.mul(g.sub(1, y), logSigmoid(g, g.neg(z))));
        return g.neg(g.reduceMean(ll));
      },
      { x: { dtype: 'float32', shape: [B, this.features] }, y: { dtype: 'float32', shape: [B] } },
      {
        optimizer: { kind: 'adamw', weightDecay: this.config.weightDecay },
        lr: this.config.lr,
        clipNorm: 1,
        seed: this.config.seed,
        intraOpThreads: this.config.threads,
      },
      this.store,
    );
    return this.trainer;
  }

  /**
   * `steps` optimizer steps on `examples` (batches drawn in seeded shuffled passes); returns the loss
   * of every step. The weights `score` reads are updated at the end.
   */
  async train(examples: readonly ScorerExample[], steps = this.config.stepsPerFit): Promise<number[]> {
    if (examples.length === 0) return [];
    for (const e of examples)
      if (e.features.length !== this.features)
        throw new RangeError(
          `an example has ${e.features.length} features, the scorer reads ${this.features}`,
        );
    const trainer = await this.ensureTrainer();
    const B = this.config.batchSize;
    const F = this.features;
    const losses: number[] = [];
    let order: number[] = [];
    for (let step = 0; step < steps; step++) {
      const x = new Float32Array(B * F);
      const y = new Float32Array(B);
      for (let i = 0; i < B; i++) {
        if (order.length === 0) order = this.rng.shuffle(examples.map((_, k) => k));
        const e = examples[order.pop()!]!;
        x.set(e.features, i * F);
        y[i] = e.label;
      }
      const r = await trainer.trainStep({
        x: { dtype: 'float32', dims: [B, F], data: x },
        y: { dtype: 'float32', dims: [B], data: y },
      });
      losses.push(r.loss);
    }
    const state = await trainer.exportState();
    for (const [name, t] of state.params) this.store.set(name, t);
    this.fits++;
    return losses;
  }

  /** Probabilities of pairs given back to back ([n, features]); needs a fit first. */
  async score(features: Float32Array): Promise<Float32Array> {
    if (this.fits === 0) throw new RangeError('the case scorer has not been fitted yet');
    const F = this.features;
    const n = features.length / F;
    if (!Number.isInteger(n))
      throw new RangeError(`${features.length} values is not a whole number of pairs of ${F}`);
    if (n === 0) return new Float32Array(0);
    this.forward ??= await Forward.create(
      (g, b) => ({ logit: pairLogit(g, b.x!, this.config.hidden) }),
      { x: { dtype: 'float32', shape: ['batch', F] } },
      this.store,
      { intraOpThreads: this.config.threads },
    );
    const x: HostTensor = { dtype: 'float32', dims: [n, F], data: features };
    const logits = (await this.forward.run({ x })).logit!.data as Float32Array;
    return logits.map((z) => 1 / (1 + Math.exp(-z)));
  }

  /**
   * The training pairs of one fit: `queriesPerFit` bank cases drawn at random, each paired with its
   * `evidence` nearest cases of other episodes that took the same strategy, labelled by whether the
   * query case's episode beat its scenario mean.
   */
  async examplesFromBank(bank: CaseBank): Promise<ScorerExample[]> {
    if (bank.size === 0) return [];
    const n = Math.min(this.config.queriesPerFit, bank.size);
    const picks = this.rng.sample(
      Array.from({ length: bank.size }, (_, i) => i),
      n,
    );
    const queries = new Float32Array(n * this.dim);
    picks.forEach((id, q) => {
      queries.set(bank.embedding(id), q * this.dim);
    });
    const strategyMasks = picks.map((id) => bank.strategies.map((_, a) => a === bank.action(id)));
    const neighbours = await bank.nearest(queries, {
      k: this.config.evidence,
      masks: strategyMasks,
      skipEpisode: picks.map((id) => bank.case(id).episode),
    });
    const out: ScorerExample[] = [];
    picks.forEach((id, q) => {
      const label = bank.positive(id) ? 1 : 0;
      const query = queries.subarray(q * this.dim, (q + 1) * this.dim);
      for (const nb of neighbours[q]!)
        out.push({
          features: this.pairFeatures(query, {
            embedding: bank.embedding(nb.id),
            action: bank.action(nb.id),
            advantage: bank.advantage(nb.id),
          }),
          label,
        });
    });
    return out;
  }

  /** One online fit on the bank as it is now; returns the mean loss of the fit's steps (NaN: no pairs). */
  async fitFromBank(bank: CaseBank): Promise<number> {
    const examples = await this.examplesFromBank(bank);
    if (examples.length === 0) return Number.NaN;
    return mean(await this.train(examples));
  }
}
