import * as path from 'node:path';
import { defineCommand, OutputFormatSchema, RunNameSchema, resolveCommandConfig } from '@gopo/core';
import { CsAgent } from '@gopo/cs-agent';
import { readSessionsAll, type Session } from '@gopo/dialogue';
import { templateReplyPolicy } from '@gopo/envs';
import { z } from 'zod';
import type { CsTrainMode } from '../cs/objective.js';
import { CsSftConfigSchema, runCsSft } from '../cs/sft.js';
import { CsTrainConfigSchema, runCsTraining } from '../cs/train.js';
import { GopoTrainConfigSchema } from '../gopo/config.js';
import { shopEnvFactory } from '../gopo/run.js';
import { simulateHistory } from '../gopo/warm-start.js';

/** `gopo cs sft`: the reply model's SFT on a simulator corpus of template replies. */
export const csSftCommand = defineCommand({
  path: ['cs', 'sft'],
  describe:
    "train the CS Agent's reply model with SFT on the simulator's template replies (loss on reply tokens only)",
  options: z.object({
    runName: RunNameSchema.default('cs-sft'),
    runsDir: z.string().default('runs').describe('parent folder of run folders'),
    overwrite: z.boolean().default(false).describe('replace an existing run folder of this name'),
    format: OutputFormatSchema,
  }),
  globals: ['seed', 'config', 'set'],
  examples: [
    ['gopo cs sft --run-name cs-sft', 'the reply model in runs/cs-sft/model'],
    ['gopo cs sft --set steps=3000 --set model.layers=4', 'a longer run of a larger model'],
  ],
  async run(args, ctx) {
    const c = await resolveCommandConfig(CsSftConfigSchema, ctx);
    const r = await runCsSft(c, {
      runName: args.runName,
      runsDir: args.runsDir,
      seed: ctx.seed,
      overwrite: args.overwrite,
      logger: ctx.logger,
    });
    const summary = {
      model: r.outputDir,
      records: r.records,
      steps: r.step,
      trainLoss: r.trainLoss,
      evalLoss: r.evalLoss,
      tokensPerSecond: r.tokensPerSecond,
    };
    ctx.out(
      args.format === 'json'
        ? JSON.stringify(summary)
        : `reply model: ${r.outputDir}\n${r.records} records, ${r.step} steps, train loss ${r.trainLoss.toFixed(3)}, eval loss ${r.evalLoss?.toFixed(3) ?? 'n/a'}, ${r.tokensPerSecond.toFixed(0)} tokens/s`,
    );
    return 0;
  },
});

/** `gopo cs sample`: the reply model's replies next to the template agent's, turn by turn. */
export const csSampleCommand = defineCommand({
  path: ['cs', 'sample'],
  describe:
    "print the CS Agent's replies for logged (or simulated) states and strategies, beside the logged reply",
  options: z.object({
    model: z.string().describe('the reply model folder (gopo cs sft writes <run>/model)'),
    logs: z.string().optional().describe('states from these Mgshop-style logs (default: oracle dialogues)'),
    sessions: z.number().int().min(1).max(1000).default(2).describe('sessions to sample'),
    temperature: z.number().min(0).default(0).describe('sampling temperature (0: greedy)'),
    format: OutputFormatSchema,
  }),
  globals: ['seed'],
  files: { inputDirs: ['model'], inputs: ['logs'] },
  async run(args, ctx) {
    const agent = await CsAgent.load(args.model, { temperature: args.temperature });
    let sessions: Session[];
    if (args.logs) sessions = (await readSessionsAll(args.logs)).slice(0, args.sessions);
    else
      sessions = await simulateHistory(
        'oracle',
        args.sessions,
        ctx.seed,
        shopEnvFactory(GopoTrainConfigSchema.parse({})),
        templateReplyPolicy,
      );
    const rows: {
      session: string;
      turn: number;
      strategy: string;
      user: string;
      logged: string;
      reply: string;
    }[] = [];
    for (const s of sessions) {
      const requests = s.turns.flatMap((t, i) =>
        t.role === 'agent' && t.strategy && t.sop_state !== undefined
          ? [
              {
                state: {
                  sessionId: s.session_id,
                  domain: s.domain,
                  turns: s.turns.slice(0, i),
                  sopState: t.sop_state,
                  admissible: [],
                  facts: t.facts ?? [],
                },
                strategy: t.strategy,
                seed: ctx.seed * 1_000_003 + i,
                turn: i,
                logged: t.text,
              },
            ]
          : [],
      );
      const replies = await agent.reply(requests);
      requests.forEach((r, k) => {
        rows.push({
          session: s.session_id,
          turn: r.turn,
          strategy: r.strategy,
          user: [...r.state.turns].reverse().find((t) => t.role === 'user')?.text ?? '',
          logged: r.logged,
          reply: replies[k]!,
        });
      });
    }
    if (args.format === 'json') ctx.out(JSON.stringify(rows));
    else
      for (const r of rows)
        ctx.out(
          `${r.session} turn ${r.turn} [${r.strategy}]\n  customer: ${r.user}\n  logged:   ${r.logged}\n  model:    ${r.reply}`,
        );
    ctx.logger.info(`${rows.length} replies from ${path.basename(args.model)}`);
    return 0;
  },
});

