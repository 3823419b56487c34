/**
 * The Memento baseline's strategy policy (Zhou et al. 2025; DESIGN.md 4.6): the agents stay frozen,
 * and what changes during a run is a case bank written after every episode. For each decision the
 * policy retrieves the k nearest cases whose strategy the SOP admits here, scores each with the
 * learned case scorer (before its first fit: 1 for a case whose episode beat its scenario mean, else
 * 0), and averages the scores per strategy. The admissible strategy with the best evidence is taken
 * when that evidence reaches `minEvidence`; otherwise the base policy (the shipped warm-start Expert
 * Agent, a scripted agent, ...) decides, steered away from strategies the evidence judged bad when it
 * leaves another admissible choice. The SOP mask is respected on every path.
 *
 * Episodes reach the bank through `recorder` (an `onEpisode` callback for a worker pool) or
 * `observe`; queued episodes are scored with the session reward (R(tau), `sequenceRewardFn`) and
 * filed at the start of the next `decide` or on `flush`, so dialogues still running in a batch
 * already retrieve the cases of those that have ended. The scorer is refitted on the bank every
 * `refitEvery` new cases.
 */

import { UsageError } from '@gopo/core';
import type {
  AgentState,
  DecideOptions,
  SessionRewardFn,
  StrategyDecision,
  StrategyPolicy,
} from '@gopo/dialogue';
import { maskedLogSoftmax, sampleMasked } from '@gopo/expert-agent';
import type { Tokenizer } from '@gopo/lm';
import { loadDefaultTokenizer } from '@gopo/lm';
import { z } from 'zod';
import type { EpisodeResult } from '../../rollout/episodes.js';
import { CaseBank } from './case-bank.js';
import { CaseScorer, CaseScorerConfigSchema } from './case-scorer.js';
import { agentCaseState } from './case-state.js';
import { episodeCases } from './episode-cases.js';
import { StateEmbedder, StateEmbeddingConfigSchema } from './state-embedding.js';

export const MementoConfigSchema = z
  .strictObject({
    embedding: StateEmbeddingConfigSchema.default(StateEmbeddingConfigSchema.parse({})).describe(
      'how case states are embedded',
    ),
    scorer: CaseScorerConfigSchema.default(CaseScorerConfigSchema.parse({})).describe(
      'the learned case scorer',
    ),
    k: z.number().int().min(1).max(1024).default(16).describe('cases retrieved per decision'),
    minSimilarity: z
      .number()
      .min(-1)
      .max(1)
      .default(0.5)
      .describe('cosine similarity below which a case is not relevant'),
    minEvidence: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe('least mean case score for a strategy to be taken from memory (below: judged bad)'),
    temperature: z
      .number()
      .positive()
      .default(0.5)
      .describe('sampling temperature over the logits of the strategies memory supports'),
    refitEvery: z
      .number()
      .int()
      .min(0)
      .default(256)
      .describe('refit the scorer after this many new cases (0: only when `fitScorer` is called)'),
    minCasesToFit: z.number().int().min(1).default(64).describe('cases the bank needs before the first fit'),
    decision: z
      .enum(['prior', 'override'])
      .default('prior')
      .describe(
        "prior: the cases reweight the base policy's distribution (the planner conditioned on its memory); override: memory's best-supported strategy replaces the base choice",
      ),
    memoryWeight: z
      .number()
      .min(0)
      .default(4)
      .describe('prior: logit added per unit of (mean case score - 0.5) at full confidence'),
    priorCount: z
      .number()
      .positive()
      .default(4)
      .describe('prior: retrieved cases of a strategy at which its evidence gets half its weight'),
  })
  .describe('the Memento baseline: retrieval, scoring and how memory overrides the base policy');
export type MementoConfig = z.infer<typeof MementoConfigSchema>;
export type MementoConfigInput = z.input<typeof MementoConfigSchema>;

/** Counts of how decisions were taken. */
export interface MementoStats {
  /** Decisions taken from the bank's evidence. */
  memory: number;
  /** Decisions left to the base policy (no relevant case, or no strategy with enough evidence). */
  fallback: number;
  /** Fallback decisions the evidence moved off the base policy's choice. */
  steered: number;
}

