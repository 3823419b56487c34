import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '@gopo/core';
import { LlamaModel, loadDefaultTokenizer } from '@gopo/lm';
import { tinyLlamaConfig } from '@gopo/lm/testing';
import { checkGradient, gradients, type HostTensor, ParamStore, runForwardOnce } from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import { CsAgent } from './cs-agent.js';
import { CsUpdater, packReplies } from './cs-updater.js';
import { gae, klPenalizedTokenRewards, trajectoryTargets, whiten } from './gae.js';
import {
  clippedValueLoss,
  PpoConfigSchema,
  ppoLoss,
  ppoLossHost,
  replyLogProbsAndValues,
} from './ppo-losses.js';
import { replyTokenLogProbs } from './reply-losses.js';
import { loadValueHead, VALUE_HEAD_FILE, valueHead } from './value-head.js';

const f64 = (dims: number[], data: ArrayLike<number>): HostTensor => ({
  dtype: 'float64',
  dims,
  data: Float64Array.from(data),
});
const close = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

describe('GAE, KL-shaped rewards and whitening (hand-computed)', () => {
  it('GAE over three tokens with gamma 0.9, lambda 0.8', () => {
    // delta_2 = 2 + 0 - 0.25 = 1.75                      A_2 = 1.75
    // delta_1 = 0 + 0.9 * 0.25 - 1 = -0.775              A_1 = -0.775 + 0.72 * 1.75 = 0.485
    // delta_0 = 1 + 0.9 * 1 - 0.5 = 1.4                  A_0 = 1.4 + 0.72 * 0.485 = 1.7492
    const r = gae([1, 0, 2], [0.5, 1, 0.25], 0.9, 0.8);
    [1.7492, 0.485, 1.75].forEach((a, t) => {
      expect(r.advantages[t]).toBeCloseTo(a, 12);
    });
    // Returns are A + V.
    [2.2492, 1.485, 2].forEach((g, t) => {
      expect(r.returns[t]).toBeCloseTo(g, 12);
    });
  });

  it('gamma = lambda = 1: the advantage is the reward-to-go minus the value', () => {
    const r = gae([1, 0, 2], [0.5, 1, 0.25], 1, 1);
    [2.5, 1, 1.75].forEach((a, t) => {
      expect(r.advantages[t]).toBeCloseTo(a, 12);
    });
  });

  it('the KL penalty: r_t - beta (log pi - log pi_ref) per token', () => {
    const r = klPenalizedTokenRewards([0, 0, 1], [-1, -2, -0.5], [-1.5, -2, -1], 0.1);
    [-0.05, 0, 0.95].forEach((x, t) => {
      expect(r[t]).toBeCloseTo(x, 12);
    });
  });

  it('a trajectory of two replies: KL folded in, GAE across the reply boundary, split back', () => {
    // Rewards: reply A [0 - 0.1 * 0.5] = [-0.05]; reply B [0, 1] (log pi = log pi_ref).
    // gamma = lambda = 1: A_t = reward-to-go - V_t = [0.95 - 0.2, 1 - 0.5, 1 - 0.4] = [0.75, 0.5, 0.6].
    const t = trajectoryTargets(
      [
        { scores: [0], logprobs: [-1], refLogprobs: [-1.5], values: [0.2] },
        { scores: [0, 1], logprobs: [-1, -1], refLogprobs: [-1, -1], values: [0.5, 0.4] },
      ],
      0.1,
      1,
      1,
    );
    expect(t.advantages.map((a) => a.length)).toEqual([1, 2]);
    [0.75, 0.5, 0.6].forEach((a, i) => {
      expect([...t.advantages[0]!, ...t.advantages[1]!][i]).toBeCloseTo(a, 12);
    });
    expect(t.returns[0]![0]).toBeCloseTo(0.95, 12);
    expect(t.kl).toBeCloseTo(0.5, 12);
    expect(t.reward).toBeCloseTo(0.95, 12);
  });

  it('whitening: mean 0, population std 1', () => {
    const w = whiten([1, 2, 3]);
    const s = Math.sqrt(2 / 3);
    [-1 / s, 0, 1 / s].forEach((x, i) => {
      expect(w[i]).toBeCloseTo(x, 6);
    });
    expect(Array.from(whiten([4, 4]))).toEqual([0, 0]);
  });
});

