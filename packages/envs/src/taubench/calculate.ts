import { pyFloatRepr, pyRound2 } from './python.js';

/*
 * tau-bench's `calculate` tool: an arithmetic expression over the characters 0-9 + - * / ( ) . and
 * space, evaluated with Python's semantics (integers exact, / true division, // floor division, **
 * power, unary signs), answered as str(round(float(result), 2)). Our own small parser stands in for
 * Python's eval of that grammar; syntax errors get Python's general message.
 */

/** A Python value of the grammar: int, float, or the empty tuple `()`. */
type IntValue = { readonly int: bigint };
type FloatValue = { readonly float: number };
type TupleValue = { readonly tuple: true };
type Value = IntValue | FloatValue | TupleValue;

class PyError extends Error {}

const isInt = (v: Value): v is IntValue => 'int' in v;
const isTuple = (v: Value): v is TupleValue => 'tuple' in v;
const isFloat = (v: Value): v is FloatValue => 'float' in v;
const toFloat = (v: Value): number => {
  if (isTuple(v)) throw new PyError("float() argument must be a string or a real number, not 'tuple'");
  if (isFloat(v)) return v.float;
  const f = Number(v.int);
  if (!Number.isFinite(f)) throw new PyError('int too large to convert to float');
  return f;
};

const SYNTAX = 'invalid syntax (<string>, line 1)';

function tokenize(expr: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === ' ') {
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(\d+\.?\d*|\.\d+)/.exec(expr.slice(i));
      if (!m) throw new PyError(SYNTAX);
      tokens.push(m[0]);
      i += m[0].length;
    } else if ((c === '*' || c === '/') && expr[i + 1] === c) {
      tokens.push(c + c);
      i += 2;
    } else {
      tokens.push(c);
      i++;
    }
  }
  return tokens;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function binary(op: string, a: Value, b: Value): Value {
  if (isTuple(a) || isTuple(b)) throw new PyError(`unsupported operand type(s) for ${op}: tuples`);
  if (isInt(a) && isInt(b)) {
    switch (op) {
      case '+':
        return { int: a.int + b.int };
      case '-':
        return { int: a.int - b.int };
      case '*':
        return { int: a.int * b.int };
      case '//':
        if (b.int === 0n) throw new PyError('integer division or modulo by zero');
        return { int: floorDiv(a.int, b.int) };
      case '/':
        if (b.int === 0n) throw new PyError('division by zero');
        return { float: toFloat(a) / toFloat(b) };
      case '**':
        if (b.int >= 0n) {
          if (b.int > 10_000n && a.int !== 0n && a.int !== 1n && a.int !== -1n)
            throw new PyError('int too large to convert to float');
          return { int: a.int ** b.int };
        }
        if (a.int === 0n) throw new PyError('0.0 cannot be raised to a negative power');
        return { float: toFloat(a) ** toFloat(b) };
    }
  }
  const x = toFloat(a);
  const y = toFloat(b);
  switch (op) {
    case '+':
      return { float: x + y };
    case '-':
      return { float: x - y };
    case '*':
      return { float: x * y };
    case '/':
      if (y === 0) throw new PyError('float division by zero');
      return { float: x / y };
    case '//':
      if (y === 0) throw new PyError('float floor division by zero');
      return { float: Math.floor(x / y) };
    default: {
      if (x === 0 && y < 0) throw new PyError('0.0 cannot be raised to a negative power');
      if (x < 0 && !Number.isInteger(y)) throw new PyError('complex results are not supported here');
      return { float: x ** y };
    }
  }
}

/** Recursive descent over Python's arithmetic grammar (sum, term, factor with unary signs, power, atom). */
function evaluate(tokens: readonly string[]): Value {
  let pos = 0;
  const peek = () => tokens[pos];
  const atom = (): Value => {
    const t = tokens[pos++];
    if (t === undefined) throw new PyError(SYNTAX);
    if (t === '(') {
      if (peek() === ')') {
        pos++;
        return { tuple: true };
      }
      const v = sum();
      if (tokens[pos++] !== ')')
        throw new PyError(tokens[pos - 1] === undefined ? "'(' was never closed (<string>, line 1)" : SYNTAX);
      return v;
    }
    if (/^\d+$/.test(t)) {
      if (t.length > 1 && t.startsWith('0') && /[1-9]/.test(t))
        throw new PyError(
          'leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers (<string>, line 1)',
        );
      return { int: BigInt(t) };
    }
    if (/^(\d+\.?\d*|\.\d+)$/.test(t)) return { float: Number(t) };
    throw new PyError(t === ')' ? "unmatched ')' (<string>, line 1)" : SYNTAX);
  };
  const power = (): Value => {
    const base = atom();
    if (peek() === '**') {
      pos++;
      return binary('**', base, factor());
    }
    return base;
  };
  const factor = (): Value => {
    const t = peek();
    if (t === '+' || t === '-') {
      pos++;
      const v = factor();
      if (t === '+' || isTuple(v)) return v;
      return isFloat(v) ? { float: -v.float } : { int: -v.int };
    }
    return power();
  };
  const term = (): Value => {
    let v = factor();
    for (let t = peek(); t === '*' || t === '/' || t === '//'; t = peek()) {
      pos++;
      v = binary(t, v, factor());
    }
    return v;
  };
  const sum = (): Value => {
    let v = term();
    for (let t = peek(); t === '+' || t === '-'; t = peek()) {
      pos++;
      v = binary(t, v, term());
    }
    return v;
  };
  const v = sum();
  if (pos < tokens.length)
    throw new PyError(tokens[pos] === ')' ? "unmatched ')' (<string>, line 1)" : SYNTAX);
  return v;
}

/** The `calculate` tool's answer for an expression. */
export function calculate(expression: string): string {
  for (const c of expression)
    if (!'0123456789+-*/(). '.includes(c)) return 'Error: invalid characters in expression';
  if (expression.trim() === '') return 'Error: invalid syntax (<string>, line 0)';
  try {
    return pyFloatRepr(pyRound2(toFloat(evaluate(tokenize(expression)))));
  } catch (e) {
    if (e instanceof PyError) return `Error: ${e.message}`;
    throw e;
  }
}
