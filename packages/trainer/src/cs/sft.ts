/**
 * SFT of the CS Agent's reply model (DESIGN.md 4.6): the simulator plays many scenarios with a mix of
 * strategy policies (so replies exist for every strategy in every state the Expert Agent may reach)
 * and its template CS agent writes the replies; each agent turn becomes an SFT record whose loss
 * counts the reply tokens only (`@gopo/cs-agent` replyRecords, lm's runSft with completion
 * `last_agent_turn`). The corpus and the run live in one run folder.
 */
import * as path from 'node:path';
import { type Logger, writeFileAtomic } from '@gopo/core';
import { replyRecords } from '@gopo/cs-agent';
import { templateReplyPolicy } from '@gopo/envs';
import { freshLlamaConfig, loadDefaultTokenizer, runSft, type SftResult } from '@gopo/lm';
import { z } from 'zod';
import { GopoTrainConfigSchema } from '../gopo/config.js';
import { simulateHistory } from '../gopo/warm-start.js';
import { shopEnvFactoryFor } from '../rollout/worker-spec.js';

export const CsModelConfigSchema = z
  .object({
    hiddenSize: z.number().int().min(8).default(128).describe('decoder width'),
    layers: z.number().int().min(1).default(3).describe('decoder layers'),
    heads: z.number().int().min(1).default(4).describe('attention heads'),
    kvHeads: z.number().int().min(1).default(2).describe('key/value heads'),
    intermediateSize: z.number().int().min(8).default(384).describe('SwiGLU hidden width'),
    maxPositions: z.number().int().min(64).default(1024).describe('longest prompt + reply'),
  })
  .strict()
  .describe("the reply model's decoder (vocabulary: the shipped tokenizer)");
export type CsModelConfig = z.infer<typeof CsModelConfigSchema>;

export const CsSftConfigSchema = z
  .object({
    corpus: z
      .object({
        episodes: z.number().int().min(1).default(1500).describe('simulated sessions the corpus is made of'),
        policies: z
          .record(z.string(), z.number().positive())
          .default({ oracle: 0.4, history: 0.4, uniform: 0.2 })
          .describe(
            'strategy policies playing the sessions, with their shares (replies: the template agent)',
          ),
        maxHistoryTurns: z.number().int().min(0).default(4).describe('turns each prompt keeps'),
        strategyTokens: z
          .boolean()
          .default(true)
          .describe(
            'strategy tokens in the prompts (false: the corpus of a flat agent, the same replies and prompts minus the strategy command; examples/compare-baselines/flat-sft.yaml)',
          ),
        worlds: z
          .number()
          .int()
          .min(1)
          .default(32)
          .describe(
            "shop worlds the sessions are spread over (the deployment world and others with the next world seeds): in one world the catalog's ids and prices can be memorised, across many the model must copy them from the facts block",
          ),
      })
      .strict()
      .prefault({}),
    model: CsModelConfigSchema.prefault({}),
    steps: z.number().int().min(1).default(1500).describe('SFT steps'),
    seqLen: z.number().int().min(64).default(384).describe('tokens per packed row'),
    microBatchSize: z.number().int().min(1).default(8).describe('rows per step'),
    lr: z.number().positive().default(1e-3).describe('peak learning rate (warmup + cosine)'),
    warmupSteps: z.number().int().min(0).default(50).describe('linear warmup steps'),
    threads: z.number().int().min(0).default(0).describe('ORT intra-op threads (0: ORT default)'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.warmupSteps > c.steps)
      ctx.addIssue({
        code: 'custom',
        path: ['warmupSteps'],
        message: `warmupSteps exceeds steps (${c.steps})`,
      });
  })
  .describe('gopo cs sft');
export type CsSftConfig = z.infer<typeof CsSftConfigSchema>;

/** Writes the SFT corpus of `c` as JSONL; returns its record count. */
export async function writeReplyCorpus(
  c: CsSftConfig,
  seed: number,
  file: string,
  log: Logger,
): Promise<number> {
  const env = GopoTrainConfigSchema.parse({}).env;
  const worlds = Array.from({ length: c.corpus.worlds }, (_, w) =>
    shopEnvFactoryFor({ ...env, world: { ...env.world, seed: env.world.seed + w } }),
  );
  const total = Object.values(c.corpus.policies).reduce((a, b) => a + b, 0);
  const lines: string[] = [];
  let k = 0;
  for (const [policy, share] of Object.entries(c.corpus.policies).sort(([a], [b]) => a.localeCompare(b))) {
    const n = Math.round((c.corpus.episodes * share) / total);
    // The policy's sessions split evenly over the worlds (the first ones take the remainder).
    for (const [w, makeEnv] of worlds.entries()) {
      const nw = Math.floor(n / worlds.length) + (w < n % worlds.length ? 1 : 0);
      if (nw === 0) continue;
      const sessions = await simulateHistory(policy, nw, seed * 7919 + k++, makeEnv, templateReplyPolicy);
      for (const r of replyRecords(sessions, {
        maxHistoryTurns: c.corpus.maxHistoryTurns,
        strategyTokens: c.corpus.strategyTokens,
      }))
        lines.push(JSON.stringify(r));
    }
    log.info(`cs corpus: ${n} sessions of the ${policy} policy over ${worlds.length} world(s)`);
  }
  await writeFileAtomic(file, `${lines.join('\n')}\n`);
  return lines.length;
}

/** Runs (or resumes) the reply model's SFT in runs/<runName>; the model is in <run>/model. */
export async function runCsSft(
  c: CsSftConfig,
  options: {
    runName: string;
    runsDir: string;
    seed: number;
    overwrite: boolean;
    logger: Logger;
    progress?: boolean;
  },
): Promise<SftResult & { records: number }> {
  const tokenizer = await loadDefaultTokenizer();
  const corpus = path.join(options.runsDir, `${options.runName}.corpus.jsonl`);
  const records = await writeReplyCorpus(c, options.seed, corpus, options.logger);
  const result = await runSft(
    {
      runName: options.runName,
      runsDir: options.runsDir,
      resume: !options.overwrite,
      overwrite: options.overwrite,
      data: { train: [corpus], completion: 'last_agent_turn', evalFraction: 0.05 },
      // A reply ends at <|end|> (the end of a turn), so that is the model's end-of-sequence token.
      model: { config: freshLlamaConfig(c.model, tokenizer, tokenizer.endId) },
      seqLen: c.seqLen,
      packing: true,
      microBatchSize: c.microBatchSize,
      maxSteps: c.steps,
      lr: c.lr,
      warmupSteps: c.warmupSteps,
      minLr: c.lr / 10,
      weightDecay: 0.01,
      checkpointEvery: 250,
      seed: options.seed,
      threads: c.threads,
    },
    { logger: options.logger, ...(options.progress !== undefined ? { progress: options.progress } : {}) },
  );
  return { ...result, records };
}
