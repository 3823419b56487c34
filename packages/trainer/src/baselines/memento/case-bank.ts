/**
 * Memento's case bank (Zhou et al. 2025): one case per decision of every finished episode, the
 * state the Expert Agent decided in (`caseStateText`), the SOP mask there, the strategy it took and
 * the outcome of the whole episode (its sequence reward R(tau), DESIGN.md 4.6, and outcome status).
 * Cases are embedded on the way in (`StateEmbedder`) and searched by cosine similarity (`FlatIndex`).
 *
 * Whether a case's strategy was good is read against its scenario: a case is positive when its
 * episode's reward beats the mean reward of the episodes of the same scenario in the bank (or of all
 * episodes, while its scenario has only this one).
 *
 * On disk: JSON Lines, a header line (format, strategy set, embedding settings, tokenizer size) then
 * one case per line, written atomically; embeddings are recomputed on load, so a bank file is plain
 * text a user can read and edit. A bad line is a `FileFormatError` naming the file, line and field.
 */
import { FileFormatError, formatFieldPath, readJsonl, UsageError, writeFileAtomic } from '@gopo/core';
import { OutcomeStatusSchema } from '@gopo/dialogue';
import { z } from 'zod';
import { FlatIndex, type Neighbor } from './similarity-index.js';
import { type StateEmbedder, StateEmbeddingConfigSchema } from './state-embedding.js';

export const MEMENTO_BANK_FORMAT = 'gopo-memento-bank';

export const MementoCaseSchema = z
  .strictObject({
    episode: z
      .string()
      .min(1)
      .describe('session id of the episode the decision belongs to (unique per bank)'),
    scenario: z.string().min(1).describe('scenario id: the episode rewards of one scenario set the baseline'),
    turn: z
      .number()
      .int()
      .min(0)
      .describe("index in the session's turns of the agent turn the decision produced"),
    state: z
      .string()
      .describe('the decision state (caseStateText: SOP state, facts, agent turns, last strategy)'),
    mask: z.array(z.boolean()).min(1).describe('SOP admissibility over the strategy set in that state'),
    strategy: z.string().min(1).describe('the strategy taken'),
    reward: z.number().finite().describe("the episode's sequence reward R(tau)"),
    status: OutcomeStatusSchema.describe("the episode's outcome status"),
  })
  .describe('one case of the Memento bank');
export type MementoCase = z.infer<typeof MementoCaseSchema>;

export const MementoBankHeaderSchema = z
  .strictObject({
    format: z.literal(MEMENTO_BANK_FORMAT).describe('marks the file as a Memento case bank'),
    version: z.literal(1).describe('version of this file layout'),
    strategies: z
      .array(z.string().min(1))
      .min(1)
      .refine((s) => new Set(s).size === s.length, 'strategies must be distinct')
      .describe('the strategy set masks index'),
    tokenizerVocabSize: z.number().int().min(1).describe('ids of the tokenizer the embedding reads with'),
    embedding: StateEmbeddingConfigSchema.describe('how states are embedded'),
    cases: z.number().int().min(0).describe('case lines that follow'),
  })
  .describe('first line of a Memento bank file');
export type MementoBankHeader = z.infer<typeof MementoBankHeaderSchema>;

/** A zod issue path without symbols. */
const pathOf = (path: readonly PropertyKey[]) =>
  path.filter((p): p is string | number => typeof p !== 'symbol');

/** What is wrong with a case for a bank of `strategies`: a field path and a message, or null. */
function caseProblem(
  c: MementoCase,
  strategies: readonly string[],
  episodeOf: (id: string) => EpisodeEntry | undefined,
): { path: (string | number)[]; message: string } | null {
  if (c.mask.length !== strategies.length)
    return {
      path: ['mask'],
      message: `mask has ${c.mask.length} entries for ${strategies.length} strategies`,
    };
  const a = strategies.indexOf(c.strategy);
  if (a < 0)
    return {
      path: ['strategy'],
      message: `"${c.strategy}" is not in the strategy set (${strategies.join(', ')})`,
    };
  if (!c.mask[a]) return { path: ['strategy'], message: `"${c.strategy}" is not admissible in its mask` };
  if (!c.mask.some(Boolean)) return { path: ['mask'], message: 'no strategy is admissible' };
  const e = episodeOf(c.episode);
  if (e && e.scenario !== c.scenario)
    return { path: ['scenario'], message: `episode ${c.episode} was filed under scenario ${e.scenario}` };
  if (e && e.reward !== c.reward)
    return { path: ['reward'], message: `episode ${c.episode} has reward ${e.reward} in an earlier case` };
  return null;
}