export interface MementoPolicyOptions {
  /** The frozen policy that decides where memory has no answer. */
  readonly base: StrategyPolicy;
  /** Scores finished sessions; its total is the case outcome R(tau). */
  readonly reward: SessionRewardFn;
  readonly config?: MementoConfigInput;
  /** A bank to start from (`CaseBank.load`); a new empty one otherwise. */
  readonly bank?: CaseBank;
  /** Tokenizer of the state embedding (default: the shipped one of @gopo/lm). */
  readonly tokenizer?: Tokenizer;
}

const clampProb = (p: number) => Math.min(1 - 1e-6, Math.max(1e-6, p));
const logit = (p: number) => Math.log(clampProb(p) / (1 - clampProb(p)));

/** Mean score and count of the retrieved cases of one strategy. */
interface Evidence {
  sum: number;
  count: number;
}

export class MementoPolicy implements StrategyPolicy {
  readonly name = 'memento';
  readonly stats: MementoStats = { memory: 0, fallback: 0, steered: 0 };
  private pending: EpisodeResult[] = [];
  private sinceFit = 0;
  /** Loss of each scorer fit, in order. */
  readonly fitLosses: number[] = [];

  private constructor(
    readonly base: StrategyPolicy,
    readonly reward: SessionRewardFn,
    readonly bank: CaseBank,
    readonly scorer: CaseScorer,
    readonly config: MementoConfig,
  ) {}

  static async create(options: MementoPolicyOptions): Promise<MementoPolicy> {
    const config = MementoConfigSchema.parse(options.config ?? {});
    const { base } = options;
    if (base.privileged)
      throw new UsageError(`Memento's base policy must not read the privileged channel (${base.name} does)`);
    let bank = options.bank;
    if (bank) {
      if (bank.strategies.join(',') !== base.strategies.join(','))
        throw new UsageError(
          `the bank's strategy set (${bank.strategies.join(', ')}) is not the base policy's (${base.strategies.join(', ')})`,
        );
    } else {
      const tokenizer = options.tokenizer ?? (await loadDefaultTokenizer());
      bank = new CaseBank(base.strategies, new StateEmbedder(tokenizer, config.embedding));
    }
    const scorer = new CaseScorer(bank.embedder.dim, base.strategies.length, config.scorer);
    return new MementoPolicy(base, options.reward, bank, scorer, config);
  }

  get strategies(): readonly string[] {
    return this.base.strategies;
  }

  /** No agent weights change; the version counts the scorer's fits (what the bank taught so far). */
  get version(): number {
    return this.scorer.fits;
  }

  /** Queues a finished episode for the bank (pass as a worker pool's `onEpisode`). */
  readonly recorder = (result: EpisodeResult): void => {
    this.pending.push(result);
  };

  /** Queues finished episodes and files them. */
  async observe(results: readonly EpisodeResult[]): Promise<void> {
    this.pending.push(...results);
    await this.flush();
  }

  /** Files the queued episodes' cases (one per decision) and refits the scorer when it is due. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const results = this.pending;
    this.pending = [];
    const scores = await this.reward.score(results.map((r) => r.session));
    const cases = results.flatMap((r, i) => episodeCases(r, scores[i]!, this.strategies));
    this.bank.add(cases);
    this.sinceFit += cases.length;
    const { refitEvery, minCasesToFit } = this.config;
    if (refitEvery > 0 && this.sinceFit >= refitEvery && this.bank.size >= minCasesToFit)
      await this.fitScorer();
  }

  /** Fits the scorer on the bank as it is now; returns the fit's mean loss. */
  async fitScorer(): Promise<number> {
    const loss = await this.scorer.fitFromBank(this.bank);
    this.sinceFit = 0;
    if (Number.isFinite(loss)) this.fitLosses.push(loss);
    return loss;
  }

