/*
 * The few Python behaviours tau-bench's tool outputs and database writes depend on: round(x, 2) (ties
 * to even on the exact binary value), float repr, and json.dumps with its default separators and
 * ensure_ascii. JSON has one number type, so a Python float with an integral value (100.0) prints as
 * an integer here (100); numerically the values are identical.
 */

/** Python's round(x, 2): the nearest value with two decimals, exact ties to the even last digit. */
export function pyRound2(x: number): number {
  if (!Number.isFinite(x)) return x;
  // x * 8 is exact; x is exactly halfway between two cents iff x * 8 is an odd integer.
  const eighths = x * 8;
  if (Number.isInteger(eighths) && Math.abs(eighths) % 2 === 1) {
    const cents = x * 100; // exact: a multiple of 0.5 well inside 2^53
    const lo = Math.floor(cents);
    return (lo % 2 === 0 ? lo : lo + 1) / 100;
  }
  // toFixed rounds the exact binary value (a correctly rounded conversion), as Python does.
  return Math.abs(x) < 1e21 ? Number(x.toFixed(2)) : x;
}

/** Python's repr of a float: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const sign = mant.startsWith('-') ? '-' : '';
  const digits = mant.replace('-', '').replace('.', '');
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    return `${sign}${int}.${frac || '0'}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

function dumpString(s: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters as Python does; ensure_ascii
  // also escapes everything outside printable ASCII as \uXXXX (UTF-16 code units, lower-case hex).
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** How pyJsonDumps orders keys and tells Python floats with integral values (46.0) from ints (46). */
export interface PyDumpOptions {
  /** Keys of an object in the order Python holds them, where JavaScript would reorder them. */
  readonly keyOrder?: WeakMap<object, readonly string[]>;
  /** Whether `owner[key]` holds a Python float (prints 46.0, not 46). */
  readonly isFloat?: (owner: object, key: string) => boolean;
}

function dumpNumber(value: number, float: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
  return Number.isInteger(value) && !float && Math.abs(value) < 1e16 ? String(value) : pyFloatRepr(value);
}

/**
 * Python's json.dumps(value) with default settings: ", " and ": " separators, ensure_ascii, keys in
 * insertion order (or as `keyOrder` lists them); a number prints as a float when it has a fraction
 * or `isFloat` says it is one, else as an integer.
 */
export function pyJsonDumps(value: unknown, opts: PyDumpOptions = {}): string {
  const dump = (v: unknown, owner?: object, key?: string): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'string') return dumpString(v);
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number')
      return dumpNumber(v, owner !== undefined && key !== undefined && (opts.isFloat?.(owner, key) ?? false));
    if (Array.isArray(v)) return `[${v.map((x) => dump(x)).join(', ')}]`;
    if (typeof v === 'object') {
      const obj = v as Record<string, unknown>;
      const keys = opts.keyOrder?.get(obj) ?? Object.keys(obj);
      return `{${keys.map((k) => `${dumpString(k)}: ${dump(obj[k], obj, k)}`).join(', ')}}`;
    }
    return dumpString(String(v));
  };
  return dump(value);
}