/** An episode's scenario and reward, the same on all its cases. */
interface EpisodeEntry {
  readonly scenario: string;
  readonly reward: number;
}

/** Reward sums of episodes, for baselines. */
interface RewardSum {
  sum: number;
  count: number;
}

export class CaseBank {
  readonly index: FlatIndex;
  private readonly cases: MementoCase[] = [];
  private readonly actions: number[] = [];
  private readonly episodes = new Map<string, EpisodeEntry>();
  private readonly scenarios = new Map<string, RewardSum>();
  private readonly all: RewardSum = { sum: 0, count: 0 };

  constructor(
    readonly strategies: readonly string[],
    readonly embedder: StateEmbedder,
  ) {
    if (strategies.length === 0) throw new UsageError('a case bank needs a strategy set');
    this.index = new FlatIndex(embedder.dim);
  }

  /** Cases held. */
  get size(): number {
    return this.cases.length;
  }

  /** Episodes the cases came from. */
  get episodeCount(): number {
    return this.episodes.size;
  }

  case(id: number): MementoCase {
    const c = this.cases[id];
    if (!c) throw new RangeError(`no case ${id} (bank of ${this.cases.length})`);
    return c;
  }

  /** Index of case `id`'s strategy in the strategy set. */
  action(id: number): number {
    return this.actions[id]!;
  }

  /** Embedding of case `id`'s state (a view, valid until the next `add`). */
  embedding(id: number): Float32Array {
    return this.index.vector(id);
  }

  /**
   * Files cases (validated: the schema, the strategy set, admissibility, one scenario and reward per
   * episode); nothing is added when one is bad. Returns the id of the first.
   */
  add(cases: readonly MementoCase[]): number {
    const pending = new Map<string, EpisodeEntry>();
    const known = (id: string) => this.episodes.get(id) ?? pending.get(id);
    const parsed = cases.map((raw, i) => {
      const c = MementoCaseSchema.safeParse(raw);
      if (!c.success) {
        const issue = c.error.issues[0]!;
        throw new UsageError(`case ${i}: ${formatFieldPath(pathOf(issue.path))}: ${issue.message}`);
      }
      const p = caseProblem(c.data, this.strategies, known);
      if (p) throw new UsageError(`case ${i}: ${formatFieldPath(p.path)}: ${p.message}`);
      if (!known(c.data.episode))
        pending.set(c.data.episode, { scenario: c.data.scenario, reward: c.data.reward });
      return c.data;
    });
    return this.addChecked(parsed, pending);
  }

  private addChecked(cases: readonly MementoCase[], newEpisodes: ReadonlyMap<string, EpisodeEntry>): number {
    const first = this.index.add(this.embedder.embedAll(cases.map((c) => c.state)));
    for (const c of cases) {
      this.cases.push(c);
      this.actions.push(this.strategies.indexOf(c.strategy));
    }
    for (const [id, e] of newEpisodes) {
      this.episodes.set(id, e);
      const s = this.scenarios.get(e.scenario) ?? { sum: 0, count: 0 };
      s.sum += e.reward;
      s.count++;
      this.scenarios.set(e.scenario, s);
      this.all.sum += e.reward;
      this.all.count++;
    }
    return first;
  }

  /**
   * The reward case `id`'s episode is measured against: the mean over its scenario's episodes, or
   * over all episodes while its scenario has one.
   */
  baseline(id: number): number {
    const c = this.case(id);
    const s = this.scenarios.get(c.scenario)!;
    return s.count > 1 ? s.sum / s.count : this.all.sum / this.all.count;
  }

  /** R(tau) of case `id`'s episode minus its baseline. */
  advantage(id: number): number {
    return this.case(id).reward - this.baseline(id);
  }

