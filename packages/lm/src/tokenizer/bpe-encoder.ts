import { FileFormatError } from '@gopo/core';
import { BYTE_TO_UNICODE, byteLevelToBytes, PRETOKENIZE_PATTERN } from './byte-level.js';
import { SpecialTokenMatcher } from './special-tokens.js';
import { CorruptTokenizerError, checkTokenizerIntegrity, type TokenizerJson } from './tokenizer-json.js';

const KEY_BASE = 2 ** 21;
/** Words longer than this (in characters) are encoded but not cached. */
const MAX_CACHED_WORD = 256;
const CACHE_LIMIT = 100_000;
/** Pieces with more bytes than this take the heap path (the quadratic scan wins on short ones). */
const LONG_WORD = 64;
/** Heap keys pack (rank, position): rank < 2^21 and position < 2^32 keep them exact doubles. */
const POS_BASE = 2 ** 32;

/** A binary min-heap of numbers. */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(x: number): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= x) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens (`<|bos|>` at the start for GOPO tokenizers). Default false. */
  readonly addSpecial?: boolean;
  /**
   * Match added/special tokens written literally in the text (default true, as Hugging Face does).
   * Turn off for untrusted content: `<|user|>` typed by a user then encodes as ordinary text.
   */
  readonly parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave special tokens out of the text. Default false. */
  readonly skipSpecial?: boolean;
}

/**
 * Our own encoder and decoder for a byte-level BPE tokenizer.json, written independently of
 * @huggingface/tokenizers (tests check the two agree token for token).
 *
 * Encoding: added tokens are cut out of the text first (longest match at each position), the rest is
 * split with the GPT-2 pattern, each piece's UTF-8 bytes start as byte tokens, and merges are applied
 * lowest rank first (leftmost first among equal ranks) until none applies.
 */
export class BpeEncoder {
  readonly vocabSize: number;
  private readonly idToToken: string[];
  private readonly tokenToId = new Map<string, number>();
  private readonly byteIds = new Int32Array(256);
  private readonly mergeRank = new Map<number, number>();
  private readonly mergeResult = new Map<number, number>();
  private readonly added = new Map<string, number>();
  private readonly specialIds = new Set<number>();
  private readonly addedIds = new Set<number>();
  private readonly matcher: SpecialTokenMatcher;
  private readonly prefix: number[] = [];
  private readonly suffix: number[] = [];
  private readonly tokenBytesCache: (Uint8Array | undefined)[];
  private readonly cache = new Map<string, readonly number[]>();
  private readonly textEncoder = new TextEncoder();
  // ignoreBOM keeps a leading U+FEFF: the decoder must give back exactly the text that was encoded.
  private readonly textDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(
    readonly json: TokenizerJson,
    source = '(tokenizer.json)',
  ) {
    const { vocab, merges } = json.model;
    checkTokenizerIntegrity(json, source);
    let maxId = -1;
    for (const [tok, id] of Object.entries(vocab)) {
      this.tokenToId.set(tok, id);
      maxId = Math.max(maxId, id);
    }
    for (const a of json.added_tokens) maxId = Math.max(maxId, a.id);
    if (maxId >= KEY_BASE)
      throw new FileFormatError({ file: source, path: ['model', 'vocab'] }, 'ids must be below 2^21');
    this.vocabSize = maxId + 1;
    this.idToToken = new Array<string>(this.vocabSize);
    for (const [tok, id] of this.tokenToId) this.idToToken[id] = tok;
    for (const a of json.added_tokens) {
      this.idToToken[a.id] = a.content;
      this.tokenToId.set(a.content, a.id);
      this.added.set(a.content, a.id);
      this.addedIds.add(a.id);
      if (a.special) this.specialIds.add(a.id);
    }
    for (let b = 0; b < 256; b++) {
      const id = vocab[BYTE_TO_UNICODE[b]!];
      if (id === undefined) {
        throw new CorruptTokenizerError(
          { file: source, path: ['model', 'vocab'] },
          `byte 0x${b.toString(16).padStart(2, '0')} (${JSON.stringify(BYTE_TO_UNICODE[b])}) is missing; a byte-level BPE needs all 256`,
        );
      }
      this.byteIds[b] = id;
    }
    merges.forEach((m, rank) => {
      const [left, right] = typeof m === 'string' ? (m.split(' ', 2) as [string, string]) : m;
      // checkTokenizerIntegrity has proved all three are in the vocab.
      const key = vocab[left]! * KEY_BASE + vocab[right]!;
      // A repeated merge keeps its first (highest-priority) rank, as a rank lookup table does.
      if (!this.mergeRank.has(key)) {
        this.mergeRank.set(key, rank);
        this.mergeResult.set(key, vocab[left + right]!);
      }
    });
    this.matcher = new SpecialTokenMatcher(this.added);
    const post = json.post_processor;
    if (post && post.type === 'TemplateProcessing') {
      let seenSequence = false;
      post.single.forEach((piece, i) => {
        if ('Sequence' in piece) {
          seenSequence = true;
          return;
        }
        const id = this.tokenToId.get(piece.SpecialToken.id);
        if (id === undefined) {
          throw new CorruptTokenizerError(
            { file: source, path: ['post_processor', 'single', i] },
            `unknown special token ${piece.SpecialToken.id}`,
          );
        }
        (seenSequence ? this.suffix : this.prefix).push(id);
      });
    }
    this.tokenBytesCache = new Array(this.vocabSize);
  }