describe('the PPO loss (float64)', () => {
  const cfg = { clipEps: 0.2, valueClipEps: 0.2, valueCoef: 0.5 };

  it('a hand-computed token: clipped ratio, unclipped value error', () => {
    // ratio e^0.5 > 1.2 with A = 2 > 0: the clipped branch 1.2 * 2 is the minimum, no gradient.
    // V = 1.5 (old 1.0, so clip(V) = 1.2), R = 0: (1.5)^2 = 2.25 > (1.2)^2 = 1.44, value loss 1.125.
    const h = ppoLossHost(
      {
        logp: [[0]],
        oldLogp: [[-0.5]],
        advantages: [[2]],
        values: [[1.5]],
        oldValues: [[1]],
        returns: [[0]],
        mask: [[1]],
      },
      cfg,
    );
    expect(h.policyLoss).toBeCloseTo(-2.4, 12);
    expect(h.valueLoss).toBeCloseTo(1.125, 12);
    expect(h.loss).toBeCloseTo(-2.4 + 0.5 * 1.125, 12);
    expect(h.gradLogp[0]![0]).toBe(0);
    expect(h.gradValues[0]![0]).toBeCloseTo(0.5 * 1.5, 12);
    // R = 3: (1.2 - 3)^2 = 3.24 > (1.5 - 3)^2 = 2.25, the clipped value wins and V is outside the clip.
    const c = ppoLossHost(
      {
        logp: [[-1]],
        oldLogp: [[-1]],
        advantages: [[-0.5]],
        values: [[1.5]],
        oldValues: [[1]],
        returns: [[3]],
        mask: [[1]],
      },
      cfg,
    );
    expect(c.policyLoss).toBeCloseTo(0.5, 12);
    expect(c.gradLogp[0]![0]).toBeCloseTo(0.5, 12);
    expect(c.valueLoss).toBeCloseTo(1.62, 12);
    expect(c.gradValues[0]![0]).toBe(0);
  });

  it('the graph matches the host reference: loss and gradients to 1e-10', async () => {
    const B = 3;
    const T = 5;
    const rng = Rng.fromSeed(5, 'ppo-loss');
    const mask = [0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0];
    const logp = mask.map(() => -0.1 - 2 * rng.float());
    const shifts = [0.5, -0.5, 0.05, -0.05, 0.3];
    const oldLogp = logp.map((x, i) => (mask[i] ? x + shifts[i % 5]! : -50));
    const advantages = mask.map(() => 2 * rng.float() - 1);
    const values = mask.map(() => 2 * rng.float() - 1);
    // Some old values far enough that the clip binds, some close.
    const oldValues = values.map((v, i) => v + (i % 2 ? 0.5 : 0.05));
    const returns = mask.map(() => 2 * rng.float() - 1);
    const rows = (xs: number[]) => Array.from({ length: B }, (_, b) => xs.slice(b * T, b * T + T));
    const host = ppoLossHost(
      {
        logp: rows(logp),
        oldLogp: rows(oldLogp),
        advantages: rows(advantages),
        values: rows(values),
        oldValues: rows(oldValues),
        returns: rows(returns),
        mask: rows(mask),
      },
      cfg,
    );
    const d = [B, T];
    const out = await runForwardOnce(
      {
        logp: f64(d, logp),
        oldLogp: f64(d, oldLogp),
        advantages: f64(d, advantages),
        values: f64(d, values),
        oldValues: f64(d, oldValues),
        returns: f64(d, returns),
        mask: f64(d, mask),
      },
      (g, x) => {
        const r = ppoLoss(
          g,
          {
            logp: x.logp!,
            oldLogp: x.oldLogp!,
            advantages: x.advantages!,
            values: x.values!,
            oldValues: x.oldValues!,
            returns: x.returns!,
            mask: x.mask!,
          },
          cfg,
        );
        const [gl, gv] = gradients(r.loss, [x.logp!, x.values!]);
        return { loss: r.loss, gl: gl!, gv: gv!, vclip: r.metrics['ppo/value_clip_frac']! };
      },
    );
    expect(close(out.loss![0]!, host.loss)).toBeLessThan(1e-10);
    host.gradLogp.flat().forEach((x, i) => {
      expect(close(out.gl![i]!, x), `logp ${i}`).toBeLessThan(1e-10);
    });
    host.gradValues.flat().forEach((x, i) => {
      expect(close(out.gv![i]!, x), `value ${i}`).toBeLessThan(1e-10);
    });
    mask.forEach((m, i) => {
      if (!m) expect(out.gl![i]! === 0 && out.gv![i]! === 0).toBe(true);
    });
    expect(out.vclip![0]!).toBeGreaterThan(0);
  });

  it('the value head and the clipped value loss: gradients match float64 finite differences', async () => {
    const B = 2;
    const T = 3;
    const d = 4;
    const head = await checkGradient((g, [h]) => valueHead(g, h!), [{ name: 'h', shape: [B, T, d] }]);
    expect(head.maxRelError).toBeLessThan(1e-6);
    expect(Object.keys(head.errors)).toEqual(['h', 'value_head.weight', 'value_head.bias']);
    // Values well inside and well outside the clip range (no kinks within a finite-difference step).
    const loss = await checkGradient(
      (g, [h, oldV, ret, m]) => clippedValueLoss(g, valueHead(g, h!), oldV!, ret!, m!, 0.2).loss,
      [
        { name: 'h', shape: [B, T, d] },
        { name: 'oldV', shape: [B, T], values: [0.3, -2, 0.1, 2.5, -0.2, 0], wrt: false },
        { name: 'ret', shape: [B, T], values: [1, -1, 0.5, 3, 2, -1.5], wrt: false },
        { name: 'mask', shape: [B, T], values: [1, 1, 0, 1, 1, 1], wrt: false },
      ],
      { seed: 4 },
    );
    expect(loss.maxRelError).toBeLessThan(1e-5);
  });
});

