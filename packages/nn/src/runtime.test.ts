import { describe, expect, it } from 'vitest';
import { ProviderUnavailableError } from './errors.js';
import { chooseProvider, detectProviders, type ProviderStatus, resolveProvider } from './runtime.js';

const statuses = (webgpu: string | null, cuda: string | null): ProviderStatus[] => [
  { provider: 'cpu', available: true },
  webgpu === null
    ? { provider: 'webgpu', available: true }
    : { provider: 'webgpu', available: false, reason: webgpu },
  cuda === null
    ? { provider: 'cuda', available: true }
    : { provider: 'cuda', available: false, reason: cuda },
];

describe('execution providers', () => {
  it('auto prefers cuda, then webgpu, then cpu', () => {
    expect(chooseProvider('auto', statuses(null, null))).toBe('cuda');
    expect(chooseProvider('auto', statuses(null, 'no libs'))).toBe('webgpu');
    expect(chooseProvider('auto', statuses('no adapter', 'no libs'))).toBe('cpu');
    // A software adapter (no GPU device) is used when asked for, never picked by auto.
    const emulated = statuses(null, 'no libs').map((s) =>
      s.provider === 'webgpu' ? { ...s, emulated: true } : s,
    );
    expect(chooseProvider('auto', emulated)).toBe('cpu');
    expect(chooseProvider('webgpu', emulated)).toBe('webgpu');
  });

  it('an unavailable provider is a typed error naming what is missing and the alternatives', () => {
    let err: unknown;
    try {
      chooseProvider('webgpu', statuses('no WebGPU adapter (needs a Vulkan driver)', null));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderUnavailableError);
    const e = err as ProviderUnavailableError;
    expect(e.provider).toBe('webgpu');
    expect(e.available).toEqual(['cpu', 'cuda']);
    expect(e.message).toMatch(/no WebGPU adapter.*Available here: cpu, cuda; pick one with --device cpu/);
  });

  it('detection uses the probe for non-CPU providers and turns its answer into statuses', async () => {
    const asked: string[] = [];
    const s = await detectProviders(
      async (p) => {
        asked.push(p);
        return p === 'cuda' ? 'libonnxruntime_providers_cuda.so missing' : null;
      },
      undefined,
      () => true,
    );
    expect(asked.sort()).toEqual(['cuda', 'webgpu']);
    expect(s).toEqual(statuses(null, 'libonnxruntime_providers_cuda.so missing'));
    const noGpu = await detectProviders(
      async () => null,
      ['cpu', 'webgpu', 'cuda'],
      () => false,
    );
    expect(noGpu.map((x) => [x.provider, x.emulated ?? false])).toEqual([
      ['cpu', false],
      ['webgpu', true],
      ['cuda', false],
    ]);
  });

  it('probes this machine without crashing: cpu works, and a failing provider reports why', async () => {
    const s = await detectProviders();
    expect(s.find((x) => x.provider === 'cpu')?.available).toBe(true);
    for (const x of s) if (!x.available) expect(x.reason?.length ?? 0).toBeGreaterThan(10);
    expect(await resolveProvider('cpu')).toBe('cpu');
    const auto = await resolveProvider('auto');
    expect(s.find((x) => x.provider === auto)?.available).toBe(true);
  });
});

describe('GraphSession errors', () => {
  it("ONNX Runtime's allocation failure is a ResourceError (a user-facing resource message)", async () => {
    const { ResourceError } = await import('@gopo/core');
    const { Graph } = await import('./graph.js');
    const { emitModel } = await import('./emit.js');
    const { getSession } = await import('./runtime.js');
    // One float broadcast to 2^22 x 2^22 (64 TiB): ORT's allocator refuses it at once, touching nothing.
    const g = new Graph();
    const x = g.input('x', 'float32', [1, 1]);
    g.output('y', g.expand(x, [2 ** 22, 2 ** 22]));
    const session = await getSession(emitModel(g));
    const err = await session
      .run({ x: { dtype: 'float32', dims: [1, 1], data: Float32Array.of(1) } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceError);
    expect((err as Error).message).toMatch(/^out of memory: /);
  });
});

describe('session options', () => {
  it('workers that sleep instead of spinning (allowSpinning: false) get their own session and the same results', async () => {
    const { Graph } = await import('./graph.js');
    const { emitModel } = await import('./emit.js');
    const { getSession } = await import('./runtime.js');
    const g = new Graph();
    const x = g.input('x', 'float32', [64, 64]);
    g.output('y', g.matmul(x, x));
    const model = emitModel(g);
    const spinning = await getSession(model, { intraOpThreads: 2 });
    const sleeping = await getSession(model, { intraOpThreads: 2, allowSpinning: false });
    expect(sleeping).not.toBe(spinning);
    expect(await getSession(model, { intraOpThreads: 2, allowSpinning: false })).toBe(sleeping);
    const feeds = {
      x: {
        dtype: 'float32' as const,
        dims: [64, 64],
        data: Float32Array.from({ length: 4096 }, (_, i) => (i % 7) - 3),
      },
    };
    const a = (await spinning.run(feeds)).y as { data: Float32Array };
    const b = (await sleeping.run(feeds)).y as { data: Float32Array };
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });
});
