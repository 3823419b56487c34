import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BYTE_TO_UNICODE,
  byteLevelToBytes,
  pretokenize,
  toByteLevel,
  UNICODE_TO_BYTE,
} from './byte-level.js';

describe('byte-level alphabet', () => {
  it('maps the 256 bytes to 256 distinct single code units, printable ASCII to itself', () => {
    expect(new Set(BYTE_TO_UNICODE).size).toBe(256);
    expect(UNICODE_TO_BYTE.size).toBe(256);
    for (const c of BYTE_TO_UNICODE) expect(c.length).toBe(1);
    expect(BYTE_TO_UNICODE['A'.charCodeAt(0)]).toBe('A');
    // GPT-2's well-known stand-ins: space -> U+0120 (Ġ), newline -> U+010A (Ċ), byte 0 -> U+0100.
    expect(BYTE_TO_UNICODE[32]).toBe('\u0120');
    expect(BYTE_TO_UNICODE[10]).toBe('\u010a');
    expect(BYTE_TO_UNICODE[0]).toBe('\u0100');
  });

  it('round-trips text through bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const bytes = byteLevelToBytes(toByteLevel(s));
        expect(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes)).toBe(s);
      }),
    );
  });

  it('rejects characters outside the alphabet', () => {
    expect(() => byteLevelToBytes(' ')).toThrow(/not byte-level/);
  });
});

describe('pretokenize', () => {
  it('splits like GPT-2: contractions, a leading space stays with its word, trailing spaces split', () => {
    expect(pretokenize("I'll buy 2 pairs!  Now")).toEqual([
      'I',
      "'ll",
      ' buy',
      ' 2',
      ' pairs',
      '!',
      ' ',
      ' Now',
    ]);
    expect(pretokenize('a\n\nb')).toEqual(['a', '\n', '\n', 'b']);
  });

  it('covers every character: the pieces concatenate to the input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(pretokenize(s).join('')).toBe(s);
      }),
    );
  });
});
