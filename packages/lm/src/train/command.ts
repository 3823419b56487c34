import {
  applyOverrides,
  defineCommand,
  OutputFormatSchema,
  parseConfigText,
  readConfigText,
  validateConfig,
} from '@gopo/core';
import { z } from 'zod';
import { runSft, SftConfigSchema } from './sft.js';

/** Flags that override fields of the config file (absent flags leave the file's values). */
const flags = z.object({
  train: z.array(z.string()).optional().describe('training JSONL files (data.train)'),
  eval: z.array(z.string()).optional().describe('evaluation JSONL files (data.eval)'),
  modelDir: z.string().optional().describe('Hugging Face model folder to fine-tune (model.dir)'),
  tokenizer: z.string().optional().describe('tokenizer.json to use'),
  runName: z.string().optional().describe('run folder name (one plain folder name, see createRunDir)'),
  runsDir: z.string().optional().describe('parent folder of run folders'),
  seqLen: z.number().int().optional().describe('tokens per row'),
  packing: z.boolean().optional().describe('pack several examples per row'),
  microBatchSize: z.number().int().optional().describe('rows per micro-batch'),
  accumulationSteps: z.number().int().optional().describe('micro-batches per optimizer step'),
  stepsPerRun: z.number().int().optional().describe('optimizer steps per session call (same results)'),
  epochs: z.number().int().optional().describe('passes over the data'),
  maxSteps: z.number().int().optional().describe('optimizer steps (overrides epochs)'),
  lr: z.number().optional().describe('peak learning rate'),
  evalEvery: z.number().int().optional().describe('evaluate every N steps'),
  checkpointEvery: z.number().int().optional().describe('checkpoint every N steps'),
  loraR: z.number().int().optional().describe('train LoRA adapters of this rank (lora.r)'),
  loraAlpha: z.number().optional().describe('LoRA alpha (lora.alpha)'),
  loraTargets: z.array(z.string()).optional().describe('LoRA target module names (lora.targetModules)'),
  overwrite: z
    .boolean()
    .optional()
    .describe('start afresh, deleting an existing run folder (implies --no-resume unless --resume is given)'),
  resume: z
    .boolean()
    .optional()
    .describe('continue an existing run folder (the default; --no-resume refuses to reuse one)'),
  allowConfigChange: z
    .boolean()
    .optional()
    .describe('resume although settings changed since the run started (they are listed and recorded)'),
  format: OutputFormatSchema,
});

export const sftCommand = defineCommand({
  path: ['lm', 'sft'],
  describe: 'Supervised fine-tuning (full or LoRA) of a decoder on chat or prompt/completion JSONL',
  options: flags,
  globals: ['seed', 'config', 'set', 'device'],
  files: { inputs: ['train', 'eval', 'tokenizer'], inputDirs: ['modelDir'] },
  examples: [
    ['gopo lm sft --config sft.yaml', 'run (or resume) the job described in sft.yaml'],
    ['gopo lm sft --config sft.yaml --lora-r 8 --lora-targets q_proj v_proj', 'LoRA on q/v projections'],
  ],
  async run(args, ctx) {
    const text = ctx.configFile ? await readConfigText(ctx.configFile) : undefined;
    const parsed = ctx.configFile && text !== undefined ? parseConfigText(text, ctx.configFile) : {};
    const base = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    const raw = structuredClone(base) as Record<string, unknown> & {
      data?: Record<string, unknown>;
      model?: Record<string, unknown>;
      lora?: Record<string, unknown> | null;
    };
    const set = <K extends keyof typeof args>(key: K, apply: (v: NonNullable<(typeof args)[K]>) => void) => {
      const v = args[key];
      if (v !== undefined && v !== null) apply(v as NonNullable<(typeof args)[K]>);
    };
    set('train', (v) => {
      raw.data = { ...raw.data, train: v };
    });
    set('eval', (v) => {
      raw.data = { ...raw.data, eval: v };
    });
    set('modelDir', (v) => {
      raw.model = { dir: v };
    });
    for (const k of [
      'tokenizer',
      'runName',
      'runsDir',
      'seqLen',
      'packing',
      'microBatchSize',
      'accumulationSteps',
      'stepsPerRun',
      'epochs',
      'maxSteps',
      'lr',
      'evalEvery',
      'checkpointEvery',
      'overwrite',
      'resume',
      'allowConfigChange',
    ] as const)
      set(k, (v) => {
        raw[k] = v;
      });
    if (args.overwrite && args.resume === undefined) raw.resume = false;
    set('loraR', (v) => {
      raw.lora = { ...(raw.lora ?? {}), r: v };
    });
    set('loraAlpha', (v) => {
      raw.lora = { ...(raw.lora ?? {}), alpha: v };
    });
    set('loraTargets', (v) => {
      raw.lora = { ...(raw.lora ?? {}), targetModules: v };
    });
    // Flags override the config file; the file's values override the flags' defaults.
    if (ctx.given.has('seed') || raw.seed === undefined) raw.seed = ctx.seed;
    if (ctx.given.has('device')) raw.provider = ctx.device;
    const merged = ctx.overrides.length > 0 ? applyOverrides(raw, ctx.overrides, SftConfigSchema) : raw;
    // Line numbers point into the config file; fields set by flags are named by their path.
    const config = validateConfig(SftConfigSchema, merged, ctx.configFile ?? '(command line)', text);
    const r = await runSft(config, { logger: ctx.logger, progress: ctx.quiet ? false : undefined });
    if (args.format === 'json') {
      ctx.out(
        JSON.stringify(
          {
            step: r.step,
            totalSteps: r.totalSteps,
            resumedFrom: r.resumedFrom,
            trainLoss: r.trainLoss,
            evalLoss: r.evalLoss,
            evalPerplexity: r.evalPerplexity,
            tokensPerSecond: r.tokensPerSecond,
            peakRssMb: r.peakRssMb,
            runDir: r.runDir.root,
            outputDir: r.outputDir,
            configChanges: r.runDir.configChanges,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    ctx.out(
      `sft: step ${r.step}/${r.totalSteps}, train loss ${r.trainLoss.toFixed(4)}` +
        (r.evalLoss !== null
          ? `, eval loss ${r.evalLoss.toFixed(4)} (ppl ${r.evalPerplexity?.toFixed(2)})`
          : '') +
        `, ${Math.round(r.tokensPerSecond)} tokens/s, peak RSS ${Math.round(r.peakRssMb)} MB; wrote ${r.outputDir}`,
    );
    return 0;
  },
});
