import type { StrategyJudge } from '@gopo/dialogue';
import { detectStrategy } from '@gopo/envs';

/** The shop simulator's NLU as an adherence judge (what the simulated customer reads). */
export const shopNluJudge: StrategyJudge = {
  name: 'nlu',
  async judge(texts) {
    return texts.map((t) => detectStrategy(t));
  },
};
