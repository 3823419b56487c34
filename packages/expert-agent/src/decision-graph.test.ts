import { Rng } from '@gopo/core';
import { ChatTemplate, type LlamaConfig, LlamaConfigSchema, llamaParamShapes } from '@gopo/lm';
import {
  batchSpecOf,
  checkGradient,
  Forward,
  type Graph,
  gradients,
  type HostTensor,
  ParamStore,
  runForwardOnce,
  type Tensor,
} from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import {
  handTrajectory,
  rowOf,
  STRATEGIES,
  scaleWeights,
  shopTokenizer,
  stateBefore,
  TINY_MODEL,
  tinyAgent,
} from '../test/fixtures.js';
import {
  actionLogProbs,
  decisionLogProbs,
  groupRelativeGraphLoss,
  maskedDecisionLogits,
  pairwiseLoss,
  sftDecisionLoss,
  tokenPairwiseLoss,
} from './decision-graph.js';
import { ExpertEncoder } from './encoder.js';
import { expertLlamaConfig } from './expert-agent.js';
import { GopoLossConfigSchema } from './gopo-config.js';
import {
  buildPreferencePairs,
  gopoPairwiseLoss,
  gopoTokenPairwiseLoss,
  groupRelativeLoss,
} from './preference-loss.js';
import { type DecisionRows, packRows, type RowInput } from './rows.js';