  /** The token string (byte-level form, or an added token's content) of an id. */
  idToTokenString(id: number): string {
    const t = this.idToToken[id];
    if (t === undefined)
      throw new RangeError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    return t;
  }

  /** The id of a token string (byte-level form, or an added token's content), if any. */
  tokenStringToId(token: string): number | undefined {
    return this.tokenToId.get(token);
  }

  /** Added tokens (content -> id); special or not. */
  addedTokens(): ReadonlyMap<string, number> {
    return this.added;
  }

  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Ids the post-processor puts before/after a sequence when encoding with special tokens. */
  specialAround(): { readonly prefix: readonly number[]; readonly suffix: readonly number[] } {
    return { prefix: this.prefix, suffix: this.suffix };
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.addSpecial) out.push(...this.prefix);
    if (options.parseSpecial ?? true) {
      for (const piece of this.matcher.split(text)) {
        if (typeof piece === 'number') out.push(piece);
        else this.encodeOrdinaryInto(piece, out);
      }
    } else {
      this.encodeOrdinaryInto(text, out);
    }
    if (options.addSpecial) out.push(...this.suffix);
    return out;
  }

  /** Encodes text with no added-token matching and no post-processing. */
  encodeOrdinary(text: string): number[] {
    const out: number[] = [];
    this.encodeOrdinaryInto(text, out);
    return out;
  }

  private encodeOrdinaryInto(text: string, out: number[]): void {
    for (const m of text.matchAll(PRETOKENIZE_PATTERN)) {
      const word = m[0];
      const cached = this.cache.get(word);
      if (cached) {
        for (const id of cached) out.push(id);
        continue;
      }
      const ids = this.bpeWord(word);
      if (word.length <= MAX_CACHED_WORD) {
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** Applies the merges to one pre-token. */
  private bpeWord(word: string): number[] {
    const bytes = this.textEncoder.encode(word);
    let symbols: number[] = new Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) symbols[i] = this.byteIds[bytes[i]!]!;
    if (symbols.length > LONG_WORD) return this.bpeLongWord(symbols);
    while (symbols.length > 1) {
      let bestRank = Number.POSITIVE_INFINITY;
      let bestKey = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = symbols[i]! * KEY_BASE + symbols[i + 1]!;
        const rank = this.mergeRank.get(key);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestKey = key;
        }
      }
      if (bestKey < 0) break;
      const a = Math.floor(bestKey / KEY_BASE);
      const b = bestKey - a * KEY_BASE;
      const merged = this.mergeResult.get(bestKey)!;
      // Every occurrence of the best pair, left to right without overlap: exactly what repeated
      // "lowest rank, then leftmost" merging does, since merges made now all rank higher.
      const next: number[] = [];
      for (let i = 0; i < symbols.length; ) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          next.push(merged);
          i += 2;
        } else {
          next.push(symbols[i]!);
          i++;
        }
      }
      symbols = next;
    }
    return symbols;
  }

  /**
   * The same merges for long pieces (a 40 KB run without spaces, say) in O(n log n): a linked list
   * of symbols and a heap of candidate pairs keyed by (rank, position). Popping in that order merges
   * the lowest rank first and, within a rank, left to right; a pair that a merge has changed fails
   * the rank check when it surfaces and is dropped.
   */
  private bpeLongWord(symbols: number[]): number[] {
    const n = symbols.length;
    const sym = Int32Array.from(symbols);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new MinHeap();
    const rankAt = (i: number): number | undefined => {
      const j = next[i]!;
      return j < 0 ? undefined : this.mergeRank.get(sym[i]! * KEY_BASE + sym[j]!);
    };
    const consider = (i: number) => {
      const r = rankAt(i);
      if (r !== undefined) heap.push(r * POS_BASE + i);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.size > 0) {
      const key = heap.pop();
      const rank = Math.floor(key / POS_BASE);
      const i = key - rank * POS_BASE;
      if (!alive[i] || rankAt(i) !== rank) continue;
      const j = next[i]!;
      sym[i] = this.mergeResult.get(sym[i]! * KEY_BASE + sym[j]!)!;
      alive[j] = 0;
      const k = next[j]!;
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i]! >= 0) consider(prev[i]!);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
    return out;
  }

  /** The bytes a non-added token stands for. */
  tokenBytes(id: number): Uint8Array {
    let bytes = this.tokenBytesCache[id];
    if (!bytes) {
      const tok = this.idToTokenString(id);
      bytes = this.addedIds.has(id) ? this.textEncoder.encode(tok) : byteLevelToBytes(tok);
      this.tokenBytesCache[id] = bytes;
    }
    return bytes;
  }

  /**
   * Text of a token sequence. Runs of byte-level tokens are joined as bytes before UTF-8 decoding (a
   * character may span tokens); bytes that never form valid UTF-8 decode to U+FFFD. Added tokens
   * contribute their content.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    let text = '';
    let buf = new Uint8Array(64);
    let len = 0;
    const flush = () => {
      if (len > 0) text += this.textDecoder.decode(buf.subarray(0, len));
      len = 0;
    };
    for (const id of ids) {
      if (this.addedIds.has(id)) {
        flush();
        if (!(options.skipSpecial && this.specialIds.has(id))) text += this.idToToken[id]!;
        continue;
      }
      const bytes = this.tokenBytes(id);
      if (len + bytes.length > buf.length) {
        const bigger = new Uint8Array(Math.max(buf.length * 2, len + bytes.length));
        bigger.set(buf.subarray(0, len));
        buf = bigger;
      }
      buf.set(bytes, len);
      len += bytes.length;
    }
    flush();
    return text;
  }
}
