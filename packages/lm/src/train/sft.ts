/**
 * Supervised fine-tuning: next-token cross-entropy on completion tokens only, over packed rows, with
 * gradient accumulation, a warmup + cosine schedule, periodic evaluation (perplexity on completion
 * tokens), periodic checkpoints in a run folder and bit-identical resume from the latest one.
 * Optionally LoRA: base weights frozen (graph initializers), only the adapters trained and saved in
 * PEFT's layout.
 *
 * Determinism: the batches of optimizer step s depend only on (seed, s): each epoch's example order is
 * a shuffle seeded by (seed, epoch), packed greedily; step i of the epoch takes rows
 * [i B k, (i + 1) B k) (B micro-batch rows, k accumulation steps), wrapping round to the epoch's first
 * rows to fill its last step. So a resumed run sees exactly the batches the straight run would have.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  ConfigError,
  createRunDir,
  formatConfigChanges,
  type Logger,
  Progress,
  Rng,
  type RunDir,
  RunNameSchema,
  runPaths,
  UsageError,
} from '@gopo/core';
import {
  type Batch,
  type BatchSpec,
  Forward,
  findLatestCheckpoint,
  type HostTensor,
  loadCheckpoint,
  ParamStore,
  type SafetensorsTensor,
  saveCheckpoint,
  Trainer,
  toHostTensor,
  toSafetensorsTensor,
} from '@gopo/nn';
import { z } from 'zod';
import { isLoraParam, LoraConfigSchema, loraFrozenNames, mergeLora } from '../lora/lora.js';
import { saveLoraAdapter } from '../lora/peft.js';
import { type LlamaConfig, LlamaConfigSchema } from '../model/config.js';
import { llamaParamShapes } from '../model/model.js';
import { loadLlamaDir, saveLlamaDir } from '../model/weights.js';
import { ChatTemplate } from '../tokenizer/chat-template.js';
import { loadDefaultTokenizer } from '../tokenizer/default-tokenizer.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { readSftExamples, type SftExample } from './data.js';
import { type PackedRow, packExamples, rowsToBatch } from './packing.js';
import { llamaSftModel, type SftGraphOptions, sftEvalOutputs, sftLoss } from './sft-model.js';

export const SftConfigSchema = z
  .object({
    runName: RunNameSchema.default('sft'),
    runsDir: z.string().default('runs').describe('parent folder of run folders'),
    resume: z
      .boolean()
      .default(true)
      .describe('continue from the latest checkpoint of an existing run folder (false: refuse to reuse it)'),
    overwrite: z
      .boolean()
      .default(false)
      .describe(
        'delete an existing run folder (only a run folder holding none of the inputs) and start afresh',
      ),
    allowConfigChange: z
      .boolean()
      .default(false)
      .describe(
        'resume even though settings other than data/batch/seed/LoRA changed (the changes are named and recorded in config-changes.jsonl)',
      ),
    data: z
      .object({
        train: z
          .array(z.string())
          .min(1)
          .describe('training JSONL files (chat "messages" or prompt/completion records)'),
        eval: z
          .array(z.string())
          .default([])
          .describe('evaluation JSONL files (default: a held-out split of train)'),
        evalFraction: z
          .number()
          .min(0)
          .lt(1)
          .default(0.05)
          .describe('share of training examples held out for evaluation when no eval files are given'),
        completion: z
          .enum(['all_agent_turns', 'last_agent_turn'])
          .default('all_agent_turns')
          .describe('which agent turns of chat records the loss counts'),
      })
      .strict()
      .describe('training and evaluation data'),
    model: z
      .object({
        dir: z
          .string()
          .optional()
          .describe('Hugging Face model folder (config.json + model.safetensors) to start from'),
        config: LlamaConfigSchema.optional().describe('config.json fields of a model trained from scratch'),
      })
      .strict()
      .superRefine((m, ctx) => {
        if ((m.dir === undefined) === (m.config === undefined))
          ctx.addIssue({
            code: 'custom',
            path: ['dir'],
            message: 'give exactly one of model.dir and model.config',
          });
      })
      .describe('the decoder to fine-tune'),
    tokenizer: z
      .string()
      .optional()
      .describe("tokenizer.json (default: the model folder's, else the shipped default tokenizer)"),
    seqLen: z.number().int().min(2).default(512).describe('tokens per row; longer examples are truncated'),
    packing: z
      .boolean()
      .default(true)
      .describe('pack several examples into one row (attention masked block-diagonally, positions restart)'),
    microBatchSize: z.number().int().positive().default(8).describe('rows per forward/backward pass'),
    accumulationSteps: z.number().int().positive().default(1).describe('micro-batches per optimizer step'),
    stepsPerRun: z
      .number()
      .int()
      .positive()
      .default(1)
      .describe(
        'optimizer steps per session call (Trainer.trainSteps; same results, parameters and optimizer state cross into JavaScript once per call, at the cost of a second compiled session (holding its own copy of frozen weights) and one extra copy of the state in memory; a run never spans a log, eval or checkpoint step: single steps lead up to one when fewer than stepsPerRun remain)',
      ),
    epochs: z.number().int().positive().default(1).describe('passes over the training data'),
    maxSteps: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('optimizer steps to run (overrides epochs; data repeats as needed)'),
    lr: z.number().positive().default(2e-4).describe('peak learning rate'),
    warmupSteps: z.number().int().min(0).default(0).describe('linear warmup steps'),
    minLr: z.number().min(0).default(0).describe('learning rate at the end of the cosine decay'),
    weightDecay: z.number().min(0).default(0).describe('AdamW decoupled weight decay (matrices only)'),
    beta1: z.number().min(0).lt(1).default(0.9).describe('AdamW beta1'),
    beta2: z.number().min(0).lt(1).default(0.999).describe('AdamW beta2'),
    clipNorm: z.number().positive().nullable().default(1).describe('global gradient-norm clip (null: none)'),
    evalEvery: z.number().int().min(0).default(0).describe('evaluate every N steps (0: only at the end)'),
    checkpointEvery: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('checkpoint every N steps (0: only at the end)'),
    keepCheckpoints: z.number().int().positive().default(3).describe('newest checkpoints kept'),
    logEvery: z.number().int().positive().default(10).describe('write metrics every N steps'),
    lora: LoraConfigSchema.nullable().default(null).describe('train LoRA adapters instead of all weights'),
    saveMerged: z.boolean().default(false).describe('with LoRA: also save the merged model'),
    seed: z.number().int().default(0).describe('seed for init, data order and dropout'),
    provider: z.enum(['cpu', 'webgpu', 'cuda', 'auto']).default('cpu').describe('execution provider'),
    threads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.warmupSteps > 0 && c.maxSteps !== undefined && c.warmupSteps > c.maxSteps)
      ctx.addIssue({ code: 'custom', path: ['warmupSteps'], message: 'warmupSteps exceeds maxSteps' });
    if (c.minLr > c.lr) ctx.addIssue({ code: 'custom', path: ['minLr'], message: 'minLr exceeds lr' });
    if (c.saveMerged && !c.lora)
      ctx.addIssue({ code: 'custom', path: ['saveMerged'], message: 'saveMerged needs lora' });
    if (c.resume && c.overwrite)
      ctx.addIssue({
        code: 'custom',
        path: ['overwrite'],
        message: 'resume and overwrite exclude each other',
      });
  })
  .describe('gopo lm sft configuration');
export type SftConfig = z.infer<typeof SftConfigSchema>;
export type SftConfigInput = z.input<typeof SftConfigSchema>;

export interface SftRunOptions {
  readonly logger: Logger;
  /** Show a progress bar (default: when stderr is a TTY). */
  readonly progress?: boolean;
  /** Stop after this optimizer step, as if interrupted (tests of resume). */
  readonly stopAfterStep?: number;
}