const tinyConfig = (vocab: number, tie: boolean) => tinyLlamaConfig(vocab, { tie_word_embeddings: tie });

describe('log-probs and values of a tiny Llama', () => {
  it('log-probs equal llamaTokenLogProbs (tied and untied heads); a fresh head values every state 0', async () => {
    const tok = await loadDefaultTokenizer();
    const items = [{ prompt: [1, 5, 9], tokens: [20, 6], logprobs: [0, 0] }];
    const b = packReplies(items, 1, 8, tok.padId, { kind: 'ppo', ppo: PpoConfigSchema.parse({}) });
    for (const tie of [true, false]) {
      const cfg = tinyConfig(tok.vocabSize, tie);
      const store = new ParamStore();
      const out = await runForwardOnce(
        { ids: b.ids!, attention: b.attention! },
        (g, x) => {
          const both = replyLogProbsAndValues(g, cfg, x.ids!, x.attention!);
          return { a: both.logp, v: both.values, ref: replyTokenLogProbs(g, cfg, x.ids!, x.attention!) };
        },
        store,
      );
      expect(out.a!.length).toBe(7);
      out.a!.forEach((x, i) => {
        expect(Math.abs(x - out.ref![i]!)).toBeLessThan(1e-6);
      });
      expect(Array.from(out.v!)).toEqual(new Array(7).fill(0));
    }
  });
});

describe('CsUpdater with the ppo objective', () => {
  it('fits the value head toward the returns, moves the weights, and saves and reloads the head', async () => {
    const tok = await loadDefaultTokenizer();
    const model = LlamaModel.random({ ...tinyConfig(tok.vocabSize, true), pad_token_id: tok.padId }, 3, {
      weightsAs: 'inputs',
      intraOpThreads: 1,
    });
    const agent = new CsAgent(model, tok);
    const ppo = PpoConfigSchema.parse({ valueCoef: 1 });
    const updater = new CsUpdater(agent, 2, { kind: 'ppo', ppo }, { lr: 3e-2, intraOpThreads: 1, seed: 1 });
    const base = [
      { prompt: [1, 5, 9], tokens: [20, 21, 6], logprobs: [-8, -8, -8] },
      { prompt: [1, 7], tokens: [30, 6], logprobs: [-8, -8] },
    ];
    const v0 = await updater.values(base);
    expect(v0.map((r) => r.length)).toEqual([3, 2]);
    expect(v0.flat().every((v) => v === 0)).toBe(true);
    const before = Float32Array.from(model.weightTensor('model.norm.weight').data as Float32Array);
    const items = base.map((it, i) => ({
      ...it,
      advantages: it.tokens.map(() => (i === 0 ? 1 : -1)),
      returns: it.tokens.map(() => 1),
      values: it.tokens.map(() => 0),
    }));
    const err = async () => {
      const v = (await updater.values(items)).flat();
      return v.reduce((a, x) => a + (x - 1) ** 2, 0);
    };
    const e0 = await err();
    for (let k = 0; k < 6; k++) {
      // Old values as the advantages were computed: refreshed each step, so the value clip never stalls.
      const r = await updater.step(items.map((it, i) => ({ ...it, values: v0[i]!.map(() => 0) })));
      expect(Number.isFinite(r.loss)).toBe(true);
    }
    expect(await err()).toBeLessThan(e0);
    const after = model.weightTensor('model.norm.weight').data as Float32Array;
    expect(after.some((x, i) => x !== before[i])).toBe(true);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'value-head-'));
    await updater.saveValueHead(dir);
    expect((await fs.stat(path.join(dir, VALUE_HEAD_FILE))).size).toBeGreaterThan(0);
    const head = await loadValueHead(dir);
    expect(Array.from(head!.get('value_head.weight')!.data as Float32Array)).toEqual(
      Array.from(updater.store.get('value_head.weight').data as Float32Array),
    );
    expect(await loadValueHead(path.join(dir, 'none'))).toBeUndefined();
  }, 60_000);
});
