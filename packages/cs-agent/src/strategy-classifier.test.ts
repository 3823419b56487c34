import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@gopo/core';
import { SHOP_STRATEGIES } from '@gopo/dialogue';
import { nluJudge } from '@gopo/envs';
import { serializeSafetensors } from '@gopo/nn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeAgreement } from './judges.js';
import { paraphraseCorpus } from './paraphrase-corpus.js';
import {
  type ClassifierMetrics,
  loadShippedClassifier,
  SHIPPED_CLASSIFIER_DIR,
  SHIPPED_CLASSIFIER_RECIPE,
  templateReplies,
} from './shipped-classifier.js';
import {
  CLASSIFIER_CONFIG_FILE,
  CLASSIFIER_WEIGHTS_FILE,
  ClassifierWeightsError,
  StrategyClassifier,
  type TrainedClassifier,
} from './strategy-classifier.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gopo-classifier-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('StrategyClassifier on a tiny corpus', () => {
  const corpus = paraphraseCorpus({ trainPerStrategy: 24, heldOutPerStrategy: 4 });
  const options = { model: { dim: 16 }, train: { steps: 60, batchSize: 32, warmupSteps: 5, peakLr: 0.05 } };
  let tiny: TrainedClassifier;
  beforeAll(async () => {
    tiny = await StrategyClassifier.train(corpus.train, options);
    await tiny.classifier.save(join(dir, 'tiny'));
  });

  it('learns (the loss halves, the head leaves its zero init), deterministically, and saves and loads as a folder', async () => {
    const a = tiny;
    const b = await StrategyClassifier.train(corpus.train, options);
    const head = (xs: readonly number[]) => xs.slice(0, 5).reduce((s, x) => s + x, 0) / 5;
    expect(head(a.losses.slice(-5))).toBeLessThan(0.5 * head(a.losses));
    for (const [name, t] of a.classifier.params.entries()) {
      expect(Array.from(t.data as Float32Array)).toEqual(
        Array.from(b.classifier.params.get(name).data as Float32Array),
      );
      expect(
        (t.data as Float32Array).some((x) => x !== 0),
        name,
      ).toBe(true);
    }
    expect((a.classifier.params.get('head.bias').data as Float32Array).some((x) => x !== 0)).toBe(true);
    expect(await a.classifier.accuracy(corpus.train)).toBeGreaterThan(0.9);
    const judged = await a.classifier.judge(corpus.heldOut.map((e) => e.text));
    for (const s of judged) expect(SHOP_STRATEGIES).toContain(s);

    const loaded = await StrategyClassifier.load(join(dir, 'tiny'));
    expect(loaded.name).toBe('classifier');
    expect(loaded.model).toEqual(a.classifier.model);
    const texts = corpus.heldOut.map((e) => e.text);
    expect(await loaded.probabilities(texts)).toEqual(await a.classifier.probabilities(texts));
    expect(await loaded.judge([])).toEqual([]);

    // minConfidence: below it the judge abstains.
    const cautious = await StrategyClassifier.train(corpus.train, {
      model: { ...options.model, minConfidence: 0.999999 },
      train: { ...options.train, steps: 2, warmupSteps: 1 },
    });
    expect(await cautious.classifier.judge(['Hmm.'])).toEqual([null]);
  });

  it('refuses labels outside its strategy set and a bad folder, naming the file and field', async () => {
    await expect(StrategyClassifier.train([{ text: 'hi', strategy: 'dance' }], options)).rejects.toThrow(
      /dance/,
    );
    const bad = join(dir, 'bad');
    await cp(join(dir, 'tiny'), bad, { recursive: true });
    const cfg = JSON.parse(await readFile(join(bad, CLASSIFIER_CONFIG_FILE), 'utf8'));
    await writeFile(
      join(bad, CLASSIFIER_CONFIG_FILE),
      JSON.stringify({ ...cfg, model: { ...cfg.model, dim: 'x' } }),
    );
    await expect(StrategyClassifier.load(bad)).rejects.toThrow(ConfigError);
    await expect(StrategyClassifier.load(bad)).rejects.toThrow(/model\.dim/);
    await writeFile(
      join(bad, CLASSIFIER_CONFIG_FILE),
      JSON.stringify({ ...cfg, model: { ...cfg.model, dim: 9 } }),
    );
    await expect(StrategyClassifier.load(bad)).rejects.toThrow(ClassifierWeightsError);
    await writeFile(join(bad, CLASSIFIER_CONFIG_FILE), JSON.stringify(cfg));
    await writeFile(
      join(bad, CLASSIFIER_WEIGHTS_FILE),
      serializeSafetensors({ 'head.bias': { dtype: 'F32', shape: [13], data: new Float32Array(13) } }),
    );
    await expect(StrategyClassifier.load(bad)).rejects.toThrow(/embed\.weight/);
  });
});

describe('the shipped strategy classifier', () => {
  it('is small, loads, and judges held-out paraphrases and template-agent replies at its recorded accuracy', async () => {
    let bytes = 0;
    for (const f of ['classifier.json', 'model.safetensors', 'tokenizer.json'])
      bytes += (await stat(join(SHIPPED_CLASSIFIER_DIR, f))).size;
    expect(bytes).toBeLessThan(1_000_000);
    const c = await loadShippedClassifier();
    expect(c.strategies).toEqual(SHOP_STRATEGIES);
    const recorded = (c.training as { metrics: ClassifierMetrics }).metrics;
    expect(recorded.templateAccuracy).toBeGreaterThan(0.98);

    // Fresh dialogues (another seed than the recorded measurement), every admissible strategy.
    const replies = await templateReplies({
      ...SHIPPED_CLASSIFIER_RECIPE.templateEval,
      scenariosPerPolicy: 15,
      seed: 77,
    });
    const texts = replies.map((r) => r.text);
    const judged = await c.judge(texts);
    const accuracy = judged.filter((s, i) => s === replies[i]!.strategy).length / replies.length;
    expect(accuracy).toBeGreaterThan(recorded.templateAccuracy - 0.015);
    expect(judgeAgreement(judged, await nluJudge.judge(texts)).agreement).toBeGreaterThan(
      recorded.nluAgreement - 0.015,
    );

    const { heldOut } = paraphraseCorpus(SHIPPED_CLASSIFIER_RECIPE.corpus);
    expect(await c.accuracy(heldOut)).toBeGreaterThan(recorded.heldOutAccuracy - 0.01);
  });
});
