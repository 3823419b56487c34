/**
 * A parser for the plain-arithmetic subset of mathjs expressions: numbers, variables, + - * /,
 * unary + and -, parentheses. It builds a closure that computes what mathjs computes for the same
 * text (same tree: mathjs's precedence and left associativity, with unary signs binding tighter
 * than * and /; mathjs's number operators are the IEEE ones) and returns null for anything else
 * (functions, ^, comparisons, implicit multiplication, units, matrices...), which then goes to
 * mathjs itself. It exists so that the common business rewards need no mathjs at all: loading and
 * instantiating mathjs costs about a second of every `gopo` command's start-up.
 */

export type Closure<V extends string> = (scope: Readonly<Record<V, number>>) => number;

type Token =
  | { kind: 'num'; value: number }
  | { kind: 'name'; name: string }
  | { kind: 'op'; op: '+' | '-' | '*' | '/' | '(' | ')' };

// Number literals as in JSON: digits with an optional fraction and exponent (mathjs accepts more
// spellings, such as "2." or ".5"; those take the mathjs path).
const NUMBER = /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

function tokenize(text: string): Token[] | null {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if ('+-*/()'.includes(c)) {
      out.push({ kind: 'op', op: c as '+' });
      i++;
      continue;
    }
    const rest = text.slice(i);
    const num = NUMBER.exec(rest);
    if (num) {
      out.push({ kind: 'num', value: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const name = NAME.exec(rest);
    if (name) {
      out.push({ kind: 'name', name: name[0] });
      i += name[0].length;
      continue;
    }
    return null;
  }
  return out;
}

/**
 * The closure of `text` over `variables`, with the variables it reads, or null when `text` is not
 * plain arithmetic on those variables.
 */
export function parseArithmetic<V extends string>(
  text: string,
  variables: Readonly<Record<V, unknown>>,
): { evaluate: Closure<V>; used: Set<V> } | null {
  const tokens = tokenize(text);
  if (!tokens || tokens.length === 0) return null;
  const used = new Set<V>();
  let k = 0;
  const isOp = (op: string) => {
    const t = tokens[k];
    return t?.kind === 'op' && t.op === op;
  };
  function expression(): Closure<V> | null {
    let left = term();
    while (left && (isOp('+') || isOp('-'))) {
      const plus = isOp('+');
      k++;
      const right = term();
      if (!right) return null;
      const a = left;
      left = plus ? (s) => a(s) + right(s) : (s) => a(s) - right(s);
    }
    return left;
  }
  function term(): Closure<V> | null {
    let left = unary();
    while (left && (isOp('*') || isOp('/'))) {
      const times = isOp('*');
      k++;
      const right = unary();
      if (!right) return null;
      const a = left;
      left = times ? (s) => a(s) * right(s) : (s) => a(s) / right(s);
    }
    return left;
  }
  function unary(): Closure<V> | null {
    if (isOp('-') || isOp('+')) {
      const minus = isOp('-');
      k++;
      const a = unary();
      if (!a) return null;
      return minus ? (s) => -a(s) : a;
    }
    return primary();
  }
  function primary(): Closure<V> | null {
    const t = tokens![k++];
    let value: Closure<V> | null = null;
    if (t?.kind === 'num') {
      const v = t.value;
      value = () => v;
    } else if (t?.kind === 'name') {
      if (!Object.hasOwn(variables, t.name)) return null;
      const name = t.name as V;
      used.add(name);
      value = (s) => s[name];
    } else if (t?.kind === 'op' && t.op === '(') {
      value = expression();
      if (!value || !isOp(')')) return null;
      k++;
    }
    // A value followed by another value is mathjs's implicit multiplication: not handled here.
    const next = tokens![k];
    if (next && (next.kind !== 'op' || next.op === '(')) return null;
    return value;
  }
  const evaluate = expression();
  return evaluate && k === tokens.length ? { evaluate, used } : null;
}
