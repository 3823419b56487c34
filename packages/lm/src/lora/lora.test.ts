import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Rng } from '@gopo/core';
import { crossEntropy, Forward, type HostTensor, ParamStore, readSafetensors, Trainer } from '@gopo/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LlamaConfig, LlamaConfigSchema } from '../model/config.js';
import { llamaLogits } from '../model/model.js';
import {
  isLoraParam,
  type LoraConfig,
  LoraConfigSchema,
  loraFrozenNames,
  matchesTarget,
  mergeLora,
  unmergeLora,
  withLora,
} from './lora.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, loadLoraAdapter, saveLoraAdapter } from './peft.js';

const cfg: LlamaConfig = LlamaConfigSchema.parse({
  vocab_size: 37,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});
const lora: LoraConfig = LoraConfigSchema.parse({
  r: 4,
  alpha: 8,
  targetModules: ['q_proj', 'v_proj', 'down_proj'],
});
const B = 2;
const T = 6;
const spec = { ids: { dtype: 'int64', shape: [B, T] }, targets: { dtype: 'int64', shape: [B, T] } } as const;
const rng = Rng.fromSeed(3, 'lora-test');
const ids: HostTensor = {
  dtype: 'int64',
  dims: [B, T],
  data: BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocab_size))),
};
const targets: HostTensor = {
  dtype: 'int64',
  dims: [B, T],
  data: BigInt64Array.from({ length: B * T }, () => BigInt(rng.int(cfg.vocab_size))),
};

function host(dims: number[], f: (i: number) => number): HostTensor {
  return { dtype: 'float32', dims, data: Float32Array.from({ length: dims[0]! * dims[1]! }, (_, i) => f(i)) };
}

async function logitsOf(store: ParamStore, withAdapters: boolean): Promise<Float32Array> {
  const fwd = await Forward.create(
    (g, b) => ({
      logits: withAdapters
        ? withLora(g, lora, () => llamaLogits(g, b.ids!, cfg))
        : llamaLogits(g, b.ids!, cfg),
    }),
    { ids: spec.ids },
    store,
    { intraOpThreads: 1 },
  );
  return (await fwd.run({ ids })).logits!.data as Float32Array;
}

describe('target matching (PEFT rules)', () => {
  it('names match module path suffixes at dot boundaries; a string is a full-path regex', () => {
    expect(matchesTarget('model.layers.0.self_attn.q_proj', ['q_proj'])).toBe(true);
    expect(matchesTarget('model.layers.0.self_attn.xq_proj', ['q_proj'])).toBe(false);
    expect(matchesTarget('model.layers.0.self_attn.q_proj', ['self_attn.q_proj'])).toBe(true);
    expect(matchesTarget('model.layers.1.mlp.up_proj', '.*layers\\.1\\..*(up|down)_proj')).toBe(true);
    expect(matchesTarget('model.layers.0.mlp.up_proj', '.*layers\\.1\\..*(up|down)_proj')).toBe(false);
  });
});