export interface SftResult {
  readonly runDir: RunDir;
  readonly step: number;
  readonly totalSteps: number;
  readonly resumedFrom: number;
  /** Mean training loss over the last logging window. */
  readonly trainLoss: number;
  readonly evalLoss: number | null;
  readonly evalPerplexity: number | null;
  /** Non-padding tokens per second of training steps (evaluation and checkpoints excluded). */
  readonly tokensPerSecond: number;
  readonly peakRssMb: number;
  /** Where the final model (or adapter) was written. */
  readonly outputDir: string;
  readonly params: ParamStore;
  readonly config: LlamaConfig;
  readonly tokenizer: Tokenizer;
}

/** Fields that must match for a resumed run to replay the same batches. */
function resumeKey(c: SftConfig) {
  return JSON.stringify({
    data: c.data,
    seqLen: c.seqLen,
    packing: c.packing,
    microBatchSize: c.microBatchSize,
    accumulationSteps: c.accumulationSteps,
    seed: c.seed,
    lora: c.lora,
  });
}

/** Epoch plans: shuffled, packed rows per epoch, computed on demand. Exported for its tests. */
export class DataPlan {
  private readonly epochs = new Map<number, PackedRow[]>();
  /**
   * Steps per epoch, kept for every epoch ever packed: only two epochs' rows stay in memory, and
   * finding step s's epoch must not pack the evicted ones again (that repacked the whole corpus on
   * every step from the third epoch on: about 0.6 s a step on a 35k-example corpus).
   */
  private readonly steps = new Map<number, number>();
  readonly rowsPerStep: number;
  truncated = 0;
  dropped = 0;
  /** Epochs packed so far (each epoch once, however the steps are asked for). */
  packs = 0;

