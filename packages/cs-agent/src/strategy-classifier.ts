/**
 * The independent adherence judge (issue 19): a small strategy classifier on the nn engine, trained
 * on the paraphrase corpus (paraphrase-corpus.ts), never on the simulator's templates, so that RL
 * cannot win by gaming the simulator's NLU alone.
 *
 * Model (fastText-like): a reply is tokenised with the shipped tokenizer of @gopo/lm, each token
 * looks up a row of an embedding table, the rows are mean-pooled, and a linear head scores the
 * strategy set. Optional: hashed token bigrams (with start and end markers) as extra rows, and a
 * hidden ReLU layer; both read unseen phrasings worse in our sweeps (README), so they are off by
 * default. Training is a fused nn `Trainer` step (AdamW, warmup + cosine, cross-entropy) with token
 * dropout on the host; inference is one `Forward` with symbolic batch and length.
 *
 * Saved as a folder: `classifier.json` (zod-checked: format, model config, training record),
 * `model.safetensors` and the `tokenizer.json` it reads with, so a saved classifier does not depend
 * on the tokenizer file it was trained with staying the same.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError, GopoError, Rng, UsageError, validateConfig, writeJsonAtomic } from '@gopo/core';
import { SHOP_STRATEGIES, type StrategyJudge } from '@gopo/dialogue';
import { loadDefaultTokenizer, Tokenizer } from '@gopo/lm';
import {
  crossEntropy,
  embedding,
  Forward,
  type Graph,
  type HostTensor,
  linear,
  ParamStore,
  readSafetensors,
  type Tensor,
  Trainer,
  toHostTensor,
  toSafetensorsTensor,
  writeSafetensors,
} from '@gopo/nn';
import { z } from 'zod';

export const StrategyClassifierModelSchema = z
  .strictObject({
    strategies: z
      .array(z.string().min(1))
      .min(2)
      .default([...SHOP_STRATEGIES])
      .refine((s) => new Set(s).size === s.length, 'strategies must be distinct')
      .describe('the strategy set the head scores, in order'),
    dim: z.number().int().min(1).max(1024).default(32).describe('embedding width'),
    bigramBuckets: z
      .number()
      .int()
      .min(0)
      .max(1 << 20)
      .default(0)
      .describe(
        'hashed token-bigram rows of the embedding table (0: tokens only; bigrams memorised phrasings and read unseen ones worse in our sweeps)',
      ),
    hidden: z
      .number()
      .int()
      .min(0)
      .max(4096)
      .default(0)
      .describe('width of a ReLU layer between the pooled embedding and the head (0: none)'),
    maxTokens: z
      .number()
      .int()
      .min(1)
      .max(4096)
      .default(96)
      .describe('tokens read per reply (longer ones are cut)'),
    lowercase: z.boolean().default(false).describe('read replies in lower case'),
    maskDigits: z
      .boolean()
      .default(false)
      .describe('read every digit as 0 (ids, prices and counts then differ only in shape)'),
    minConfidence: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe('the judge says null when the top strategy probability is below this'),
  })
  .describe('the strategy classifier: sizes and strategy set');
export type StrategyClassifierModel = z.infer<typeof StrategyClassifierModelSchema>;
export type StrategyClassifierModelInput = z.input<typeof StrategyClassifierModelSchema>;

export const StrategyClassifierTrainSchema = z
  .strictObject({
    seed: z.number().int().default(1).describe('seed of the initial weights, batch order and token dropout'),
    steps: z.number().int().min(1).max(1_000_000).default(600).describe('optimizer steps'),
    batchSize: z.number().int().min(1).max(4096).default(64).describe('replies per step'),
    peakLr: z.number().positive().default(0.02).describe('learning rate after warmup (cosine decay to 0)'),
    warmupSteps: z.number().int().min(0).default(50).describe('linear warmup steps'),
    weightDecay: z
      .number()
      .min(0)
      .default(0.01)
      .describe('AdamW decoupled weight decay on the linear layers'),
    tokenDropout: z
      .number()
      .min(0)
      .max(0.9)
      .default(0.3)
      .describe('share of a reply’s features hidden in each training step (robustness to wording)'),
    threads: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe('ORT intra-op threads (1 keeps training bit-for-bit reproducible)'),
  })
  .superRefine((v, ctx) => {
    if (v.warmupSteps > v.steps)
      ctx.addIssue({ code: 'custom', path: ['warmupSteps'], message: 'warmupSteps must not exceed steps' });
  })
  .describe('how the strategy classifier is trained');
export type StrategyClassifierTrain = z.infer<typeof StrategyClassifierTrainSchema>;
export type StrategyClassifierTrainInput = z.input<typeof StrategyClassifierTrainSchema>;

export const CLASSIFIER_FORMAT = 'gopo-strategy-classifier';
export const CLASSIFIER_CONFIG_FILE = 'classifier.json';
export const CLASSIFIER_WEIGHTS_FILE = 'model.safetensors';
export const CLASSIFIER_TOKENIZER_FILE = 'tokenizer.json';

export const StrategyClassifierFileSchema = z
  .strictObject({
    format: z.literal(CLASSIFIER_FORMAT).describe('marks the folder as a strategy classifier'),
    version: z.literal(1).describe('version of this file layout'),
    vocabSize: z.number().int().min(1).describe('ids of the tokenizer saved beside it'),
    model: StrategyClassifierModelSchema.describe('the model the weights belong to'),
    training: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('how it was trained and measured (free-form record, kept for provenance)'),
  })
  .describe(`${CLASSIFIER_CONFIG_FILE} of a saved strategy classifier`);
export type StrategyClassifierFile = z.infer<typeof StrategyClassifierFileSchema>;

/** A saved classifier's weights do not fit its config. */
export class ClassifierWeightsError extends GopoError {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** One labelled reply for training or evaluation. */
export interface LabelledReply {
  readonly text: string;
  readonly strategy: string;
}

/** The bucket of the token pair (a, b): a fixed integer hash, the same on every machine. */
function bigramBucket(a: number, b: number, buckets: number): number {
  let h = Math.imul(a + 1, 0x9e3779b1) ^ Math.imul(b + 7, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 13;
  return (h >>> 0) % buckets;
}

/** Pooled-embedding logits over the strategy set for ids [B, L] and a float mask [B, L]. */
function classifierLogits(
  g: Graph,
  ids: Tensor,
  mask: Tensor,
  m: StrategyClassifierModel,
  rows: number,
): Tensor {
  const e = embedding(g, 'embed', ids, rows, m.dim);
  const summed = g.reduceSum(g.mul(e, g.unsqueeze(mask, [2])), [1]);
  let h = g.div(summed, g.max(g.reduceSum(mask, [1], true), 1));
  if (m.hidden > 0) h = g.relu(linear(g, 'hidden', h, m.hidden, { bias: true }));
  return linear(g, 'head', h, m.strategies.length, { bias: true });
}

/** Mean of `xs`. */
const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

export interface TrainClassifierOptions {
  readonly model?: StrategyClassifierModelInput;
  readonly train?: StrategyClassifierTrainInput;
  /** Defaults to the shipped tokenizer of @gopo/lm. */
  readonly tokenizer?: Tokenizer;
  /** Called every `logEvery` steps with the mean loss since the last call. */
  readonly onLog?: (step: number, loss: number) => void;
  readonly logEvery?: number;
}

export interface TrainedClassifier {
  readonly classifier: StrategyClassifier;
  /** Loss of every step. */
  readonly losses: readonly number[];
  readonly train: StrategyClassifierTrain;
}

/**
 * A trained strategy classifier: the `StrategyJudge` role over its strategy set. `judge` returns the
 * most probable strategy of each text (null under `minConfidence`), `probabilities` the distribution.
 */
export class StrategyClassifier implements StrategyJudge {
  readonly name = 'classifier';
  private forward: Forward | undefined;

  private constructor(
    readonly model: StrategyClassifierModel,
    readonly tokenizer: Tokenizer,
    readonly params: ParamStore,
    /** Provenance written to classifier.json (training config, corpus, measured accuracies). */
    public training: Record<string, unknown> | undefined,
  ) {}

  get strategies(): readonly string[] {
    return this.model.strategies;
  }

  /** Rows of the embedding table: the tokenizer's ids, then the bigram buckets. */
  private get rows(): number {
    return this.tokenizer.vocabSize + this.model.bigramBuckets;
  }

  /** The feature ids of one text: its tokens, then its hashed bigrams (start and end markers included). */
  features(text: string): number[] {
    const { maxTokens, bigramBuckets } = this.model;
    let t = this.model.lowercase ? text.toLowerCase() : text;
    if (this.model.maskDigits) t = t.replace(/[0-9]/g, '0');
    const tokens = this.tokenizer.encode(t, { parseSpecial: false }).slice(0, maxTokens);
    if (bigramBuckets === 0) return tokens;
    const V = this.tokenizer.vocabSize;
    const out = [...tokens];
    let prev = -1;
    for (const t of [...tokens, -2]) {
      out.push(V + bigramBucket(prev, t, bigramBuckets));
      prev = t;
    }
    return out;
  }

  /** Most features a text can have (the padded length of a training batch). */
  private get maxFeatures(): number {
    return this.model.bigramBuckets > 0 ? 2 * this.model.maxTokens + 1 : this.model.maxTokens;
  }

  private static batch(
    rows: readonly (readonly number[])[],
    length: number,
  ): { ids: HostTensor; mask: HostTensor } {
    const ids = new BigInt64Array(rows.length * length);
    const mask = new Float32Array(rows.length * length);
    rows.forEach((r, i) => {
      r.forEach((f, j) => {
        ids[i * length + j] = BigInt(f);
        mask[i * length + j] = 1;
      });
    });
    return {
      ids: { dtype: 'int64', dims: [rows.length, length], data: ids },
      mask: { dtype: 'float32', dims: [rows.length, length], data: mask },
    };
  }

  /** Strategy probabilities per text, in strategy-set order. */
  async probabilities(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    this.forward ??= await Forward.create(
      (g, b) => ({ logits: classifierLogits(g, b.ids!, b.mask!, this.model, this.rows) }),
      {
        ids: { dtype: 'int64', shape: ['batch', 'seq'] },
        mask: { dtype: 'float32', shape: ['batch', 'seq'] },
      },
      this.params,
      { intraOpThreads: 1 },
    );
    const S = this.model.strategies.length;
    const out: Float32Array[] = [];
    const CHUNK = 512;
    for (let at = 0; at < texts.length; at += CHUNK) {
      const rows = texts.slice(at, at + CHUNK).map((t) => this.features(t));
      const length = Math.max(1, ...rows.map((r) => r.length));
      const res = await this.forward.run(StrategyClassifier.batch(rows, length));
      const logits = res.logits!.data as Float32Array;
      rows.forEach((_, i) => {
        const z = logits.subarray(i * S, (i + 1) * S);
        const top = Math.max(...z);
        const p = Float32Array.from(z, (x) => Math.exp(x - top));
        const sum = p.reduce((s, x) => s + x, 0);
        out.push(p.map((x) => x / sum));
      });
    }
    return out;
  }

  async judge(texts: readonly string[]): Promise<(string | null)[]> {
    return (await this.probabilities(texts)).map((p) => {
      let best = 0;
      for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
      return p[best]! < this.model.minConfidence ? null : this.model.strategies[best]!;
    });
  }

  /** Accuracy on labelled replies (the share judged as their label). */
  async accuracy(examples: readonly LabelledReply[]): Promise<number> {
    const judged = await this.judge(examples.map((e) => e.text));
    return judged.filter((s, i) => s === examples[i]!.strategy).length / Math.max(1, examples.length);
  }

  /** Writes classifier.json, model.safetensors and tokenizer.json into `dir` (created if missing). */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const tensors = Object.fromEntries(this.params.entries().map(([n, t]) => [n, toSafetensorsTensor(t)]));
    await writeSafetensors(join(dir, CLASSIFIER_WEIGHTS_FILE), tensors);
    await this.tokenizer.save(join(dir, CLASSIFIER_TOKENIZER_FILE));
    const file: StrategyClassifierFile = {
      format: CLASSIFIER_FORMAT,
      version: 1,
      vocabSize: this.tokenizer.vocabSize,
      model: this.model,
      ...(this.training ? { training: this.training } : {}),
    };
    await writeJsonAtomic(join(dir, CLASSIFIER_CONFIG_FILE), file);
  }

  /** Reads a folder written by `save`; every file is checked (format, config fields, tensor shapes). */
  static async load(dir: string): Promise<StrategyClassifier> {
    const configFile = join(dir, CLASSIFIER_CONFIG_FILE);
    const text = await readFile(configFile, 'utf8');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new FileFormatError({ file: configFile }, `invalid JSON: ${(e as Error).message}`);
    }
    const file = validateConfig(StrategyClassifierFileSchema, raw, configFile, text);
    const tokenizer = await Tokenizer.load(join(dir, CLASSIFIER_TOKENIZER_FILE));
    if (tokenizer.vocabSize !== file.vocabSize)
      throw new ClassifierWeightsError(
        join(dir, CLASSIFIER_TOKENIZER_FILE),
        `has ${tokenizer.vocabSize} ids, ${CLASSIFIER_CONFIG_FILE} says ${file.vocabSize}`,
      );
    const weightsFile = join(dir, CLASSIFIER_WEIGHTS_FILE);
    const { tensors } = await readSafetensors(weightsFile);
    const params = new ParamStore();
    for (const [name, t] of tensors) params.set(name, toHostTensor(t));
    const c = new StrategyClassifier(file.model, tokenizer, params, file.training);
    const expected = StrategyClassifier.paramShapes(file.model, c.rows);
    for (const [name, shape] of Object.entries(expected)) {
      const t = tensors.get(name);
      if (!t || t.shape.join(',') !== shape.join(','))
        throw new ClassifierWeightsError(
          weightsFile,
          `tensor "${name}" should be [${shape.join(', ')}], found ${t ? `[${t.shape.join(', ')}]` : 'none'}`,
        );
    }
    const extra = [...tensors.keys()].filter((n) => !(n in expected));
    if (extra.length > 0)
      throw new ClassifierWeightsError(weightsFile, `unexpected tensors: ${extra.join(', ')}`);
    return c;
  }

