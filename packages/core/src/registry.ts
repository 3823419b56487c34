import { UnknownNameError } from './errors.js';

/** A name -> value table whose lookup errors list every valid name. */
export interface Registry<T> {
  readonly kind: string;
  register(name: string, value: T): void;
  get(name: string): T;
  has(name: string): boolean;
  names(): string[];
}

export function createRegistry<T>(kind: string, initial: Record<string, T> = {}): Registry<T> {
  const table = new Map<string, T>(Object.entries(initial));
  return {
    kind,
    register(name, value) {
      if (table.has(name)) throw new Error(`${kind} "${name}" is already registered`);
      table.set(name, value);
    },
    get(name) {
      const v = table.get(name);
      if (v === undefined) throw new UnknownNameError(kind, name, [...table.keys()]);
      return v;
    },
    has: (name) => table.has(name),
    names: () => [...table.keys()].sort(),
  };
}