const f64 = (dims: number[], data: ArrayLike<number>): HostTensor => ({
  dtype: 'float64',
  dims,
  data: Float64Array.from(data),
});
const i64 = (dims: number[], data: ArrayLike<number>): HostTensor => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from(Array.from(data), (x) => BigInt(x)),
});
const bool = (dims: number[], data: ArrayLike<number | boolean>): HostTensor => ({
  dtype: 'bool',
  dims,
  data: Uint8Array.from(Array.from(data), (x) => (x ? 1 : 0)),
});
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < actual.length; i++)
    expect(relErr(actual[i]!, expected[i]!), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`).toBeLessThan(
      tol,
    );
}

describe('pairwise loss graph against gopoPairwiseLoss (float64)', () => {
  // Five trajectories of up to four decisions; the fourth has none, the others pad differently.
  const B = 5;
  const D = 4;
  const weights = [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0];
  const rng = Rng.fromSeed(11, 'pairwise-graph');
  // Padding slots hold large values that would show if they leaked into a sum.
  const logp = weights.map((w) => (w ? -0.05 - 3 * rng.float() : -40));
  const refSum = Array.from({ length: B }, () => -6 + 5 * rng.float());
  const turns = Array.from({ length: B }, (_, b) =>
    weights.slice(b * D, b * D + D).reduce((a, x) => a + x, 0),
  );
  const rewards = [0.9, 0.2, 0.55, 0.4, 0.1];

  it.each([
    { beta: 0.1, margin: 0, lengthNormalize: false, nllWeight: 0 },
    { beta: 2, margin: 0.2, lengthNormalize: true, nllWeight: 0 },
    { beta: 0.5, margin: 0.05, lengthNormalize: true, nllWeight: 0.3 },
    { beta: 1, margin: 0.3, lengthNormalize: false, nllWeight: 1 },
  ])(
    'beta $beta, margin $margin, lengthNormalize $lengthNormalize, nll $nllWeight: loss, gradient and metrics agree to 1e-10',
    async (c) => {
      const cfg = GopoLossConfigSchema.parse(c);
      const pairs = buildPreferencePairs(rewards, cfg.margin);
      expect(pairs.length).toBeGreaterThan(0);
      const P = pairs.length + 2; // two padding pair slots
      const policy = Array.from({ length: B }, (_, b) =>
        logp.slice(b * D, b * D + D).reduce((a, x, t) => a + x * weights[b * D + t]!, 0),
      );
      const host = gopoPairwiseLoss({ policy, reference: refSum, turns }, pairs, cfg);
      const out = await runForwardOnce(
        {
          logp: f64([B, D], logp),
          weights: f64([B, D], weights),
          refSum: f64([B], refSum),
          turns: f64([B], turns),
          chosen: i64([P], [...pairs.map((p) => p.chosen), 0, 0]),
          rejected: i64([P], [...pairs.map((p) => p.rejected), 0, 0]),
          pairWeights: f64([P], [...pairs.map(() => 1), 0, 0]),
        },
        (g, x) => {
          const r = pairwiseLoss(
            g,
            x.logp!,
            x.weights!,
            {
              refSum: x.refSum!,
              turns: x.turns!,
              chosen: x.chosen!,
              rejected: x.rejected!,
              pairWeights: x.pairWeights!,
            },
            cfg,
          );
          return { loss: r.loss, grad: gradients(r.loss, [x.logp!])[0]!, ...r.metrics };
        },
      );
      expect(relErr(out.loss![0]!, host.loss)).toBeLessThan(1e-10);
      // d L / d logp[b, t] = d L / d (sum_t logp[b, t]) * weight[b, t]: padding slots get exactly 0.
      const chained = weights.map((w, i) => host.grad[Math.floor(i / D)]! * w);
      expectAllClose(out.grad!, chained, 1e-10, 'grad');
      weights.forEach((w, i) => {
        if (!w) expect(Math.abs(out.grad![i]!)).toBe(0);
      });
      for (const k of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies'])
        expect(relErr(out[k]![0]!, host.metrics[k]!), k).toBeLessThan(1e-10);
    },
  );
});

describe('token-level pairwise loss graph against gopoTokenPairwiseLoss (float64)', () => {
  // Five trajectories of 4, 2, 3, 0 and 1 decisions: pairs align over 0 to 3 positions, and the pairs
  // with the empty fourth trajectory have none (left out of the mean).
  const B = 5;
  const D = 4;
  const lengths = [4, 2, 3, 0, 1];
  const weights = lengths.flatMap((n) => Array.from({ length: D }, (_, t) => (t < n ? 1 : 0)));
  const rewards = [0.9, 0.2, 0.55, 0.4, 0.1];

  it.each([
    { beta: 0.1, margin: 0, nllWeight: 0, seed: 1 },
    { beta: 2, margin: 0.2, nllWeight: 0, seed: 2 },
    { beta: 0.5, margin: 0.05, nllWeight: 0.3, seed: 3 },
    { beta: 1, margin: 0.3, nllWeight: 1, seed: 4 },
  ])(
    'beta $beta, margin $margin, nll $nllWeight, random inputs $seed: loss, gradient and metrics agree to 1e-10',
    async ({ seed, ...c }) => {
      const cfg = GopoLossConfigSchema.parse({ ...c, preference: 'token' });
      const rng = Rng.fromSeed(seed, 'token-graph');
      // Padding slots hold large values that would show if they leaked into a term.
      const logp = weights.map((w) => (w ? -0.05 - 3 * rng.float() : -40));
      const refLogp = weights.map((w) => (w ? -0.05 - 3 * rng.float() : 25));
      const pairs = buildPreferencePairs(rewards, cfg.margin);
      expect(pairs.length).toBeGreaterThan(0);
      const P = pairs.length + 2; // two padding pair slots
      const rowsOf = (x: number[]) => lengths.map((n, b) => x.slice(b * D, b * D + n));
      const host = gopoTokenPairwiseLoss({ policy: rowsOf(logp), reference: rowsOf(refLogp) }, pairs, cfg);
      const out = await runForwardOnce(
        {
          logp: f64([B, D], logp),
          weights: f64([B, D], weights),
          refLogp: f64([B, D], refLogp),
          turns: f64([B], lengths),
          chosen: i64([P], [...pairs.map((p) => p.chosen), 0, 0]),
          rejected: i64([P], [...pairs.map((p) => p.rejected), 0, 0]),
          pairWeights: f64([P], [...pairs.map(() => 1), 0, 0]),
        },
        (g, x) => {
          const r = tokenPairwiseLoss(
            g,
            x.logp!,
            x.weights!,
            {
              refLogp: x.refLogp!,
              turns: x.turns!,
              chosen: x.chosen!,
              rejected: x.rejected!,
              pairWeights: x.pairWeights!,
            },
            cfg,
          );
          return { loss: r.loss, grad: gradients(r.loss, [x.logp!])[0]!, ...r.metrics };
        },
      );
      expect(relErr(out.loss![0]!, host.loss)).toBeLessThan(1e-10);
      const expected = weights.map((w, i) => (w ? host.grad[Math.floor(i / D)]![i % D]! : 0));
      expectAllClose(out.grad!, expected, 1e-10, 'grad');
      weights.forEach((w, i) => {
        if (!w) expect(Math.abs(out.grad![i]!)).toBe(0);
      });
      for (const k of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies'])
        expect(relErr(out[k]![0]!, host.metrics[k]!), k).toBeLessThan(1e-10);
    },
  );
});

describe('group-relative loss graph against groupRelativeLoss (float64)', () => {
  const B = 3;
  const D = 4;
  const weights = [1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0];
  const rng = Rng.fromSeed(12, 'group-graph');
  const logp = weights.map((w) => (w ? -0.1 - 2 * rng.float() : -30));
  // Ratios exp(logp - old) of e^{+-0.5} fall outside any clip range used here, e^{+-0.05} inside.
  const shifts = [0.5, -0.5, 0.05, -0.05];
  const oldLogp = logp.map((x, i) => (weights[i] ? x + shifts[i % 4]! : 0));
  const refLogp = weights.map((w) => (w ? -0.1 - 2 * rng.float() : 5));
  const rowAdvantage = [1.2, -0.7, 0.3];
  const advantage = weights.map((_, i) => rowAdvantage[Math.floor(i / D)]!);

  it.each([
    { clipEps: 0.2, klCoef: 0.05 },
    { clipEps: 0.1, klCoef: 0.5 },
    { clipEps: 0.9, klCoef: 0 },
  ])(
    'clipEps $clipEps, klCoef $klCoef: loss, gradient (clipped decisions included) and metrics agree to 1e-10',
    async (c) => {
      const cfg = GopoLossConfigSchema.parse({ mode: 'group_relative', ...c });
      const real = weights.flatMap((w, i) => (w ? [i] : []));
      const host = groupRelativeLoss(
        {
          logp: real.map((i) => logp[i]!),
          oldLogp: real.map((i) => oldLogp[i]!),
          refLogp: real.map((i) => refLogp[i]!),
          advantage: real.map((i) => advantage[i]!),
        },
        cfg,
      );
      if (c.clipEps < 0.5) {
        // both branches of the clipped surrogate are exercised
        expect(host.metrics['policy/clip_frac']).toBeGreaterThan(0);
        expect(host.metrics['policy/clip_frac']).toBeLessThan(1);
      }
      const out = await runForwardOnce(
        {
          logp: f64([B, D], logp),
          weights: f64([B, D], weights),
          oldLogp: f64([B, D], oldLogp),
          refLogp: f64([B, D], refLogp),
          advantage: f64([B, D], advantage),
        },
        (g, x) => {
          const r = groupRelativeGraphLoss(
            g,
            x.logp!,
            x.weights!,
            { oldLogp: x.oldLogp!, refLogp: x.refLogp!, advantage: x.advantage! },
            cfg,
          );
          return { loss: r.loss, grad: gradients(r.loss, [x.logp!])[0]!, ...r.metrics };
        },
      );
      expect(relErr(out.loss![0]!, host.loss)).toBeLessThan(1e-10);
      const expected = new Float64Array(B * D);
      real.forEach((i, k) => {
        expected[i] = host.grad[k]!;
      });
      expectAllClose(out.grad!, expected, 1e-10, 'grad');
      for (const k of ['policy/kl', 'policy/clip_frac'])
        expect(relErr(out[k]![0]!, host.metrics[k]!), k).toBeLessThan(1e-10);
    },
  );
});

/** A decoder small enough for float64 central differences over every parameter. */
const GRADCHECK_LLAMA: LlamaConfig = LlamaConfigSchema.parse({
  model_type: 'llama',
  vocab_size: 12,
  hidden_size: 8,
  intermediate_size: 12,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  tie_word_embeddings: true,
  max_position_embeddings: 16,
});
/** Strategy tokens of the gradient-check decoder (ids that the sequences below never contain). */
const GRADCHECK_STRATEGY_IDS = [3, 5, 7, 9];
const DECODER_PARAMS = [...llamaParamShapes(GRADCHECK_LLAMA).keys()].sort();

describe('the whole Expert step graph (float64 central differences)', () => {
  // Three rows of six tokens (the last one right-padded), two decision slots each (the last padded).
  const ids = [1, 4, 2, 6, 8, 10, 0, 6, 11, 2, 4, 8, 2, 2, 10, 1, 0, 0];
  const attention = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
  const positions = [2, 5, 7, 10, 15, 12];
  const mask = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0];
  const actions = [3, 3, 2, 0, 2, 0];
  const weights = [1, 1, 1, 1, 1, 0];
  const common = [
    { name: 'ids', shape: [3, 6], dtype: 'int64' as const, values: ids },
    { name: 'attention', shape: [3, 6], dtype: 'bool' as const, values: attention },
    { name: 'positions', shape: [3, 2], dtype: 'int64' as const, values: positions },
    { name: 'mask', shape: [3, 2, 4], dtype: 'bool' as const, values: mask },
    { name: 'actions', shape: [3, 2], dtype: 'int64' as const, values: actions },
    { name: 'weights', shape: [3, 2], values: weights, wrt: false },
  ];
  const logpOf = (g: Graph, x: Tensor[]) =>
    actionLogProbs(
      g,
      maskedDecisionLogits(
        g,
        GRADCHECK_LLAMA,
        GRADCHECK_STRATEGY_IDS,
        { ids: x[0]!, attention: x[1]!, positions: x[2]!, mask: x[3]! },
        'float64',
      ),
      x[4]!,
    );

  it('decoder -> strategy head -> masked log-softmax -> pairwise loss: every parameter within 1e-4', async () => {
    const cfg = { beta: 0.7, lengthNormalize: true, nllWeight: 0.2 };
    const r = await checkGradient(
      (g, x) =>
        pairwiseLoss(
          g,
          logpOf(g, x),
          x[5]!,
          { refSum: x[6]!, turns: x[7]!, chosen: x[8]!, rejected: x[9]!, pairWeights: x[10]! },
          cfg,
        ).loss,
      [
        ...common,
        { name: 'refSum', shape: [3], values: [-2, -1.5, -1], wrt: false },
        { name: 'turns', shape: [3], values: [2, 2, 1], wrt: false },
        { name: 'chosen', shape: [2], dtype: 'int64', values: [0, 2] },
        { name: 'rejected', shape: [2], dtype: 'int64', values: [1, 1] },
        { name: 'pairWeights', shape: [2], values: [1, 1], wrt: false },
      ],
      { paramScale: 0.4 },
    );
    expect(r.maxRelError).toBeLessThan(1e-4);
    // exactly the decoder's parameters: the strategy head is the tied embedding, not a weight of its own
    expect(Object.keys(r.errors).sort()).toEqual(DECODER_PARAMS);
  });

  it('the same with the token-level pairwise loss', async () => {
    const r = await checkGradient(
      (g, x) =>
        tokenPairwiseLoss(
          g,
          logpOf(g, x),
          x[5]!,
          { refLogp: x[6]!, turns: x[7]!, chosen: x[8]!, rejected: x[9]!, pairWeights: x[10]! },
          { beta: 0.7, nllWeight: 0.2 },
        ).loss,
      [
        ...common,
        { name: 'refLogp', shape: [3, 2], values: [-1, -0.5, -1.5, -1.1, -0.9, 0], wrt: false },
        { name: 'turns', shape: [3], values: [2, 2, 1], wrt: false },
        { name: 'chosen', shape: [2], dtype: 'int64', values: [0, 2] },
        { name: 'rejected', shape: [2], dtype: 'int64', values: [1, 1] },
        { name: 'pairWeights', shape: [2], values: [1, 1], wrt: false },
      ],
      { paramScale: 0.4 },
    );
    expect(r.maxRelError).toBeLessThan(1e-4);
  });

  it('the same with the group-relative loss and the SFT loss', async () => {
    const cfg = { clipEps: 0.2, klCoef: 0.3 };
    const r = await checkGradient(
      (g, x) => {
        const logp = logpOf(g, x);
        const gr = groupRelativeGraphLoss(
          g,
          logp,
          x[5]!,
          { oldLogp: x[6]!, refLogp: x[7]!, advantage: x[8]! },
          cfg,
        ).loss;
        return g.add(gr, sftDecisionLoss(g, logp, x[5]!));
      },
      [
        ...common,
        { name: 'oldLogp', shape: [3, 2], values: [-1.2, -0.3, -2, -1, -0.7, 0], wrt: false },
        { name: 'refLogp', shape: [3, 2], values: [-1, -0.5, -1.5, -1.1, -0.9, 0], wrt: false },
        { name: 'advantage', shape: [3, 2], values: [1, 1, -1.3, -1.3, 0.4, 0.4], wrt: false },
      ],
      { paramScale: 0.4 },
    );
    expect(r.maxRelError).toBeLessThan(1e-4);
  });
});

describe('SOP masking in the graph', () => {
  it.each(['float32', 'float64'] as const)(
    '%s: inadmissible strategies have probability exactly 0 and their head rows get no gradient',
    async (dtype) => {
      // Strategy 1 (token 5) is inadmissible everywhere; strategy 3 (token 9) is admissible in one slot
      // but never the action. No sequence contains a strategy token, so head rows get gradient only
      // through the decision softmax.
      const mask = [1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0];
      const feeds: Record<string, HostTensor> = {
        ids: i64([2, 6], [1, 4, 2, 6, 8, 10, 0, 6, 11, 2, 4, 8]),
        attention: bool([2, 6], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
        positions: i64([2, 2], [2, 5, 7, 10]),
        mask: bool([2, 2, 4], mask),
        actions: i64([2, 2], [0, 2, 2, 0]),
        weights: {
          dtype,
          dims: [2, 2],
          data: (dtype === 'float32' ? Float32Array : Float64Array).of(1, 1, 1, 1),
        },
      };
      const embed = 'model.embed_tokens.weight';
      const store = new ParamStore();
      const out = await runForwardOnce(
        feeds,
        (g, x) => {
          const inputs = { ids: x.ids!, attention: x.attention!, positions: x.positions!, mask: x.mask! };
          const logits = maskedDecisionLogits(g, GRADCHECK_LLAMA, GRADCHECK_STRATEGY_IDS, inputs, dtype);
          const loss = sftDecisionLoss(g, actionLogProbs(g, logits, x.actions!), x.weights!);
          return {
            logp: decisionLogProbs(g, GRADCHECK_LLAMA, GRADCHECK_STRATEGY_IDS, inputs, dtype),
            grad: gradients(loss, [g.params.get(embed)!.tensor])[0]!,
          };
        },
        store,
      );
      for (let slot = 0; slot < 4; slot++) {
        let total = 0;
        for (let s = 0; s < 4; s++) {
          const p = Math.exp(out.logp![slot * 4 + s]!);
          if (mask[slot * 4 + s]) {
            expect(p).toBeGreaterThan(0);
            total += p;
          } else expect(p, `slot ${slot} strategy ${s}`).toBe(0);
        }
        expect(total).toBeCloseTo(1, 5);
      }
      const hidden = GRADCHECK_LLAMA.hidden_size;
      const row = (id: number) => Array.from(out.grad!.subarray(id * hidden, (id + 1) * hidden));
      expect(row(5).every((v) => v === 0)).toBe(true);
      expect(row(9).some((v) => v !== 0)).toBe(true);
      expect(row(3).some((v) => v !== 0)).toBe(true);
    },
  );
});

describe('loss masking on a hand-built multi-turn batch', () => {
  const S = STRATEGIES.length;
  const B = 4;
  const D = 3;
  const pairs = [
    [0, 1],
    [2, 1],
    [0, 2],
  ];
  const extra = {
    refSum: f64([B], [-7, -5, -6, 0]),
    chosen: i64(
      [3],
      pairs.map((p) => p[0]!),
    ),
    rejected: i64(
      [3],
      pairs.map((p) => p[1]!),
    ),
    pairWeights: f64([3], [1, 1, 1]),
  };
  const loss = { beta: 0.8, lengthNormalize: false, nllWeight: 0.5 };

  interface Setup {
    readonly items: RowInput[];
    readonly T: number;
    readonly base: DecisionRows;
    readonly vocab: number;
    evaluate(rows: DecisionRows): Promise<{ pairwise: number; sft: number; logp: Float64Array }>;
  }
  let setup: Promise<Setup> | undefined;
  /**
   * Three trajectories (the second with an agent turn that carries no decision) and a padding row,
   * packed in float64; `evaluate` gives the pairwise and SFT losses and the per-slot log-probs [B, D, S].
   */
  const ready = (): Promise<Setup> => {
    setup ??= (async () => {
      const tokenizer = await shopTokenizer();
      const cfg = expertLlamaConfig(TINY_MODEL, tokenizer);
      const encoder = new ExpertEncoder(new ChatTemplate(tokenizer), STRATEGIES, cfg.max_position_embeddings);
      const items = [
        handTrajectory(1, { agentTurns: 3 }),
        handTrajectory(2, { agentTurns: 3, undecided: [1] }),
        handTrajectory(3, { agentTurns: 2 }),
      ].map((t) => rowOf(encoder, t));
      const T = Math.ceil(Math.max(...items.map((i) => i.encoded.ids.length)) / 16) * 16 + 16;
      const base = packRows(items, { rows: B, seqLen: T, slots: D }, S, tokenizer.padId, 'float64');
      const feedsOf = (rows: DecisionRows): Record<string, HostTensor> => ({
        ids: rows.ids,
        attention: rows.attention,
        positions: rows.positions,
        mask: rows.mask,
        actions: rows.actions,
        weights: rows.weights,
        turns: rows.turns,
        ...extra,
      });
      const store = new ParamStore();
      const forward = await Forward.create(
        (g, x) => {
          const inputs = { ids: x.ids!, attention: x.attention!, positions: x.positions!, mask: x.mask! };
          const logits = maskedDecisionLogits(g, cfg, encoder.strategyIds, inputs, 'float64');
          const lp = actionLogProbs(g, logits, x.actions!);
          const pairInputs = {
            refSum: x.refSum!,
            turns: x.turns!,
            chosen: x.chosen!,
            rejected: x.rejected!,
            pairWeights: x.pairWeights!,
          };
          return {
            pairwise: pairwiseLoss(g, lp, x.weights!, pairInputs, loss).loss,
            sft: sftDecisionLoss(g, lp, x.weights!),
            logp: g.logSoftmax(logits, -1),
          };
        },
        batchSpecOf(feedsOf(base)),
        store,
        { intraOpThreads: 1 },
      );
      scaleWeights(store, 25); // weights of std ~0.5: every token visibly moves every later log-prob
      return {
        items,
        T,
        base,
        vocab: tokenizer.vocabSize,
        async evaluate(rows) {
          const out = await forward.run(feedsOf(rows));
          return {
            pairwise: out.pairwise!.data[0] as number,
            sft: out.sft!.data[0] as number,
            logp: out.logp!.data as Float64Array,
          };
        },
      };
    })();
    return setup;
  };

  const clone = (rows: DecisionRows): DecisionRows =>
    Object.fromEntries(
      Object.entries(rows).map(([k, v]) => [k, { ...v, data: v.data.slice() }]),
    ) as unknown as DecisionRows;
  const ids = (r: DecisionRows) => r.ids.data as BigInt64Array;
  const rng = Rng.fromSeed(5, 'perturb');

  it('only decision slots carry loss: tokens after the last decision, the padding row and padding slots do not count', async () => {
    const { items, T, base, vocab, evaluate } = await ready();
    const ref = await evaluate(base);
    expect(Number.isFinite(ref.pairwise) && Number.isFinite(ref.sft)).toBe(true);

    // Every token after each row's last decision position (the last strategy token, replies, user
    // turns, padding), and the whole padding row, replaced; padding attended.
    const after = clone(base);
    for (let b = 0; b < B; b++) {
      const from = b < items.length ? Math.max(...items[b]!.encoded.positions) + 1 : 0;
      for (let t = from; t < T; t++) {
        ids(after)[b * T + t] = BigInt(rng.int(vocab));
        (after.attention.data as Uint8Array)[b * T + t] = 1;
      }
    }
    expect(await evaluate(after)).toMatchObject({ pairwise: ref.pairwise, sft: ref.sft });

    // Padding slots (weight 0) pointing elsewhere, with other masks and actions (admissible or not).
    const slots = clone(base);
    const w = slots.weights.data as Float64Array;
    let padded = 0;
    for (let k = 0; k < B * D; k++) {
      if (w[k]) continue;
      padded++;
      (slots.positions.data as BigInt64Array)[k] = BigInt(rng.int(B * T));
      for (let s = 0; s < S; s++) (slots.mask.data as Uint8Array)[k * S + s] = rng.bool() || s === 4 ? 1 : 0;
      (slots.actions.data as BigInt64Array)[k] = BigInt(rng.int(S));
    }
    expect(padded).toBeGreaterThanOrEqual(D + 2);
    expect(await evaluate(slots)).toMatchObject({ pairwise: ref.pairwise, sft: ref.sft });
  });

  it('the controls move the loss: a token before a decision, or a decision action', async () => {
    const { base, evaluate } = await ready();
    const ref = await evaluate(base);
    const early = clone(base);
    ids(early)[2] = ids(early)[2] === 100n ? 101n : 100n; // inside the first user turn of row 0
    const e = await evaluate(early);
    expect(Math.abs(e.pairwise - ref.pairwise)).toBeGreaterThan(1e-6);
    expect(Math.abs(e.sft - ref.sft)).toBeGreaterThan(1e-6);

    const act = clone(base);
    const a = act.actions.data as BigInt64Array;
    const m = act.mask.data as Uint8Array;
    const other = [...Array(S).keys()].find((s) => m[S + s] && BigInt(s) !== a[1])!;
    a[1] = BigInt(other);
    const x = await evaluate(act);
    expect(Math.abs(x.sft - ref.sft)).toBeGreaterThan(1e-6);
  });

  it("a decision's log-probs do not depend on any token after its position (its own strategy token included)", async () => {
    const { items, T, base, vocab, evaluate } = await ready();
    const ref = await evaluate(base);
    const row = 0;
    const positions = items[row]!.encoded.positions;
    const slot = (j: number, lp: Float64Array) =>
      Array.from(lp.subarray((row * D + j) * S, (row * D + j + 1) * S));
    for (let k = 0; k < positions.length - 1; k++) {
      const cut = clone(base);
      for (let t = positions[k]! + 1; t < T; t++) ids(cut)[row * T + t] = BigInt(rng.int(vocab));
      const got = await evaluate(cut);
      for (let j = 0; j <= k; j++)
        expect(slot(j, got.logp), `slot ${j} after cutting at ${k}`).toEqual(slot(j, ref.logp));
      const moved = slot(k + 1, got.logp).some((v, s) => Math.abs(v - slot(k + 1, ref.logp)[s]!) > 1e-6);
      expect(moved, `slot ${k + 1} sees the tokens before it`).toBe(true);
    }
  });
});

describe('one causal pass scores every decision as the rollout did', () => {
  it("one pass over the trajectory equals decide() on each decision's own prompt (encoder.prompt)", async () => {
    const agent = await tinyAgent(21, { scale: 25 });
    const t = handTrajectory(8, { agentTurns: 4, undecided: [2] });
    const states = t.decisions.map((_, k) => stateBefore(t, k));
    const rollout = await agent.decide(states, { greedy: true, uniforms: states.map(() => 0) });
    const [onePass] = await agent.decisionLogProbs([rowOf(agent.encoder, t)]);
    expect(onePass).toHaveLength(t.decisions.length);
    t.decisions.forEach((d, k) => {
      const admissible = d.mask.flatMap((ok, i) => (ok ? [i] : []));
      // not a uniform distribution, so a wrong context would show
      const spread = Math.max(
        ...admissible.map((i) => Math.abs(onePass![k]![i]! + Math.log(admissible.length))),
      );
      expect(spread).toBeGreaterThan(0.05);
      onePass![k]!.forEach((lp, i) => {
        if (d.mask[i])
          expect(Math.abs(lp - rollout[k]!.logProbs[i]!), `decision ${k} strategy ${i}`).toBeLessThan(2e-5);
        else expect(rollout[k]!.logProbs[i]).toBe(Number.NEGATIVE_INFINITY);
      });
    });
  });
});
