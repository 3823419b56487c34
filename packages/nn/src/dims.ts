/**
 * Tensor dimensions that may be symbolic. A dim is a number (static) or a string naming a value
 * known only when the graph runs: a graph input declares plain symbols ('batch', 'seq'); shape
 * inference derives integer polynomials over them ('batch*seq' when a [batch, seq, d] tensor is
 * flattened, 'seq-1' after dropping one position, '2*batch'). Derived dims are kept in one
 * canonical spelling, so two dims are equal exactly when their strings are.
 */

export type Dim = number | string;

const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether `s` can name a symbolic dim of a graph input. */
export const isSymbolName = (s: string): boolean => SYMBOL.test(s);

export const isStaticDim = (d: Dim): d is number => typeof d === 'number';

export const isStaticShape = (s: readonly Dim[]): s is readonly number[] => s.every(isStaticDim);

/** Polynomial: monomial key (symbols joined by '*', sorted, '' for the constant) -> coefficient. */
type Poly = Map<string, number>;

function addTerm(p: Poly, key: string, coef: number): void {
  const v = (p.get(key) ?? 0) + coef;
  if (v === 0) p.delete(key);
  else p.set(key, v);
}

const keyOf = (syms: readonly string[]) => [...syms].sort().join('*');

function parse(d: Dim): Poly {
  const p: Poly = new Map();
  if (typeof d === 'number') {
    if (!Number.isInteger(d)) throw new Error(`dim ${d} is not an integer`);
    addTerm(p, '', d);
    return p;
  }
  const s = d.replace(/\s+/g, '');
  const terms = s.match(/[+-]?[^+-]+/g);
  if (!terms || terms.join('') !== s) throw new Error(`cannot read dim "${d}"`);
  for (const term of terms) {
    const sign = term.startsWith('-') ? -1 : 1;
    let coef = sign;
    const syms: string[] = [];
    for (const f of term.replace(/^[+-]/, '').split('*')) {
      if (/^\d+$/.test(f)) coef *= Number(f);
      else if (SYMBOL.test(f)) syms.push(f);
      else throw new Error(`cannot read dim "${d}" (factor "${f}")`);
    }
    addTerm(p, keyOf(syms), coef);
  }
  return p;
}

function format(p: Poly): Dim {
  if (p.size === 0) return 0;
  if (p.size === 1 && p.has('')) return p.get('') as number;
  // Highest degree first, then by name; the constant last: 'batch*seq+seq-1'.
  const keys = [...p.keys()].sort((a, b) => {
    const da = a === '' ? 0 : a.split('*').length;
    const db = b === '' ? 0 : b.split('*').length;
    return db - da || (a < b ? -1 : a > b ? 1 : 0);
  });
  let out = '';
  for (const k of keys) {
    const c = p.get(k) as number;
    const mag = Math.abs(c);
    const body = k === '' ? String(mag) : mag === 1 ? k : `${mag}*${k}`;
    out += c < 0 ? `-${body}` : out === '' ? body : `+${body}`;
  }
  return out;
}

/** The canonical spelling of `d` (throws on a string that is not a polynomial over symbols). */
export function canonicalDim(d: Dim): Dim {
  return typeof d === 'number' ? d : format(parse(d));
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  const p = parse(a);
  for (const [k, c] of parse(b)) addTerm(p, k, c);
  return format(p);
}

export function dimSub(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const p = parse(a);
  for (const [k, c] of parse(b)) addTerm(p, k, -c);
  return format(p);
}

export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b + 0; // no -0
  const p: Poly = new Map();
  for (const [ka, ca] of parse(a))
    for (const [kb, cb] of parse(b)) addTerm(p, keyOf([ka, kb].filter((k) => k !== '')), ca * cb);
  return format(p);
}

/** Product of all dims of a shape (the element count, possibly symbolic). */
export function dimProduct(shape: readonly Dim[]): Dim {
  return shape.reduce<Dim>((acc, d) => dimMul(acc, d), 1);
}

/**
 * a / b when it is exact: b a single term (a number or a product of symbols times a number) that
 * divides every term of a; null otherwise.
 */
export function dimDiv(a: Dim, b: Dim): Dim | null {
  if (typeof a === 'number' && typeof b === 'number') return b !== 0 && a % b === 0 ? a / b : null;
  const pb = parse(b);
  if (pb.size !== 1) return null;
  const [[kb, cb]] = [...pb] as [[string, number]];
  const den = kb === '' ? [] : kb.split('*');
  const p: Poly = new Map();
  for (const [k, c] of parse(a)) {
    if (c % cb !== 0) return null;
    const rest = k === '' ? [] : k.split('*');
    for (const s of den) {
      const i = rest.indexOf(s);
      if (i < 0) return null;
      rest.splice(i, 1);
    }
    addTerm(p, keyOf(rest), c / cb);
  }
  return format(p);
}

/** The symbols a dim depends on. */
export function dimSymbols(d: Dim): string[] {
  if (typeof d === 'number') return [];
  const out = new Set<string>();
  for (const k of parse(d).keys()) for (const s of k === '' ? [] : k.split('*')) out.add(s);
  return [...out].sort();
}

/** The dim as a sum of terms `coef * product(symbols)` (what emission evaluates at run time). */
export function dimTerms(d: Dim): { coef: number; symbols: string[] }[] {
  return [...parse(d)].map(([k, coef]) => ({ coef, symbols: k === '' ? [] : k.split('*') }));
}

/** The value of `d` given values for its symbols. */
export function evalDim(d: Dim, values: Readonly<Record<string, number>>): number {
  let total = 0;
  for (const { coef, symbols } of dimTerms(d)) {
    let v = coef;
    for (const s of symbols) {
      const x = values[s];
      if (x === undefined) throw new Error(`no value for symbol "${s}"`);
      v *= x;
    }
    total += v;
  }
  return total;
}
