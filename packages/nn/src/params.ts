/**
 * Host-side parameter values by name. Values are HostTensors whose typed arrays are fed to ORT
 * without copying; `swap` installs a new buffer in place of the old one (the trainer double-buffers
 * so ORT writes the next step's parameters straight into the spare buffer).
 */
import type { Rng } from '@gopo/core';
import { FeedError } from './errors.js';
import { type ConstData, numel, type ParamSpec } from './graph.js';
import { allocHost, type HostTensor } from './runtime.js';

export function initParam(spec: ParamSpec, rng: Rng): HostTensor {
  const t = allocHost(spec.dtype, spec.shape);
  const data = t.data as Float32Array | Float64Array;
  const scale = spec.init.scale ?? (spec.init.kind === 'normal' ? 0.02 : 1);
  switch (spec.init.kind) {
    case 'zeros':
      break;
    case 'ones':
      data.fill(1);
      break;
    case 'normal':
      for (let i = 0; i < data.length; i++) data[i] = rng.normal(0, scale);
      break;
    case 'uniform':
      for (let i = 0; i < data.length; i++) data[i] = (rng.float() * 2 - 1) * scale;
      break;
  }
  return t;
}

export class ParamStore {
  private readonly values = new Map<string, HostTensor>();

  /** Initialises every spec not already present, in name order (so the RNG stream is stable). */
  initMissing(specs: Iterable<ParamSpec>, rng: Rng): void {
    const sorted = [...specs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const spec of sorted) {
      if (this.values.has(spec.name)) {
        this.check(spec.name, spec.dtype, spec.shape, this.values.get(spec.name) as HostTensor);
        continue;
      }
      this.values.set(spec.name, initParam(spec, rng.derive(spec.name)));
    }
  }

  private check(name: string, dtype: string, shape: readonly number[], t: HostTensor): void {
    if (
      t.dtype !== dtype ||
      t.dims.length !== shape.length ||
      t.dims.some((d, i) => d !== shape[i]) ||
      t.data.length !== numel(shape)
    ) {
      throw new FeedError(
        `parameter "${name}" expects ${dtype}[${shape.join(',')}], got ${t.dtype}[${t.dims.join(',')}]`,
      );
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  get(name: string): HostTensor {
    const v = this.values.get(name);
    if (!v)
      throw new FeedError(
        `no parameter named "${name}"; known: ${[...this.values.keys()].slice(0, 20).join(', ')}`,
      );
    return v;
  }

  /** Puts `value` in place of the current tensor (no copy); the shape and dtype must match. */
  swap(name: string, value: HostTensor): HostTensor {
    const old = this.get(name);
    this.check(name, old.dtype, old.dims, value);
    this.values.set(name, value);
    return old;
  }

  /** Adds or replaces a parameter (import from a checkpoint or another model). */
  set(name: string, value: HostTensor): void {
    this.values.set(name, value);
  }

  /** Copies values into the existing buffers (used when a caller must keep its own arrays). */
  copyFrom(name: string, data: ConstData): void {
    const t = this.get(name);
    if (t.data.length !== data.length)
      throw new FeedError(`parameter "${name}": ${data.length} values for ${t.data.length} elements`);
    (t.data as Float32Array).set(data as Float32Array);
  }

  names(): string[] {
    return [...this.values.keys()].sort();
  }

  entries(): [string, HostTensor][] {
    return this.names().map((n) => [n, this.values.get(n) as HostTensor]);
  }

  get size(): number {
    return this.values.size;
  }
}