  /** Per state, per strategy, the evidence of the retrieved admissible cases. */
  async evidence(states: readonly AgentState[]): Promise<Map<number, Evidence>[]> {
    const out = states.map(() => new Map<number, Evidence>());
    if (this.bank.size === 0 || states.length === 0) return out;
    const dim = this.bank.embedder.dim;
    const queries = this.bank.embedder.embedAll(states.map(agentCaseState));
    const neighbours = await this.bank.nearest(queries, {
      k: this.config.k,
      minSimilarity: this.config.minSimilarity,
      masks: states.map((s) => s.admissible),
    });
    const pairs = neighbours.flatMap((list, q) => list.map((nb) => ({ q, id: nb.id })));
    let scores: ArrayLike<number>;
    if (this.scorer.fits > 0) {
      const F = this.scorer.features;
      const x = new Float32Array(pairs.length * F);
      pairs.forEach(({ q, id }, i) => {
        this.scorer.pairFeaturesInto(
          queries.subarray(q * dim, (q + 1) * dim),
          {
            embedding: this.bank.embedding(id),
            action: this.bank.action(id),
            advantage: this.bank.advantage(id),
          },
          x,
          i * F,
        );
      });
      scores = await this.scorer.score(x);
    } else {
      scores = pairs.map(({ id }) => (this.bank.positive(id) ? 1 : 0));
    }
    pairs.forEach(({ q, id }, i) => {
      const a = this.bank.action(id);
      const e = out[q]!.get(a) ?? { sum: 0, count: 0 };
      e.sum += scores[i]!;
      e.count++;
      out[q]!.set(a, e);
    });
    return out;
  }

  async decide(states: readonly AgentState[], options: DecideOptions): Promise<StrategyDecision[]> {
    await this.flush();
    const evidence = await this.evidence(states);
    if (this.config.decision === 'prior') return this.decideWithPrior(states, evidence, options);
    const out: (StrategyDecision | undefined)[] = new Array(states.length);
    const fallback: number[] = [];
    states.forEach((s, k) => {
      const d = this.fromMemory(s, evidence[k]!, options.greedy, options.uniforms[k]!);
      if (d) out[k] = d;
      else fallback.push(k);
    });
    this.stats.memory += states.length - fallback.length;
    this.stats.fallback += fallback.length;
    if (fallback.length > 0) {
      const base = await this.base.decide(
        fallback.map((k) => states[k]!),
        { greedy: options.greedy, uniforms: fallback.map((k) => options.uniforms[k]!) },
      );
      fallback.forEach((k, i) => {
        out[k] = this.steer(states[k]!, base[i]!, evidence[k]!, options.greedy, options.uniforms[k]!);
      });
    }
    return out as StrategyDecision[];
  }

  /**
   * The base policy's log-probabilities plus, per admissible strategy, memoryWeight x (mean case
   * score - 0.5) x count / (count + priorCount): thin evidence moves the base policy a little, a
   * crowd of consistent cases a lot, and a strategy without cases keeps the base's preference.
   * Unlike the override rule, a few lucky or unlucky episodes cannot replace a sound base policy.
   */
  private async decideWithPrior(
    states: readonly AgentState[],
    evidence: readonly ReadonlyMap<number, Evidence>[],
    options: DecideOptions,
  ): Promise<StrategyDecision[]> {
    const base = await this.base.decide(states, { greedy: options.greedy, uniforms: options.uniforms });
    const { memoryWeight, priorCount } = this.config;
    return states.map((s, k) => {
      const b = base[k]!;
      if (!s.admissible[b.action])
        throw new UsageError(
          `${this.base.name} chose ${this.strategies[b.action]}, which the SOP does not admit`,
        );
      const e = evidence[k]!;
      if (e.size === 0) {
        this.stats.fallback++;
        return b;
      }
      this.stats.memory++;
      const logits = s.admissible.map((ok, a) => {
        if (!ok) return Number.NEGATIVE_INFINITY;
        const lp = Number.isFinite(b.logProbs[a]!) ? b.logProbs[a]! : -30;
        const x = e.get(a);
        if (!x || x.count === 0) return lp;
        return lp + (memoryWeight * (x.sum / x.count - 0.5) * x.count) / (x.count + priorCount);
      });
      const logProbs = Array.from(maskedLogSoftmax(logits, s.admissible));
      const ranking = s.admissible
        .flatMap((ok, a) => (ok ? [a] : []))
        .sort((x, y) => logProbs[y]! - logProbs[x]! || x - y);
      const action = options.greedy ? ranking[0]! : sampleMasked(logProbs, options.uniforms[k]!);
      if (ranking[0] !== b.ranking[0]) this.stats.steered++;
      return { action, logProbs, ranking };
    });
  }

