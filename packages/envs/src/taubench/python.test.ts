import { describe, expect, it } from 'vitest';
import { calculate } from './calculate.js';
import { pyFloatRepr, pyJsonDumps, pyRound2 } from './python.js';

// Expected values are what CPython 3.11 prints (checked by hand and against upstream's calculate tool).
describe('Python behaviours the retail tools depend on', () => {
  it('round(x, 2): the exact binary value decides, exact halves go to the even cent', () => {
    expect(pyRound2(0.125)).toBe(0.12);
    expect(pyRound2(0.375)).toBe(0.38);
    expect(pyRound2(-0.125)).toBe(-0.12);
    expect(pyRound2(2.675)).toBe(2.67); // 2.67499999... in binary
    expect(pyRound2(1.005)).toBe(1); // 1.00499999...
    expect(pyRound2(49 + 4079.45)).toBe(4128.45);
    expect(pyRound2(91 - 53.43)).toBe(37.57);
    expect(pyRound2(180.1 - 217.06)).toBe(-36.96);
  });

  it('float repr: shortest digits, ".0" on integral values, exponents outside [1e-4, 1e16)', () => {
    expect(pyFloatRepr(46)).toBe('46.0');
    expect(pyFloatRepr(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(pyFloatRepr(0.0001)).toBe('0.0001');
    expect(pyFloatRepr(0.00001)).toBe('1e-05');
    expect(pyFloatRepr(1e16)).toBe('1e+16');
    expect(pyFloatRepr(1234567890123456.8)).toBe('1234567890123456.8');
    expect(pyFloatRepr(-2.5e-7)).toBe('-2.5e-07');
    expect(pyFloatRepr(Number.POSITIVE_INFINITY)).toBe('inf');
  });

  it('json.dumps: ", " and ": " separators, ensure_ascii, integral floats where marked', () => {
    const order = { price: 46, items: [1, 'é\u007f'], nested: {}, ok: true, none: null };
    expect(pyJsonDumps(order)).toBe(
      '{"price": 46, "items": [1, "\\u00e9\\u007f"], "nested": {}, "ok": true, "none": null}',
    );
    expect(pyJsonDumps(order, { isFloat: (_, k) => k === 'price' })).toMatch(/^\{"price": 46\.0, /);
    const variants = { '9612497925': 1, '1176194968': 2 };
    expect(pyJsonDumps(variants)).toBe('{"1176194968": 2, "9612497925": 1}');
    const keyOrder = new WeakMap([[variants, ['9612497925', '1176194968']]]);
    expect(pyJsonDumps(variants, { keyOrder })).toBe('{"9612497925": 1, "1176194968": 2}');
  });

  it('calculate: Python arithmetic, rounded to 2 decimals, errors as Python words them', () => {
    const cases: [string, string][] = [
      ['(3 + 4.5) * 2', '15.0'],
      ['10 / 4', '2.5'],
      ['7 // 2', '3.0'],
      ['-7 // 2', '-4.0'],
      ['2 ** 10', '1024.0'],
      ['2 ** -1', '0.5'],
      ['-2 ** 2', '-4.0'],
      ['3 ** 2 ** 2', '81.0'],
      ['0.1 + 0.2', '0.3'],
      ['1 / 3', '0.33'],
      ['.5 + 1.', '1.5'],
      ['123456789012345678 * 10', '1.2345678901234568e+18'],
      ['1/0', 'Error: division by zero'],
      ['1.0/0', 'Error: float division by zero'],
      ['1//0', 'Error: integer division or modulo by zero'],
      ['(1', "Error: '(' was never closed (<string>, line 1)"],
      ['1 2', 'Error: invalid syntax (<string>, line 1)'],
      ['', 'Error: invalid syntax (<string>, line 0)'],
      ['()', "Error: float() argument must be a string or a real number, not 'tuple'"],
      ['2 * x', 'Error: invalid characters in expression'],
    ];
    for (const [expr, want] of cases) expect(calculate(expr), expr).toBe(want);
  });
});
