/**
 * The safetensors file format (https://github.com/huggingface/safetensors, "Format" section):
 *
 *   [u64 little-endian N][N bytes of UTF-8 JSON header][byte buffer]
 *
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}`, offsets relative to
 * the start of the byte buffer, plus an optional `__metadata__` map of string to string. Tensors are
 * stored contiguously, row-major, little-endian, and together cover the byte buffer exactly.
 *
 * Reading validates everything a malformed or hostile file could get wrong (sizes, offsets, overlaps,
 * gaps, dtypes, shapes) and throws `SafetensorsFormatError` naming the file and the tensor/field.
 * Writing is deterministic: see `layoutOrder`.
 */
import { promises as fs } from 'node:fs';
import {
  FileFormatError,
  MissingFileError,
  resolveOutputFile,
  tempPathFor,
  trackTempFile,
  UsageError,
} from '@gopo/core';
import { z } from 'zod';

export const SAFETENSORS_DTYPES = [
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U64',
  'U32',
  'U16',
  'U8',
  'BOOL',
] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

/** The typed array that holds each dtype. F16/BF16 stay raw bits (see `f16ToFloat32`, `bf16ToFloat32`). */
export interface DtypeArrayMap {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U64: BigUint64Array;
  U32: Uint32Array;
  U16: Uint16Array;
  U8: Uint8Array;
  /** One byte per element, 0 or 1. */
  BOOL: Uint8Array;
}

/** A tensor on the host: dtype, row-major shape and its data (length = product of shape). */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: { dtype: D; shape: number[]; data: DtypeArrayMap[D] };
}[SafetensorsDtype];

/** Tensors to write, by name: a Map (any order) or a plain record. */
export type TensorCollection =
  | ReadonlyMap<string, SafetensorsTensor>
  | Readonly<Record<string, SafetensorsTensor>>;

type TypedArrayCtor = {
  new (length: number): DtypeArrayMap[SafetensorsDtype];
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): DtypeArrayMap[SafetensorsDtype];
  readonly BYTES_PER_ELEMENT: number;
};

const ARRAY_CTORS: { [D in SafetensorsDtype]: TypedArrayCtor } = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
} as unknown as { [D in SafetensorsDtype]: TypedArrayCtor };

/** Bytes per element of a dtype. */
export function dtypeSize(dtype: SafetensorsDtype): number {
  return ARRAY_CTORS[dtype].BYTES_PER_ELEMENT;
}

export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && (SAFETENSORS_DTYPES as readonly string[]).includes(s);
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Builds a tensor, checking that the data has the array type and length the dtype and shape imply. */
export function makeTensor<D extends SafetensorsDtype>(
  dtype: D,
  shape: readonly number[],
  data: DtypeArrayMap[D],
): Extract<SafetensorsTensor, { dtype: D }> {
  const t = { dtype, shape: [...shape], data } as unknown as Extract<SafetensorsTensor, { dtype: D }>;
  checkTensorForWrite('(tensor)', t);
  return t;
}

/** Kinds of malformed file, so callers and tests can tell them apart without parsing messages. */
export type SafetensorsErrorCode =
  | 'truncated'
  | 'header-too-large'
  | 'header-encoding'
  | 'header-json'
  | 'header-not-object'
  | 'bad-metadata'
  | 'bad-entry'
  | 'unknown-dtype'
  | 'bad-shape'
  | 'bad-offsets'
  | 'size-mismatch'
  | 'overlap'
  | 'gap'
  | 'bad-bool';

/** A safetensors file (or buffer) is malformed. `location.path` is `[tensorName, field, ...]`. */
export class SafetensorsFormatError extends FileFormatError {
  constructor(
    file: string,
    readonly code: SafetensorsErrorCode,
    detail: string,
    path?: readonly (string | number)[],
  ) {
    super(path === undefined ? { file } : { file, path }, detail);
  }
}

