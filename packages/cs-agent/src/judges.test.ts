import type { StrategyJudge } from '@gopo/dialogue';
import { nluJudge } from '@gopo/envs';
import { describe, expect, it } from 'vitest';
import { adherenceRate, compareJudges, JudgeLengthError, judgeAgreement } from './judges.js';

describe('judgeAgreement', () => {
  it('counts agreements (null with null included) and ranks the disagreements', () => {
    const a = ['greet', 'close', null, 'recommend', 'recommend', 'compare'];
    const b = ['greet', 'reassure', null, 'compare', 'compare', null];
    const r = judgeAgreement(a, b);
    expect(r.total).toBe(6);
    expect(r.agreed).toBe(2);
    expect(r.agreement).toBeCloseTo(2 / 6, 12);
    expect(r.disagreement).toBeCloseTo(4 / 6, 12);
    expect(r.confusions).toEqual([
      { a: 'recommend', b: 'compare', count: 2 },
      { a: 'close', b: 'reassure', count: 1 },
      { a: 'compare', b: null, count: 1 },
    ]);
  });

  it('is 1 on no texts and refuses lists of different lengths', () => {
    expect(judgeAgreement([], [])).toMatchObject({ total: 0, agreement: 1, disagreement: 0 });
    expect(() => judgeAgreement(['greet'], [])).toThrow(JudgeLengthError);
  });
});

describe('adherenceRate and compareJudges', () => {
  it('scores adherence as the share judged as commanded', () => {
    expect(adherenceRate(['greet', null, 'close', 'close'], ['greet', 'greet', 'close', 'reassure'])).toBe(
      0.5,
    );
    expect(() => adherenceRate(['greet'], [])).toThrow(JudgeLengthError);
  });

  it('runs two judges over the same replies', async () => {
    const alwaysGreet: StrategyJudge = { name: 'always-greet', judge: async (t) => t.map(() => 'greet') };
    const texts = ['Hello and welcome to ShopCo!', 'Thanks for shopping with us, have a great day!'];
    const r = await compareJudges(nluJudge, alwaysGreet, texts, ['greet', 'close']);
    expect(r.adherence).toEqual({ nlu: 1, 'always-greet': 0.5 });
    expect(r.agreement.agreement).toBe(0.5);
    expect(r.judged.nlu).toEqual(['greet', 'close']);
    await expect(compareJudges(nluJudge, nluJudge, texts, ['greet', 'close'])).rejects.toThrow(
      /different names/,
    );
  });
});