describe('merge and unmerge', () => {
  it('merge adds (alpha/r) B A (hand-computed 2x3, r = 1) and drops the adapters', () => {
    const w = host([2, 3], (i) => i);
    const a = host([1, 3], (i) => [1, 2, 3][i]!);
    const b = host([2, 1], (i) => [10, -1][i]!);
    const merged = mergeLora(
      new Map([
        ['m.weight', w],
        ['m.lora_A.weight', a],
        ['m.lora_B.weight', b],
      ]),
      { r: 1, alpha: 0.5 },
    );
    expect([...merged.keys()]).toEqual(['m.weight']);
    // 0.5 * [[10,20,30],[-1,-2,-3]] + [[0,1,2],[3,4,5]]
    expect([...(merged.get('m.weight')!.data as Float32Array)]).toEqual([5, 11, 17, 2.5, 3, 3.5]);
  });

  it('unmerge(merge(W)) gives W back within float32 rounding (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer(),
        (r, out, inF, seed) => {
          const g = Rng.fromSeed(seed, 'merge');
          const w = host([out, inF], () => g.normal());
          const adapters = new Map([
            ['x.q_proj.lora_A.weight', host([r, inF], () => g.normal())],
            ['x.q_proj.lora_B.weight', host([out, r], () => g.normal())],
          ]);
          const conf = { r, alpha: 2 * r };
          const merged = mergeLora(new Map([['x.q_proj.weight', w], ...adapters]), conf);
          const back = unmergeLora(merged, adapters, conf);
          const wb = back.get('x.q_proj.weight')!.data as Float32Array;
          const m = merged.get('x.q_proj.weight')!.data as Float32Array;
          (w.data as Float32Array).forEach((v, i) => {
            expect(Math.abs(wb[i]! - v)).toBeLessThanOrEqual(4e-7 * (Math.abs(m[i]!) + Math.abs(v)) + 1e-7);
          });
          expect(back.has('x.q_proj.lora_A.weight')).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('LoRA on the Llama decoder', () => {
  it('fresh adapters (B = 0) give the base logits exactly; training changes only adapters; merged = adapted', async () => {
    const store = new ParamStore();
    const base = await logitsOf(store, false);
    const baseValues = new Map(store.entries().map(([n, t]) => [n, (t.data as Float32Array).slice()]));
    const fresh = await logitsOf(store, true);
    expect(store.names().filter(isLoraParam).length).toBe(2 * 3 * 2);
    expect([...fresh]).toEqual([...base]);

    const names = store.names();
    const trainer = await Trainer.create(
      (g, b) =>
        crossEntropy(
          g,
          withLora(g, lora, () => llamaLogits(g, b.ids!, cfg), { train: true }),
          b.targets!,
        ),
      spec,
      {
        optimizer: { kind: 'adamw', weightDecay: 0.1 },
        lr: 1e-2,
        intraOpThreads: 1,
        frozen: loraFrozenNames(names),
      },
      store,
    );
    expect(trainer.trainableNames.every(isLoraParam)).toBe(true);
    const first = await trainer.trainStep({ ids, targets });
    let last = first;
    for (let i = 0; i < 15; i++) last = await trainer.trainStep({ ids, targets });
    expect(last.loss).toBeLessThan(first.loss);
    for (const [n, t] of store.entries()) {
      const before = baseValues.get(n);
      if (isLoraParam(n)) {
        if (n.endsWith('lora_B.weight'))
          expect([...(t.data as Float32Array)].some((v) => v !== 0)).toBe(true);
      } else expect([...(t.data as Float32Array)]).toEqual([...before!]);
    }
    const adapted = await logitsOf(store, true);
    const mergedStore = new ParamStore();
    for (const [n, t] of mergeLora(new Map(store.entries()), lora)) mergedStore.set(n, t);
    const merged = await logitsOf(mergedStore, false);
    let maxDiff = 0;
    adapted.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - merged[i]!));
    });
    expect(maxDiff).toBeLessThan(1e-4);
    expect([...adapted]).not.toEqual([...base]);
  });
});

describe('PEFT layout', () => {
  it('saves adapter_model.safetensors with base_model.model.* names and adapter_config.json; loads back', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'gopo-lora-'));
    const params = new Map<string, HostTensor>([
      ['model.layers.0.self_attn.q_proj.weight', host([4, 3], (i) => i)],
      ['model.layers.0.self_attn.q_proj.lora_A.weight', host([2, 3], (i) => i * 0.5)],
      ['model.layers.0.self_attn.q_proj.lora_B.weight', host([4, 2], (i) => -i)],
    ]);
    const conf = LoraConfigSchema.parse({ r: 2, alpha: 4, dropout: 0.05, targetModules: ['q_proj'] });
    await saveLoraAdapter(dir, params, conf, { baseModel: 'tiny-llama' });
    const st = await readSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE));
    expect([...st.tensors.keys()].sort()).toEqual([
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
    ]);
    const json = JSON.parse(await readFile(path.join(dir, ADAPTER_CONFIG_FILE), 'utf8'));
    expect(json).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 2,
      lora_alpha: 4,
      lora_dropout: 0.05,
      target_modules: ['q_proj'],
      bias: 'none',
      fan_in_fan_out: false,
      base_model_name_or_path: 'tiny-llama',
      use_rslora: false,
    });
    const loaded = await loadLoraAdapter(dir);
    expect(loaded.config).toEqual(conf);
    expect([
      ...(loaded.tensors.get('model.layers.0.self_attn.q_proj.lora_B.weight')!.data as Float32Array),
    ]).toEqual([...(params.get('model.layers.0.self_attn.q_proj.lora_B.weight')!.data as Float32Array)]);
    await writeFile(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify({ ...json, use_dora: true }));
    await expect(loadLoraAdapter(dir)).rejects.toThrow(/adapter_config\.json.*use_dora/);
  });
});
