import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeModel, type HostTensor, runOnnxFile } from '@gopo/nn';
import { describe, expect, it } from 'vitest';
import { exportLlamaOnnx, LlamaModel } from '../src/index.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const i64 = (v: number[], dims: number[]): HostTensor => ({
  dtype: 'int64',
  dims,
  data: BigInt64Array.from(v.map(BigInt)),
});

type CacheShape = { layers: number; kvHeads: number; headDim: number };
const PAST = (l: number, k: string) => `past_key_values.${l}.${k}`;

/** got[offset + v] is within 1e-4 of want[v] for every v. */
function expectRowClose(got: Float32Array, offset: number, want: readonly number[]): void {
  for (let v = 0; v < want.length; v++)
    expect(Math.abs((got[offset + v] as number) - (want[v] as number))).toBeLessThan(1e-4);
}

/** An all-zero KV cache feed for every layer: [batch, kvHeads, capacity, headDim]. */
function zeroCache(m: CacheShape, batch: number, capacity: number): Record<string, HostTensor> {
  const past: Record<string, HostTensor> = {};
  for (let l = 0; l < m.layers; l++)
    for (const k of ['key', 'value'])
      past[PAST(l, k)] = {
        dtype: 'float32',
        dims: [batch, m.kvHeads, capacity, m.headDim],
        data: new Float32Array(batch * m.kvHeads * capacity * m.headDim),
      };
  return past;
}

/** The next call's cache feeds: this call's present.* outputs. */
function cacheFrom(res: Record<string, HostTensor>, layers: number): Record<string, HostTensor> {
  const past: Record<string, HostTensor> = {};
  for (let l = 0; l < layers; l++)
    for (const k of ['key', 'value']) past[PAST(l, k)] = res[`present.${l}.${k}`] as HostTensor;
  return past;
}