  private static paramShapes(m: StrategyClassifierModel, rows: number): Record<string, number[]> {
    const head = m.hidden > 0 ? m.hidden : m.dim;
    return {
      'embed.weight': [rows, m.dim],
      ...(m.hidden > 0 ? { 'hidden.weight': [m.hidden, m.dim], 'hidden.bias': [m.hidden] } : {}),
      'head.weight': [m.strategies.length, head],
      'head.bias': [m.strategies.length],
    };
  }

  /**
   * Trains a classifier on labelled replies: balanced shuffled batches (an epoch is one pass in a
   * seeded order), token dropout, AdamW with warmup and cosine decay. Deterministic for its inputs
   * (one ORT thread by default).
   */
  static async train(
    examples: readonly LabelledReply[],
    options: TrainClassifierOptions = {},
  ): Promise<TrainedClassifier> {
    const model = StrategyClassifierModelSchema.parse(options.model ?? {});
    const train = StrategyClassifierTrainSchema.parse(options.train ?? {});
    const tokenizer = options.tokenizer ?? (await loadDefaultTokenizer());
    const unknown = [...new Set(examples.map((e) => e.strategy))].filter(
      (s) => !model.strategies.includes(s),
    );
    if (unknown.length > 0)
      throw new UsageError(`examples carry strategies outside the model's set: ${unknown.join(', ')}`);
    if (examples.length === 0) throw new UsageError('no examples to train the strategy classifier on');
    const params = new ParamStore();
    const c = new StrategyClassifier(model, tokenizer, params, undefined);
    const features = examples.map((e) => c.features(e.text));
    const labels = examples.map((e) => model.strategies.indexOf(e.strategy));
    const L = c.maxFeatures;
    const B = train.batchSize;
    const trainer = await Trainer.create(
      (g, b) => crossEntropy(g, classifierLogits(g, b.ids!, b.mask!, model, c.rows), b.labels!),
      {
        ids: { dtype: 'int64', shape: [B, L] },
        mask: { dtype: 'float32', shape: [B, L] },
        labels: { dtype: 'int64', shape: [B] },
      },
      {
        optimizer: { kind: 'adamw', weightDecay: train.weightDecay },
        schedule: { peakLr: train.peakLr, warmupSteps: train.warmupSteps, totalSteps: train.steps },
        clipNorm: 1,
        seed: train.seed,
        intraOpThreads: train.threads,
      },
      params,
    );
    const rng = Rng.fromSeed(train.seed, 'strategy-classifier');
    let order: number[] = [];
    const losses: number[] = [];
    const logEvery = options.logEvery ?? 100;
    for (let step = 0; step < train.steps; step++) {
      const rows: number[][] = [];
      const ys = new BigInt64Array(B);
      for (let i = 0; i < B; i++) {
        if (order.length === 0) order = rng.shuffle(examples.map((_, k) => k));
        const k = order.pop()!;
        const kept = features[k]!.filter(() => !rng.bool(train.tokenDropout));
        rows.push(kept.length > 0 ? kept : features[k]!.slice(0, 1));
        ys[i] = BigInt(labels[k]!);
      }
      const { ids, mask } = StrategyClassifier.batch(rows, L);
      const r = await trainer.trainStep({ ids, mask, labels: { dtype: 'int64', dims: [B], data: ys } });
      losses.push(r.loss);
      if (options.onLog && (step + 1) % logEvery === 0)
        options.onLog(step + 1, mean(losses.slice(-logEvery)));
    }
    await trainer.syncToHost();
    const state = await trainer.exportState();
    for (const [name, t] of state.params) params.set(name, t);
    c.training = { train, examples: examples.length, finalLoss: mean(losses.slice(-50)) };
    return { classifier: c, losses, train };
  }
}