/** Headers above this size are refused before being read: a corrupted length must not allocate GBs. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

export interface ReadSafetensorsOptions {
  /** Largest accepted JSON header, in bytes. */
  readonly maxHeaderBytes?: number;
  /** Name used in error messages when parsing a buffer (reading a path uses the path). */
  readonly source?: string;
  /**
   * Buffer parsing only: always copy tensor data instead of returning views into the input buffer
   * where alignment allows. Views share memory with the input (writes to one show in the other).
   */
  readonly copy?: boolean;
  /** Load only these tensors (every name must exist). The whole header is still validated. */
  readonly names?: readonly string[];
}

/** A validated tensor entry of the header. `begin`/`end` are relative to the byte buffer. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** A validated header: entries in file order (by offset), metadata, and where the byte buffer starts. */
export interface SafetensorsHeader {
  readonly entries: SafetensorsEntry[];
  readonly metadata: Record<string, string>;
  /** Byte offset of the byte buffer in the file: 8 + header length. */
  readonly dataStart: number;
  /** Length of the byte buffer. */
  readonly dataLength: number;
}

export interface SafetensorsContents {
  /** Tensors in file order (by data offset). */
  readonly tensors: Map<string, SafetensorsTensor>;
  readonly metadata: Record<string, string>;
}

const nonNegInt = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** One tensor entry of the JSON header, as the format defines it. */
export const SafetensorsEntrySchema = z
  .object({
    dtype: z.string().describe('element type, e.g. "F32", "BF16", "I64", "BOOL"'),
    shape: z.array(nonNegInt).describe('dimensions, row-major; [] for a scalar'),
    data_offsets: z
      .tuple([nonNegInt, nonNegInt])
      .describe('[begin, end) byte range of the data, relative to the start of the byte buffer'),
  })
  .strict()
  .describe('a tensor entry of the safetensors header');

/** The optional `__metadata__` entry: free-form string to string. */
export const SafetensorsMetadataSchema = z
  .record(z.string(), z.string().describe('metadata value (always a string)'))
  .describe('free-form string metadata stored under "__metadata__"');

const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function codeForEntryIssue(path: readonly PropertyKey[]): SafetensorsErrorCode {
  if (path[0] === 'shape') return 'bad-shape';
  if (path[0] === 'data_offsets') return 'bad-offsets';
  return 'bad-entry';
}

function zodPath(path: readonly PropertyKey[]): (string | number)[] {
  return path.filter((p): p is string | number => typeof p !== 'symbol');
}

/**
 * Validates the JSON header text against the byte-buffer length. Returns entries sorted by offset.
 * Exported for tools that inspect files without loading data (`readSafetensorsHeader`).
 */
