import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileFormatError, MissingFileError, UsageError } from '@gopo/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bf16ToFloat32,
  type DtypeArrayMap,
  dtypeSize,
  f16ToFloat32,
  float32ToBf16,
  float32ToF16,
  makeTensor,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  SAFETENSORS_DTYPES,
  type SafetensorsDtype,
  SafetensorsFormatError,
  type SafetensorsTensor,
  serializeSafetensors,
  shapeSize,
  swapBytesInPlace,
  writeSafetensors,
} from './safetensors.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'gopo-st-'));

/** Builds a file by hand, straight from the spec: u64 LE length, header text as given, then raw bytes. */
function handBuilt(headerText: string, data: number[] | Uint8Array): Uint8Array {
  const header = Buffer.from(headerText, 'utf8');
  const out = new Uint8Array(8 + header.length + data.length);
  let n = header.length;
  for (let i = 0; i < 8; i++) {
    out[i] = n % 256;
    n = Math.floor(n / 256);
  }
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function entry(dtype: string, shape: unknown, offsets: unknown): Record<string, unknown> {
  return { dtype, shape, data_offsets: offsets };
}

function expectFormatError(
  fn: () => unknown,
  code: string,
  pathPrefix?: (string | number)[],
): SafetensorsFormatError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a ${code} error`).toBeInstanceOf(SafetensorsFormatError);
  const e = err as SafetensorsFormatError;
  expect(e).toBeInstanceOf(FileFormatError);
  expect(e.code).toBe(code);
  if (pathPrefix) expect(e.location.path?.slice(0, pathPrefix.length)).toEqual(pathPrefix);
  return e;
}

describe('reading a hand-built file', () => {
  // Header of odd length (not padded) so the data is unaligned: forces the copy path.
  const header = JSON.stringify({
    w: entry('F32', [2, 2], [16, 32]),
    step: entry('I64', [], [0, 8]),
    mask: entry('BOOL', [3], [32, 35]),
    h: entry('F16', [1], [8, 10]),
    x: entry('I8', [6], [10, 16]),
    __metadata__: { format: 'pt', note: 'hand made' },
  });
  const data = [
    // step: I64 = -2 (two's complement, little-endian)
    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    // h: F16 1.0 = 0x3c00
    0x00, 0x3c,
    // x: I8 [-1, 0, 1, 2, 127, -128]
    0xff, 0x00, 0x01, 0x02, 0x7f, 0x80,
    // w: F32 [1, -2, 0.5, 3] (0x3f800000, 0xc0000000, 0x3f000000, 0x40400000)
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x40, 0x40,
    // mask: BOOL [1, 0, 1]
    1, 0, 1,
  ];
  const bytes = handBuilt(header, data);

  const check = (c: { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> }) => {
    expect([...c.tensors.keys()]).toEqual(['step', 'h', 'x', 'w', 'mask']);
    expect(c.metadata).toEqual({ format: 'pt', note: 'hand made' });
    expect(c.tensors.get('w')).toEqual({
      dtype: 'F32',
      shape: [2, 2],
      data: new Float32Array([1, -2, 0.5, 3]),
    });
    expect(c.tensors.get('step')).toEqual({ dtype: 'I64', shape: [], data: new BigInt64Array([-2n]) });
    expect(c.tensors.get('mask')).toEqual({ dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) });
    expect(c.tensors.get('x')?.data).toEqual(new Int8Array([-1, 0, 1, 2, 127, -128]));
    const h = c.tensors.get('h');
    expect(h?.dtype).toBe('F16');
    expect(f16ToFloat32(h?.data as Uint16Array)).toEqual(new Float32Array([1]));
  };

  it('parses a buffer', () => {
    check(parseSafetensors(bytes));
  });

  it('reads a file, whole or a subset of tensors', async () => {
    const f = path.join(tmp(), 'hand.safetensors');
    writeFileSync(f, bytes);
    check(await readSafetensors(f));
    const some = await readSafetensors(f, { names: ['w'] });
    expect([...some.tensors.keys()]).toEqual(['w']);
    await expect(readSafetensors(f, { names: ['nope'] })).rejects.toBeInstanceOf(MissingFileError);
    const h = await readSafetensorsHeader(f);
    expect(h.dataStart).toBe(8 + Buffer.byteLength(header));
    expect(h.dataLength).toBe(data.length);
    expect(h.entries.map((e) => [e.name, e.begin, e.end])).toEqual([
      ['step', 0, 8],
      ['h', 8, 10],
      ['x', 10, 16],
      ['w', 16, 32],
      ['mask', 32, 35],
    ]);
  });

  it('reports a missing file', async () => {
    await expect(readSafetensors(path.join(tmp(), 'none.safetensors'))).rejects.toBeInstanceOf(
      MissingFileError,
    );
  });
});

describe('Hugging Face reference file (written by safetensors 0.8.0, see __fixtures__/make_hf_reference.py)', () => {
  const fixture = new URL('./__fixtures__/hf-reference.safetensors', import.meta.url);

  it('reads every dtype it holds', async () => {
    const c = await readSafetensors(fileURLToPath(fixture));
    const plain = (name: string) => {
      const t = c.tensors.get(name)!;
      const values = t.dtype === 'F16' ? f16ToFloat32(t.data) : t.data;
      return { dtype: t.dtype, shape: t.shape, values: Array.from(values as ArrayLike<unknown>) };
    };
    expect(c.metadata).toEqual({ format: 'pt' });
    expect(plain('model.layers.0.w')).toEqual({
      dtype: 'F32',
      shape: [2, 2],
      values: [1.5, -0, 2 ** -149, 3],
    });
    expect(Object.is(plain('model.layers.0.w').values[1], -0)).toBe(true);
    expect(plain('d')).toEqual({ dtype: 'F64', shape: [1], values: [Math.PI] });
    expect(plain('h')).toEqual({ dtype: 'F16', shape: [3], values: [1, 65504, -(2 ** -24)] });
    expect(plain('i64')).toEqual({ dtype: 'I64', shape: [2], values: [-(2n ** 62n), 5n] });
    expect(plain('u64')).toEqual({ dtype: 'U64', shape: [1], values: [2n ** 64n - 1n] });
    expect(plain('i32')).toEqual({ dtype: 'I32', shape: [1], values: [-7] });
    expect(plain('u32')).toEqual({ dtype: 'U32', shape: [1], values: [7] });
    expect(plain('i16')).toEqual({ dtype: 'I16', shape: [2], values: [-3, 4] });
    expect(plain('u16')).toEqual({ dtype: 'U16', shape: [1], values: [65535] });
    expect(plain('i8')).toEqual({ dtype: 'I8', shape: [1], values: [-128] });
    expect(plain('u8')).toEqual({ dtype: 'U8', shape: [3], values: [255, 0, 1] });
    expect(plain('b')).toEqual({ dtype: 'BOOL', shape: [3], values: [1, 0, 1] });
    expect(plain('empty')).toEqual({ dtype: 'F32', shape: [0, 3], values: [] });
    expect(plain('scalar')).toEqual({ dtype: 'F32', shape: [], values: [2.5] });
  });

  it('our writer reproduces it byte for byte', async () => {
    const c = await readSafetensors(fileURLToPath(fixture));
    const reversed = new Map([...c.tensors].reverse());
    expect(Buffer.from(serializeSafetensors(reversed, { metadata: c.metadata }))).toEqual(
      readFileSync(fixture),
    );
  });
});

describe('writing', () => {
  it('produces exactly the bytes the spec prescribes for a tiny case', () => {
    const bytes = serializeSafetensors(
      {
        a: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        b: { dtype: 'F32', shape: [2], data: new Float32Array([1.5, -2]) },
      },
      { metadata: { z: '1', format: 'pt' } },
    );
    // Larger elements first (alignment), then by name; metadata first with sorted keys; spaces pad to 8.
    const json =
      '{"__metadata__":{"format":"pt","z":"1"},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"a":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    expect(padded.length % 8).toBe(0);
    const expected = [
      ...[padded.length, 0, 0, 0, 0, 0, 0, 0],
      ...Buffer.from(padded, 'utf8'),
      ...[0x00, 0x00, 0xc0, 0x3f], // 1.5f
      ...[0x00, 0x00, 0x00, 0xc0], // -2f
      ...[1, 2, 3],
    ];
    expect(padded.length).toBeLessThan(256);
    expect([...bytes]).toEqual(expected);
  });

  it('writes an empty file (no tensors) as header "{}" padded', () => {
    const bytes = serializeSafetensors({});
    expect([...bytes]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...Buffer.from('{}      ')]);
    expect(parseSafetensors(bytes).tensors.size).toBe(0);
  });

  it('returns aligned views into the buffer it parses, and copies when asked or when unaligned', () => {
    const t: Record<string, SafetensorsTensor> = {
      d: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -0]) },
      i: { dtype: 'I16', shape: [3], data: new Int16Array([-3, 0, 7]) },
      f: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
    };
    const bytes = serializeSafetensors(t);
    const views = parseSafetensors(bytes);
    for (const v of views.tensors.values()) expect(v.data.buffer).toBe(bytes.buffer);
    const copies = parseSafetensors(bytes, { copy: true });
    for (const v of copies.tensors.values()) expect(v.data.buffer).not.toBe(bytes.buffer);
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    const unaligned = parseSafetensors(shifted);
    for (const c of [views, copies, unaligned]) {
      expect(Object.fromEntries(c.tensors)).toEqual(t);
      expect(Object.is((c.tensors.get('d')!.data as Float64Array)[1], -0)).toBe(true);
    }
  });

  it('is deterministic whatever the insertion order', () => {
    const a = new Map<string, SafetensorsTensor>([
      ['x', { dtype: 'F32', shape: [1], data: new Float32Array([1]) }],
      ['y', { dtype: 'I64', shape: [1], data: new BigInt64Array([5n]) }],
      ['b', { dtype: 'U8', shape: [1], data: new Uint8Array([9]) }],
    ]);
    const b = new Map([...a].reverse());
    expect(serializeSafetensors(a, { metadata: { p: '1', q: '2' } })).toEqual(
      serializeSafetensors(b, { metadata: { q: '2', p: '1' } }),
    );
  });

  it('writes atomically and keeps the old file when the new data is invalid', async () => {
    const dir = tmp();
    const f = path.join(dir, 'm.safetensors');
    await writeSafetensors(f, { a: makeTensor('F32', [2], new Float32Array([1, 2])) });
    const before = readFileSync(f);
    await expect(
      writeSafetensors(f, { a: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2]) } }),
    ).rejects.toThrow(/tensor "a": shape \[3\] has 3 elements but data has 2/);
    expect(readFileSync(f)).toEqual(before);
    await writeSafetensors(f, { a: makeTensor('F32', [1], new Float32Array([7])) }, { metadata: { k: 'v' } });
    expect(readdirSync(dir)).toEqual(['m.safetensors']);
    const back = await readSafetensors(f);
    expect(back.metadata).toEqual({ k: 'v' });
    expect(back.tensors.get('a')?.data).toEqual(new Float32Array([7]));
  });

  it('cleans up its temporary file when the final rename fails', async () => {
    const dir = tmp();
    const target = path.join(dir, 'taken');
    mkdirSync(path.join(target, 'inside'), { recursive: true });
    await expect(
      writeSafetensors(target, { a: makeTensor('U8', [1], new Uint8Array([1])) }),
    ).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
  });

  it('rejects bad input with a message naming the tensor', () => {
    const bad: [TensorLike, RegExp][] = [
      [{ x: { dtype: 'F32', shape: [2], data: new Float64Array(2) } }, /"x": dtype F32 needs a Float32Array/],
      [{ x: { dtype: 'F16', shape: [1], data: new Float32Array(1) } }, /"x": dtype F16 needs a Uint16Array/],
      [{ x: { dtype: 'F32', shape: [-1], data: new Float32Array(0) } }, /"x": shape must be non-negative/],
      [{ x: { dtype: 'F32', shape: [1.5], data: new Float32Array(1) } }, /"x": shape must be non-negative/],
      [{ x: { dtype: 'Q4', shape: [1], data: new Uint8Array(1) } }, /"x": unknown dtype "Q4"/],
      [{ x: { dtype: 'BOOL', shape: [2], data: new Uint8Array([0, 2]) } }, /"x": BOOL element 1 is 2/],
      [{ __metadata__: { dtype: 'U8', shape: [1], data: new Uint8Array(1) } }, /reserved/],
    ];
    for (const [tensors, msg] of bad) {
      expect(() => serializeSafetensors(tensors as never)).toThrow(UsageError);
      expect(() => serializeSafetensors(tensors as never)).toThrow(msg);
    }
    expect(() => serializeSafetensors({}, { metadata: { a: 1 as unknown as string } })).toThrow(
      /metadata "a" must be a string/,
    );
  });
});

type TensorLike = Record<string, { dtype: string; shape: number[]; data: ArrayBufferView }>;

describe('validation on load', () => {
  const ok = (header: Record<string, unknown>, data: number[] = []) =>
    handBuilt(JSON.stringify(header), data);

  it('rejects files too short, oversized headers and headers past the end', () => {
    const e = expectFormatError(
      () => parseSafetensors(new Uint8Array(5), { source: 'tiny.st' }),
      'truncated',
    );
    expect(e.message).toMatch(/^tiny\.st: file is 5 bytes/);
    const big = new Uint8Array(16);
    new DataView(big.buffer).setBigUint64(0, 2n ** 63n, true);
    expectFormatError(() => parseSafetensors(big), 'header-too-large');
    new DataView(big.buffer).setBigUint64(0, 9n, true);
    expectFormatError(() => parseSafetensors(big), 'truncated');
    const file = ok({});
    expectFormatError(() => parseSafetensors(file, { maxHeaderBytes: 1 }), 'header-too-large');
    expect(parseSafetensors(file, { maxHeaderBytes: 2 }).tensors.size).toBe(0);
  });

  it('rejects bad header text', () => {
    expectFormatError(() => parseSafetensors(handBuilt('{"a":', [])), 'header-json');
    expectFormatError(() => parseSafetensors(handBuilt(' {}', [])), 'header-json');
    expectFormatError(() => parseSafetensors(handBuilt('[1]', [])), 'header-json');
    expectFormatError(() => parseSafetensors(handBuilt('{}', []).fill(0xff, 8)), 'header-encoding');
    const notObj = handBuilt('{}', []);
    expect(parseSafetensors(notObj).tensors.size).toBe(0);
  });

  it('names the tensor and field of each bad entry', () => {
    const cases: [Record<string, unknown>, number[], string, (string | number)[] | undefined][] = [
      [{ t: entry('F31', [1], [0, 4]) }, [0, 0, 0, 0], 'unknown-dtype', ['t', 'dtype']],
      [{ t: entry('F32', [-1], [0, 4]) }, [0, 0, 0, 0], 'bad-shape', ['t', 'shape', 0]],
      [{ t: entry('F32', [1.5], [0, 4]) }, [0, 0, 0, 0], 'bad-shape', ['t', 'shape', 0]],
      [{ t: entry('F32', '1', [0, 4]) }, [0, 0, 0, 0], 'bad-shape', ['t', 'shape']],
      [{ t: entry('F32', [1], [0]) }, [0, 0, 0, 0], 'bad-offsets', ['t', 'data_offsets']],
      [{ t: entry('F32', [1], [0, -4]) }, [0, 0, 0, 0], 'bad-offsets', ['t', 'data_offsets', 1]],
      [{ t: entry('F32', [1], [4, 0]) }, [0, 0, 0, 0], 'bad-offsets', ['t', 'data_offsets']],
      [{ t: entry('F32', [1], [0, 8]) }, [0, 0, 0, 0], 'bad-offsets', ['t', 'data_offsets']],
      [{ t: entry('F32', [2], [0, 4]) }, [0, 0, 0, 0], 'size-mismatch', ['t', 'data_offsets']],
      [{ t: entry('F32', [2 ** 40, 2 ** 40], [0, 4]) }, [0, 0, 0, 0], 'size-mismatch', ['t']],
      [{ t: { dtype: 'F32', shape: [1] } }, [0, 0, 0, 0], 'bad-offsets', ['t', 'data_offsets']],
      [{ t: { ...entry('F32', [1], [0, 4]), extra: 1 } }, [0, 0, 0, 0], 'bad-entry', ['t']],
      [{ t: 5 }, [], 'bad-entry', ['t']],
      [
        { a: entry('U8', [2], [0, 2]), b: entry('U8', [2], [1, 3]) },
        [1, 2, 3],
        'overlap',
        ['b', 'data_offsets'],
      ],
      [{ a: entry('U8', [1], [1, 2]) }, [0, 0], 'gap', ['a', 'data_offsets']],
      [{ a: entry('U8', [1], [0, 1]) }, [0, 0], 'gap', undefined],
      [{ a: entry('BOOL', [2], [0, 2]) }, [1, 7], 'bad-bool', ['a']],
      [{ __metadata__: { k: 1 } }, [], 'bad-metadata', ['__metadata__', 'k']],
      [{ __metadata__: ['x'] }, [], 'bad-metadata', ['__metadata__']],
      [{ __metadata__: null }, [], 'bad-metadata', ['__metadata__']],
    ];
    for (const [header, data, code, p] of cases) {
      const e = expectFormatError(
        () => parseSafetensors(ok(header, data), { source: 'f.safetensors' }),
        code,
        p,
      );
      expect(e.message.startsWith('f.safetensors')).toBe(true);
      if (p === undefined) expect(e.location.path).toBeUndefined();
    }
  });

  it('reports the same errors when reading from a path, naming the path', async () => {
    const f = path.join(tmp(), 'bad.safetensors');
    writeFileSync(f, ok({ weight: entry('F32', [3], [0, 8]) }, [0, 0, 0, 0, 0, 0, 0, 0]));
    const e = await readSafetensors(f).catch((x) => x);
    expect(e).toBeInstanceOf(SafetensorsFormatError);
    expect(e.code).toBe('size-mismatch');
    expect(e.message).toContain(`${f} at weight.data_offsets:`);
    writeFileSync(f, new Uint8Array(3));
    expect((await readSafetensorsHeader(f).catch((x) => x)).code).toBe('truncated');
  });

  it('accepts zero-sized tensors anywhere, including several at one offset', () => {
    const c = parseSafetensors(
      ok(
        {
          e1: entry('F32', [0, 3], [0, 0]),
          a: entry('U8', [1], [0, 1]),
          e2: entry('I64', [2, 0], [1, 1]),
          e3: entry('U8', [0], [1, 1]),
        },
        [5],
      ),
    );
    expect(c.tensors.get('e2')).toEqual({ dtype: 'I64', shape: [2, 0], data: new BigInt64Array(0) });
    expect(c.tensors.get('a')?.data).toEqual(new Uint8Array([5]));
  });
});

// --- property tests --------------------------------------------------------------------------------

const arbDtype = fc.constantFrom(...SAFETENSORS_DTYPES);
const arbShape = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });

function arbTensor(): fc.Arbitrary<SafetensorsTensor> {
  return fc.tuple(arbDtype, arbShape).chain(([dtype, shape]) => {
    const n = shapeSize(shape);
    const size = dtypeSize(dtype);
    const bytes =
      dtype === 'BOOL'
        ? fc.array(fc.integer({ min: 0, max: 1 }), { minLength: n, maxLength: n })
        : fc.array(fc.integer({ min: 0, max: 255 }), { minLength: n * size, maxLength: n * size });
    return bytes.map((b) => {
      const data = typedFromBytes(dtype, new Uint8Array(b));
      return { dtype, shape, data } as SafetensorsTensor;
    });
  });
}

function typedFromBytes(dtype: SafetensorsDtype, raw: Uint8Array): DtypeArrayMap[SafetensorsDtype] {
  const buf = raw.slice().buffer;
  const n = raw.length / dtypeSize(dtype);
  switch (dtype) {
    case 'F64':
      return new Float64Array(buf, 0, n);
    case 'F32':
      return new Float32Array(buf, 0, n);
    case 'I64':
      return new BigInt64Array(buf, 0, n);
    case 'U64':
      return new BigUint64Array(buf, 0, n);
    case 'I32':
      return new Int32Array(buf, 0, n);
    case 'U32':
      return new Uint32Array(buf, 0, n);
    case 'I16':
      return new Int16Array(buf, 0, n);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(buf, 0, n);
    case 'I8':
      return new Int8Array(buf, 0, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buf, 0, n);
  }
}

const bytesOf = (t: SafetensorsTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const arbName = fc.string({ maxLength: 12, unit: 'binary' }).filter((s) => s !== '__metadata__');
const arbTensors = fc.dictionary(arbName, arbTensor(), { maxKeys: 6 });
const arbMetadata = fc.dictionary(
  fc.string({ maxLength: 8, unit: 'binary' }),
  fc.string({ unit: 'binary' }),
  {
    maxKeys: 4,
  },
);

function expectSameTensors(
  got: Map<string, SafetensorsTensor>,
  want: Record<string, SafetensorsTensor>,
): void {
  expect([...got.keys()].sort()).toEqual(Object.keys(want).sort());
  for (const [name, t] of Object.entries(want)) {
    const g = got.get(name)!;
    expect(g.dtype).toBe(t.dtype);
    expect(g.shape).toEqual(t.shape);
    expect(g.data.constructor).toBe(t.data.constructor);
    // Bitwise: NaN payloads, -0 and subnormals must survive untouched.
    expect(bytesOf(g)).toEqual(bytesOf(t));
  }
}

describe('properties', () => {
  it('round-trips random tensors and metadata bit for bit, and re-serializes identically', () => {
    fc.assert(
      fc.property(arbTensors, arbMetadata, (tensors, metadata) => {
        const bytes = serializeSafetensors(tensors, { metadata });
        const back = parseSafetensors(bytes);
        expectSameTensors(back.tensors, tensors);
        expect({ ...back.metadata }).toEqual({ ...metadata });
        expect(serializeSafetensors(back.tensors, { metadata: back.metadata })).toEqual(bytes);
        expect(readHeaderLen(bytes) % 8).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('round-trips through files', async () => {
    const dir = tmp();
    await fc.assert(
      fc.asyncProperty(arbTensors, arbMetadata, async (tensors, metadata) => {
        const f = path.join(dir, 'p.safetensors');
        await writeSafetensors(f, tensors, { metadata });
        const back = await readSafetensors(f);
        expectSameTensors(back.tensors, tensors);
        expect({ ...back.metadata }).toEqual({ ...metadata });
      }),
      { numRuns: 30 },
    );
  });

  it('never crashes or returns an inconsistent result on corrupted bytes', () => {
    const codes = new Set<string>();
    fc.assert(
      fc.property(
        arbTensors,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.option(fc.nat()),
        (tensors, flips, cut) => {
          const bytes = serializeSafetensors(tensors).slice();
          // Concentrate damage on the length prefix and header, where validation lives.
          const headerEnd = 8 + readHeaderLen(bytes);
          for (const [at, v] of flips) bytes[at % headerEnd] = v;
          const input = cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
          let result: ReturnType<typeof parseSafetensors>;
          try {
            result = parseSafetensors(input);
          } catch (e) {
            expect(e).toBeInstanceOf(SafetensorsFormatError);
            codes.add((e as SafetensorsFormatError).code);
            return;
          }
          checkConsistent(input, result);
        },
      ),
      { numRuns: 400 },
    );
    expect(codes.size).toBeGreaterThan(3);
  });

  it('rejects exactly the headers whose offsets do not tile the buffer (independent coverage check)', () => {
    const arbEntry = fc.record({
      dtype: fc.constantFrom('U8', 'I16', 'F32'),
      shape: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
      begin: fc.integer({ min: 0, max: 12 }),
      end: fc.integer({ min: 0, max: 12 }),
    });
    fc.assert(
      fc.property(
        fc.array(arbEntry, { maxLength: 4 }),
        fc.integer({ min: 0, max: 12 }),
        (entries, dataLen) => {
          const header: Record<string, unknown> = {};
          entries.forEach((e, i) => {
            header[`t${i}`] = entry(e.dtype, e.shape, [e.begin, e.end]);
          });
          const bytes = handBuilt(JSON.stringify(header), new Uint8Array(dataLen));
          const valid = independentlyValid(entries, dataLen);
          let threw = false;
          try {
            parseSafetensors(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(SafetensorsFormatError);
            threw = true;
          }
          expect(threw).toBe(!valid);
        },
      ),
      { numRuns: 500 },
    );
  });
});

function readHeaderLen(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
}

/** Every byte of the buffer belongs to exactly one tensor, and each tensor's size matches its shape. */
function independentlyValid(
  entries: { dtype: string; shape: number[]; begin: number; end: number }[],
  dataLen: number,
): boolean {
  const owner = new Array<number>(dataLen).fill(0);
  for (const e of entries) {
    const size = { U8: 1, I16: 2, F32: 4 }[e.dtype]!;
    if (e.end < e.begin || e.end > dataLen) return false;
    if (e.end - e.begin !== size * e.shape.reduce((a, b) => a * b, 1)) return false;
    for (let i = e.begin; i < e.end; i++) owner[i]!++;
  }
  return owner.every((c) => c === 1);
}

function checkConsistent(input: Uint8Array, result: ReturnType<typeof parseSafetensors>): void {
  const dataStart = 8 + readHeaderLen(input);
  let covered = 0;
  for (const t of result.tensors.values()) {
    expect(t.data.length).toBe(shapeSize(t.shape));
    covered += t.data.byteLength;
  }
  expect(dataStart + covered).toBe(input.length);
}

// --- 16-bit floats -------------------------------------------------------------------------------

/** binary16 value from its bits by the textbook formula, in float64. */
function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Nearest binary16 by brute force over the sorted positive values, ties to even bits. */
const POSITIVE_F16 = Array.from({ length: 0x7c01 }, (_, h) => (h === 0x7c00 ? 65536 : f16Value(h)));
function nearestF16(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE_F16[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - POSITIVE_F16[lo]!;
  const dHi = POSITIVE_F16[hi]! - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

function nearestBf16(x: number, bits: number): number {
  const lo = bits >>> 16;
  const f = new Float32Array(new Uint32Array([lo << 16, ((lo + 1) & 0xffff) << 16]).buffer);
  const dLo = Math.abs(x - f[0]!);
  // Past the largest finite value, "next" is infinity; treat it as 2^128 so halfway rounds like any tie.
  const upper = Number.isFinite(f[1]!) ? f[1]! : Math.sign(x) * 2 ** 128;
  const dHi = Math.abs(upper - x);
  return dLo < dHi ? lo : dHi < dLo ? (lo + 1) & 0xffff : lo % 2 === 0 ? lo : (lo + 1) & 0xffff;
}

const floatFromBits = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0]!;

describe('16-bit float conversions', () => {
  it('decodes every binary16 pattern exactly and re-encodes it unchanged', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const wide = f16ToFloat32(all);
    const back = float32ToF16(wide);
    // Collect mismatches instead of one expect per pattern: 65536 expects are slow.
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = f16Value(h);
      const good = Number.isNaN(v)
        ? Number.isNaN(wide[h]) && (back[h]! & 0x7c00) === 0x7c00 && (back[h]! & 0x3ff) !== 0
        : Object.is(wide[h], v) && back[h] === h;
      if (!good) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds float32 to binary16 to nearest, ties to even (random bit patterns)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const x = floatFromBits(bits);
        fc.pre(!Number.isNaN(x));
        expect(float32ToF16(new Float32Array([x]))[0]).toBe(nearestF16(x));
      }),
      { numRuns: 20000 },
    );
  });

  it('handles binary16 edge cases', () => {
    const cases: [number, number][] = [
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00], // halfway to the next power: ties to even = inf
      [-1e9, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even = 0
      [1.5 * 2 ** -24, 0x0002], // tie between 1 and 2 subnormal units: even = 2
      [2 ** -14 - 2 ** -25, 0x0400], // top subnormal rounding up into the first normal
      [1 + 2 ** -11, 0x3c00], // tie: even mantissa stays
      [1 + 3 * 2 ** -11, 0x3c02],
      [-0, 0x8000],
    ];
    for (const [x, h] of cases) expect(float32ToF16(new Float32Array([x]))[0], `${x}`).toBe(h);
    expect(nearestF16(65520)).toBe(0x7c00);
    // A NaN whose payload sits only in the low bits must not truncate to infinity.
    const nan = float32ToF16(new Float32Array(new Uint32Array([0xff800001]).buffer))[0]!;
    expect(nan & 0xfc00).toBe(0xfc00);
    expect(Number.isNaN(f16ToFloat32(new Uint16Array([nan]))[0])).toBe(true);
  });

  it('bfloat16: decode is exact, encode rounds to nearest even (random bit patterns)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const x = floatFromBits(bits);
        // From the bits directly: a NaN passed through a JS number may lose its sign and payload.
        const h = float32ToBf16(new Float32Array(new Uint32Array([bits]).buffer))[0]!;
        const back = bf16ToFloat32(new Uint16Array([h]))[0]!;
        if (Number.isNaN(x)) {
          expect(Number.isNaN(back)).toBe(true);
          expect(h >>> 15).toBe(bits >>> 31);
          return;
        }
        expect(h).toBe(nearestBf16(x, bits));
      }),
      { numRuns: 20000 },
    );
    const all = new Uint16Array(65536).map((_, i) => i);
    const wide = bf16ToFloat32(all);
    const again = float32ToBf16(wide);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) continue; // NaN patterns: checked above
      if (again[h] !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    expect(float32ToBf16(new Float32Array([1 + 2 ** -8]))[0]).toBe(0x3f80); // tie to even
    expect(float32ToBf16(new Float32Array([1 + 3 * 2 ** -8]))[0]).toBe(0x3f82);
    expect(float32ToBf16(new Float32Array([floatFromBits(0x7f7fffff)]))[0]).toBe(0x7f80); // max float -> inf
  });
});

describe('byte swapping (big-endian hosts)', () => {
  it('reverses each element', () => {
    const b = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    swapBytesInPlace(b, 4);
    expect([...b]).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
    swapBytesInPlace(b, 2);
    expect([...b]).toEqual([3, 4, 1, 2, 7, 8, 5, 6]);
  });
});
