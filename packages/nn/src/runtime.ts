/**
 * The only module that imports onnxruntime-node. It owns execution-provider detection, the session
 * cache (one session per model bytes + provider + thread count) and the conversion between our
 * HostTensor and ORT tensors. ORT tensors built from a typed array wrap it without copying, and
 * `run` accepts preallocated outputs so callers can reuse buffers between steps.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { asResourceError } from '@gopo/core';
import * as ort from 'onnxruntime-node';
import type { EmittedModel } from './emit.js';
import { emitModel } from './emit.js';
import { FeedError, ProviderUnavailableError } from './errors.js';
import type { ConstData, DType, Shape } from './graph.js';
import { Graph, numel } from './graph.js';

export const PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
export type ProviderRequest = ProviderName | 'auto';

/** A tensor in host memory. `data` is used in place (no copy) when fed to or filled by a session. */
export interface HostTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: ConstData;
}

/** A tensor ORT keeps on the device between runs (webgpu with gpu-buffer outputs). Opaque. */
export class DeviceTensor {
  /** @internal */
  constructor(readonly handle: ort.Tensor) {}
  get dims(): readonly number[] {
    return this.handle.dims;
  }
  /**
   * Copies the tensor to the host. onnxruntime-node 1.30 does not implement the download of a
   * gpu-buffer tensor (its callback throws a C string, which aborts the process), so the copy is an
   * Identity session on the device whose output ORT places in CPU memory.
   */
  async download(): Promise<HostTensor> {
    const dtype = fromOrtType(this.handle.type);
    const session = await readbackSession(dtype, this.handle.dims.length);
    const out = (await session.run({ x: this.handle })).y as ort.Tensor;
    return { dtype, dims: out.dims, data: out.data as ConstData };
  }
  dispose(): void {
    this.handle.dispose();
  }
}

export type RunValue = HostTensor | DeviceTensor;

/** Identity sessions on webgpu with a host output, one per dtype and rank (DeviceTensor.download). */
const readbacks = new Map<string, Promise<ort.InferenceSession>>();

function readbackSession(dtype: DType, rank: number): Promise<ort.InferenceSession> {
  const key = `${dtype}|${rank}`;
  let hit = readbacks.get(key);
  if (!hit) {
    const g = new Graph({ name: 'readback' });
    const shape = Array.from({ length: rank }, (_, i) => `d${i}`);
    g.output('y', g.identity(g.input('x', dtype, shape)));
    hit = ort.InferenceSession.create(emitModel(g).bytes, {
      executionProviders: ['webgpu'],
      logSeverityLevel: 3,
    });
    hit.catch(() => readbacks.delete(key));
    readbacks.set(key, hit);
  }
  return hit;
}

export function isHostTensor(v: RunValue): v is HostTensor {
  return !(v instanceof DeviceTensor);
}

function fromOrtType(t: string): DType {
  switch (t) {
    case 'float32':
      return 'float32';
    case 'float64':
      return 'float64';
    case 'int64':
      return 'int64';
    case 'bool':
      return 'bool';
    default:
      throw new FeedError(`unsupported ORT output type ${t}`);
  }
}

/** A zeroed host tensor; `dims` must be static (numel throws on a symbolic dim). */
export function allocHost(dtype: DType, dims: Shape): HostTensor {
  const n = numel(dims);
  const data =
    dtype === 'float32'
      ? new Float32Array(n)
      : dtype === 'float64'
        ? new Float64Array(n)
        : dtype === 'int64'
          ? new BigInt64Array(n)
          : new Uint8Array(n);
  return { dtype, dims: [...(dims as readonly number[])], data };
}

function toOrt(v: RunValue): ort.Tensor {
  if (v instanceof DeviceTensor) return v.handle;
  if (v.dtype === 'bool') return new ort.Tensor('bool', v.data as Uint8Array, v.dims);
  return new ort.Tensor(v.dtype, v.data as Float32Array, v.dims);
}

export interface ProviderStatus {
  provider: ProviderName;
  available: boolean;
  /** Why it is not available (missing library, no adapter), when it is not. */
  reason?: string;
  /**
   * A webgpu adapter on a machine without a GPU device: a software one such as Mesa's lavapipe.
   * It works (tests use it) but runs slower than the CPU provider, so `auto` passes it over.
   */
  emulated?: boolean;
}