export function parseSafetensorsHeaderJson(
  file: string,
  headerBytes: Uint8Array,
  dataStart: number,
  dataLength: number,
): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsFormatError(file, 'header-encoding', 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    throw new SafetensorsFormatError(file, 'header-json', 'header must start with "{"');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsFormatError(
      file,
      'header-json',
      `header is not valid JSON (${(e as Error).message})`,
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SafetensorsFormatError(file, 'header-not-object', 'header must be a JSON object');
  }
  const obj = raw as Record<string, unknown>;
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const name of Object.keys(obj)) {
    const value = obj[name];
    if (name === METADATA_KEY) {
      const parsed = SafetensorsMetadataSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new SafetensorsFormatError(
          file,
          'bad-metadata',
          `metadata must map strings to strings (${issue.message})`,
          [METADATA_KEY, ...zodPath(issue.path)],
        );
      }
      // Null prototype: keys such as "__proto__" or "constructor" stay plain data.
      metadata = Object.assign(Object.create(null) as Record<string, string>, parsed.data);
      continue;
    }
    const parsed = SafetensorsEntrySchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new SafetensorsFormatError(file, codeForEntryIssue(issue.path), issue.message, [
        name,
        ...zodPath(issue.path),
      ]);
    }
    const { dtype, shape, data_offsets } = parsed.data;
    if (!isSafetensorsDtype(dtype)) {
      throw new SafetensorsFormatError(
        file,
        'unknown-dtype',
        `unknown dtype "${dtype}"; valid: ${SAFETENSORS_DTYPES.join(', ')}`,
        [name, 'dtype'],
      );
    }
    const [begin, end] = data_offsets;
    if (end < begin) {
      throw new SafetensorsFormatError(file, 'bad-offsets', `end ${end} is before begin ${begin}`, [
        name,
        'data_offsets',
      ]);
    }
    if (end > dataLength) {
      throw new SafetensorsFormatError(
        file,
        'bad-offsets',
        `end ${end} is past the byte buffer (${dataLength} bytes)`,
        [name, 'data_offsets'],
      );
    }
    // Multiplying step by step keeps the check exact: any partial product above the buffer is already wrong.
    let bytes = shape.includes(0) ? 0 : dtypeSize(dtype);
    for (const d of shape) {
      bytes *= d;
      if (bytes > dataLength) break;
    }
    if (bytes !== end - begin) {
      throw new SafetensorsFormatError(
        file,
        'size-mismatch',
        `${dtype}[${shape.join(', ')}] needs ${bytes > dataLength ? `more than ${dataLength}` : bytes} bytes but data_offsets span ${end - begin}`,
        [name, 'data_offsets'],
      );
    }
    entries.push({ name, dtype, shape, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: SafetensorsEntry | undefined;
  for (const e of entries) {
    if (e.begin < cursor) {
      throw new SafetensorsFormatError(
        file,
        'overlap',
        `bytes [${e.begin}, ${e.end}) overlap tensor "${prev?.name}" [${prev?.begin}, ${prev?.end})`,
        [e.name, 'data_offsets'],
      );
    }
    if (e.begin > cursor) {
      throw new SafetensorsFormatError(
        file,
        'gap',
        `bytes [${cursor}, ${e.begin}) before this tensor belong to no tensor`,
        [e.name, 'data_offsets'],
      );
    }
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsFormatError(
      file,
      'gap',
      `bytes [${cursor}, ${dataLength}) at the end of the byte buffer belong to no tensor`,
    );
  }
  return { entries, metadata, dataStart, dataLength };
}

function readHeaderLength(
  file: string,
  first8: Uint8Array,
  fileSize: number,
  maxHeaderBytes: number,
): number {
  if (fileSize < 8) {
    throw new SafetensorsFormatError(
      file,
      'truncated',
      `file is ${fileSize} bytes, shorter than the 8-byte length prefix`,
    );
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(maxHeaderBytes)) {
    throw new SafetensorsFormatError(
      file,
      'header-too-large',
      `header length ${n} exceeds the limit of ${maxHeaderBytes} bytes`,
    );
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new SafetensorsFormatError(
      file,
      'truncated',
      `header length ${len} runs past the end of the file (${fileSize} bytes)`,
    );
  }
  return len;
}

/** Reverses the bytes of each element in place (only needed on big-endian hosts). */
export function swapBytesInPlace(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let i = 0; i < bytes.length; i += elementSize) {
    for (let a = i, b = i + elementSize - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

function checkBool(file: string, name: string, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) {
    if (data[i]! > 1) {
      throw new SafetensorsFormatError(file, 'bad-bool', `BOOL element ${i} is ${data[i]}, not 0 or 1`, [
        name,
      ]);
    }
  }
}

function selectEntries(
  file: string,
  header: SafetensorsHeader,
  names?: readonly string[],
): SafetensorsEntry[] {
  if (names === undefined) return header.entries;
  const byName = new Map(header.entries.map((e) => [e.name, e]));
  return names.map((n) => {
    const e = byName.get(n);
    if (!e) throw new MissingFileError(`${file}: tensor "${n}"`, 'tensor');
    return e;
  });
}

/**
 * Parses safetensors bytes. Tensor data are views into `bytes` when the element alignment allows (always
 * the case for files this module writes) and copies otherwise, or always with `copy: true`.
 */
export function parseSafetensors(
  bytes: Uint8Array,
  options: ReadSafetensorsOptions = {},
): SafetensorsContents {
  const file = options.source ?? '<buffer>';
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const headerLen = readHeaderLength(file, bytes, bytes.length, maxHeaderBytes);
  const dataStart = 8 + headerLen;
  const header = parseSafetensorsHeaderJson(
    file,
    bytes.subarray(8, dataStart),
    dataStart,
    bytes.length - dataStart,
  );
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of selectEntries(file, header, options.names)) {
    const ctor = ARRAY_CTORS[e.dtype];
    const size = ctor.BYTES_PER_ELEMENT;
    const count = (e.end - e.begin) / size;
    const absolute = bytes.byteOffset + dataStart + e.begin;
    let data: DtypeArrayMap[SafetensorsDtype];
    if (!options.copy && LITTLE_ENDIAN_HOST && absolute % size === 0) {
      data = new ctor(bytes.buffer, absolute, count);
    } else {
      data = new ctor(count);
      const dst = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      dst.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
      if (!LITTLE_ENDIAN_HOST) swapBytesInPlace(dst, size);
    }
    if (e.dtype === 'BOOL') checkBool(file, e.name, data as Uint8Array);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data } as SafetensorsTensor);
  }
  return { tensors, metadata: header.metadata };
}

