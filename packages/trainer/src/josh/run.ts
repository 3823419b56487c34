/**
 * `gopo josh`: four stages in one run folder, each resumable as a whole (a finished stage leaves
 * stages/<name>.json with its summary and is never rerun; a changed config is refused by the run
 * folder, naming the change):
 *
 * 1. selfplay: JOSH beam search on every training goal with the configured agent; writes
 *    data/josh-sft.jsonl and data/josh-kto.jsonl (schema-checked, atomic).
 * 2. sft: the golden (view, step) pairs as lm prompt/completion records (data/sft-lm.jsonl, prompts
 *    fitted as the agent fits them), lm's runSft in <run>/sft (its own checkpoints resume too).
 * 3. kto: KTO from the SFT model on the labelled steps (CsUpdater's KTO step against the frozen SFT
 *    model as reference); the model goes to models/josh-kto.
 * 4. ppo (only with ppo.enabled): step-reward PPO of the LM tool agent from the KTO (or SFT) model
 *    in the environment (ppo.ts); resumable per phase; the model goes to models/josh-ppo.
 * 5. eval: base / JOSH-SFT / JOSH-KTO (/ JOSH-PPO) on the held-out goals for each eval seed: average
 *    reward and 100% success rate per seed, mean and 95% t-interval over seeds (evaluate.ts);
 *    stages/eval.json and report.md.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  createRunDir,
  JsonlWriter,
  type Logger,
  Rng,
  type RunDir,
  readJsonlAll,
  UsageError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@gopo/core';
import {
  CsAgent,
  CsUpdater,
  fitToolPrompt,
  LmToolAgent,
  type ReplyItem,
  renderToolStep,
  toolStepIds,
} from '@gopo/cs-agent';
import { trialSeed } from '@gopo/envs';
import {
  CONFIG_FILE,
  DEFAULT_TOKENIZER_PATH,
  freshLlamaConfig,
  readLlamaConfig,
  runSft,
  type SftRecord,
  SftRecordSchema,
  TOKENIZER_FILE,
  Tokenizer,
} from '@gopo/lm';
import { match } from 'ts-pattern';
import { OpenAiToolAgent } from '../backends/openai-tool-agent.js';
import type { JoshConfig } from './config.js';
import { type JoshKtoRecord, JoshKtoRecordSchema, JoshSftRecordSchema, joshRecords } from './datasets.js';
import { type AgentEval, evaluate, lmEvalAgent, type SeedStat } from './evaluate.js';
import { noisyScriptedPolicy } from './noisy-policy.js';
import { type PpoStageSummary, runPpoStage } from './ppo.js';
import { type JoshPolicy, joshSearch } from './search.js';
import type { JoshTask } from './tasks.js';

export const JOSH_STAGES = ['selfplay', 'sft', 'kto', 'ppo', 'eval'] as const;
export type JoshStage = (typeof JOSH_STAGES)[number];

export interface JoshRunOptions {
  readonly runName: string;
  readonly runsDir: string;
  readonly seed: number;
  readonly env: string;
  readonly overwrite: boolean;
  readonly allowConfigChange?: boolean;
  readonly logger: Logger;
  readonly progress?: boolean;
  /** Stop after this stage (tests of resume; `--until`). */
  readonly until?: JoshStage;
}

export interface SelfPlaySummary {
  readonly goals: number;
  readonly successes: number;
  readonly outcomes: Record<string, number>;
  readonly expansions: number;
  readonly sftRecords: number;
  readonly ktoDesirable: number;
  readonly ktoUndesirable: number;
}

export interface JoshRunResult {
  readonly runDir: string;
  readonly selfplay: SelfPlaySummary;
  readonly sftModel?: string;
  readonly ktoModel?: string;
  /** The ppo stage's summary (absent when ppo.enabled is false or the run stopped before it). */
  readonly ppo?: PpoStageSummary;
  readonly eval?: readonly AgentEval[];
  readonly stagesRun: readonly JoshStage[];
}

