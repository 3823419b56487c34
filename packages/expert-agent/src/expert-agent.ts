/**
 * The Expert Agent as a strategy policy: a small Llama decoder reads the chat-templated dialogue
 * with its state blocks (encoder.ts) and scores the strategy tokens at the decision point, SOP-masked
 * before sampling and before any log-prob. Weights live in a ParamStore that a Trainer updates in
 * place, so rollouts always act with the current weights; `version` counts the updates.
 *
 * With `sopMasking: false` (the "without SOP masking" ablation, DESIGN.md 4.6) the agent declares
 * itself unmasked (`masked: false`): decisions, rankings and every log-prob it computes (rollouts,
 * the reference's log pi_ref, the training losses through ExpertUpdater, evaluation) range over the
 * whole strategy set, whatever SOP admissibility the states and records carry.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FileFormatError, MissingFileError, Rng, UsageError, writeJsonAtomic } from '@gopo/core';
import {
  type AgentState,
  type DecideOptions,
  decisionStateText,
  type StrategyDecision,
  type StrategyPolicy,
  type Turn,
} from '@gopo/dialogue';
import {
  ChatTemplate,
  freshLlamaConfig,
  type LlamaConfig,
  LlamaConfigSchema,
  llamaForward,
  llamaParamShapes,
  loadLlamaDir,
  saveLlamaDir,
  TOKENIZER_FILE,
  Tokenizer,
} from '@gopo/lm';
import {
  Forward,
  Graph,
  type HostTensor,
  initParam,
  type ParamSpec,
  ParamStore,
  type ProviderName,
} from '@gopo/nn';
import { decisionLogProbs } from './decision-graph.js';
import { type EncodableDecision, ExpertEncoder } from './encoder.js';
import {
  EXPERT_FILE,
  type ExpertFile,
  ExpertFileSchema,
  type ExpertModelConfigInput,
  ExpertModelConfigSchema,
} from './expert-config.js';
import { rankAdmissible, sampleMasked } from './masking.js';
import { packRows, type RowInput, roundUp } from './rows.js';

export interface ExpertRuntimeOptions {
  readonly provider?: ProviderName | 'auto';
  /** ORT intra-op threads (0: ORT's default). */
  readonly intraOpThreads?: number;
  /**
   * Mask decisions to the SOP-admissible set (default true; for a loaded agent, what its expert.json
   * says). false: the agent acts, ranks and is scored over every strategy.
   */
  readonly sopMasking?: boolean;
}

/** Token lengths are padded to a multiple of this, so a few compiled shapes serve every prompt. */
const LENGTH_BUCKET = 64;

/**
 * Most attention-score elements (rows x heads x T x T) one forward run may hold: 2^25 floats, 128 MB
 * per score tensor, so memory stays bounded however many long dialogues are live.
 */
const ATTENTION_BUDGET = 2 ** 25;

/** The Llama config of an Expert Agent decoder for a tokenizer. */
export function expertLlamaConfig(model: ExpertModelConfigInput, tokenizer: Tokenizer): LlamaConfig {
  const m = ExpertModelConfigSchema.parse(model);
  return LlamaConfigSchema.parse(
    freshLlamaConfig({ ...m, maxPositions: m.maxSeqLen }, tokenizer, tokenizer.endId),
  );
}

/** The earlier decisions of a live dialogue, read back from its agent turns' logged state. */
export function earlierDecisions(turns: readonly Turn[], strategies: readonly string[]): EncodableDecision[] {
  const out: EncodableDecision[] = [];
  turns.forEach((t, i) => {
    if (t.role !== 'agent' || t.sop_state === undefined || t.strategy === undefined) return;
    const action = strategies.indexOf(t.strategy);
    if (action >= 0) out.push({ turn: i, state: decisionStateText(t.sop_state, t.facts ?? []), action });
  });
  return out;
}

export class ExpertAgent implements StrategyPolicy {
  readonly name = 'expert';
  readonly encoder: ExpertEncoder;
  /** Whether decisions and log-probs are SOP-masked (runtime.sopMasking, default true). */
  readonly masked: boolean;
  private readonly forwards = new Map<number, Promise<Forward>>();

  constructor(
    readonly config: LlamaConfig,
    readonly tokenizer: Tokenizer,
    readonly strategies: readonly string[],
    readonly store: ParamStore,
    public version: number,
    readonly runtime: ExpertRuntimeOptions = {},
  ) {
    this.encoder = new ExpertEncoder(new ChatTemplate(tokenizer), strategies, config.max_position_embeddings);
    this.masked = runtime.sopMasking ?? true;
    for (const [name, shape] of llamaParamShapes(config)) {
      if (!store.has(name)) throw new UsageError(`Expert Agent weights lack ${name} [${shape.join(', ')}]`);
    }
    // Every parameter the decision graph reads must be a decoder weight that save() writes: a head
    // that created its own would train and then vanish from the saved agent.
    const g = new Graph({ name: 'expert-check' });
    decisionLogProbs(g, config, this.encoder.strategyIds, {
      ids: g.input('ids', 'int64', [1, 2]),
      attention: g.input('attention', 'bool', [1, 2]),
      positions: g.input('positions', 'int64', [1, 1]),
      mask: g.input('mask', 'bool', [1, 1, strategies.length]),
    });
    const saved = llamaParamShapes(config);
    const extra = [...g.params.keys()].filter((n) => !saved.has(n));
    if (extra.length > 0)
      throw new Error(`the decision graph reads parameters save() would not write: ${extra.join(', ')}`);
  }

