import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileFormatError, MissingFileError, Rng, UsageError } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import {
  checkpointName,
  findLatestCheckpoint,
  LATEST_FILE,
  loadCheckpoint,
  MODEL_FILE,
  OPTIMIZER_FILE,
  pruneCheckpoints,
  saveCheckpoint,
  TRAINER_STATE_FILE,
  type TrainerStateInput,
} from './checkpoint.js';
import { readSafetensors, type SafetensorsTensor } from './safetensors.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'gopo-ckpt-'));

/** Float32 values chosen to catch any conversion through numbers: -0, subnormals, NaN payloads, extremes. */
function trickyFloats(): Float32Array {
  const bits = new Uint32Array([
    0x80000000, // -0
    0x00000001, // smallest subnormal
    0x807fffff, // largest negative subnormal
    0x7fc00001, // quiet NaN with a payload
    0xffa00005, // negative signalling-pattern NaN with a payload
    0x7f800000, // +inf
    0x7f7fffff, // max float
    0x3f800001, // 1 + ulp
  ]);
  return new Float32Array(bits.buffer);
}

function makeData(step: number) {
  const r = Rng.fromState([1, 2, 3, step + 4]);
  const w = new Float32Array(12).map(() => r.normal());
  const params: Record<string, SafetensorsTensor> = {
    'model.embed_tokens.weight': { dtype: 'F32', shape: [4, 3], data: w },
    'model.norm.weight': { dtype: 'F32', shape: [8], data: trickyFloats() },
    'lm_head.bias': { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0x8001]) },
  };
  const optimizerState: Record<string, SafetensorsTensor> = {
    'model.embed_tokens.weight.exp_avg': { dtype: 'F32', shape: [4, 3], data: w.map((x) => x * 0.1) },
    'model.embed_tokens.weight.exp_avg_sq': { dtype: 'F32', shape: [4, 3], data: w.map((x) => x * x) },
    step: { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(step)]) },
  };
  const state: TrainerStateInput = {
    step,
    rng: r.state(),
    lrSchedule: { step, lastLr: 3e-4 },
    metrics: { 'loss/gopo': 0.25, 'reward/tse': null, note: 'ok' },
    config: { model: { dModel: 64 }, seed: 7 },
  };
  return { params, optimizerState, state };
}

const bits = (t: SafetensorsTensor | undefined) => [
  ...new Uint8Array(t!.data.buffer, t!.data.byteOffset, t!.data.byteLength),
];

describe('save and load', () => {
  it('round-trips parameters, optimizer state and trainer state bit for bit', async () => {
    const dir = tmp();
    const data = makeData(100);
    const saved = await saveCheckpoint(dir, data);
    expect(saved).toBe(path.join(dir, 'step-00000100'));
    expect(readdirSync(saved).sort()).toEqual([MODEL_FILE, OPTIMIZER_FILE, TRAINER_STATE_FILE]);
    expect(readFileSync(path.join(dir, LATEST_FILE), 'utf8')).toBe('step-00000100\n');

    const loaded = await loadCheckpoint(saved);
    for (const [name, t] of Object.entries(data.params)) {
      const got = loaded.params.get(name);
      expect(got?.dtype).toBe(t.dtype);
      expect(got?.shape).toEqual(t.shape);
      expect(bits(got)).toEqual(bits(t));
    }
    for (const [name, t] of Object.entries(data.optimizerState))
      expect(bits(loaded.optimizerState.get(name))).toEqual(bits(t));
    const norm = loaded.params.get('model.norm.weight')!.data as Float32Array;
    expect(Object.is(norm[0], -0)).toBe(true);
    expect(norm[1]).toBe(2 ** -149);
    expect(Number.isNaN(norm[3])).toBe(true);
    expect(loaded.state).toEqual({ formatVersion: 1, ...data.state, rng: [...data.state.rng] });
    expect(loaded.modelMetadata).toEqual({ format: 'pt' });

    // The restored RNG continues the same stream.
    const a = Rng.fromState(data.state.rng);
    const b = Rng.fromState(loaded.state.rng);
    expect([a.float(), a.float()]).toEqual([b.float(), b.float()]);
  });

  it('defaults metrics and config, and refuses an invalid state before writing anything', async () => {
    const dir = tmp();
    const { params, optimizerState } = makeData(1);
    const p = await saveCheckpoint(dir, {
      params,
      optimizerState,
      state: { step: 1, rng: [0, 0, 0, 1], lrSchedule: { step: 1, lastLr: 0.1 } },
    });
    expect((await loadCheckpoint(p)).state).toMatchObject({ metrics: {}, config: {} });
    await expect(
      saveCheckpoint(dir, {
        params,
        optimizerState,
        state: { step: 2, rng: [0, 0, 0, 2 ** 32], lrSchedule: { step: 2, lastLr: 0.1 } },
      }),
    ).rejects.toThrow(/invalid trainer state at rng\.3/);
    await expect(
      saveCheckpoint(dir, {
        params,
        optimizerState,
        state: { ...makeData(2).state, metrics: { loss: Number.NaN } },
      }),
    ).rejects.toThrow(UsageError);
    expect(readdirSync(dir).sort()).toEqual([LATEST_FILE, 'step-00000001']);
  });

  it('replaces a checkpoint saved again at the same step', async () => {
    const dir = tmp();
    const first = makeData(5);
    await saveCheckpoint(dir, first);
    const second = makeData(5);
    second.state.metrics = { 'loss/gopo': 0.1 };
    await saveCheckpoint(dir, second);
    expect(readdirSync(dir).sort()).toEqual([LATEST_FILE, 'step-00000005']);
    expect((await loadCheckpoint(path.join(dir, 'step-00000005'))).state.metrics).toEqual({
      'loss/gopo': 0.1,
    });
  });

  it('names large step counts so they still sort', () => {
    expect(checkpointName(42)).toBe('step-00000042');
    expect(checkpointName(123_456_789)).toBe('step-123456789');
  });
});