async function stage<T>(run: RunDir, name: JoshStage, done: JoshStage[], log: Logger, fn: () => Promise<T>) {
  const file = run.file('stages', `${name}.json`);
  if (existsSync(file)) {
    log.info(`josh: ${name} already done`);
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  }
  const t0 = performance.now();
  const r = await fn();
  await writeJsonAtomic(file, r);
  done.push(name);
  log.info(`josh: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

/** The base agent of the config as a JoshPolicy (branches and evaluation). */
async function basePolicy<P, G>(task: JoshTask<P, G>, c: JoshConfig, temperature: number) {
  return match(c.agent)
    .with(
      { kind: 'scripted' },
      (a): JoshPolicy<P> => noisyScriptedPolicy(task.policies.get(a.policy), a.noise),
    )
    .with({ kind: 'lm' }, async (a): Promise<JoshPolicy<P>> => {
      const agent = await LmToolAgent.load(
        a.model,
        { ...c.lmAgent, temperature, topK: a.topK },
        {
          intraOpThreads: c.threads,
          name: 'base',
        },
      );
      return { name: 'base', create: (_p, seed) => agent.withConfig({ seed }) };
    })
    .with(
      { kind: 'openai' },
      ({ kind: _, ...server }): JoshPolicy<P> => ({
        name: 'base',
        // The request's seed: servers that honour it make a search reproducible, as the LM agent's.
        create: (_p, seed) => new OpenAiToolAgent({ ...server, temperature }, { seed, name: 'base' }),
      }),
    )
    .exhaustive();
}

async function selfPlay<P, G>(task: JoshTask<P, G>, c: JoshConfig, run: RunDir, seed: number, log: Logger) {
  const policy = await basePolicy(task, c, c.agent.kind === 'scripted' ? 0 : c.agent.temperature);
  const sft = new JsonlWriter(run.file('data', 'josh-sft.jsonl'), JoshSftRecordSchema);
  const kto = new JsonlWriter(run.file('data', 'josh-kto.jsonl'), JoshKtoRecordSchema);
  const outcomes: Record<string, number> = {};
  let expansions = 0;
  let good = 0;
  let bad = 0;
  try {
    for (const [i, item] of task.train.entries()) {
      const r = await joshSearch(task.env, item, policy, trialSeed(seed, 0, i), c.search);
      outcomes[r.outcome.kind] = (outcomes[r.outcome.kind] ?? 0) + 1;
      expansions += r.expansions;
      const recs = joshRecords(item.id, r);
      for (const s of recs.sft) await sft.write(s);
      for (const k of recs.kto) {
        await kto.write(k);
        if (k.desirable) good++;
        else bad++;
      }
      if ((i + 1) % 10 === 0 || i + 1 === task.train.length)
        log.info(`josh selfplay: ${i + 1}/${task.train.length} goals, ${outcomes.success ?? 0} successes`);
    }
    await sft.close();
    await kto.close();
  } catch (e) {
    await sft.abort();
    await kto.abort();
    throw e;
  }
  return {
    goals: task.train.length,
    successes: outcomes.success ?? 0,
    outcomes,
    expansions,
    sftRecords: sft.count,
    ktoDesirable: good,
    ktoUndesirable: bad,
  } satisfies SelfPlaySummary;
}

/** The folder SFT starts from, if any. */
const startDir = (c: JoshConfig) => (c.agent.kind === 'lm' ? c.agent.model : c.model.dir);

async function runSftStage(c: JoshConfig, run: RunDir, seed: number, log: Logger, progress?: boolean) {
  const from = startDir(c);
  const tokenizer = await Tokenizer.load(from ? path.join(from, TOKENIZER_FILE) : DEFAULT_TOKENIZER_PATH);
  const maxPositions = from
    ? (await readLlamaConfig(path.join(from, CONFIG_FILE))).max_position_embeddings
    : c.model.init.maxPositions;
  const budget = Math.max(16, Math.min(c.lmAgent.maxPromptTokens, maxPositions - c.lmAgent.maxNewTokens));
  const records = await readJsonlAll(run.file('data', 'josh-sft.jsonl'), JoshSftRecordSchema);
  if (records.length === 0)
    throw new UsageError(
      'JOSH found no successful dialogue, so there is nothing to fine-tune on: more goals, a larger search, or a better agent',
    );
  const file = run.file('data', 'sft-lm.jsonl');
  const w = new JsonlWriter<SftRecord>(file, SftRecordSchema);
  try {
    for (const r of records)
      await w.write({
        prompt: fitToolPrompt(r.view, tokenizer, c.lmAgent, budget).text,
        completion: renderToolStep(r.step),
      });
    await w.close();
  } catch (e) {
    await w.abort();
    throw e;
  }
  const m = c.model.init;
  const result = await runSft(
    {
      runName: 'sft',
      runsDir: run.root,
      resume: true,
      data: { train: [file], evalFraction: 0 },
      model: from ? { dir: from } : { config: freshLlamaConfig(m, tokenizer, tokenizer.eosId) },
      ...(from ? {} : { tokenizer: DEFAULT_TOKENIZER_PATH }),
      seqLen: c.sft.seqLen,
      packing: true,
      microBatchSize: c.sft.microBatchSize,
      maxSteps: c.sft.steps,
      lr: c.sft.lr,
      warmupSteps: c.sft.warmupSteps,
      minLr: c.sft.lr / 10,
      weightDecay: 0.01,
      checkpointEvery: 100,
      seed,
      threads: c.threads,
    },
    { logger: log, ...(progress !== undefined ? { progress } : {}) },
  );
  return {
    model: result.outputDir,
    records: records.length,
    trainLoss: result.trainLoss,
    steps: result.step,
  };
}

async function runKtoStage(c: JoshConfig, run: RunDir, sftModel: string, seed: number, log: Logger) {
  const records: JoshKtoRecord[] = await readJsonlAll(
    run.file('data', 'josh-kto.jsonl'),
    JoshKtoRecordSchema,
  );
  if (records.length === 0) throw new UsageError('no KTO records: JOSH found no successful dialogue');
  const policy = await LmToolAgent.load(sftModel, c.lmAgent, { trainable: true, intraOpThreads: c.threads });
  const reference = await LmToolAgent.load(sftModel, c.lmAgent, { intraOpThreads: c.threads });
  const items: ReplyItem[] = records.map((r) => ({
    prompt: policy.prompt(r.view).ids,
    tokens: toolStepIds(r.step, policy.tokenizer),
    desirable: r.desirable,
  }));
  const chunk = 8;
  const score = async (agent: LmToolAgent) => {
    const sums: number[] = [];
    for (let at = 0; at < items.length; at += chunk) {
      const part = items.slice(at, at + chunk);
      const r = await agent.model.scoreContinuations(
        part.map((i) => i.prompt),
        part.map((i) => i.tokens),
        { padId: agent.tokenizer.padId },
      );
      sums.push(...r.sums);
    }
    return sums;
  };
  const refLogp = await score(reference);
  const withRef = items.map((it, i) => ({ ...it, refLogp: refLogp[i]! }));
  // CsUpdater trains any (prompt, tokens) items of an lm decoder; CsAgent is only its holder.
  const updater = new CsUpdater(
    new CsAgent(policy.model, policy.tokenizer),
    c.kto.rows,
    {
      kind: 'kto',
      kto: {
        beta: c.kto.beta,
        desirableWeight: c.kto.desirableWeight,
        undesirableWeight: c.kto.undesirableWeight,
      },
    },
    {
      lr: c.kto.lr,
      clipNorm: 1,
      optimizer: { kind: 'adamw', weightDecay: 0 },
      intraOpThreads: c.threads,
      seed,
    },
  );
  const rng = Rng.fromSeed(seed, 'josh-kto');
  const losses: number[] = [];
  let zRef = 0;
  for (let e = 0; e < c.kto.epochs; e++) {
    // KTO's reference point: the KL estimate of the policy on these records, clamped at 0, held per epoch.
    const now = e === 0 ? refLogp : await score(policy);
    zRef = Math.max(0, now.reduce((a, v, i) => a + v - refLogp[i]!, 0) / now.length);
    const order = rng.shuffle(withRef.slice());
    for (let at = 0; at < order.length; at += c.kto.rows) {
      const r = await updater.step(order.slice(at, at + c.kto.rows), zRef);
      losses.push(r.loss);
    }
    log.info(
      `josh kto: epoch ${e + 1}/${c.kto.epochs}, loss ${(losses.reduce((a, b) => a + b, 0) / losses.length).toFixed(4)}`,
    );
  }
  const model = run.file('models', 'josh-kto');
  await policy.model.save(model);
  await policy.tokenizer.save(path.join(model, TOKENIZER_FILE));
  return {
    model,
    records: records.length,
    desirable: records.filter((r) => r.desirable).length,
    steps: losses.length,
    loss: losses.reduce((a, b) => a + b, 0) / Math.max(1, losses.length),
    zRef,
  };
}

const ci = (s: SeedStat, pct = false) => {
  const f = (v: number) => (pct ? `${(100 * v).toFixed(1)}%` : v.toFixed(3));
  return `${f(s.mean)} [${f(s.low)}, ${f(s.high)}]`;
};

export function joshReport(
  env: string,
  c: JoshConfig,
  selfplay: SelfPlaySummary,
  evals: readonly AgentEval[],
): string {
  const ks = c.eval.seeds.map((_, i) => i + 1);
  return [
    `# JOSH on ${env}`,
    '',
    `Self-play: ${selfplay.goals} goals, ${selfplay.successes} with a successful leaf, ${selfplay.expansions} sampled turns; ${selfplay.sftRecords} SFT steps, KTO ${selfplay.ktoDesirable} desirable / ${selfplay.ktoUndesirable} undesirable.`,
    '',
    `Held-out: ${c.goals.eval} goals x seeds ${c.eval.seeds.join(', ')} (mean and 95% t-interval over seeds).`,
    '',
    `| agent | average reward | 100% success rate | ${ks.map((k) => `pass^${k}`).join(' | ')} | malformed steps |`,
    `| --- | --- | --- | ${ks.map(() => '---').join(' | ')} | --- |`,
    ...evals.map(
      (e) =>
        `| ${e.agent} | ${ci(e.averageReward)} | ${ci(e.fullSuccessRate, true)} | ${ks.map((k) => (e.passHatK[k - 1] ?? Number.NaN).toFixed(3)).join(' | ')} | ${e.malformedRate === null ? 'n/a' : `${(100 * e.malformedRate).toFixed(1)}%`} |`,
    ),
    '',
    `pass^k: each seed is one trial of every held-out goal; the chance that k trials of a goal all reach reward 1, averaged over goals (tau-bench's metric; pass^1 is the mean 100% success rate).`,
    '',
  ].join('\n');
}

