import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, FileFormatError, MissingFileError } from '@gopo/core';
import {
  bf16ToFloat32,
  float32ToBf16,
  readSafetensors,
  type SafetensorsTensor,
  writeSafetensors,
} from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import { LlamaModel, llamaParamShapes } from '../src/index.js';

const SRC = path.join(import.meta.dirname, 'fixtures', 'tiny-llama');

async function copyFixture(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lm-weights-'));
  for (const f of ['config.json', 'model.safetensors'])
    await fs.copyFile(path.join(SRC, f), path.join(dir, f));
  return dir;
}

async function rewrite(dir: string, edit: (t: Map<string, SafetensorsTensor>) => void) {
  const file = path.join(dir, 'model.safetensors');
  const { tensors } = await readSafetensors(file);
  edit(tensors);
  await writeSafetensors(file, tensors);
  return file;
}

describe('loading Hugging Face model directories', () => {
  it('names the tensor and file of a missing, extra or mis-shaped tensor', async () => {
    let dir = await copyFixture();
    let file = await rewrite(dir, (t) => t.delete('model.layers.1.mlp.up_proj.weight'));
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(FileFormatError);
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(
      `${file} at model.layers.1.mlp.up_proj.weight: missing tensor`,
    );
    dir = await copyFixture();
    file = await rewrite(dir, (t) =>
      t.set('model.layers.0.self_attn.q_proj.bias', {
        dtype: 'F32',
        shape: [32],
        data: new Float32Array(32),
      }),
    );
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(
      `${file} at model.layers.0.self_attn.q_proj.bias: unexpected tensor`,
    );
    dir = await copyFixture();
    file = await rewrite(dir, (t) =>
      t.set('model.norm.weight', { dtype: 'F32', shape: [31], data: new Float32Array(31) }),
    );
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(
      `${file} at model.norm.weight: shape [31] does not match the config's [32]`,
    );
  });

  it('rejects bad config.json with the field path, and missing files', async () => {
    const dir = await copyFixture();
    const cfgFile = path.join(dir, 'config.json');
    const cfg = JSON.parse(await fs.readFile(cfgFile, 'utf8'));
    await fs.writeFile(cfgFile, JSON.stringify({ ...cfg, num_key_value_heads: 3 }));
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(ConfigError);
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(
      /config\.json at num_key_value_heads: .*not a multiple/,
    );
    await fs.writeFile(cfgFile, JSON.stringify({ ...cfg, hidden_size: 'big' }));
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(/at hidden_size/);
    await fs.rm(path.join(dir, 'model.safetensors'));
    await fs.writeFile(cfgFile, JSON.stringify(cfg));
    await expect(LlamaModel.fromPretrained(dir)).rejects.toThrow(MissingFileError);
    await expect(LlamaModel.fromPretrained(path.join(dir, 'nope'))).rejects.toThrow(MissingFileError);
  });

  it('widens bf16 and f16 weights to float32', async () => {
    const ref = await LlamaModel.fromPretrained(SRC);
    const dir = await copyFixture();
    await rewrite(dir, (t) => {
      for (const [name, v] of t)
        t.set(name, { dtype: 'BF16', shape: v.shape, data: float32ToBf16(v.data as Float32Array) });
    });
    const m = await LlamaModel.fromPretrained(dir);
    for (const [name, w] of ref.weights)
      expect(m.weights.get(name)?.data).toEqual(bf16ToFloat32(float32ToBf16(w.data)));
  });

  it('save writes HF layout that loads back to identical weights and logits, keeping unknown config fields', async () => {
    const m = await LlamaModel.fromPretrained(SRC);
    const out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'lm-save-')), 'copy');
    await m.save(out, { 'tokenizer.json': '{}' });
    expect((await fs.readdir(out)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const back = await LlamaModel.fromPretrained(out);
    expect([...back.weights.keys()].sort()).toEqual([...llamaParamShapes(m.config).keys()].sort());
    for (const [name, w] of m.weights) expect(back.weights.get(name)?.data).toEqual(w.data);
    const saved = JSON.parse(await fs.readFile(path.join(out, 'config.json'), 'utf8'));
    expect(saved.architectures).toEqual(['LlamaForCausalLM']);
    expect(saved.num_key_value_heads).toBe(2);
    const ids = [[1, 5, 9, 33]];
    expect((await back.logits(ids)).data).toEqual((await m.logits(ids)).data);
  });
});
