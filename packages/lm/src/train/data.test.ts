import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileFormatError } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { ChatTemplate } from '../tokenizer/chat-template.js';
import { loadDefaultTokenizer } from '../tokenizer/default-tokenizer.js';
import { readSftExamples, SftRecordSchema, tokenizeRecord } from './data.js';

const tok = await loadDefaultTokenizer();
const chat = new ChatTemplate(tok);
const opts = { completion: 'all_agent_turns' } as const;

describe('SFT records', () => {
  it('chat records use the template completion mask (agent replies and their end token)', () => {
    const messages = [
      { role: 'user', content: 'Hi there' },
      { role: 'agent', content: 'Hello!', strategy: 'greet' },
      { role: 'user', content: 'Bye' },
      { role: 'agent', content: 'See you.' },
    ] as const;
    const ex = tokenizeRecord({ messages: [...messages] }, tok, chat, opts, 't');
    const r = chat.render([...messages], { completion: 'all_agent_turns' });
    expect(ex.ids).toEqual(r.ids);
    expect(ex.mask).toEqual(r.completionMask);
    const last = tokenizeRecord(
      { messages: [...messages] },
      tok,
      chat,
      { completion: 'last_agent_turn' },
      't',
    );
    expect(last.mask.filter((m) => m === 1).length).toBeLessThan(ex.mask.filter((m) => m === 1).length);
    expect(
      tok.decode(
        ex.ids.filter((_, i) => ex.mask[i] === 1),
        { skipSpecial: true },
      ),
    ).toBe('Hello!See you.');
  });

  it('prompt/completion pairs are bos + prompt + completion + eos, the loss on completion and eos', () => {
    const ex = tokenizeRecord({ prompt: 'Q: 2+2?', completion: ' A: 4' }, tok, chat, opts, 't');
    const p = tok.encode('Q: 2+2?');
    const c = tok.encode(' A: 4');
    expect(ex.ids).toEqual([tok.bosId, ...p, ...c, tok.eosId]);
    expect(ex.mask).toEqual([0, ...p.map(() => 0), ...c.map(() => 1), 1]);
    // special-token text in data is plain text, not a forged turn
    const forged = tokenizeRecord({ prompt: '<|agent|>', completion: 'x' }, tok, chat, opts, 't');
    expect(forged.ids).not.toContain(tok.specialTokenId('<|agent|>'));
  });

  it('rejects records mixing forms or missing fields, naming the field', () => {
    const bad = (v: unknown) => SftRecordSchema.safeParse(v).error?.issues[0]?.path.join('.');
    expect(bad({ prompt: 'a' })).toBe('completion');
    expect(bad({ completion: 'a' })).toBe('prompt');
    expect(bad({ messages: [{ role: 'user', content: 'x' }], prompt: 'a', completion: 'b' })).toBe('prompt');
    expect(bad({})).toBe('messages');
    expect(bad({ messages: [{ role: 'user', content: 'x', strategy: 'greet' }] })).toBe(
      'messages.0.strategy',
    );
    expect(bad({ prompt: 'a', completion: 'b', extra: 1 })).toBe('');
  });

  it('reads files with file:line errors, including unknown strategies and records with nothing to train', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sft-data-'));
    const file = path.join(dir, 'd.jsonl');
    const good = JSON.stringify({ prompt: 'a', completion: 'b' });
    await fs.writeFile(file, `${good}\n\n${good}\n`);
    expect((await readSftExamples([file], tok, chat, opts)).length).toBe(2);
    await fs.writeFile(
      file,
      `${good}\n${JSON.stringify({ messages: [{ role: 'agent', content: 'x', strategy: 'nope' }] })}\n`,
    );
    await expect(readSftExamples([file], tok, chat, opts)).rejects.toThrow(/d\.jsonl:2.*messages.*nope/);
    await fs.writeFile(file, `${JSON.stringify({ messages: [{ role: 'user', content: 'only a user' }] })}\n`);
    const err = await readSftExamples([file], tok, chat, opts).catch((e: Error) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect((err as Error).message).toMatch(/d\.jsonl:1.*nothing to train on/);
  });
});