const CS_TRAIN_DESCRIPTIONS: Record<CsTrainMode, string> = {
  rl: "per-turn RL of the CS Agent's reply model (adherence + SOP compliance + step reward - adaptive KL; clipped surrogate with a per-state group baseline)",
  kto: "KTO of the CS Agent's reply model on good/bad sampled replies",
  ppo: "step-reward PPO of the CS Agent's reply model (per-token progressive Rtod + adherence and SOP compliance at the last token - adaptive per-token KL; value head, GAE)",
};

function csTrainCommand(mode: CsTrainMode) {
  return defineCommand({
    path: ['cs', mode],
    describe: CS_TRAIN_DESCRIPTIONS[mode],
    options: z.object({
      model: z.string().optional().describe("the SFT reply model folder (overrides the config's model)"),
      runName: RunNameSchema.default(`cs-${mode}`),
      runsDir: z.string().default('runs').describe('parent folder of run folders'),
      overwrite: z.boolean().default(false).describe('replace an existing run folder of this name'),
      resume: z.boolean().default(true).describe('continue an existing run from its last checkpoint'),
      format: OutputFormatSchema,
    }),
    globals: ['seed', 'config', 'set'],
    files: { inputDirs: ['model'] },
    examples: [
      [
        `gopo cs ${mode} --model runs/cs-sft/model --run-name cs-${mode}`,
        `the ${mode.toUpperCase()} run; the model lands in runs/cs-${mode}/model`,
      ],
    ],
    async run(args, ctx) {
      const c = await resolveCommandConfig(CsTrainConfigSchema, {
        configFile: ctx.configFile,
        overrides: [...(args.model ? [`model=${JSON.stringify(args.model)}`] : []), ...ctx.overrides],
      });
      const r = await runCsTraining(c, mode, {
        runName: args.runName,
        runsDir: args.runsDir,
        seed: ctx.seed,
        resume: args.resume && !args.overwrite,
        overwrite: args.overwrite,
        logger: ctx.logger,
      });
      if (args.format === 'json') ctx.out(JSON.stringify(r));
      else {
        ctx.out(`reply model: ${r.model}`);
        for (const [k, v] of Object.entries(r.after.metrics))
          ctx.out(
            `${k.padEnd(24)} ${r.before.metrics[k]?.value.toFixed(1).padStart(6)} -> ${v.value.toFixed(1).padStart(6)}`,
          );
      }
      return 0;
    },
  });
}

export const csRlCommand = csTrainCommand('rl');
export const csKtoCommand = csTrainCommand('kto');
export const csPpoCommand = csTrainCommand('ppo');