describe('crash safety', () => {
  it('a save that fails midway leaves the previous checkpoint loadable and no leftovers', async () => {
    const dir = tmp();
    await saveCheckpoint(dir, makeData(10));
    const bad = makeData(20);
    // The model file is written, then the optimizer file fails validation: the save must roll back.
    bad.optimizerState.step = { dtype: 'I64', shape: [2], data: new BigInt64Array(1) };
    await expect(saveCheckpoint(dir, bad)).rejects.toThrow(/tensor "step"/);
    expect(readdirSync(dir).sort()).toEqual([LATEST_FILE, 'step-00000010']);
    expect(await findLatestCheckpoint(dir)).toBe(path.join(dir, 'step-00000010'));
    expect((await loadCheckpoint(path.join(dir, 'step-00000010'))).state.step).toBe(10);
  });

  it('ignores junk: temp folders, stray files, bad pointers and incomplete or corrupt checkpoints', async () => {
    const dir = tmp();
    const good = await saveCheckpoint(dir, makeData(100));
    // An interrupted save: temp folder with a partial model file (its process is long gone).
    const crashed = path.join(dir, '.tmp-step-00000200-999999999-abcd1234');
    mkdirSync(crashed);
    writeFileSync(path.join(crashed, MODEL_FILE), readFileSync(path.join(good, MODEL_FILE)).subarray(0, 40));
    // A step folder copied by hand and cut short, with `latest` pointing at it.
    const cut = path.join(dir, 'step-00000300');
    mkdirSync(cut);
    for (const f of [MODEL_FILE, OPTIMIZER_FILE, TRAINER_STATE_FILE]) {
      writeFileSync(path.join(cut, f), readFileSync(path.join(good, f)));
    }
    const opt = readFileSync(path.join(good, OPTIMIZER_FILE));
    writeFileSync(path.join(cut, OPTIMIZER_FILE), opt.subarray(0, opt.length - 3));
    writeFileSync(path.join(dir, LATEST_FILE), 'step-00000300\n');
    // Folders and files that only look like checkpoints.
    mkdirSync(path.join(dir, 'step-00000400'));
    writeFileSync(path.join(dir, 'step-00000500'), 'a file, not a folder');
    mkdirSync(path.join(dir, 'step-abc'));
    writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    const badState = path.join(dir, 'step-00000600');
    mkdirSync(badState);
    for (const f of [MODEL_FILE, OPTIMIZER_FILE])
      writeFileSync(path.join(badState, f), readFileSync(path.join(good, f)));
    writeFileSync(path.join(badState, TRAINER_STATE_FILE), '{"formatVersion":1,"step":');

    expect(await findLatestCheckpoint(dir)).toBe(good);
    for (const pointer of ['../elsewhere', '/etc', 'garbage', '']) {
      writeFileSync(path.join(dir, LATEST_FILE), pointer);
      expect(await findLatestCheckpoint(dir)).toBe(good);
    }
    expect((await loadCheckpoint(good)).state.step).toBe(100);
    await expect(loadCheckpoint(cut)).rejects.toThrow(/optimizer\.safetensors/);

    // Prune clears the crashed save but leaves folders it cannot vouch for.
    const removed = await pruneCheckpoints(dir, 3);
    expect(removed).toEqual([crashed]);
    expect(existsSync(cut)).toBe(true);
  });

  it('prefers the pointer, and falls back to the highest complete step when it is gone', async () => {
    const dir = tmp();
    await saveCheckpoint(dir, makeData(1));
    const two = await saveCheckpoint(dir, makeData(2));
    const one = path.join(dir, 'step-00000001');
    writeFileSync(path.join(dir, LATEST_FILE), 'step-00000001');
    expect(await findLatestCheckpoint(dir)).toBe(one);
    writeFileSync(path.join(dir, LATEST_FILE), 'step-00000009');
    expect(await findLatestCheckpoint(dir)).toBe(two);
    expect(await findLatestCheckpoint(path.join(dir, 'missing'))).toBeUndefined();
    expect(await findLatestCheckpoint(tmp())).toBeUndefined();
  });
});