  /** Whether case `id`'s episode beat its baseline (the scorer's positive label). */
  positive(id: number): boolean {
    return this.advantage(id) > 0;
  }

  /**
   * The top-k cases of each query embedding ([Q, dim]) by cosine similarity. With `masks`, only cases
   * whose strategy query q's mask admits; with `skipEpisode`, not the cases of that episode.
   */
  nearest(
    queries: Float32Array,
    options: {
      readonly k: number;
      readonly minSimilarity?: number;
      readonly masks?: readonly (readonly boolean[])[];
      readonly skipEpisode?: readonly (string | undefined)[];
    },
  ): Promise<Neighbor[][]> {
    const { masks, skipEpisode } = options;
    return this.index.searchBatch(queries, {
      k: options.k,
      ...(options.minSimilarity !== undefined ? { minSimilarity: options.minSimilarity } : {}),
      ...(masks || skipEpisode
        ? {
            accept: (q: number, id: number) =>
              (!masks || masks[q]![this.actions[id]!] === true) &&
              (!skipEpisode || skipEpisode[q] !== this.cases[id]!.episode),
          }
        : {}),
    });
  }

  header(): MementoBankHeader {
    return {
      format: MEMENTO_BANK_FORMAT,
      version: 1,
      strategies: [...this.strategies],
      tokenizerVocabSize: this.embedder.tokenizer.vocabSize,
      embedding: this.embedder.config,
      cases: this.cases.length,
    };
  }

  /** Writes the bank as JSON Lines (header, then one case per line) atomically. */
  async save(file: string): Promise<void> {
    const lines = [JSON.stringify(this.header()), ...this.cases.map((c) => JSON.stringify(c))];
    await writeFileAtomic(file, `${lines.join('\n')}\n`);
  }

  /**
   * Reads a bank written by `save`, embedded with `embedder`'s tokenizer and the file's embedding
   * settings. Every line is checked; a bad one throws a FileFormatError with file, line and field.
   */
  static async load(
    file: string,
    makeEmbedder: (header: MementoBankHeader) => StateEmbedder,
  ): Promise<CaseBank> {
    let bank: CaseBank | undefined;
    let header: MementoBankHeader | undefined;
    const cases: MementoCase[] = [];
    const episodes = new Map<string, EpisodeEntry>();
    for await (const { line, value } of readJsonl(file)) {
      if (!bank) {
        const h = MementoBankHeaderSchema.safeParse(value);
        if (!h.success) {
          const issue = h.error.issues[0]!;
          throw new FileFormatError(
            { file, line, path: pathOf(issue.path) },
            `bank header: ${issue.message}`,
          );
        }
        header = h.data;
        const embedder = makeEmbedder(header);
        if (embedder.tokenizer.vocabSize !== header.tokenizerVocabSize)
          throw new FileFormatError(
            { file, line, path: ['tokenizerVocabSize'] },
            `the bank was embedded with a tokenizer of ${header.tokenizerVocabSize} ids, this one has ${embedder.tokenizer.vocabSize}`,
          );
        bank = new CaseBank(header.strategies, embedder);
        continue;
      }
      const c = MementoCaseSchema.safeParse(value);
      if (!c.success) {
        const issue = c.error.issues[0]!;
        throw new FileFormatError({ file, line, path: pathOf(issue.path) }, issue.message);
      }
      const p = caseProblem(c.data, bank.strategies, (id) => episodes.get(id));
      if (p) throw new FileFormatError({ file, line, path: p.path }, p.message);
      if (!episodes.has(c.data.episode))
        episodes.set(c.data.episode, { scenario: c.data.scenario, reward: c.data.reward });
      cases.push(c.data);
    }
    if (!bank || !header)
      throw new FileFormatError({ file }, 'empty file: a bank starts with its header line');
    if (cases.length !== header.cases)
      throw new FileFormatError(
        { file, line: 1, path: ['cases'] },
        `the header announces ${header.cases} cases, the file holds ${cases.length} (truncated?)`,
      );
    bank.addChecked(cases, episodes);
    return bank;
  }
}