  constructor(
    private readonly examples: readonly SftExample[],
    private readonly c: SftConfig,
    private readonly padId: number,
  ) {
    this.rowsPerStep = c.microBatchSize * c.accumulationSteps;
  }

  rows(epoch: number): PackedRow[] {
    let rows = this.epochs.get(epoch);
    if (!rows) {
      this.packs++;
      const order = Rng.fromSeed(this.c.seed, `sft-data-epoch-${epoch}`).shuffle([...this.examples]);
      const packed = packExamples(order, {
        seqLen: this.c.seqLen,
        packing: this.c.packing,
        padId: this.padId,
      });
      rows = packed.rows;
      if (epoch === 0) {
        this.truncated = packed.truncated;
        this.dropped = packed.dropped;
      }
      if (rows.length === 0) throw new UsageError('no training example has a completion token within seqLen');
      this.steps.set(epoch, Math.ceil(rows.length / this.rowsPerStep));
    }
    // Least recently used out: the epoch just asked for is never the one evicted.
    this.epochs.delete(epoch);
    this.epochs.set(epoch, rows);
    if (this.epochs.size > 2) this.epochs.delete(this.epochs.keys().next().value!);
    return rows;
  }

  stepsIn(epoch: number): number {
    const known = this.steps.get(epoch);
    if (known !== undefined) return known;
    this.rows(epoch);
    return this.steps.get(epoch)!;
  }

  /** Total optimizer steps of the run. */
  totalSteps(): number {
    if (this.c.maxSteps !== undefined) return this.c.maxSteps;
    let n = 0;
    for (let e = 0; e < this.c.epochs; e++) n += this.stepsIn(e);
    return n;
  }

  /** Micro-batches of 0-based step s, and their real token count. */
  batches(s: number): { batches: Batch[]; tokens: number; epoch: number } {
    let epoch = 0;
    let i = s;
    while (i >= this.stepsIn(epoch)) {
      i -= this.stepsIn(epoch);
      epoch++;
    }
    const rows = this.rows(epoch);
    const b = this.c.microBatchSize;
    const out: Batch[] = [];
    let tokens = 0;
    for (let m = 0; m < this.c.accumulationSteps; m++) {
      const pick: PackedRow[] = [];
      for (let r = 0; r < b; r++) {
        const row = rows[(i * this.rowsPerStep + m * b + r) % rows.length] as PackedRow;
        pick.push(row);
        tokens += row.tokens;
      }
      out.push(rowsToBatch(pick, this.c.seqLen));
    }
    return { batches: out, tokens, epoch };
  }
}

async function loadTokenizer(c: SftConfig): Promise<Tokenizer> {
  if (c.tokenizer) return Tokenizer.load(c.tokenizer);
  if (c.model.dir && existsSync(path.join(c.model.dir, 'tokenizer.json')))
    return Tokenizer.load(path.join(c.model.dir, 'tokenizer.json'));
  return loadDefaultTokenizer();
}

/** Splits off the eval examples: a seeded shuffle, the last `fraction` held out. */
function splitEval(examples: SftExample[], fraction: number, seed: number): [SftExample[], SftExample[]] {
  if (fraction === 0 || examples.length < 2) return [examples, []];
  const order = Rng.fromSeed(seed, 'sft-eval-split').shuffle([...examples]);
  const n = Math.max(1, Math.round(order.length * fraction));
  return [order.slice(0, order.length - n), order.slice(order.length - n)];
}