  /** A randomly initialised agent (for tests and training from scratch). */
  static random(
    model: ExpertModelConfigInput,
    tokenizer: Tokenizer,
    strategies: readonly string[],
    seed: number,
    runtime: ExpertRuntimeOptions = {},
  ): ExpertAgent {
    const cfg = expertLlamaConfig(model, tokenizer);
    const store = new ParamStore();
    const rng = Rng.fromSeed(seed, 'expert-init');
    for (const spec of expertParamSpecs(cfg)) store.set(spec.name, initParam(spec, rng.derive(spec.name)));
    return new ExpertAgent(cfg, tokenizer, strategies, store, 0, runtime);
  }

  /** Loads an Expert Agent folder (config.json, model.safetensors, tokenizer.json, expert.json). */
  static async load(dir: string, runtime: ExpertRuntimeOptions = {}): Promise<ExpertAgent> {
    const file = path.join(dir, EXPERT_FILE);
    if (!existsSync(file)) throw new MissingFileError(file, 'Expert Agent file (expert.json)');
    const meta = await readExpertFile(file);
    const tokenizer = await Tokenizer.load(path.join(dir, TOKENIZER_FILE));
    const { config, weights } = await loadLlamaDir(dir);
    const store = new ParamStore();
    for (const [name, w] of weights) store.set(name, { dtype: 'float32', dims: w.shape, data: w.data });
    return new ExpertAgent(config, tokenizer, meta.strategies, store, meta.version, {
      ...runtime,
      sopMasking: runtime.sopMasking ?? meta.sopMasking,
    });
  }