async function openForRead(file: string): Promise<fs.FileHandle> {
  try {
    return await fs.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(file);
    throw e;
  }
}

async function readExactly(
  handle: fs.FileHandle,
  dst: Uint8Array,
  position: number,
  file: string,
): Promise<void> {
  // One read call is capped near 2 GiB; large tensors are read in slices.
  const chunk = 1 << 30;
  for (let done = 0; done < dst.length; ) {
    const want = Math.min(chunk, dst.length - done);
    const { bytesRead } = await handle.read(dst, done, want, position + done);
    if (bytesRead === 0)
      throw new SafetensorsFormatError(file, 'truncated', 'file ended while reading tensor data');
    done += bytesRead;
  }
}

async function readHeaderFrom(
  handle: fs.FileHandle,
  file: string,
  maxHeaderBytes: number,
): Promise<SafetensorsHeader> {
  const { size } = await handle.stat();
  const first8 = new Uint8Array(8);
  if (size >= 8) await readExactly(handle, first8, 0, file);
  const headerLen = readHeaderLength(file, first8, size, maxHeaderBytes);
  const headerBytes = new Uint8Array(headerLen);
  await readExactly(handle, headerBytes, 8, file);
  return parseSafetensorsHeaderJson(file, headerBytes, 8 + headerLen, size - 8 - headerLen);
}

/** Reads and validates only the header of a file (cheap: tensor data is not read). */
export async function readSafetensorsHeader(
  file: string,
  options: Pick<ReadSafetensorsOptions, 'maxHeaderBytes'> = {},
): Promise<SafetensorsHeader> {
  const handle = await openForRead(file);
  try {
    return await readHeaderFrom(handle, file, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  } finally {
    await handle.close();
  }
}

/**
 * Reads a safetensors file. Each tensor is read straight into its own freshly allocated typed array
 * (always aligned, one copy from disk, no whole-file buffer), so memory is the size of the tensors asked
 * for and files larger than one Buffer can hold still load.
 */
export async function readSafetensors(
  file: string,
  options: ReadSafetensorsOptions = {},
): Promise<SafetensorsContents> {
  const handle = await openForRead(file);
  try {
    const header = await readHeaderFrom(handle, file, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
    const tensors = new Map<string, SafetensorsTensor>();
    for (const e of selectEntries(file, header, options.names)) {
      const ctor = ARRAY_CTORS[e.dtype];
      const data = new ctor((e.end - e.begin) / ctor.BYTES_PER_ELEMENT);
      const dst = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      await readExactly(handle, dst, header.dataStart + e.begin, file);
      if (!LITTLE_ENDIAN_HOST) swapBytesInPlace(dst, ctor.BYTES_PER_ELEMENT);
      if (e.dtype === 'BOOL') checkBool(file, e.name, data as Uint8Array);
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data } as SafetensorsTensor);
    }
    return { tensors, metadata: header.metadata };
  } finally {
    await handle.close();
  }
}

