import { Rng } from '@gopo/core';
import { loadDefaultTokenizer } from '@gopo/lm';
import { tinyLlamaConfig } from '@gopo/lm/testing';
import { gradients, type HostTensor, ParamStore, runForwardOnce } from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import { packReplies } from './cs-updater.js';
import {
  clippedSurrogateHost,
  clippedSurrogateLoss,
  KtoConfigSchema,
  ktoHost,
  ktoLoss,
  replyTokenLogProbs,
} from './reply-losses.js';

const f64 = (dims: number[], data: ArrayLike<number>): HostTensor => ({
  dtype: 'float64',
  dims,
  data: Float64Array.from(data),
});
const close = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

describe('clipped surrogate on reply tokens (float64)', () => {
  const B = 3;
  const T = 5;
  const rng = Rng.fromSeed(3, 'cs-surrogate');
  // Row 0: three reply tokens; row 1: two; row 2: none (a padding row).
  const mask = [0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0];
  const logp = mask.map(() => -0.1 - 2 * rng.float());
  // Ratios e^{+-0.5} are clipped at eps 0.2, e^{+-0.05} are not; prompt positions hold values that
  // would show if they leaked in.
  const shifts = [0.5, -0.5, 0.05, -0.05, 0.3];
  const oldLogp = logp.map((x, i) => (mask[i] ? x + shifts[i % 5]! : -50));
  const advantage = [0.8, -1.3, 2];
  const rows = (xs: number[]) => Array.from({ length: B }, (_, b) => xs.slice(b * T, b * T + T));

  it('matches the host reference: loss and gradient to 1e-10, prompt and padding tokens get none', async () => {
    const host = clippedSurrogateHost(rows(logp), rows(oldLogp), advantage, rows(mask), 0.2);
    const out = await runForwardOnce(
      {
        logp: f64([B, T], logp),
        oldLogp: f64([B, T], oldLogp),
        advantage: f64([B], advantage),
        mask: f64([B, T], mask),
      },
      (g, x) => {
        const r = clippedSurrogateLoss(g, x.logp!, x.oldLogp!, x.advantage!, x.mask!, 0.2);
        return { loss: r.loss, grad: gradients(r.loss, [x.logp!])[0]!, clip: r.metrics['cs/clip_frac']! };
      },
    );
    expect(close(out.loss![0]!, host.loss)).toBeLessThan(1e-10);
    for (const [i, gr] of host.grad.flat().entries()) {
      expect(close(out.grad![i]!, gr), `grad ${i}`).toBeLessThan(1e-10);
    }
    mask.forEach((m, i) => {
      if (!m) expect(Math.abs(out.grad![i]!)).toBe(0);
    });
    expect(out.clip![0]!).toBeGreaterThan(0);
  });

  it('a hand-computed case', () => {
    // One token, ratio e^0.5 > 1.2 with A > 0: the clipped branch 1.2 * A is the minimum, no gradient.
    const a = clippedSurrogateHost([[0]], [[-0.5]], [2], [[1]], 0.2);
    expect(a.loss).toBeCloseTo(-2.4, 12);
    expect(a.grad[0]![0]).toBe(0);
    // Ratio 1 inside the clip: loss -A, gradient -A.
    const b = clippedSurrogateHost([[-1]], [[-1]], [-0.5], [[1]], 0.2);
    expect(b.loss).toBeCloseTo(0.5, 12);
    expect(b.grad[0]![0]).toBeCloseTo(0.5, 12);
  });
});

describe('KTO (float64)', () => {
  it('matches the host reference for desirable and undesirable replies', async () => {
    const cfg = KtoConfigSchema.parse({ beta: 0.7, desirableWeight: 1.5, undesirableWeight: 0.5 });
    const seq = [-3, -7.5, -1.2, -4];
    const ref = [-3.4, -7, -2, -4.1];
    const good = [true, false, true, false];
    const z = 0.15;
    const host = ktoHost(seq, ref, good, z, cfg);
    const out = await runForwardOnce(
      {
        seq: f64([4], seq),
        ref: f64([4], ref),
        good: f64([4], good.map(Number)),
        w: f64([4], [1, 1, 1, 1]),
        z: f64([], [z]),
      },
      (g, x) => {
        const r = ktoLoss(g, x.seq!, x.ref!, x.good!, x.w!, x.z!, cfg);
        return { loss: r.loss, grad: gradients(r.loss, [x.seq!])[0]! };
      },
    );
    expect(close(out.loss![0]!, host.loss)).toBeLessThan(1e-10);
    for (const [i, gr] of host.grad.entries()) expect(close(out.grad![i]!, gr)).toBeLessThan(1e-10);
    // Desirable replies are pushed up, undesirable ones down.
    expect(host.grad[0]!).toBeLessThan(0);
    expect(host.grad[1]!).toBeGreaterThan(0);
  });
});

describe('reply rows', () => {
  it('mark only reply tokens (end of turn included) and align behaviour log-probs with them', async () => {
    const tok = await loadDefaultTokenizer();
    const items = [
      { prompt: [1, 5, 9, 10], tokens: [20, 21, 6], logprobs: [-0.1, -0.2, -0.3], advantage: 1.5 },
      { prompt: [1, 7], tokens: [30, 6], logprobs: [-1, -2], advantage: -0.5 },
    ];
    const b = packReplies(items, 3, 8, tok.padId, {
      kind: 'rl',
      rl: { clipEps: 0.2, samples: 2, temperature: 1 },
    });
    const mask = Array.from(b.replyMask!.data as Float32Array);
    // Position t predicts token t+1: row 0's reply tokens sit at 4, 5, 6, row 1's at 2, 3.
    expect(mask.slice(0, 7)).toEqual([0, 0, 0, 1, 1, 1, 0]);
    expect(mask.slice(7, 14)).toEqual([0, 1, 1, 0, 0, 0, 0]);
    expect(mask.slice(14)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    const old = Array.from(b.oldLogp!.data as Float32Array);
    expect(old.slice(3, 6)).toEqual([-0.1, -0.2, -0.3].map(Math.fround));
    expect(Array.from(b.advantage!.data as Float32Array)).toEqual([1.5, -0.5, 0]);
  });

  it('the log-probs graph gives the reply tokens of a tiny model; changing the prompt after it has no effect', async () => {
    const tok = await loadDefaultTokenizer();
    const cfg = tinyLlamaConfig(tok.vocabSize);
    const items = [{ prompt: [1, 5, 9], tokens: [20, 6], logprobs: [0, 0], advantage: 1 }];
    const rl = { kind: 'rl' as const, rl: { clipEps: 0.2, samples: 2, temperature: 1 } };
    const store = new ParamStore();
    const logps = async (padId: number) => {
      const b = packReplies(items, 1, 8, padId, rl);
      const out = await runForwardOnce(
        { ids: b.ids!, attention: b.attention!, replyMask: b.replyMask! },
        (g, x) => ({
          s: g.reduceSum(g.mul(replyTokenLogProbs(g, cfg, x.ids!, x.attention!), x.replyMask!)),
        }),
        store,
      );
      return out.s![0]!;
    };
    // Padding after the reply is masked out of attention and out of the loss.
    expect(Math.abs((await logps(tok.padId)) - (await logps(77)))).toBeLessThan(1e-5);
  });
});
