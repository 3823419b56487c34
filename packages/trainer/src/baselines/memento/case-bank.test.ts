import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError } from '@gopo/core';
import { loadDefaultTokenizer, type Tokenizer } from '@gopo/lm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaseBank, type MementoCase } from './case-bank.js';
import { StateEmbedder } from './state-embedding.js';

const STRATEGIES = ['greet', 'recommend', 'close'];
let tokenizer: Tokenizer;
let dir: string;
beforeAll(async () => {
  tokenizer = await loadDefaultTokenizer();
  dir = await mkdtemp(join(tmpdir(), 'memento-bank-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const STATES = {
  opening: 'sop: opening\ncustomer: need not stated\nagent turns: 0\nlast strategy: none',
  need: 'sop: need_known\ncustomer: purchase; headphones\nagent turns: 1\nlast strategy: greet',
  chosen:
    'sop: item_chosen\ncustomer: purchase; headphones\nitem: Aria (p-0001) $40.00\nagent turns: 2\nlast strategy: recommend',
};

function kase(
  episode: string,
  scenario: string,
  state: keyof typeof STATES,
  strategy: string,
  reward: number,
): MementoCase {
  return {
    episode,
    scenario,
    turn: 1,
    state: STATES[state],
    mask: [true, true, state !== 'opening'],
    strategy,
    reward,
    status: reward > 0 ? 'success' : 'abandoned',
  };
}

/** Two scenarios: s1 with episodes of reward 1 and 0 (mean 0.5), s2 with one episode (baseline: the mean of all, 0.5). */
const CASES: MementoCase[] = [
  kase('e1', 's1', 'opening', 'greet', 1),
  kase('e1', 's1', 'need', 'recommend', 1),
  kase('e2', 's1', 'opening', 'greet', 0),
  kase('e2', 's1', 'need', 'close', 0),
  kase('e3', 's2', 'chosen', 'close', 0.5),
];

const newBank = () => new CaseBank(STRATEGIES, new StateEmbedder(tokenizer));
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('CaseBank', () => {
  it('files cases and reads their outcome against the scenario mean', () => {
    const bank = newBank();
    expect(bank.add(CASES)).toBe(0);
    expect(bank.size).toBe(5);
    expect(bank.episodeCount).toBe(3);
    expect([0, 1, 2, 3, 4].map((i) => bank.baseline(i))).toEqual([0.5, 0.5, 0.5, 0.5, 0.5]);
    expect([0, 1, 2, 3, 4].map((i) => bank.advantage(i))).toEqual([0.5, 0.5, -0.5, -0.5, 0]);
    expect([0, 1, 2, 3, 4].map((i) => bank.positive(i))).toEqual([true, true, false, false, false]);
    expect(bank.action(3)).toBe(2);
    // a third episode of s1 moves its mean to (1 + 0 + 0.2) / 3 = 0.4
    bank.add([kase('e4', 's1', 'need', 'recommend', 0.2)]);
    expect(bank.baseline(0)).toBeCloseTo(0.4, 12);
    expect(bank.baseline(4)).toBeCloseTo((1 + 0 + 0.5 + 0.2) / 4, 12);
  });

  it('retrieves the nearest cases by cosine, admissible under the query mask', async () => {
    const bank = newBank();
    bank.add(CASES);
    const q = bank.embedder.embed(STATES.need);
    const cos = CASES.map((c) => dot(q, bank.embedder.embed(c.state)));
    const expected = cos
      .map((s, id) => ({ id, s }))
      .sort((a, b) => b.s - a.s || a.id - b.id)
      .map((x) => x.id);
    const [top] = await bank.nearest(q, { k: 5 });
    expect(top!.map((n) => n.id)).toEqual(expected);
    expect(top!.map((n) => n.similarity)).toEqual(expected.map((id) => expect.closeTo(cos[id]!, 5)));
    expect(top![0]!.similarity).toBeCloseTo(1, 5);
    // 'close' not admissible: its cases are not returned; and the query's own episode can be skipped
    const [masked] = await bank.nearest(q, { k: 5, masks: [[true, true, false]], skipEpisode: ['e1'] });
    expect(masked!.map((n) => n.id).sort()).toEqual([2]);
  });

  it('refuses inconsistent cases and adds nothing then', () => {
    const bank = newBank();
    expect(() => bank.add([CASES[0]!, { ...CASES[1]!, strategy: 'dance' }])).toThrow(
      /case 1: strategy: "dance"/,
    );
    expect(() => bank.add([{ ...CASES[0]!, mask: [false, true, true] }])).toThrow(/not admissible/);
    expect(() => bank.add([CASES[0]!, { ...CASES[1]!, reward: 0.3 }])).toThrow(/case 1: reward: episode e1/);
    expect(bank.size).toBe(0);
  });

  it('round-trips through save and load', async () => {
    const bank = newBank();
    bank.add(CASES);
    const file = join(dir, 'bank.jsonl');
    await bank.save(file);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'gopo-memento-bank', version: 1, cases: 5 });
    const back = await CaseBank.load(file, (h) => new StateEmbedder(tokenizer, h.embedding));
    expect(back.size).toBe(5);
    expect([0, 1, 2, 3, 4].map((i) => back.case(i))).toEqual(CASES);
    expect([0, 1, 2, 3, 4].map((i) => back.advantage(i))).toEqual(
      [0, 1, 2, 3, 4].map((i) => bank.advantage(i)),
    );
    expect(back.embedding(3)).toEqual(bank.embedding(3));
  });

  it.each([
    ['a field of the wrong type', (l: string[]) => l[2]!.replace('"turn":1', '"turn":"one"'), 3, 'turn'],
    ['an unknown strategy', (l: string[]) => l[4]!.replace('"close"', '"dance"'), 5, 'strategy'],
    ['a short mask', (l: string[]) => l[1]!.replace('[true,true,false]', '[true,true]'), 2, 'mask'],
    [
      'a reward that differs within an episode',
      (l: string[]) => l[2]!.replace('"reward":1', '"reward":2'),
      3,
      'reward',
    ],
    ['a bad header', (l: string[]) => l[0]!.replace('"version":1', '"version":7'), 1, 'version'],
  ])('a bad line is an error naming file, line and field: %s', async (_, edit, line, field) => {
    const bank = newBank();
    bank.add(CASES);
    const file = join(dir, `bad-${line}.jsonl`);
    await bank.save(file);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    const changed = edit(lines);
    expect(changed).not.toBe(lines[line - 1]);
    lines[line - 1] = changed;
    await writeFile(file, `${lines.join('\n')}\n`);
    const err = await CaseBank.load(file, (h) => new StateEmbedder(tokenizer, h.embedding)).catch((e) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.location).toMatchObject({ file, line, path: [field] });
    expect(err.message).toContain(`${file}:${line} at ${field}`);
  });

  it('a truncated file is an error', async () => {
    const bank = newBank();
    bank.add(CASES);
    const file = join(dir, 'short.jsonl');
    await bank.save(file);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    await writeFile(file, `${lines.slice(0, 3).join('\n')}\n`);
    await expect(CaseBank.load(file, (h) => new StateEmbedder(tokenizer, h.embedding))).rejects.toThrow(
      /announces 5 cases, the file holds 2/,
    );
  });
});