function checkTensorForWrite(name: string, t: SafetensorsTensor): void {
  const where = `tensor "${name}"`;
  if (!isSafetensorsDtype(t.dtype)) {
    throw new UsageError(
      `${where}: unknown dtype "${String(t.dtype)}"; valid: ${SAFETENSORS_DTYPES.join(', ')}`,
    );
  }
  if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new UsageError(`${where}: shape must be non-negative integers, got [${String(t.shape)}]`);
  }
  const ctor = ARRAY_CTORS[t.dtype];
  if (!(t.data instanceof (ctor as unknown as typeof Uint8Array))) {
    throw new UsageError(
      `${where}: dtype ${t.dtype} needs a ${ctor.name}, got ${(t.data as object)?.constructor?.name ?? typeof t.data}`,
    );
  }
  if (t.data.length !== shapeSize(t.shape)) {
    throw new UsageError(
      `${where}: shape [${t.shape.join(', ')}] has ${shapeSize(t.shape)} elements but data has ${t.data.length}`,
    );
  }
  if (t.dtype === 'BOOL') {
    const bad = t.data.findIndex((v) => v > 1);
    if (bad >= 0) throw new UsageError(`${where}: BOOL element ${bad} is ${t.data[bad]}, not 0 or 1`);
  }
}

function entriesOf(tensors: TensorCollection): [string, SafetensorsTensor][] {
  if (tensors instanceof Map) return [...(tensors as ReadonlyMap<string, SafetensorsTensor>)];
  return Object.entries(tensors as Readonly<Record<string, SafetensorsTensor>>);
}

/** UTF-8 byte order (what Rust's `str::cmp` does); differs from JS `<` for some non-BMP names. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// The reference implementation's dtype enum order, smallest elements first. Laying out by descending
// rank keeps element sizes non-increasing (alignment) and matches its writer byte for byte.
const DTYPE_RANK: { [D in SafetensorsDtype]: number } = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  U16: 4,
  F16: 5,
  BF16: 6,
  I32: 7,
  U32: 8,
  F32: 9,
  F64: 10,
  I64: 11,
  U64: 12,
};

/**
 * The order tensors are laid out (and listed in the header) when writing: dtype rank descending
 * (U64, I64, F64, F32, U32, I32, BF16, F16, U16, I16, I8, U8, BOOL: element size never grows), then
 * name in UTF-8 byte order; `__metadata__` comes first with its keys sorted. This is the Hugging Face
 * reference writer's order, so for at most one metadata key the bytes are identical to its output.
 * Independent of input order, so equal inputs give identical bytes; and since the header is padded to
 * 8 bytes, every tensor starts at a multiple of its element size, so readers can return aligned views.
 */
export function layoutOrder(tensors: TensorCollection): [string, SafetensorsTensor][] {
  const keyed = entriesOf(tensors).map((e) => ({ e, key: Buffer.from(e[0], 'utf8') }));
  keyed.sort((a, b) => DTYPE_RANK[b.e[1].dtype] - DTYPE_RANK[a.e[1].dtype] || Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.e);
}

interface PreparedFile {
  readonly prefix: Uint8Array;
  readonly chunks: Uint8Array[];
  readonly total: number;
}