export async function runJosh<P, G>(
  task: JoshTask<P, G>,
  c: JoshConfig,
  o: JoshRunOptions,
): Promise<JoshRunResult> {
  const log = o.logger;
  const from = startDir(c);
  const run = await createRunDir(
    o.runName,
    { env: o.env, seed: o.seed, config: c },
    {
      parent: o.runsDir,
      resume: !o.overwrite,
      overwrite: o.overwrite,
      allowConfigChange: o.allowConfigChange ?? false,
      inputs: from ? [from] : [],
    },
  );
  try {
    const stagesRun: JoshStage[] = [];
    const stop = (s: JoshStage) => o.until === s;
    const selfplay = await stage(run, 'selfplay', stagesRun, log, () => selfPlay(task, c, run, o.seed, log));
    if (stop('selfplay')) return { runDir: run.root, selfplay, stagesRun };
    const sft = await stage(run, 'sft', stagesRun, log, () => runSftStage(c, run, o.seed, log, o.progress));
    if (stop('sft')) return { runDir: run.root, selfplay, sftModel: sft.model, stagesRun };
    const kto = await stage(run, 'kto', stagesRun, log, () => runKtoStage(c, run, sft.model, o.seed, log));
    if (stop('kto'))
      return { runDir: run.root, selfplay, sftModel: sft.model, ktoModel: kto.model, stagesRun };
    const models = { runDir: run.root, selfplay, sftModel: sft.model, ktoModel: kto.model };
    const ppo = c.ppo.enabled
      ? await stage(run, 'ppo', stagesRun, log, () =>
          runPpoStage(task, c, run, c.ppo.from === 'kto' ? kto.model : sft.model, o.seed, log),
        )
      : undefined;
    if (stop('ppo')) return { ...models, ...(ppo ? { ppo } : {}), stagesRun };
    const evals = await stage(run, 'eval', stagesRun, log, async () => {
      const base = await basePolicy(task, c, c.eval.temperature);
      const evals = await evaluate(
        task,
        c.eval.seeds,
        [
          { name: 'base', lm: c.agent.kind !== 'scripted', policy: base },
          await lmEvalAgent<P>('josh-sft', sft.model, c),
          await lmEvalAgent<P>('josh-kto', kto.model, c),
          ...(ppo ? [await lmEvalAgent<P>('josh-ppo', ppo.model, c)] : []),
        ],
        log,
      );
      await writeFileAtomic(run.file('report.md'), joshReport(o.env, c, selfplay, evals));
      return evals;
    });
    return { ...models, ...(ppo ? { ppo } : {}), eval: evals, stagesRun };
  } finally {
    run.release();
  }
}