export type ProviderProbe = (provider: ProviderName) => Promise<string | null>;

const probeModel = (() => {
  let cached: Uint8Array | undefined;
  return () => {
    if (!cached) {
      const g = new Graph({ name: 'probe' });
      g.output('y', g.neg(g.input('x', 'float32', [2])));
      cached = emitModel(g).bytes;
    }
    return cached;
  };
})();

function ortBinDir(): string | null {
  try {
    const req = createRequire(import.meta.url);
    const root = dirname(req.resolve('onnxruntime-node/package.json'));
    return join(root, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/** Tries a one-node session on `provider`; returns null when it works, else the reason. */
export const defaultProbe: ProviderProbe = async (provider) => {
  if (provider === 'cuda') {
    const dir = ortBinDir();
    if (!dir || !existsSync(join(dir, 'libonnxruntime_providers_cuda.so'))) {
      return 'the CUDA provider libraries (libonnxruntime_providers_cuda.so) are not installed; onnxruntime-node downloads them at install time when ONNXRUNTIME_NODE_INSTALL is not "skip", and they need CUDA 12 and cuDNN 9';
    }
  }
  try {
    const s = await ort.InferenceSession.create(probeModel(), {
      executionProviders: [provider],
      logSeverityLevel: 4,
    });
    await s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2), [2]) });
    await s.release();
    return null;
  } catch (e) {
    const msg = String((e as Error).message ?? e);
    if (provider === 'webgpu' && /adapter/i.test(msg))
      return "no WebGPU adapter (needs a Vulkan driver and libvulkan.so.1: a GPU, or Mesa's lavapipe for a CPU-emulated one: 25.0 works, 22.3 does not)";
    return msg.split('\n')[0]?.slice(0, 300) ?? msg;
  }
};

const statusCache = new Map<ProviderName, Promise<ProviderStatus>>();

/**
 * Whether the machine has a GPU device node: a DRM render node (/dev/dri/renderD*, Mesa's hardware
 * drivers) or NVIDIA's control device. Elsewhere than Linux, assumed yes.
 */
