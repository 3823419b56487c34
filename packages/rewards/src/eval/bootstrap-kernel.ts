/**
 * The inner loop of the bootstrap: one group's weighted column sums for one resample. It is
 * generated as source for the table's width, so that every column's sum lives in a local variable
 * (a register) rather than in an array slot that each row loads and stores: about 2x faster on the
 * benchmark table (15 vs 30-38 ns a row). The rows are visited in the order given, and each sum adds
 * the same terms in the same order as a plain row-by-row loop would, so results are bit-identical.
 */
export type GroupSums = (
  /** How often the resample drew each row (indexed by table row). */
  counts: Uint32Array,
  /** Table rows in visiting order; position k's values are at x[k * width], d[k * varWidth]. */
  order: Uint32Array,
  x: Float64Array,
  d: Float64Array,
  lo: number,
  hi: number,
  /** Receives the `width` numerator sums at sn[at...]. */
  sn: Float64Array,
  at: number,
  /** Receives the `varWidth` denominator sums at sd[atD...]. */
  sd: Float64Array,
  atD: number,
) => number;

const kernels = new Map<string, GroupSums>();

/** The kernel for `width` numerator and `varWidth` denominator columns; returns the rows drawn. */
export function groupSumsKernel(width: number, varWidth: number): GroupSums {
  const key = `${width}/${varWidth}`;
  let kernel = kernels.get(key);
  if (kernel) return kernel;
  if (!Number.isInteger(width) || !Number.isInteger(varWidth) || width < 0 || varWidth < 0)
    throw new RangeError(`groupSumsKernel: bad widths ${width}, ${varWidth}`);
  const cols = (n: number, f: (m: number) => string) => Array.from({ length: n }, (_, m) => f(m)).join('\n');
  const body = `
    let rows = 0;
    ${cols(width, (m) => `let a${m} = 0;`)}
    ${cols(varWidth, (v) => `let b${v} = 0;`)}
    for (let k = lo; k < hi; k++) {
      const c = counts[order[k]];
      if (c === 0) continue;
      rows += c;
      const r = k * ${width};
      const rd = k * ${varWidth};
      ${cols(width, (m) => `a${m} += c * x[r + ${m}];`)}
      ${cols(varWidth, (v) => `b${v} += c * d[rd + ${v}];`)}
    }
    ${cols(width, (m) => `sn[at + ${m}] = a${m};`)}
    ${cols(varWidth, (v) => `sd[atD + ${v}] = b${v};`)}
    return rows;`;
  kernel = new Function('counts', 'order', 'x', 'd', 'lo', 'hi', 'sn', 'at', 'sd', 'atD', body) as GroupSums;
  kernels.set(key, kernel);
  return kernel;
}