  /** Writes the agent's folder; an existing folder's files are replaced one atomic rename at a time. */
  async save(dir: string): Promise<void> {
    const weights = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, shape] of llamaParamShapes(this.config))
      weights.set(name, { shape, data: Float32Array.from(this.store.get(name).data as Float32Array) });
    const tokenizerFile = path.join(dir, `.${TOKENIZER_FILE}.tmp`);
    await fs.mkdir(dir, { recursive: true });
    await this.tokenizer.save(tokenizerFile);
    const tokenizerText = await fs.readFile(tokenizerFile, 'utf8');
    await fs.rm(tokenizerFile, { force: true });
    await saveLlamaDir(dir, this.config, weights, { [TOKENIZER_FILE]: tokenizerText });
    await writeJsonAtomic(path.join(dir, EXPERT_FILE), {
      format: 'gopo-expert-agent/1',
      strategies: [...this.strategies],
      maxSeqLen: this.config.max_position_embeddings,
      version: this.version,
      sopMasking: this.masked,
    });
  }

  /** A frozen copy (its own weights), e.g. the reference policy pi_ref. */
  clone(): ExpertAgent {
    const store = new ParamStore();
    for (const [name, t] of this.store.entries())
      store.set(name, { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() as HostTensor['data'] });
    return new ExpertAgent(this.config, this.tokenizer, this.strategies, store, this.version, this.runtime);
  }

  get maxSeqLen(): number {
    return this.config.max_position_embeddings;
  }

  /**
   * The rows as this agent scores them: unchanged when masked; with every strategy admitted at every
   * decision when unmasked (the records keep the SOP's admissibility, the agent ignores it).
   */
  policyRows<R extends RowInput>(items: readonly R[]): R[] {
    if (this.masked) return [...items];
    const all = this.strategies.map(() => true);
    return items.map((i) => ({ ...i, masks: i.masks.map(() => all) }));
  }

  /** The forward for sequences of `seqLen` tokens; batch and decision slots are symbolic dims. */
  private forward(seqLen: number): Promise<Forward> {
    let f = this.forwards.get(seqLen);
    if (!f) {
      const s = this.strategies.length;
      f = Forward.create(
        (g, x) => ({
          logp: decisionLogProbs(g, this.config, this.encoder.strategyIds, {
            ids: x.ids!,
            attention: x.attention!,
            positions: x.positions!,
            mask: x.mask!,
          }),
        }),
        {
          ids: { dtype: 'int64', shape: ['rows', seqLen] },
          attention: { dtype: 'bool', shape: ['rows', seqLen] },
          positions: { dtype: 'int64', shape: ['rows', 'slots'] },
          mask: { dtype: 'bool', shape: ['rows', 'slots', s] },
        },
        this.store,
        {
          provider: this.runtime.provider ?? 'cpu',
          intraOpThreads: this.runtime.intraOpThreads ?? 0,
          // One session per length bucket, each seeing every batch size: without the arena each run
          // returns its memory instead of every session keeping its largest run's.
          memoryArena: false,
        },
      );
      this.forwards.set(seqLen, f);
    }
    return f;
  }

  /**
   * SOP-masked log-probs over the strategy set at every decision of each item, one Float64Array per
   * decision (-Infinity outside the admissible set; over every strategy when the agent is unmasked,
   * see policyRows), in item order. Items run sorted by length (little
   * padding), at most `maxRows` at a time and fewer for long sequences, so that a run's attention
   * scores stay within ATTENTION_BUDGET elements whatever the batch. A run holds one length bucket
   * and at least two rows (a lone item gets a padding row): an item's log-probs then depend on the
   * item only, bit for bit, not on which others share its call (a longer padding or ORT's one-row
   * products change the last bits), so rollouts do not depend on batching or worker count.
   */
  async decisionLogProbs(input: readonly RowInput[], maxRows = 64): Promise<Float64Array[][]> {
    const items = this.policyRows(input);
    const out: Float64Array[][] = new Array(items.length);
    const s = this.strategies.length;
    const heads = this.config.num_attention_heads;
    const cap = roundUp(this.maxSeqLen, LENGTH_BUCKET);
    const bucket = (i: RowInput) => Math.min(roundUp(Math.max(1, i.encoded.ids.length), LENGTH_BUCKET), cap);
    const order = items.map((_, i) => i).sort((a, b) => bucket(items[a]!) - bucket(items[b]!) || a - b);
    for (let at = 0; at < order.length; ) {
      const seqLen = bucket(items[order[at]!]!);
      const limit = Math.max(1, Math.min(maxRows, Math.floor(ATTENTION_BUDGET / (heads * seqLen * seqLen))));
      const idx: number[] = [];
      while (at < order.length && idx.length < limit && bucket(items[order[at]!]!) === seqLen)
        idx.push(order[at++]!);
      const part = idx.map((i) => items[i]!);
      const slots = Math.max(1, ...part.map((p) => p.encoded.positions.length));
      const shape = { rows: Math.max(2, part.length), seqLen, slots };
      const packed = packRows(part, shape, s, this.tokenizer.padId);
      const f = await this.forward(seqLen);
      const { ids, attention, positions, mask } = packed;
      const logp = (await f.run({ ids, attention, positions, mask })).logp!.data as Float32Array;
      part.forEach((p, r) => {
        const list: Float64Array[] = [];
        for (let k = 0; k < p.encoded.positions.length; k++) {
          const base = (r * slots + k) * s;
          const m = p.masks[k]!;
          list.push(
            Float64Array.from({ length: s }, (_, j) => (m[j] ? logp[base + j]! : Number.NEGATIVE_INFINITY)),
          );
        }
        out[idx[r]!] = list;
      });
    }
    return out;
  }

  /**
   * One decision per state: sampled with the caller's uniforms, or greedy; over the admissible set,
   * or over every strategy when unmasked.
   */
  async decide(states: readonly AgentState[], options: DecideOptions): Promise<StrategyDecision[]> {
    if (options.uniforms.length !== states.length)
      throw new RangeError(`decide: ${states.length} states but ${options.uniforms.length} uniforms`);
    const items: RowInput[] = states.map((st) => {
      if (st.admissible.length !== this.strategies.length)
        throw new RangeError(
          `state of ${st.sessionId} has a mask over ${st.admissible.length} strategies, the agent ${this.strategies.length}`,
        );
      const ids = this.encoder.prompt(
        st.turns,
        earlierDecisions(st.turns, this.strategies),
        st.sopState,
        st.facts,
      );
      return {
        encoded: { ids, positions: [ids.length - 1], decisions: [0] },
        masks: [st.admissible],
        actions: [0],
      };
    });
    const rows = this.policyRows(items);
    const logps = await this.decisionLogProbs(rows);
    return logps.map(([lp], i) => {
      const ranking = rankAdmissible(lp!, rows[i]!.masks[0]!);
      const action = options.greedy ? ranking[0]! : sampleMasked(lp!, options.uniforms[i]!);
      return { action, logProbs: Array.from(lp!), ranking };
    });
  }
}

/** Parameter specs of the decoder (what `random` initialises), from a one-token build. */
function expertParamSpecs(cfg: LlamaConfig): ParamSpec[] {
  const g = new Graph({ name: 'expert-probe' });
  llamaForward(g, g.input('ids', 'int64', [1, 1]), cfg);
  return [...g.params.values()].map((p) => p.spec);
}

async function readExpertFile(file: string): Promise<ExpertFile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new FileFormatError({ file }, `not readable JSON: ${(e as Error).message}`);
  }
  const meta = ExpertFileSchema.safeParse(raw);
  if (meta.success) return meta.data;
  const issue = meta.error.issues[0]!;
  throw new FileFormatError(
    { file, path: issue.path.filter((p): p is string | number => typeof p !== 'symbol') },
    issue.message,
  );
}
