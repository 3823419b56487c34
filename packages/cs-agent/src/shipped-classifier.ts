/**
 * The strategy classifier shipped with the package (assets/strategy-classifier/) and its recipe: the
 * paraphrase corpus, model and training configs it is built from, and the template-agent replies it
 * is measured on. `buildShippedClassifier` is deterministic (one ORT thread), so
 * `pnpm --filter @gopo/cs-agent run build-classifier` rewrites the same files.
 */
import { fileURLToPath } from 'node:url';
import { SHOP_STRATEGIES } from '@gopo/dialogue';
import { collectTemplateTurns, nluJudge, shopStrategyPolicies } from '@gopo/envs';
import { judgeAgreement } from './judges.js';
import {
  type ParaphraseCorpusConfig,
  ParaphraseCorpusConfigSchema,
  paraphraseCorpus,
} from './paraphrase-corpus.js';
import {
  type LabelledReply,
  StrategyClassifier,
  type StrategyClassifierModel,
  StrategyClassifierModelSchema,
  type StrategyClassifierTrain,
  StrategyClassifierTrainSchema,
} from './strategy-classifier.js';

/** Where the shipped classifier lives (assets/ sits beside src/ and dist/). */
export const SHIPPED_CLASSIFIER_DIR = fileURLToPath(
  new URL('../assets/strategy-classifier/', import.meta.url),
);

/** Which template-agent replies a classifier is measured on: every admissible strategy in every state reached. */
export interface TemplateReplySpec {
  readonly policies: readonly string[];
  readonly scenariosPerPolicy: number;
  readonly seed: number;
}

/** How the shipped classifier is made; changing any of these changes the committed files. */
export const SHIPPED_CLASSIFIER_RECIPE: {
  readonly corpus: ParaphraseCorpusConfig;
  readonly model: StrategyClassifierModel;
  readonly train: StrategyClassifierTrain;
  readonly templateEval: TemplateReplySpec;
} = {
  corpus: ParaphraseCorpusConfigSchema.parse({ seed: 1 }),
  model: StrategyClassifierModelSchema.parse({}),
  train: StrategyClassifierTrainSchema.parse({ seed: 1 }),
  templateEval: { policies: shopStrategyPolicies.names(), scenariosPerPolicy: 60, seed: 5 },
};

/**
 * Replies of the template CS agent labelled with the strategy they realise: every SOP-admissible
 * strategy at every state of `scenariosPerPolicy` dialogues of each scripted strategy policy.
 */
export async function templateReplies(spec: TemplateReplySpec): Promise<LabelledReply[]> {
  const out: LabelledReply[] = [];
  for (const name of spec.policies) {
    const turns = await collectTemplateTurns({
      policy: shopStrategyPolicies.get(name),
      scenarios: spec.scenariosPerPolicy,
      seed: spec.seed,
      allAdmissible: true,
    });
    for (const t of turns) out.push({ text: t.text, strategy: t.strategy });
  }
  return out;
}

/** What the shipped classifier was measured at (stored in its classifier.json under training.metrics). */
export interface ClassifierMetrics {
  /** Accuracy on the held-out paraphrases (phrasings and world never trained on). */
  readonly heldOutAccuracy: number;
  /** Accuracy on template-agent replies (the simulator's phrasing, never trained on). */
  readonly templateAccuracy: number;
  /** Share of template replies the classifier and the simulator's NLU read alike. */
  readonly nluAgreement: number;
  readonly templateReplies: number;
  readonly heldOutReplies: number;
  /** Template-reply accuracy per strategy. */
  readonly templateAccuracyByStrategy: Readonly<Record<string, number>>;
}

/** Measures a classifier on the recipe's held-out paraphrases and template replies. */
export async function measureClassifier(
  classifier: StrategyClassifier,
  heldOut: readonly LabelledReply[],
  templates: readonly LabelledReply[],
): Promise<ClassifierMetrics> {
  const texts = templates.map((t) => t.text);
  const judged = await classifier.judge(texts);
  const byStrategy: Record<string, number> = {};
  for (const s of SHOP_STRATEGIES) {
    const idx = templates.flatMap((t, i) => (t.strategy === s ? [i] : []));
    if (idx.length > 0) byStrategy[s] = idx.filter((i) => judged[i] === s).length / idx.length;
  }
  const round = (x: number) => Math.round(x * 10_000) / 10_000;
  return {
    heldOutAccuracy: round(await classifier.accuracy(heldOut)),
    templateAccuracy: round(judged.filter((s, i) => s === templates[i]!.strategy).length / templates.length),
    nluAgreement: round(judgeAgreement(judged, await nluJudge.judge(texts)).agreement),
    templateReplies: templates.length,
    heldOutReplies: heldOut.length,
    templateAccuracyByStrategy: Object.fromEntries(Object.entries(byStrategy).map(([k, v]) => [k, round(v)])),
  };
}

/** Trains the shipped classifier from its recipe and measures it; the metrics go into its classifier.json. */
export async function buildShippedClassifier(
  onLog?: (step: number, loss: number) => void,
): Promise<{ classifier: StrategyClassifier; metrics: ClassifierMetrics }> {
  const r = SHIPPED_CLASSIFIER_RECIPE;
  const corpus = paraphraseCorpus(r.corpus);
  const { classifier } = await StrategyClassifier.train(corpus.train, {
    model: r.model,
    train: r.train,
    ...(onLog ? { onLog } : {}),
  });
  const metrics = await measureClassifier(classifier, corpus.heldOut, await templateReplies(r.templateEval));
  classifier.training = {
    ...classifier.training,
    corpus: r.corpus,
    templateEval: r.templateEval,
    metrics,
    rebuild: 'pnpm --filter @gopo/cs-agent run build-classifier',
  };
  return { classifier, metrics };
}

/** The shipped classifier (a StrategyJudge named "classifier"). */
export async function loadShippedClassifier(): Promise<StrategyClassifier> {
  return StrategyClassifier.load(SHIPPED_CLASSIFIER_DIR);
}
