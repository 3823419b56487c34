import { UsageError } from '@gopo/core';
import { ChatTemplate } from '@gopo/lm';
import { describe, expect, it } from 'vitest';
import { handTrajectory, STRATEGIES, shopTokenizer } from '../test/fixtures.js';
import { ExpertEncoder } from './encoder.js';

async function setup(maxSeqLen = 1024) {
  const tokenizer = await shopTokenizer();
  const template = new ChatTemplate(tokenizer);
  const encoder = new ExpertEncoder(template, STRATEGIES, maxSeqLen);
  const id = (token: string) => tokenizer.specialTokenId(token);
  return { tokenizer, encoder, id };
}

describe('ExpertEncoder', () => {
  it('the prompt of decision k is the trajectory up to and including decision k position', async () => {
    const { encoder } = await setup();
    for (const seed of [1, 2, 3]) {
      const t = handTrajectory(seed, { agentTurns: 4, undecided: seed === 2 ? [1] : [] });
      const e = encoder.encode(t.turns, t.decisions);
      expect(e.positions).toHaveLength(t.decisions.length);
      t.decisions.forEach((d, k) => {
        const prompt = encoder.prompt(t.turns.slice(0, d.turn), t.decisions.slice(0, k), d.sopState, d.facts);
        expect(prompt).toEqual(e.ids.slice(0, e.positions[k]! + 1));
      });
    }
  });

  it("positions point at the state block's end-of-turn token, followed by the decision's strategy token", async () => {
    const { encoder, tokenizer, id } = await setup();
    const t = handTrajectory(4, { agentTurns: 3 });
    const e = encoder.encode(t.turns, t.decisions);
    expect(e.decisions).toEqual([0, 1, 2]);
    e.positions.forEach((p, k) => {
      const d = t.decisions[e.decisions[k]!]!;
      expect(e.ids[p]).toBe(id('<|end|>'));
      expect(e.ids[p + 1]).toBe(encoder.strategyIds[d.action]);
      expect(e.ids[p + 2]).toBe(id('<|agent|>'));
      // the block is a system message holding exactly the decision state
      const start = e.ids.lastIndexOf(id('<|system|>'), p);
      expect(start).toBeGreaterThan(0);
      expect(tokenizer.decode(e.ids.slice(start + 1, p))).toBe(d.state);
    });
    // one state block per decision, none elsewhere
    expect(e.ids.filter((x) => x === id('<|system|>'))).toHaveLength(t.decisions.length);
  });

  it('keeps the strategy token of agent turns without a decision, and skips strategies outside the set', async () => {
    const { encoder, id } = await setup();
    const t = handTrajectory(5, { agentTurns: 3, undecided: [1] });
    const undecided = t.turns.findIndex((x) => x.role === 'agent' && x.sop_state === undefined);
    const strategy = t.turns[undecided]!.role === 'agent' ? t.turns[undecided]!.strategy! : '';
    const e = encoder.encode(t.turns, t.decisions);
    const tokenOf = encoder.strategyIds[STRATEGIES.indexOf(strategy)]!;
    // the undecided turn: strategy token then agent header, no state block in front
    const agentHeaders = e.ids.flatMap((x, i) => (x === id('<|agent|>') ? [i] : []));
    expect(agentHeaders).toHaveLength(3);
    const second = agentHeaders[1]!;
    expect(e.ids[second - 1]).toBe(tokenOf);
    expect(e.ids[second - 2]).toBe(id('<|end|>')); // the user turn's end, not a state block
    expect(e.positions).toHaveLength(2);

    const foreign = t.turns.map((x, i) => (i === undecided ? { ...x, strategy: 'haggle' } : x));
    const f = encoder.encode(foreign, t.decisions);
    expect(f.ids).toHaveLength(e.ids.length - 1);
  });

  it('maps positions to the decision records in turn order, whatever order they come in', async () => {
    const { encoder } = await setup();
    const t = handTrajectory(6, { agentTurns: 3 });
    const shuffled = [t.decisions[2]!, t.decisions[0]!, t.decisions[1]!];
    const a = encoder.encode(t.turns, t.decisions);
    const b = encoder.encode(t.turns, shuffled);
    expect(b.ids).toEqual(a.ids);
    expect(b.positions).toEqual(a.positions);
    expect(b.decisions).toEqual([1, 2, 0]);
  });

  it('cuts the sequence at maxSeqLen and drops the decisions read at or past it', async () => {
    const full = (await setup()).encoder;
    const t = handTrajectory(7, { agentTurns: 6, words: 6 });
    const whole = full.encode(t.turns, t.decisions);
    const max = whole.positions[3]! + 1; // decision 3 read at the last kept token, 4 and 5 dropped
    expect(whole.ids.length).toBeGreaterThan(max);
    const { encoder } = await setup(max);
    const cut = encoder.encode(t.turns, t.decisions);
    expect(cut.ids).toEqual(whole.ids.slice(0, max));
    expect(cut.positions).toEqual(whole.positions.slice(0, 4));
    expect(cut.decisions).toEqual([0, 1, 2, 3]);
    // one token less and decision 3 falls exactly at maxSeqLen: dropped too
    const shorter = (await setup(max - 1)).encoder.encode(t.turns, t.decisions);
    expect(shorter.decisions).toEqual([0, 1, 2]);
    expect(shorter.ids).toHaveLength(max - 1);
    // a prompt longer than the window keeps its last maxSeqLen tokens
    const d = t.decisions[5]!;
    const prompt = encoder.prompt(t.turns.slice(0, d.turn), t.decisions.slice(0, 5), d.sopState, d.facts);
    const uncut = full.prompt(t.turns.slice(0, d.turn), t.decisions.slice(0, 5), d.sopState, d.facts);
    expect(prompt).toEqual(uncut.slice(uncut.length - max));
  });

  it('refuses a template that puts the strategy token after the agent header', async () => {
    const { tokenizer } = await setup();
    const template = new ChatTemplate(tokenizer, { strategyPlacement: 'after_role' });
    expect(() => new ExpertEncoder(template, STRATEGIES, 256)).toThrow(UsageError);
  });
});