  /** Mean score of a strategy's evidence, or undefined without any. */
  private meanScore(e: ReadonlyMap<number, Evidence>, a: number): number | undefined {
    const x = e.get(a);
    return x && x.count > 0 ? x.sum / x.count : undefined;
  }

  /** The decision memory supports, or undefined when no admissible strategy has enough evidence. */
  private fromMemory(
    state: AgentState,
    evidence: ReadonlyMap<number, Evidence>,
    greedy: boolean,
    uniform: number,
  ): StrategyDecision | undefined {
    const S = this.strategies.length;
    const supported = state.admissible.map((ok, a) => {
      const m = this.meanScore(evidence, a);
      return ok && m !== undefined && m >= this.config.minEvidence;
    });
    if (!supported.some(Boolean)) return undefined;
    const logits = Array.from({ length: S }, (_, a) => logit(this.meanScore(evidence, a) ?? 0.5));
    const logProbs = Array.from(maskedLogSoftmax(logits, supported, this.config.temperature));
    // The most supported first (ties in strategy-set order), then the other admissible strategies by score.
    const byScore = (a: number, b: number) =>
      (this.meanScore(evidence, b) ?? -1) - (this.meanScore(evidence, a) ?? -1) || a - b;
    const ranked = state.admissible.flatMap((ok, a) => (ok ? [a] : [])).sort(byScore);
    const ranking = [...ranked.filter((a) => supported[a]), ...ranked.filter((a) => !supported[a])];
    const action = greedy ? ranking[0]! : sampleMasked(logProbs, uniform);
    return { action, logProbs, ranking };
  }

  /**
   * The base policy's decision, moved off strategies the evidence judged bad when another admissible
   * strategy is left: the base distribution renormalised over the rest (or, where it puts no mass
   * there, the first of the rest in its ranking).
   */
  private steer(
    state: AgentState,
    base: StrategyDecision,
    evidence: ReadonlyMap<number, Evidence>,
    greedy: boolean,
    uniform: number,
  ): StrategyDecision {
    if (!state.admissible[base.action])
      throw new UsageError(
        `${this.base.name} chose ${this.strategies[base.action]}, which the SOP does not admit`,
      );
    const bad = (a: number) => {
      const m = this.meanScore(evidence, a);
      return m !== undefined && m < this.config.minEvidence;
    };
    if (!bad(base.action)) return base;
    const keep = state.admissible.map((ok, a) => ok && !bad(a));
    if (!keep.some(Boolean)) return base;
    this.stats.steered++;
    const ranking = [...base.ranking.filter((a) => keep[a]), ...base.ranking.filter((a) => !keep[a])];
    for (let a = 0; a < keep.length; a++) if (state.admissible[a] && !ranking.includes(a)) ranking.push(a);
    const mass = base.logProbs.some((lp, a) => keep[a] && Number.isFinite(lp));
    if (!mass) {
      const action = ranking[0]!;
      return {
        action,
        logProbs: state.admissible.map((_, a) => (a === action ? 0 : Number.NEGATIVE_INFINITY)),
        ranking,
      };
    }
    const logProbs = Array.from(
      maskedLogSoftmax(
        base.logProbs.map((lp) => (Number.isFinite(lp) ? lp : -1e30)),
        keep.map((k, a) => k && Number.isFinite(base.logProbs[a]!)),
      ),
    );
    const action = greedy
      ? ranking.find((a) => Number.isFinite(logProbs[a]!))!
      : sampleMasked(logProbs, uniform);
    return { action, logProbs, ranking };
  }
}