describe('exported inference .onnx with KV cache', () => {
  it('runs in a fresh plain onnxruntime session and reproduces the reference logits token by token', async () => {
    const dir = path.join(FIXTURES, 'tiny-llama');
    const expected = JSON.parse(await fs.readFile(path.join(dir, 'expected.json'), 'utf8')) as {
      sequences: { input_ids: number[]; logits: number[][] }[];
    };
    const model = await LlamaModel.fromPretrained(dir);
    const out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'lm-export-')), 'model.onnx');
    const cap = 16;
    const manifest = await exportLlamaOnnx(model, out, { batch: 2, tokens: 1, capacity: cap });
    expect(JSON.parse(await fs.readFile(`${out}.json`, 'utf8'))).toEqual(manifest);
    expect(manifest.inputs.map((i) => i.name)).toContain('past_key_values.1.value');
    expect(manifest.outputs.map((i) => i.name)).toContain('present.0.key');
    let past = zeroCache(manifest, 2, cap);
    // Two rows of different lengths, right-aligned (left padded): row 0 starts 4 slots later.
    const seqs = expected.sequences.map((s) => s.input_ids);
    const total = Math.max(...seqs.map((s) => s.length));
    const mask = new Array<number>(2 * cap).fill(0);
    for (let slot = 0; slot < total; slot++) {
      const ids: number[] = [];
      const pos: number[] = [];
      seqs.forEach((s, b) => {
        const j = slot - (total - s.length);
        ids.push(j >= 0 ? (s[j] as number) : 0);
        pos.push(Math.max(j, 0));
        // the window shifts left by one; the new token takes the last slot
        mask.copyWithin(b * cap, b * cap + 1, (b + 1) * cap);
        mask[(b + 1) * cap - 1] = j >= 0 ? 1 : 0;
      });
      const res = await runOnnxFile(out, {
        input_ids: i64(ids, [2, 1]),
        position_ids: i64(pos, [2, 1]),
        attention_mask: i64(mask, [2, cap]),
        ...past,
      });
      const logits = res.logits?.data as Float32Array;
      seqs.forEach((s, b) => {
        const j = slot - (total - s.length);
        if (j < 0) return;
        const want = expected.sequences[b]?.logits[j] as number[];
        expectRowClose(logits, b * want.length, want);
      });
      past = cacheFrom(res, manifest.layers);
    }
  });

  it('a chunked-prefill export (several tokens per call) matches the full forward', async () => {
    const dir = path.join(FIXTURES, 'tiny-llama-tied');
    const expected = JSON.parse(await fs.readFile(path.join(dir, 'expected.json'), 'utf8')) as {
      sequences: { input_ids: number[]; logits: number[][] }[];
    };
    const model = await LlamaModel.fromPretrained(dir);
    const out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'lm-export-')), 'chunk.onnx');
    const seq = expected.sequences[1]?.input_ids as number[]; // 11 tokens: chunks of 4, 4, 3 (+1 pad)
    const cap = 12;
    const m = await exportLlamaOnnx(model, out, { batch: 1, tokens: 4, capacity: cap, allLogits: true });
    let past = zeroCache(m, 1, cap);
    let mask = new Array<number>(cap).fill(0);
    for (let start = 0; start < seq.length; start += 4) {
      const slots = [start, start + 1, start + 2, start + 3];
      const ids = slots.map((s) => seq[s] ?? 0);
      mask = [...mask.slice(4), ...slots.map((s) => (s < seq.length ? 1 : 0))];
      const res = await runOnnxFile(out, {
        input_ids: i64(ids, [1, 4]),
        position_ids: i64(slots, [1, 4]),
        attention_mask: i64(mask, [1, cap]),
        ...past,
      });
      const logits = res.logits?.data as Float32Array;
      slots.forEach((s, j) => {
        if (s >= seq.length) return;
        const want = expected.sequences[1]?.logits[s] as number[];
        expectRowClose(logits, j * want.length, want);
      });
      past = cacheFrom(res, m.layers);
    }
  });

  it('has dynamic batch and sequence axes: one file serves two batch sizes and lengths, equal to llamaLogits', async () => {
    const model = await LlamaModel.fromPretrained(path.join(FIXTURES, 'tiny-llama'));
    const out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'lm-export-')), 'dyn.onnx');
    const cap = 12;
    const m = await exportLlamaOnnx(model, out, { capacity: cap, allLogits: true });
    expect([m.batch, m.tokens]).toEqual(['batch_size', 'sequence_length']);
    expect(m.inputs.find((i) => i.name === 'input_ids')?.shape).toEqual(['batch_size', 'sequence_length']);
    expect(m.inputs.find((i) => i.name === 'attention_mask')?.shape).toEqual(['batch_size', cap]);
    const proto = decodeModel(await fs.readFile(out));
    const ids0 = proto.graph.input.find((i) => i.name === 'input_ids');
    expect(ids0?.type.tensorType.shape.dim).toEqual([
      { dimParam: 'batch_size' },
      { dimParam: 'sequence_length' },
    ]);

    const vocab = m.vocabSize;
    // Whole-prompt prefill of [b, t] tokens, then one decode step, against the full forward.
    for (const [b, t] of [
      [1, 7],
      [3, 4],
    ] as const) {
      const rows = Array.from({ length: b }, (_, r) =>
        Array.from({ length: t + 1 }, (_, j) => (r * 7 + j * 5 + 3) % vocab),
      );
      const want = (await model.logits(rows)).data as Float32Array; // [b, t + 1, V]
      let past = zeroCache(m, b, cap);
      const steps = [
        { start: 0, len: t },
        { start: t, len: 1 },
      ];
      for (const { start, len } of steps) {
        const filled = start + len;
        const mask = Array.from({ length: b * cap }, (_, i) => (i % cap >= cap - filled ? 1 : 0));
        const res = await runOnnxFile(out, {
          input_ids: i64(
            rows.flatMap((r) => r.slice(start, filled)),
            [b, len],
          ),
          position_ids: i64(
            rows.flatMap(() => Array.from({ length: len }, (_, j) => start + j)),
            [b, len],
          ),
          attention_mask: i64(mask, [b, cap]),
          ...past,
        });
        expect(res.logits?.dims).toEqual([b, len, vocab]);
        expect(res['present.0.key']?.dims).toEqual([b, m.kvHeads, cap, m.headDim]);
        const got = res.logits?.data as Float32Array;
        for (let r = 0; r < b; r++)
          for (let j = 0; j < len; j++)
            for (let v = 0; v < vocab; v++) {
              const g = got[(r * len + j) * vocab + v] as number;
              const w = want[(r * (t + 1) + start + j) * vocab + v] as number;
              expect(Math.abs(g - w)).toBeLessThan(1e-4);
            }
        past = cacheFrom(res, m.layers);
      }
    }
  });
});