describe('rotation', () => {
  it('keeps the newest N checkpoints as it saves', async () => {
    const dir = tmp();
    for (const step of [1, 2, 3, 4, 5]) await saveCheckpoint(dir, makeData(step), { keep: 2 });
    expect(readdirSync(dir).sort()).toEqual([LATEST_FILE, 'step-00000004', 'step-00000005']);
    expect(await findLatestCheckpoint(dir)).toBe(path.join(dir, 'step-00000005'));
  });

  it('never removes the checkpoint `latest` names, and validates keep', async () => {
    const dir = tmp();
    for (const step of [10, 20, 30]) await saveCheckpoint(dir, makeData(step));
    writeFileSync(path.join(dir, LATEST_FILE), 'step-00000010\n');
    const removed = await pruneCheckpoints(dir, 1);
    expect(removed).toEqual([path.join(dir, 'step-00000020')]);
    expect(readdirSync(dir).sort()).toEqual([LATEST_FILE, 'step-00000010', 'step-00000030']);
    await expect(pruneCheckpoints(dir, 0)).rejects.toBeInstanceOf(UsageError);
    await expect(saveCheckpoint(dir, makeData(40), { keep: 1.5 })).rejects.toBeInstanceOf(UsageError);
  });
});

describe('trainer_state.json errors', () => {
  /** Edits the saved trainer_state.json (or replaces its text) and returns what loading throws. */
  async function withState(edit: (s: Record<string, unknown>) => void, rawText?: string): Promise<unknown> {
    const dir = tmp();
    const p = await saveCheckpoint(dir, makeData(3));
    const file = path.join(p, TRAINER_STATE_FILE);
    const s = JSON.parse(readFileSync(file, 'utf8'));
    edit(s);
    writeFileSync(file, rawText ?? JSON.stringify(s));
    return loadCheckpoint(p).catch((e) => e);
  }

  it('names the file and the field', async () => {
    const cases: [(s: Record<string, unknown>) => void, string][] = [
      [
        (s) => {
          s.step = -1;
        },
        'step',
      ],
      [
        (s) => {
          (s.rng as number[])[2] = 1.5;
        },
        'rng[2]',
      ],
      [
        (s) => {
          (s.lrSchedule as Record<string, unknown>).lastLr = 'fast';
        },
        'lrSchedule.lastLr',
      ],
      [
        (s) => {
          s.formatVersion = 2;
        },
        'formatVersion',
      ],
      [
        (s) => {
          s.extra = true;
        },
        '(root)',
      ],
      [
        (s) => {
          delete s.rng;
        },
        'rng',
      ],
    ];
    for (const [edit, field] of cases) {
      const e = (await withState(edit)) as FileFormatError;
      expect(e).toBeInstanceOf(FileFormatError);
      expect(e.message).toContain(`${TRAINER_STATE_FILE} at ${field}:`);
    }
    const e = (await withState(() => {}, '{"step": 1,')) as FileFormatError;
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/trainer_state\.json: invalid JSON/);
  });

  it('refuses optimizer state saved at another step', async () => {
    const dir = tmp();
    const p = await saveCheckpoint(dir, makeData(3));
    const other = await saveCheckpoint(dir, makeData(4));
    writeFileSync(path.join(p, OPTIMIZER_FILE), readFileSync(path.join(other, OPTIMIZER_FILE)));
    await expect(loadCheckpoint(p)).rejects.toThrow(
      /optimizer\.safetensors at __metadata__\.step: optimizer state is from step 4 but trainer_state\.json says step 3/,
    );
  });

  it('reports missing pieces', async () => {
    await expect(loadCheckpoint(path.join(tmp(), 'nope'))).rejects.toBeInstanceOf(MissingFileError);
    const dir = tmp();
    const p = await saveCheckpoint(dir, makeData(3));
    writeFileSync(path.join(p, MODEL_FILE), new Uint8Array(4));
    await expect(loadCheckpoint(p)).rejects.toThrow(/model\.safetensors: file is 4 bytes/);
    await expect(readSafetensors(path.join(p, OPTIMIZER_FILE))).resolves.toBeDefined();
  });
});
