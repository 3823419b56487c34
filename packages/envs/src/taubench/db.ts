import { createHash } from 'node:crypto';
import type { KeyOrder, RetailData, RetailOrder, RetailProduct, RetailUser } from './data.js';
import { pyJsonDumps } from './python.js';

const own = <T>(table: Readonly<Record<string, T>>, key: string): T | undefined =>
  Object.hasOwn(table, key) ? table[key] : undefined;

/** The episode's copy of a record, made from the frozen base on the first write. */
function copyOnWrite<T>(
  copies: Map<string, T>,
  base: Readonly<Record<string, T>>,
  id: string,
  what: string,
): T {
  let r = copies.get(id);
  if (!r) {
    const b = own(base, id);
    if (!b) throw new RangeError(`no ${what} ${id}`);
    r = structuredClone(b);
    copies.set(id, r);
  }
  return r;
}

/** JSON with every object's keys sorted: equal values give equal text (tau-bench's to_hashable). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const obj = value as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// Digests and sorted keys of the shared, frozen base data, computed once.
const baseDigests = new WeakMap<object, string>();
const sortedKeys = new WeakMap<object, readonly string[]>();
const keysOf = (table: object) => {
  let k = sortedKeys.get(table);
  if (!k) {
    k = Object.keys(table).sort();
    sortedKeys.set(table, k);
  }
  return k;
};

const TABLES = ['orders', 'products', 'users'] as const;

/** Fields the retail files always write as floats (JSON has one number type; Python has two). */
const FLOAT_FIELDS: ReadonlySet<string> = new Set(['price', 'amount', 'exchange_price_difference']);

/**
 * One episode's view of the retail database: the shared base data (frozen) plus copies of the records
 * this episode changed, made on first write. `hash()` is the database hash of tau-bench's reward: equal
 * exactly when every record equals field by field (keys in any order).
 */
export class RetailDb {
  private readonly users = new Map<string, RetailUser>();
  private readonly orders = new Map<string, RetailOrder>();
  /** Fields whose Python type (float or int) a write set against the default. */
  private readonly numberTypes = new WeakMap<object, Map<string, boolean>>();

  constructor(
    readonly base: RetailData,
    readonly keyOrder?: KeyOrder,
  ) {}

  user(id: string): RetailUser | undefined {
    return this.users.get(id) ?? own(this.base.users, id);
  }

  order(id: string): RetailOrder | undefined {
    return this.orders.get(id) ?? own(this.base.orders, id);
  }

  product(id: string): RetailProduct | undefined {
    return own(this.base.products, id);
  }

  /** Users in the file's order (lookups return the first match, as upstream's dict iteration does). */
  *userEntries(): Generator<[string, RetailUser]> {
    for (const id of Object.keys(this.base.users)) yield [id, this.user(id)!];
  }

  products(): RetailProduct[] {
    return Object.values(this.base.products);
  }

  /** The user's record, writable (copied from the base on the first write). */
  editUser(id: string): RetailUser {
    return copyOnWrite(this.users, this.base.users, id, 'user');
  }

  /** The order's record, writable (copied from the base on the first write). */
  editOrder(id: string): RetailOrder {
    return copyOnWrite(this.orders, this.base.orders, id, 'order');
  }

  /**
   * Writes a number and remembers whether Python would hold it as a float (so tool outputs print
   * 46.0 where upstream does): gift-card balances are ints in the files and floats once changed.
   */
  setNumber(owner: Record<string, unknown>, key: string, value: number, float: boolean): void {
    owner[key] = value;
    let m = this.numberTypes.get(owner);
    if (!m) {
      m = new Map();
      this.numberTypes.set(owner, m);
    }
    m.set(key, float);
  }

  /** Whether `owner[key]` holds a Python float. */
  readonly isFloat = (owner: object, key: string): boolean =>
    this.numberTypes.get(owner)?.get(key) ?? FLOAT_FIELDS.has(key);

  /** json.dumps of a record as upstream's tools print it. */
  dumps(record: object): string {
    return pyJsonDumps(record, { keyOrder: this.keyOrder, isFloat: this.isFloat });
  }

  /** Ids of the records this episode wrote, by table. */
  edited(): { users: string[]; orders: string[] } {
    return { users: [...this.users.keys()], orders: [...this.orders.keys()] };
  }

  /** The whole database as plain data ({users, orders, products}), edits applied. */
  snapshot(): {
    users: Record<string, RetailUser>;
    orders: Record<string, RetailOrder>;
    products: Record<string, RetailProduct>;
  } {
    return {
      users: Object.fromEntries([...this.userEntries()]),
      orders: Object.fromEntries(Object.keys(this.base.orders).map((k) => [k, this.order(k)!])),
      products: { ...this.base.products },
    };
  }

  private digest(record: object, edited: boolean): string {
    if (edited) return sha256(canonicalJson(record));
    let d = baseDigests.get(record);
    if (!d) {
      d = sha256(canonicalJson(record));
      baseDigests.set(record, d);
    }
    return d;
  }

  /** sha256 over every record's canonical digest, tables and keys in sorted order. */
  hash(): string {
    const h = createHash('sha256');
    for (const t of TABLES) {
      const table = this.base[t] as Readonly<Record<string, object>>;
      const edits = t === 'users' ? this.users : t === 'orders' ? this.orders : undefined;
      for (const key of keysOf(table)) {
        const e = edits?.get(key);
        h.update(`${t}\u0000${key}\u0000${this.digest(e ?? table[key]!, e !== undefined)}\n`);
      }
    }
    return h.digest('hex');
  }
}
