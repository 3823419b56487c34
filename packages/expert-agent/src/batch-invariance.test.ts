import type { AgentState, Turn } from '@gopo/dialogue';
import { DEFAULT_STRATEGY_NAMES, loadDefaultTokenizer } from '@gopo/lm';
import { describe, expect, it } from 'vitest';
import { ExpertAgent } from './expert-agent.js';

/** States of very different lengths (1 to 30 turns), so they fall in several length buckets. */
function states(): AgentState[] {
  return [1, 30, 3, 12, 2, 25, 7, 1].map((n, k) => {
    const turns: Turn[] = Array.from({ length: n }, (_, i) =>
      i % 2 === 0
        ? { role: 'user', text: `customer line ${k}.${i}: I want headphones under ${40 + i}`, events: [] }
        : { role: 'agent', text: `agent line ${k}.${i}`, events: [] },
    );
    return {
      sessionId: `s-${k}`,
      domain: 'shop',
      turns,
      sopState: k % 2 === 0 ? 'start' : 'need_known',
      admissible: DEFAULT_STRATEGY_NAMES.map((_, j) => (j + k) % 3 !== 0),
      facts: k % 3 === 0 ? [] : [`item p-${k} costs ${10 + k}.00`],
    };
  });
}

describe('ExpertAgent decisions do not depend on the batch', () => {
  it.each([{ sopMasking: true }, { sopMasking: false }])(
    'gives every state the same log-probs, bit for bit, alone, in any batch and any chunk size (sopMasking $sopMasking)',
    async ({ sopMasking }) => {
      const tokenizer = await loadDefaultTokenizer();
      const agent = ExpertAgent.random(
        { hiddenSize: 16, layers: 1, heads: 2, kvHeads: 1, intermediateSize: 32, maxSeqLen: 512 },
        tokenizer,
        DEFAULT_STRATEGY_NAMES,
        3,
        { sopMasking },
      );
      const all = states();
      const greedy = (n: number) => ({ greedy: true, uniforms: new Array<number>(n).fill(0.5) });
      const together = await agent.decide(all, greedy(all.length));
      const alone = [];
      for (const s of all) alone.push((await agent.decide([s], greedy(1)))[0]!);
      expect(alone).toEqual(together);
      const reversed = await agent.decide([...all].reverse(), greedy(all.length));
      expect(reversed.reverse()).toEqual(together);
      const items = all.map((st) => {
        const ids = agent.encoder.prompt(st.turns, [], st.sopState, st.facts);
        return {
          encoded: { ids, positions: [ids.length - 1], decisions: [0] },
          masks: [st.admissible],
          actions: [0],
        };
      });
      const chunked = await agent.decisionLogProbs(items, 3);
      expect(chunked.map(([lp]) => Array.from(lp!))).toEqual(together.map((d) => d.logProbs));
      const finite = together.flatMap((d) => d.logProbs).every((lp) => Number.isFinite(lp));
      expect(finite).toBe(!sopMasking);
    },
  );
});