/** Runs (or resumes) an SFT job described by `config`. */
export async function runSft(config: SftConfigInput, options: SftRunOptions): Promise<SftResult> {
  const c = SftConfigSchema.parse(config);
  const log = options.logger;
  const tokenizer = await loadTokenizer(c);
  const template = new ChatTemplate(tokenizer);

  let modelConfig: LlamaConfig;
  const store = new ParamStore();
  if (c.model.dir) {
    const loaded = await loadLlamaDir(c.model.dir);
    modelConfig = loaded.config;
    for (const [name, w] of loaded.weights)
      store.set(name, { dtype: 'float32', dims: w.shape, data: w.data });
  } else {
    modelConfig = c.model.config as LlamaConfig;
  }
  if (tokenizer.vocabSize > modelConfig.vocab_size)
    throw new ConfigError(
      { file: 'config.json', path: ['vocab_size'] },
      `vocab_size ${modelConfig.vocab_size} is smaller than the tokenizer's ${tokenizer.vocabSize} ids`,
    );

  const tokOpts = { completion: c.data.completion };
  const all = await readSftExamples(c.data.train, tokenizer, template, tokOpts);
  let [trainEx, evalEx] =
    c.data.eval.length > 0 ? [all, [] as SftExample[]] : splitEval(all, c.data.evalFraction, c.seed);
  if (c.data.eval.length > 0) evalEx = await readSftExamples(c.data.eval, tokenizer, template, tokOpts);
  if (trainEx.length === 0) throw new UsageError(`no training examples in ${c.data.train.join(', ')}`);

  const plan = new DataPlan(trainEx, c, tokenizer.padId);
  const totalSteps = plan.totalSteps();
  plan.rows(0);
  if (plan.truncated > 0)
    log.warn(`${plan.truncated} example(s) longer than seqLen ${c.seqLen} were truncated`);
  if (plan.dropped > 0)
    log.warn(`${plan.dropped} example(s) had no completion token within seqLen and were skipped`);

  // A checkpoint that would not replay the same batches is refused before the run folder is touched.
  const latest =
    c.resume && !c.overwrite
      ? await findLatestCheckpoint(runPaths(c.runName, c.runsDir).checkpointsDir)
      : undefined;
  const ck = latest ? await loadCheckpoint(latest) : undefined;
  if (latest && (ck?.state.config as { resumeKey?: string } | undefined)?.resumeKey !== resumeKey(c))
    throw new UsageError(
      `${latest} was written with different data/batch/seed/LoRA settings; resuming would not replay the same run (use overwrite)`,
    );
  // How to open the run folder is not part of the run's config: only the rest is compared on resume.
  const { resume, overwrite, allowConfigChange, ...runConfig } = c;
  const runDir = await createRunDir(
    c.runName,
    { sft: runConfig, model: modelConfig },
    {
      parent: c.runsDir,
      resume,
      overwrite,
      allowConfigChange,
      // The thread count changes speed, not the run: a run started on one core resumes on more.
      executionOnly: ['sft.threads'],
      inputs: [...c.data.train, ...c.data.eval, c.tokenizer, c.model.dir].filter((f) => f !== undefined),
    },
  );
  try {
    if (runDir.configChanges.length > 0)
      log.warn(`resuming with a changed config: ${formatConfigChanges(runDir.configChanges)}`);
    const model = llamaSftModel(modelConfig);
    const graphOpts = (train: boolean): SftGraphOptions => ({
      model,
      packing: c.packing,
      lora: c.lora,
      train,
    });
    const spec: BatchSpec = Object.fromEntries(
      ['ids', 'targets', 'positions', 'segments'].map((k) => [
        k,
        { dtype: 'int64', shape: [c.microBatchSize, c.seqLen] },
      ]),
    );
    const paramNames = [...llamaParamShapes(modelConfig).keys()];
    const trainer = await Trainer.create(
      (g, b) => sftLoss(g, b, graphOpts(true)),
      spec,
      {
        optimizer: { kind: 'adamw', beta1: c.beta1, beta2: c.beta2, eps: 1e-8, weightDecay: c.weightDecay },
        schedule: {
          peakLr: c.lr,
          warmupSteps: Math.min(c.warmupSteps, totalSteps),
          totalSteps,
          minLr: c.minLr,
        },
        clipNorm: c.clipNorm,
        accumulationSteps: c.accumulationSteps,
        provider: c.provider,
        intraOpThreads: c.threads,
        seed: c.seed,
        frozen: c.lora ? loraFrozenNames(paramNames) : [],
      },
      store,
    );
    log.info(
      `sft: ${trainEx.length} train / ${evalEx.length} eval examples, ${plan.rows(0).length} rows of ${c.seqLen} ` +
        `in epoch 0, ${totalSteps} steps, ${trainer.trainableNames.length} trainable tensors (${model.name}${c.lora ? ', LoRA' : ''})`,
    );

    // Resume
    let resumedFrom = 0;
    if (latest && ck) {
      const params = new Map<string, HostTensor>();
      for (const n of [...paramNames, ...trainer.trainableNames]) {
        const t = ck.params.get(n);
        params.set(n, t ? toHostTensor(t) : store.get(n));
      }
      const optimizerState = new Map([...ck.optimizerState].map(([k, v]) => [k, toHostTensor(v)]));
      await trainer.importState({
        params,
        optimizerState,
        step: ck.state.step,
        rng: ck.state.rng as [number, number, number, number],
        lastLr: ck.state.lrSchedule.lastLr,
      });
      resumedFrom = ck.state.step;
      log.info(`resumed from ${latest} (step ${resumedFrom})`);
    }

    // Evaluation
    let evaluator: Forward | undefined;
    const evalRows = evalEx.length
      ? packExamples(evalEx, { seqLen: c.seqLen, packing: c.packing, padId: tokenizer.padId }).rows
      : [];
    const evaluate = async (): Promise<{ loss: number; ppl: number } | null> => {
      if (evalRows.length === 0) return null;
      await trainer.syncToHost();
      evaluator ??= await Forward.create((g, b) => sftEvalOutputs(g, b, graphOpts(false)), spec, store, {
        provider: c.provider,
        intraOpThreads: c.threads,
      });
      let nll = 0;
      let count = 0;
      for (let i = 0; i < evalRows.length; i += c.microBatchSize) {
        const rows = evalRows.slice(i, i + c.microBatchSize);
        // Fill a short last batch with copies of padding-only rows: they count no target.
        while (rows.length < c.microBatchSize) rows.push(blankRow(c.seqLen, tokenizer.padId));
        const out = await evaluator.run(rowsToBatch(rows, c.seqLen));
        nll += Number((out.nll as HostTensor).data[0]);
        count += Number((out.count as HostTensor).data[0]);
      }
      const loss = nll / Math.max(count, 1);
      return { loss, ppl: Math.exp(loss) };
    };

    const resumeKeyValue = resumeKey(c);
    const checkpoint = async (metrics: Record<string, number | null>) => {
      const snap = await trainer.exportState();
      const params = new Map<string, SafetensorsTensor>();
      for (const [n, t] of snap.params) if (!c.lora || isLoraParam(n)) params.set(n, toSafetensorsTensor(t));
      const optimizerState = new Map([...snap.optimizerState].map(([k, v]) => [k, toSafetensorsTensor(v)]));
      await saveCheckpoint(
        runDir.checkpointsDir,
        {
          params,
          optimizerState,
          state: {
            step: snap.step,
            rng: snap.rng,
            lrSchedule: { step: snap.step, lastLr: snap.lastLr },
            metrics,
            config: { resumeKey: resumeKeyValue, sft: JSON.parse(JSON.stringify(c)) },
          },
        },
        { keep: c.keepCheckpoints },
      );
    };

    const progress = new Progress({ total: totalSteps, label: 'sft', enabled: options.progress });
    progress.tick(resumedFrom);
    let windowLoss = 0;
    let windowSteps = 0;
    let windowTokens = 0;
    let windowSeconds = 0;
    let trainTokens = 0;
    let trainSeconds = 0;
    let lastLoss = Number.NaN;
    let evalResult: { loss: number; ppl: number } | null = null;
    const stopAt = Math.min(totalSteps, options.stopAfterStep ?? totalSteps);
    // Steps up to the next log, eval or checkpoint step (inclusive), so those land on a run's last step.
    const untilEvent = (s: number) =>
      Math.min(
        ...[c.logEvery, c.evalEvery, c.checkpointEvery].filter((e) => e > 0).map((e) => e - (s % e)),
        stopAt - s,
      );
    for (let s = trainer.step; s < stopAt; ) {
      // Exactly stepsPerRun steps or one: every other run length would compile (and keep) a session.
      const n = c.stepsPerRun <= untilEvent(s) ? c.stepsPerRun : 1;
      const planned = Array.from({ length: n }, (_, i) => plan.batches(s + i));
      const t0 = performance.now();
      const results = await trainer.trainSteps(planned.map((p) => p.batches));
      const dt = (performance.now() - t0) / 1000 / n;
      s += n;
      for (const [i, r] of results.entries()) {
        const { tokens, epoch } = planned[i] as (typeof planned)[number];
        if (!Number.isFinite(r.loss))
          throw new UsageError(`loss became ${r.loss} at step ${r.step}; lower lr?`);
        trainTokens += tokens;
        trainSeconds += dt;
        windowLoss += r.loss;
        windowSteps++;
        windowTokens += tokens;
        windowSeconds += dt;
        const step = r.step;
        const last = step === totalSteps;
        progress.tick(1, `loss ${r.loss.toFixed(3)}`);
        if (step % c.logEvery === 0 || last || step === stopAt) {
          lastLoss = windowLoss / windowSteps;
          await runDir.logMetrics(step, {
            'loss/sft': lastLoss,
            'lr/sft': r.lr,
            'grad_norm/sft': r.gradNorm,
            'tokens/s': windowTokens / windowSeconds,
            'time/step': windowSeconds / windowSteps,
            epoch,
          });
          windowLoss = 0;
          windowSteps = 0;
          windowTokens = 0;
          windowSeconds = 0;
        }
        if ((c.evalEvery > 0 && step % c.evalEvery === 0) || last) {
          const t1 = performance.now();
          evalResult = await evaluate();
          if (evalResult)
            await runDir.logMetrics(step, {
              'loss/eval': evalResult.loss,
              'ppl/eval': evalResult.ppl,
              'time/eval': (performance.now() - t1) / 1000,
            });
        }
        if ((c.checkpointEvery > 0 && step % c.checkpointEvery === 0) || last || step === stopAt) {
          const t1 = performance.now();
          await checkpoint({ 'loss/sft': r.loss, 'loss/eval': evalResult?.loss ?? null });
          await runDir.logMetrics(step, { 'time/checkpoint': (performance.now() - t1) / 1000 });
        }
      }
    }
    progress.done();
    await trainer.syncToHost();
    const peakRssMb = process.resourceUsage().maxRSS / 1024;

    let outputDir = runDir.file('model');
    if (trainer.step === totalSteps) {
      const weights = new Map<string, { shape: number[]; data: Float32Array }>();
      const snapshot = new Map(store.entries());
      if (c.lora) {
        outputDir = runDir.file('adapter');
        await saveLoraAdapter(outputDir, snapshot, c.lora, { baseModel: c.model.dir ?? null });
        if (c.saveMerged) {
          for (const [n, t] of mergeLora(snapshot, c.lora))
            weights.set(n, { shape: [...t.dims], data: t.data as Float32Array });
          await saveLlamaDir(runDir.file('merged'), modelConfig, weights);
          await tokenizer.save(runDir.file('merged', 'tokenizer.json'));
        }
      } else {
        for (const n of paramNames) {
          const t = store.get(n);
          weights.set(n, { shape: [...t.dims], data: t.data as Float32Array });
        }
        await saveLlamaDir(outputDir, modelConfig, weights);
        await tokenizer.save(path.join(outputDir, 'tokenizer.json'));
      }
      log.info(`sft: wrote ${outputDir}`);
    }
    return {
      runDir,
      step: trainer.step,
      totalSteps,
      resumedFrom,
      trainLoss: lastLoss,
      evalLoss: evalResult?.loss ?? null,
      evalPerplexity: evalResult?.ppl ?? null,
      tokensPerSecond: trainSeconds > 0 ? trainTokens / trainSeconds : 0,
      peakRssMb,
      outputDir,
      params: store,
      config: modelConfig,
      tokenizer,
    };
  } finally {
    runDir.release();
  }
}

function blankRow(seqLen: number, padId: number): PackedRow {
  return {
    ids: new Int32Array(seqLen).fill(padId),
    targets: new Int32Array(seqLen).fill(-100),
    positions: new Int32Array(seqLen),
    segments: new Int32Array(seqLen).fill(-1),
    tokens: 0,
    targetTokens: 0,
  };
}