function prepare(tensors: TensorCollection, metadata: Readonly<Record<string, string>>): PreparedFile {
  const ordered = layoutOrder(tensors);
  const seen = new Set<string>();
  const parts: string[] = [];
  const metaKeys = Object.keys(metadata).sort(byUtf8);
  if (metaKeys.length > 0) {
    const kv = metaKeys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new UsageError(`metadata "${k}" must be a string, got ${typeof v}`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${kv.join(',')}}`);
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of ordered) {
    if (name === METADATA_KEY) throw new UsageError(`"${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (seen.has(name)) throw new UsageError(`tensor "${name}" appears twice`);
    seen.add(name);
    checkTensorForWrite(name, t);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    let chunk = bytes;
    if (!LITTLE_ENDIAN_HOST) {
      chunk = bytes.slice();
      swapBytesInPlace(chunk, dtypeSize(t.dtype));
    }
    // Hand-built so names like "__proto__" are written as data, never as object keys.
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + chunk.length}]}`,
    );
    chunks.push(chunk);
    offset += chunk.length;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const prefix = new Uint8Array(8 + headerLen).fill(0x20, 8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerLen), true);
  prefix.set(json, 8);
  return { prefix, chunks, total: prefix.length + offset };
}

export interface WriteSafetensorsOptions {
  /** Stored under `__metadata__`; keys written sorted. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Encodes tensors as safetensors bytes (layout: see `layoutOrder`). */
export function serializeSafetensors(
  tensors: TensorCollection,
  options: WriteSafetensorsOptions = {},
): Uint8Array {
  const { prefix, chunks, total } = prepare(tensors, options.metadata ?? {});
  const out = new Uint8Array(total);
  out.set(prefix, 0);
  let at = prefix.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Writes a safetensors file atomically (temporary sibling, fsync, rename): readers see the old file or
 * the complete new one. Tensor bytes go straight from the caller's arrays to the file, never gathered
 * into one buffer, so writing needs no memory beyond the header.
 */
export async function writeSafetensors(
  file: string,
  tensors: TensorCollection,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  const { prefix, chunks } = prepare(tensors, options.metadata ?? {});
  const target = resolveOutputFile(file);
  const tmp = tempPathFor(target);
  const release = trackTempFile(tmp);
  const handle = await fs.open(tmp, 'wx').catch((e) => {
    release();
    throw e;
  });
  try {
    // Positional writes on a FileHandle: no stream buffering and no per-chunk listeners.
    let position = 0;
    for (const c of [prefix, ...chunks]) {
      for (let done = 0; done < c.length; ) {
        const { bytesWritten } = await handle.write(c, done, Math.min(c.length - done, 1 << 30), position);
        done += bytesWritten;
        position += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    await fs.rename(tmp, target);
  } catch (e) {
    await handle.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw e;
  } finally {
    release();
  }
}

// --- 16-bit floats -------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Widens bfloat16 bits to float32 (exact: bf16 is the top half of a float32). */
export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

/** Rounds float32 values to bfloat16 bits, round-to-nearest-even; NaN stays NaN (quiet), sign kept. */
export function float32ToBf16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = inBits[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) {
      // Truncating a NaN could clear every mantissa bit and turn it into infinity; force the quiet bit.
      out[i] = (x >>> 16) | 0x0040;
    } else {
      out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}

/** Widens IEEE binary16 bits to float32 (exact, subnormals included). */
export function f16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) {
      outBits[i] = sign | 0x7f800000 | (mant << 13);
    } else if (exp !== 0) {
      outBits[i] = sign | ((exp + 112) << 23) | (mant << 13);
    } else {
      // Zero or subnormal: mant * 2^-24 is exact in float32.
      f32[0] = mant * 2 ** -24;
      outBits[i] = sign | u32[0]!;
    }
  }
  return out;
}

/** Rounds float32 values to IEEE binary16 bits, round-to-nearest-even, with subnormals and overflow to inf. */
export function float32ToF16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = inBits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    if (exp === 0xff) {
      // Inf stays inf; NaN keeps its top payload bits and is forced quiet so it cannot become inf.
      out[i] = sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      // Subnormal (or underflow to zero): the value is m * 2^(e-1-10-13) with the implicit bit restored.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mant | 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      const rem = m & ((1 << shift) - 1);
      let h = m >>> shift;
      if (rem > half || (rem === half && (h & 1) === 1)) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent, up to inf (0x7c00).
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++;
    out[i] = sign | h;
  }
  return out;
}
