import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDim, dimAdd, dimDiv, dimMul, dimProduct, dimSub, dimSymbols, evalDim } from './dims.js';

describe('symbolic dims', () => {
  it('spells derived dims canonically, so equal dims compare equal as strings', () => {
    expect(dimMul('seq', 'batch')).toBe('batch*seq');
    expect(dimMul('batch', 'seq')).toBe('batch*seq');
    expect(dimProduct(['batch', 'seq', 4])).toBe('4*batch*seq');
    expect(dimSub('seq', 1)).toBe('seq-1');
    expect(dimAdd(16, 'seq')).toBe('seq+16');
    expect(dimSub(16, 'seq')).toBe('-seq+16');
    expect(dimSub(dimAdd('seq', 16), 'seq')).toBe(16);
    expect(canonicalDim(' seq * batch ')).toBe('batch*seq');
    expect(canonicalDim('2*seq+seq')).toBe('3*seq');
    expect(dimSymbols('batch*seq-1')).toEqual(['batch', 'seq']);
    expect(() => canonicalDim('seq/2')).toThrow(/cannot read dim/);
  });

  it('divides exactly or not at all', () => {
    expect(dimDiv('4*batch*seq', 4)).toBe('batch*seq');
    expect(dimDiv('4*batch*seq', 'batch')).toBe('4*seq');
    expect(dimDiv('batch*seq+batch', 'batch')).toBe('seq+1');
    expect(dimDiv('4*batch*seq', 3)).toBeNull();
    expect(dimDiv('batch', 'seq')).toBeNull();
    expect(dimDiv('batch', 'batch+1')).toBeNull();
    expect(dimDiv(12, 4)).toBe(3);
  });

  it('arithmetic agrees with the numbers it stands for (property)', () => {
    const names = ['a', 'b', 'c'] as const;
    const dim = fc.oneof(
      fc.integer({ min: -5, max: 9 }),
      fc.constantFrom<string>(...names),
      fc
        .tuple(
          fc.integer({ min: 1, max: 4 }),
          fc.constantFrom<string>(...names),
          fc.integer({ min: -3, max: 3 }),
        )
        .map(([k, s, c]) => canonicalDim(`${k}*${s}${c < 0 ? c : `+${c}`}`)),
    );
    const env = fc.record({
      a: fc.integer({ min: 1, max: 20 }),
      b: fc.integer({ min: 1, max: 20 }),
      c: fc.integer({ min: 1, max: 20 }),
    });
    fc.assert(
      fc.property(dim, dim, env, (x, y, v) => {
        expect(evalDim(dimAdd(x, y), v)).toBe(evalDim(x, v) + evalDim(y, v));
        expect(evalDim(dimSub(x, y), v)).toBe(evalDim(x, v) - evalDim(y, v));
        expect(evalDim(dimMul(x, y), v)).toBe(evalDim(x, v) * evalDim(y, v) + 0); // + 0: no -0
        expect(canonicalDim(dimMul(x, y))).toBe(dimMul(y, x));
        const q = dimDiv(dimMul(x, y), y);
        if (evalDim(y, v) !== 0 && q !== null) expect(evalDim(q, v)).toBe(evalDim(x, v));
      }),
    );
  });
});
