import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type CliContext, FileFormatError, readJsonlAll, silentLogger } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import { Trainer } from '@gopo/nn';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ChatTemplate,
  generate,
  isLoraParam,
  type LlamaConfig,
  LlamaConfigSchema,
  LlamaModel,
  lmCommands,
  loadDefaultTokenizer,
  loadLoraAdapter,
  runSft,
  type SftConfigInput,
  type SftResult,
  sftCommand,
  syntheticDialogues,
} from '../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lm-sft-'));
});

const tiny = (vocab: number): LlamaConfig =>
  LlamaConfigSchema.parse({
    vocab_size: vocab,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    tie_word_embeddings: true,
  });

async function writeCorpus(file: string, n = 32) {
  await fs.writeFile(
    file,
    `${syntheticDialogues(n)
      .map((d) => JSON.stringify({ messages: d.messages }))
      .join('\n')}\n`,
  );
}

/** Two runs ended with the same bits in every parameter. */
function expectSameParams(got: SftResult, want: SftResult): void {
  for (const [n, t] of want.params.entries())
    expect(
      Buffer.from((got.params.get(n).data as Float32Array).buffer).equals(
        Buffer.from((t.data as Float32Array).buffer),
      ),
      n,
    ).toBe(true);
}

describe('SFT', () => {
  it('a tiny Llama learns a synthetic dialogue corpus and then writes the expected replies greedily', async () => {
    const tok = await loadDefaultTokenizer();
    const data = path.join(dir, 'dialogues.jsonl');
    await writeCorpus(data);
    const cfg = tiny(tok.vocabSize);
    const r = await runSft(
      {
        runsDir: dir,
        runName: 'learn',
        data: { train: [data], evalFraction: 0 },
        model: { config: cfg },
        // trained on packed rows (block-diagonal attention), then asked for each reply alone
        seqLen: 64,
        packing: true,
        microBatchSize: 4,
        maxSteps: 400,
        lr: 5e-3,
        warmupSteps: 10,
        clipNorm: 1,
        threads: 2,
        logEvery: 20,
      },
      { logger: silentLogger(), progress: false },
    );
    expect(r.trainLoss).toBeLessThan(0.05);
    const chat = new ChatTemplate(tok);
    const dialogues = syntheticDialogues(32);
    const model = await LlamaModel.fromPretrained(r.outputDir, { intraOpThreads: 2 });
    const prompts = dialogues.map((d) => chat.generationPrompt([d.messages[0]!]));
    const replies = await generate(
      model,
      prompts.map((p) => p.ids),
      { maxNewTokens: 24, stopTokenIds: [tok.endId], padId: tok.padId },
      { tokenizer: tok },
    );
    expect(replies.map((g) => g.text)).toEqual(dialogues.map((d) => d.reply));
    expect(replies.every((g) => g.finishReason === 'eos')).toBe(true);
    // the final model folder loads as a Hugging Face model dir
    const files = await fs.readdir(r.outputDir);
    expect(files.sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
  });

  const resumeConfig = (name: string, extra: Partial<SftConfigInput> = {}): SftConfigInput => ({
    runsDir: dir,
    runName: name,
    data: { train: [path.join(dir, 'd.jsonl')], evalFraction: 0.2 },
    model: { config: tiny(2048) },
    seqLen: 48,
    packing: true,
    microBatchSize: 2,
    accumulationSteps: 2,
    maxSteps: 6,
    lr: 2e-3,
    warmupSteps: 2,
    weightDecay: 0.1,
    checkpointEvery: 2,
    keepCheckpoints: 2,
    evalEvery: 3,
    threads: 2,
    logEvery: 1,
    ...extra,
  });

  for (const [label, extra] of [
    ['full, packed, accumulation 2', {}],
    [
      'LoRA with adapter dropout',
      { lora: { r: 4, alpha: 8, dropout: 0.2, targetModules: ['q_proj', 'v_proj', 'o_proj'] } },
    ],
  ] as [string, Partial<SftConfigInput>][]) {
    it(`resumes bit-identically: 6 steps straight = 3, stop, resume, 3 more (${label})`, async () => {
      await writeCorpus(path.join(dir, 'd.jsonl'), 20);
      const log = silentLogger();
      const straight = await runSft(resumeConfig('straight', extra), { logger: log, progress: false });
      const first = await runSft(resumeConfig('split', extra), {
        logger: log,
        progress: false,
        stopAfterStep: 3,
      });
      expect(first.step).toBe(3);
      const second = await runSft(resumeConfig('split', extra), { logger: log, progress: false });
      expect(second.resumedFrom).toBe(3);
      expect(second.step).toBe(6);
      expectSameParams(second, straight);
      expect(second.evalLoss).toBe(straight.evalLoss);
      // resuming with settings that change the batches is refused, even with allowConfigChange
      await expect(
        runSft(resumeConfig('split', { ...extra, microBatchSize: 1, allowConfigChange: true }), {
          logger: log,
          progress: false,
        }),
      ).rejects.toThrow(/different data\/batch\/seed\/LoRA settings/);
      // other changed settings are named, and refused unless allowed
      await expect(
        runSft(resumeConfig('split', { ...extra, lr: 1e-3, maxSteps: 7 }), { logger: log, progress: false }),
      ).rejects.toThrow(
        /different config \(sft\.lr 0\.002 -> 0\.001, sft\.maxSteps 6 -> 7\).*--allow-config-change/,
      );
      // keepCheckpoints 2: only the two newest remain
      const cks = (await fs.readdir(second.runDir.checkpointsDir)).filter((f) => f.startsWith('step-'));
      expect(cks.sort()).toEqual(['step-00000004', 'step-00000006']);
      const metrics = await readJsonlAll(second.runDir.metricsFile);
      const keys = new Set(metrics.flatMap((m) => Object.keys(m as object)));
      for (const k of [
        'loss/sft',
        'loss/eval',
        'ppl/eval',
        'tokens/s',
        'time/step',
        'time/eval',
        'time/checkpoint',
      ])
        expect(keys.has(k), k).toBe(true);
      if ('lora' in extra) {
        const adapter = await loadLoraAdapter(second.outputDir);
        expect([...adapter.tensors.keys()].every(isLoraParam)).toBe(true);
        expect(adapter.tensors.size).toBe(2 * 3 * 2);
        expect(adapter.config.r).toBe(4);
      }
    });
  }
});

describe('sft stepsPerRun', () => {
  it('several steps per session call give the same weights, losses and checkpoints as one per call', async () => {
    await writeCorpus(path.join(dir, 'spr.jsonl'), 20);
    const log = silentLogger();
    const config = (name: string, stepsPerRun: number): SftConfigInput => ({
      runsDir: dir,
      runName: name,
      data: { train: [path.join(dir, 'spr.jsonl')], evalFraction: 0.2 },
      model: { config: tiny(2048) },
      seqLen: 48,
      microBatchSize: 2,
      maxSteps: 7,
      lr: 2e-3,
      warmupSteps: 2,
      lora: { r: 4, alpha: 8, dropout: 0.2, targetModules: ['q_proj', 'v_proj'] },
      checkpointEvery: 6,
      evalEvery: 0,
      logEvery: 3,
      threads: 2,
      stepsPerRun,
    });
    const single = vi.spyOn(Trainer.prototype, 'trainStep');
    const one = await runSft(config('spr-1', 1), { logger: log, progress: false });
    expect(single).toHaveBeenCalledTimes(7);
    single.mockClear();
    // Steps 1-3 and 4-6 run as loops of 3 (log steps 3 and 6, checkpoint 6); step 7 alone.
    const three = await runSft(config('spr-3', 3), { logger: log, progress: false });
    expect(single).toHaveBeenCalledTimes(1);
    single.mockRestore();
    expectSameParams(three, one);
    expect(three.evalLoss).toBe(one.evalLoss);
    const losses = async (r: SftResult) =>
      (await readJsonlAll(r.runDir.metricsFile))
        .filter((m) => 'loss/sft' in (m as object))
        .map((m) => [(m as { step: number }).step, (m as Record<string, number>)['loss/sft']]);
    expect(await losses(three)).toEqual(await losses(one));
    expect((await losses(one)).map(([step]) => step)).toEqual([3, 6, 7]);
    const cks = async (r: SftResult) =>
      (await fs.readdir(r.runDir.checkpointsDir)).filter((f) => f.startsWith('step-')).sort();
    expect(await cks(three)).toEqual(await cks(one));
  });
});

describe('gopo lm sft', () => {
  let output: string[];
  let ctx: CliContext;
  beforeEach(() => {
    ({ ctx, output } = testCliContext({ seed: 0 }));
  });

  it('is in lmCommands and trains LoRA from a YAML config plus flags', async () => {
    expect(lmCommands.map((c) => c.path.join(' '))).toContain('lm sft');
    const data = path.join(dir, 'data.jsonl');
    await fs.writeFile(
      data,
      [
        ...syntheticDialogues(6).map((d) => JSON.stringify({ messages: d.messages })),
        JSON.stringify({ prompt: 'Capital of France?', completion: ' Paris.' }),
      ].join('\n'),
    );
    const yaml = path.join(dir, 'sft.yaml');
    await fs.writeFile(
      yaml,
      [
        `runsDir: ${dir}`,
        'runName: cli',
        'data:',
        `  train: [${data}]`,
        '  evalFraction: 0.3',
        'model:',
        '  config: {vocab_size: 2048, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2}',
        'seqLen: 40',
        'microBatchSize: 2',
        'maxSteps: 3',
        'saveMerged: true',
        'threads: 1',
        '',
      ].join('\n'),
    );
    const code = await sftCommand.run(sftCommand.options.parse({ loraR: 2, loraTargets: ['q_proj'] }), {
      ...ctx,
      configFile: yaml,
    });
    expect(code).toBe(0);
    expect(output.join('\n')).toMatch(/step 3\/3.*eval loss.*tokens\/s/);
    const run = path.join(dir, 'cli');
    expect((await fs.readdir(path.join(run, 'adapter'))).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
    ]);
    expect((await fs.readdir(path.join(run, 'merged'))).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
    ]);
  });

  it('names file, line and field of a bad data line, and of a bad config field', async () => {
    const data = path.join(dir, 'bad.jsonl');
    const good = JSON.stringify({ messages: syntheticDialogues(1)[0]!.messages });
    await fs.writeFile(data, `${good}\n${good}\n{"messages":[{"role":"robot","content":"hi"}]}\n`);
    const args = sftCommand.options.parse({ train: [data], runsDir: dir });
    const yaml = path.join(dir, 'c.yaml');
    await fs.writeFile(
      yaml,
      'model:\n  config: {vocab_size: 2048, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2}\n',
    );
    const err = await Promise.resolve(sftCommand.run(args, { ...ctx, configFile: yaml })).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(FileFormatError);
    expect(String((err as Error).message)).toMatch(/bad\.jsonl:3.*messages\[0\]\.role/);
    await fs.writeFile(yaml, 'model:\n  dir: x\nseqLen: -4\n');
    const err2 = await Promise.resolve(sftCommand.run(args, { ...ctx, configFile: yaml })).catch(
      (e: Error) => e,
    );
    expect(String((err2 as Error).message)).toMatch(/c\.yaml:3.*seqLen/);
  });
});