export function hasGpuDevice(): boolean {
  if (process.platform !== 'linux') return true;
  if (existsSync('/dev/nvidiactl')) return true;
  try {
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

/**
 * Which providers work here. The CPU provider is always available. Results are cached per process.
 * A working webgpu adapter on a machine without a GPU device (`gpuPresent`) is marked emulated.
 */
export async function detectProviders(
  probe: ProviderProbe = defaultProbe,
  which: readonly ProviderName[] = PROVIDERS,
  gpuPresent: () => boolean = hasGpuDevice,
): Promise<ProviderStatus[]> {
  const useCache = probe === defaultProbe && gpuPresent === hasGpuDevice;
  return Promise.all(
    which.map((provider) => {
      if (provider === 'cpu') return Promise.resolve({ provider, available: true } as ProviderStatus);
      const hit = useCache ? statusCache.get(provider) : undefined;
      if (hit) return hit;
      const p = probe(provider).then((reason): ProviderStatus => {
        if (reason !== null) return { provider, available: false, reason };
        return provider === 'webgpu' && !gpuPresent()
          ? { provider, available: true, emulated: true }
          : { provider, available: true };
      });
      if (useCache) statusCache.set(provider, p);
      return p;
    }),
  );
}

/**
 * Picks the provider for `request`: 'auto' prefers cuda, then webgpu (not an emulated adapter),
 * then cpu.
 */
export function chooseProvider(request: ProviderRequest, statuses: readonly ProviderStatus[]): ProviderName {
  const available = statuses.filter((s) => s.available).map((s) => s.provider);
  if (request === 'auto') {
    const preferred = statuses.filter((s) => s.available && !s.emulated).map((s) => s.provider);
    for (const p of ['cuda', 'webgpu', 'cpu'] as const) if (preferred.includes(p)) return p;
    throw new ProviderUnavailableError('auto', 'no execution provider works', available);
  }
  const status = statuses.find((s) => s.provider === request);
  if (!status)
    throw new ProviderUnavailableError(
      request,
      `unknown provider; valid: ${PROVIDERS.join(', ')}, auto`,
      available,
    );
  if (!status.available)
    throw new ProviderUnavailableError(request, status.reason ?? 'unavailable', available);
  return request;
}

/** Resolves a request to a working provider; 'cpu' needs no probe, an explicit GPU request probes only itself. */
export async function resolveProvider(
  request: ProviderRequest,
  probe?: ProviderProbe,
): Promise<ProviderName> {
  if (request === 'cpu') return 'cpu';
  return chooseProvider(
    request,
    await detectProviders(probe, request === 'auto' ? PROVIDERS : ['cpu', request]),
  );
}

export interface SessionOptions {
  provider?: ProviderName;
  /** Threads ORT uses inside one op; 0 lets ORT decide. */
  intraOpThreads?: number;
  /**
   * Outputs kept on the device (webgpu only): run returns them as DeviceTensors that can be fed
   * back; every other output comes back to the host.
   */
  deviceOutputs?: readonly string[];
  /**
   * Keep ORT's CPU memory arena and memory-pattern planning (default true: fastest for a session that
   * runs one shape over and over). False returns each run's memory: for sessions that see many shapes
   * (symbolic dims) or run rarely, whose arenas would otherwise each hold their largest run for good.
   */
  memoryArena?: boolean;
  /**
   * Whether ORT's intra-op worker threads spin while waiting for work (ORT's default: true). False
   * makes them sleep: on a machine shared with other jobs, spinning workers compete with those jobs
   * for the cores, and a session of many small kernels (a decode step) ran about 2x slower with
   * spinning at load 8-12 on 2 cores.
   */
  allowSpinning?: boolean;
}

/** ORT's allocation failures ("Failed to allocate memory ...", bad_alloc) surface as ResourceError. */
const rethrowResource = (e: unknown): never => {
  throw asResourceError(e);
};

/** A compiled graph: one ORT session, built once and cached by model bytes and options. */
export class GraphSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly model: EmittedModel,
    readonly provider: ProviderName,
    private readonly deviceOutputs: ReadonlySet<string>,
    private readonly profiling: boolean,
  ) {}

  /** @internal */
  static async create(model: EmittedModel, options: SessionOptions): Promise<GraphSession> {
    const provider = options.provider ?? 'cpu';
    const deviceOutputs = new Set(provider === 'webgpu' ? (options.deviceOutputs ?? []) : []);
    const session = await ort.InferenceSession.create(model.bytes, {
      executionProviders: [provider],
      intraOpNumThreads: options.intraOpThreads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      ...(options.memoryArena === false ? { enableCpuMemArena: false, enableMemPattern: false } : {}),
      ...(options.allowSpinning === false
        ? { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }
        : {}),
      // GOPO_NN_PROFILE=<prefix> writes ORT's per-node timing JSON for every session (performance work).
      ...(process.env.GOPO_NN_PROFILE
        ? { enableProfiling: true, profileFilePrefix: process.env.GOPO_NN_PROFILE }
        : {}),
      ...(deviceOutputs.size
        ? {
            preferredOutputLocation: Object.fromEntries(
              [...deviceOutputs].map((n) => [n, 'gpu-buffer' as const]),
            ),
          }
        : {}),
    }).catch(rethrowResource);
    return new GraphSession(session, model, provider, deviceOutputs, Boolean(process.env.GOPO_NN_PROFILE));
  }

  /**
   * Runs the graph. `into` maps output names to host buffers ORT writes into directly (reused
   * between steps); outputs not listed come back in fresh buffers (or on the device).
   * onnxruntime-node 1.30 still copies every fetched output, preallocated or not, into a new
   * ArrayBuffer that we drop: ~50 MB and a V8 GC per step of the benchmark model (see README).
   */
  async run(
    feeds: Readonly<Record<string, RunValue>>,
    into: Readonly<Record<string, HostTensor>> = {},
  ): Promise<Record<string, RunValue>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    checkFeeds(this.model.inputs, feeds);
    for (const spec of this.model.inputs) ortFeeds[spec.name] = toOrt(feeds[spec.name] as RunValue);
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const o of this.model.outputs) {
      const buf = into[o.name];
      fetches[o.name] = buf ? toOrt(buf) : null;
    }
    const res = await this.session
      .run(ortFeeds, fetches as ort.InferenceSession.FetchesType)
      .catch(rethrowResource);
    const out: Record<string, RunValue> = {};
    for (const o of this.model.outputs) {
      const buf = into[o.name];
      if (buf) {
        out[o.name] = buf;
        continue;
      }
      const t = res[o.name] as ort.Tensor;
      out[o.name] =
        this.deviceOutputs.has(o.name) && t.location === 'gpu-buffer'
          ? new DeviceTensor(t)
          : { dtype: fromOrtType(t.type), dims: t.dims, data: t.data as ConstData };
    }
    return out;
  }

  /** Ends ORT profiling (GOPO_NN_PROFILE) and writes the profile file; a no-op otherwise. */
  endProfiling(): void {
    if (this.profiling) this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Checks `feeds` against the graph's inputs: every input fed, dtypes equal, static dims equal, and
 * a symbolic dim ('batch') takes one value across all inputs of the run. Device tensors are
 * checked for dims only.
 */
export function checkFeeds(
  specs: readonly { name: string; dtype: DType; shape: Shape }[],
  feeds: Readonly<Record<string, RunValue>>,
): Record<string, number> {
  const bound = new Map<string, { value: number; input: string; axis: number }>();
  for (const spec of specs) {
    const v = feeds[spec.name];
    // Built only for a message: this check runs on every input of every step.
    const expected = () => `${spec.dtype}[${spec.shape.join(',')}]`;
    if (!v) throw new FeedError(`graph input "${spec.name}" (${expected()}) was not fed`);
    const host = isHostTensor(v);
    if ((host && v.dtype !== spec.dtype) || v.dims.length !== spec.shape.length) {
      const got = host ? `${v.dtype}[${v.dims.join(',')}]` : `a device tensor [${v.dims.join(',')}]`;
      throw new FeedError(`graph input "${spec.name}" expects ${expected()}, got ${got}`);
    }
    spec.shape.forEach((d, axis) => {
      const got = v.dims[axis] as number;
      if (typeof d === 'number') {
        if (got !== d)
          throw new FeedError(
            `graph input "${spec.name}" expects ${expected()}, got ${host ? v.dtype : 'device'}[${v.dims.join(',')}] (dim ${axis} is ${got}, not ${d})`,
          );
        return;
      }
      const prev = bound.get(d);
      if (!prev) bound.set(d, { value: got, input: spec.name, axis });
      else if (prev.value !== got)
        throw new FeedError(
          `graph input "${spec.name}" dim ${axis} (symbol "${d}") is ${got}, but input "${prev.input}" dim ${prev.axis} set "${d}" = ${prev.value} in the same run`,
        );
    });
  }
  return Object.fromEntries([...bound].map(([k, b]) => [k, b.value]));
}

const sessionCache = new Map<string, Promise<GraphSession>>();

/** The session for `model` with `options`, compiled on first use and cached afterwards. */
export function getSession(model: EmittedModel, options: SessionOptions = {}): Promise<GraphSession> {
  const key = createHash('sha256')
    .update(model.bytes)
    .update(
      `|${options.provider ?? 'cpu'}|${options.intraOpThreads ?? 0}|${(options.deviceOutputs ?? []).join(',')}|${options.memoryArena ?? true}|${options.allowSpinning ?? true}`,
    )
    .digest('hex');
  let hit = sessionCache.get(key);
  if (!hit) {
    hit = GraphSession.create(model, options);
    hit.catch(() => sessionCache.delete(key));
    sessionCache.set(key, hit);
  }
  return hit;
}

export function sessionCacheSize(): number {
  return sessionCache.size;
}

/** Drops cached sessions (releasing their native memory). */
export async function clearSessionCache(): Promise<void> {
  const all = [...sessionCache.values(), ...readbacks.values()];
  sessionCache.clear();
  readbacks.clear();
  await Promise.allSettled(all.map(async (p) => (await p).release()));
}

/** Creates a fresh, uncached plain-ORT session from .onnx bytes or a file and runs it once (export checks). */
export async function runOnnxFile(
  pathOrBytes: string | Uint8Array,
  feeds: Record<string, HostTensor>,
): Promise<Record<string, HostTensor>> {
  const session =
    typeof pathOrBytes === 'string'
      ? await ort.InferenceSession.create(pathOrBytes)
      : await ort.InferenceSession.create(pathOrBytes);
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) ortFeeds[k] = toOrt(v);
  const res = await session.run(ortFeeds);
  const out: Record<string, HostTensor> = {};
  for (const [k, t] of Object.entries(res))
    out[k] = { dtype: fromOrtType(t.type), dims: t.dims, data: t.data as ConstData };
  await session.release();
  return out;
}
