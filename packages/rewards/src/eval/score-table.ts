/**
 * Per-session metric values in compact row-major typed arrays: row i holds session i's numerators
 * and denominators for every metric. A million sessions by a dozen metrics is about 150 MB, and no
 * session object is kept.
 */
export class ScoreTable {
  num: Float64Array;
  /** Denominators are small counts (turns, 0/1); float32 holds them exactly up to 2^24. */
  den: Float32Array;
  group: Uint8Array;
  rows = 0;

  constructor(
    readonly width: number,
    capacity = 1024,
  ) {
    this.num = new Float64Array(capacity * width);
    this.den = new Float32Array(capacity * width);
    this.group = new Uint8Array(capacity);
  }

  /** Appends a row for a session of group `group` and returns its offset into num/den. */
  addRow(group: number): number {
    if (this.rows === this.group.length) this.grow();
    this.group[this.rows] = group;
    return this.rows++ * this.width;
  }

  private grow(): void {
    const cap = this.group.length * 2;
    const num = new Float64Array(cap * this.width);
    num.set(this.num);
    const den = new Float32Array(cap * this.width);
    den.set(this.den);
    const group = new Uint8Array(cap);
    group.set(this.group);
    this.num = num;
    this.den = den;
    this.group = group;
  }

  /** sum(num) / sum(den) of metric m over all rows (NaN when every den is 0). */
  ratio(m: number, rows: ArrayLike<number> | null = null): number {
    let sn = 0;
    let sd = 0;
    const count = rows ? rows.length : this.rows;
    for (let k = 0; k < count; k++) {
      const i = rows ? (rows[k] as number) : k;
      sn += this.num[i * this.width + m]!;
      sd += this.den[i * this.width + m]!;
    }
    return sd === 0 ? Number.NaN : sn / sd;
  }

  /** Rows of metric m with den > 0. */
  definedCount(m: number, group = -1): number {
    let c = 0;
    for (let i = 0; i < this.rows; i++)
      if (this.den[i * this.width + m]! > 0 && (group < 0 || this.group[i] === group)) c++;
    return c;
  }

  bytes(): number {
    return this.num.byteLength + this.den.byteLength + this.group.byteLength;
  }
}
