/*
 * The session scanner behind `gopo eval`'s fast path, in AssemblyScript (compiled to WebAssembly by
 * scripts/session-scan-build.ts; the bytes ship in src/eval/session-scan-wasm.ts).
 *
 * It reads JSONL bytes a line at a time, checks each line's full JSON syntax and the parts of the log
 * schema (DESIGN.md 4.2) that the metrics depend on, and writes what the metrics read (goal type,
 * roles, strategies, rankings, references, event types, outcome fields) to a tape of u32 words.
 * A line it cannot vouch for (invalid, or merely unusual: escapes in names, duplicate keys,
 * exponents in checked numbers, a full tape) is marked "fallback" and JavaScript parses it with
 * JSON.parse and the schema, which gives the error or the session. So the scanner may refuse a valid
 * line but must never accept one that JSON.parse + SessionSchema would reject; src/session-scan.test.ts
 * checks both directions on generated and mutated lines.
 *
 * Word lists (keys and enum values) come from JavaScript at start-up (defineWord), so the enums live
 * in one place (packages/dialogue); the key order per list is fixed here and in session-scan.ts.
 *
 * Tape records (u32 words; offsets are word indices from the tape start, byte offsets from the input
 * start):
 *   line:  [kind, start, end, ...]        kind 0 blank, 1 session, 2 fallback; end excludes \r\n
 *   session (kind 1) continues: [idStart, idLen | nonAscii << 31 | escaped << 30, goalType, outcome, nTurns,
 *     csatLo, csatHi, valueLo, valueHi, pad] then the turns. `outcome` packs the status index (bits
 *     0-3), converted, resolved, escalated (bits 4-6), csat state (bits 8-9) and order_value state
 *     (bits 10-11): 0 absent, 1 f64 bits in the lo/hi pair, 2 a byte span (start, length) for
 *     JavaScript's Number().
 *   turn:  [flags, strategy, detected, refStrategy, rankingAt, acceptableAt, eventsAt, next] then its
 *     lists ([count, item...]); *At are 0 when the list is absent; `next` is where the next turn
 *     starts. flags: agent, has strategy, has reference, has sop_violation, sop_violation value
 *     (bits 0-4), detected_strategy kind (bits 5-6: 0 absent, 1 interned string, 2 not a string,
 *     3 a string no strategy name can equal).
 *
 * Strategy names (and detected_strategy strings) are interned: the scanner keeps a table of the
 * distinct names seen and writes their ids; JavaScript reads new names after each call.
 */

// ---- layout ------------------------------------------------------------------------------------

const WORD_SLOTS: u32 = 1024; // power of two, at most an eighth full
const MAX_WORDS: i32 = 128;
const WORD_BYTES_CAP: i32 = 4096;
const NAME_SLOTS: u32 = 1 << 17; // power of two, at most half full
const MAX_NAMES: u32 = 1 << 16;
const NAME_BYTES_CAP: u32 = 1 << 20;
const TAPE_WORDS: u32 = 1 << 20;
// A line starts only with this much tape left; a line that needs more falls back.
const LINE_RESERVE: u32 = 256;
// Reads run up to 16 bytes past the input (vector loads); JavaScript puts a \n sentinel at its end.
const INPUT_PAD: u32 = 64;
const MAX_DEPTH: i32 = 512;

// Word table, open addressing; per slot: fp1 u64, fp2 u64, len u32, list u32 (0xffffffff when
// empty), index in its list u32, bytes u32.
let wordSlotsPtr: usize = 0;
let wordCount: i32 = 0;
const listLengths: usize = memory.data(64); // entries per list (u32)
let wordBytesPtr: usize = 0;
let wordBytesUsed: i32 = 0;
let slotsPtr: usize = 0; // name hash table: id + 1, 0 when empty
let nameEntriesPtr: usize = 0; // per name id: byte offset u32, length u32, fp1 u64, fp2 u64
let nameBytesPtr: usize = 0;
let nameBytesUsed: u32 = 0;
let nameCount: u32 = 0;
let tapePtr: usize = 0;
let tapeEnd: usize = 0;
let inputPtr: usize = 0;
let inputCap: u32 = 0;

// Key lists and their indices; session-scan.ts defines the same lists in the same order.
const L_SESSION: u32 = 0;
const L_GOAL: u32 = 1;
const L_TURN: u32 = 2;
const L_EVENT: u32 = 3;
const L_REFERENCE: u32 = 4;
const L_OUTCOME: u32 = 5;
const L_GOAL_TYPE: u32 = 6;
const L_EVENT_TYPE: u32 = 7;
const L_STATUS: u32 = 8;
const L_ROLE: u32 = 9;
const L_OTHER: u32 = 10; // __proto__

const K_SESSION_ID: i32 = 0;
const K_DOMAIN: i32 = 1;
const K_GOAL: i32 = 2;
const K_TURNS: i32 = 3;
const K_OUTCOME: i32 = 4;

const K_GOAL_TYPE: i32 = 0;
const K_SLOTS: i32 = 1;

const K_ROLE: i32 = 0;
const K_TEXT: i32 = 1;
const K_EVENTS: i32 = 2;
const K_STRATEGY: i32 = 3;
const K_RANKING: i32 = 4;
const K_REFERENCE: i32 = 5;
const K_SOP: i32 = 6;
const K_DETECTED: i32 = 7;
const K_SOP_STATE: i32 = 8;
const K_FACTS: i32 = 9;

const K_EVENT_TYPE: i32 = 0;
const K_ITEM_ID: i32 = 1;
const K_ORDER_ID: i32 = 2;
const K_AMOUNT: i32 = 3;

const K_REF_STRATEGY: i32 = 0;
const K_ACCEPTABLE: i32 = 1;

const K_STATUS: i32 = 0;
const K_CONVERTED: i32 = 1;
const K_RESOLVED: i32 = 2;
const K_CSAT: i32 = 3;
const K_ESCALATED: i32 = 4;
const K_ORDER_VALUE: i32 = 5;

const ROLE_AGENT: i32 = 1;

const SESSION_WORDS: u32 = 13;
const TURN_WORDS: u32 = 8;

const F_AGENT: u32 = 1;
const F_STRATEGY: u32 = 2;
const F_REFERENCE: u32 = 4;
const F_SOP: u32 = 8;
const F_SOP_TRUE: u32 = 16;
const DETECTED_SHIFT: u32 = 5;
const DETECTED_NAME: u32 = 1;
const DETECTED_OTHER_TYPE: u32 = 2;
const DETECTED_UNMATCHABLE: u32 = 3;

function align(x: usize, a: usize): usize {
  return (x + a - 1) & ~(a - 1);
}

function growTo(end: usize): void {
  const have = (<usize>memory.size()) << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >>> 16);
    if (memory.grow(pages) < 0) unreachable();
  }
}

/** Lays out the fixed areas once; returns the input pointer. */
export function setup(): usize {
  if (tapePtr != 0) return inputPtr;
  let at = align(__heap_base, 16);
  wordSlotsPtr = at;
  at += <usize>WORD_SLOTS * 32;
  wordBytesPtr = at;
  at = align(at + WORD_BYTES_CAP, 16);
  slotsPtr = at;
  at += <usize>NAME_SLOTS * 4;
  nameEntriesPtr = at;
  at += <usize>MAX_NAMES * 24;
  nameBytesPtr = at;
  at = align(at + NAME_BYTES_CAP, 16);
  tapePtr = at;
  at += <usize>TAPE_WORDS * 4;
  tapeEnd = at;
  inputPtr = align(at, 16);
  growTo(inputPtr + INPUT_PAD);
  memory.fill(slotsPtr, 0, <usize>NAME_SLOTS * 4);
  memory.fill(wordSlotsPtr, 0xff, <usize>WORD_SLOTS * 32);
  return inputPtr;
}

/** Makes room for `bytes` of input (plus padding); returns the input pointer. */
export function reserveInput(bytes: u32): usize {
  setup();
  if (bytes > inputCap) {
    growTo(inputPtr + bytes + INPUT_PAD);
    inputCap = bytes;
  }
  return inputPtr;
}

export function tapeStart(): usize {
  return tapePtr;
}

export function names(): u32 {
  return nameCount;
}

export function nameEntries(): usize {
  return nameEntriesPtr;
}

export function nameBytes(): usize {
  return nameBytesPtr;
}

// ---- word lists ----------------------------------------------------------------------------------

// A fingerprint of up to 16 bytes: the first and last 8 (overlapping when shorter). Words longer
// than 16 bytes are compared in full after the fingerprints agree.
@inline function fp1(p: usize, len: u32): u64 {
  if (len >= 8) return load<u64>(p);
  if (len == 0) return 0;
  return load<u64>(p) & ((<u64>1 << (<u64>len << 3)) - 1);
}

@inline function fp2(p: usize, len: u32): u64 {
  return len > 8 ? load<u64>(p + len - 8) : 0;
}

// One multiply; the table index comes from the product's high half, where every input bit counts.
@inline function hash(a: u64, b: u64, len: u32, salt: u32): u32 {
  const h = ((a ^ rotr<u64>(b, 17)) + ((<u64>salt << 8) | <u64>len)) * 0x9e3779b97f4a7c15;
  return <u32>(h >>> 32);
}

/** Adds the word at `ptr` (in the input area; `len` bytes) as the next entry of `list`. */
export function defineWord(list: u32, ptr: usize, len: u32): void {
  setup();
  if (wordCount >= MAX_WORDS || wordBytesUsed + <i32>len + 8 > WORD_BYTES_CAP || list >= 16 || len == 0)
    unreachable();
  const bytes = wordBytesPtr + wordBytesUsed;
  memory.copy(bytes, ptr, len);
  // The fingerprint loads read up to 8 bytes past a short word: clear them.
  memory.fill(bytes + len, 0, 8);
  wordBytesUsed += <i32>len + 8;
  const a = fp1(bytes, len);
  const b = fp2(bytes, len);
  let slot = hash(a, b, len, list) & (WORD_SLOTS - 1);
  while (load<u32>(wordSlotsPtr + (<usize>slot << 5) + 20) != 0xffffffff) slot = (slot + 1) & (WORD_SLOTS - 1);
  const e = wordSlotsPtr + (<usize>slot << 5);
  store<u64>(e, a);
  store<u64>(e + 8, b);
  store<u32>(e + 16, len);
  store<u32>(e + 20, list);
  const counter = listLengths + (<usize>list << 2);
  store<u32>(e + 24, load<u32>(counter));
  store<u32>(e + 28, <u32>bytes);
  store<u32>(counter, load<u32>(counter) + 1);
  wordCount++;
}

/** Index of the bytes [p, p + len) in `list`, or -1. */
@inline function match(list: u32, p: usize, len: u32): i32 {
  return matchFp(list, p, len, fp1(p, len), fp2(p, len));
}

/** match() with the word's fingerprints already at hand. */
function matchFp(list: u32, p: usize, len: u32, a: u64, b: u64): i32 {
  let slot = hash(a, b, len, list) & (WORD_SLOTS - 1);
  while (true) {
    const e = wordSlotsPtr + (<usize>slot << 5);
    const l = load<u32>(e + 20);
    if (l == 0xffffffff) return -1;
    if (l == list && load<u64>(e) == a && load<u64>(e + 8) == b && load<u32>(e + 16) == len) {
      if (len <= 16 || memory.compare(p, <usize>load<u32>(e + 28), len) == 0) return <i32>load<u32>(e + 24);
    }
    slot = (slot + 1) & (WORD_SLOTS - 1);
  }
}

/**
 * A short string at p (content under 16 bytes, no escape or control character): on success p is
 * past it, its content is [sStart, sEnd) and its fingerprints are in vA, vB; false when the string
 * needs the general path (scanString), with p unmoved. One vector load finds the closing quote.
 */
let vA: u64 = 0;
let vB: u64 = 0;
let vLower: i32 = 0; // bitmask of the lanes holding a-z
let vName: i32 = 0; // bitmask of the lanes holding a-z, 0-9 or _
function shortString(): bool {
  const a = p + 1;
  const v = v128.load(a);
  const stops = i8x16.bitmask(
    v128.or(
      v128.or(i8x16.eq(v, i8x16.splat(0x22)), i8x16.eq(v, i8x16.splat(0x5c))),
      i8x16.lt_u(v, i8x16.splat(0x20)),
    ),
  );
  if (stops == 0) return false;
  const len = ctz<u32>(stops);
  if (load<u8>(a + len) != 0x22) return false;
  const lane0 = i64x2.extract_lane(v, 0);
  vA = len >= 8 ? lane0 : len == 0 ? 0 : lane0 & ((<u64>1 << (<u64>len << 3)) - 1);
  vB = len > 8 ? load<u64>(a + len - 8) : 0;
  const lower = v128.and(i8x16.ge_u(v, i8x16.splat(0x61)), i8x16.le_u(v, i8x16.splat(0x7a)));
  const digit = v128.and(i8x16.ge_u(v, i8x16.splat(0x30)), i8x16.le_u(v, i8x16.splat(0x39)));
  vLower = i8x16.bitmask(lower);
  vName = i8x16.bitmask(v128.or(v128.or(lower, digit), i8x16.eq(v, i8x16.splat(0x5f))));
  sStart = a;
  sEnd = a + len;
  sEscape = false;
  p = a + len + 1;
  return true;
}

// ---- lexical layer -------------------------------------------------------------------------------

let p: usize = 0; // the cursor
let tp: usize = 0; // the tape cursor
// Set by scanString: the content's bounds and whether it holds an escape.
let sStart: usize = 0;
let sEnd: usize = 0;
let sEscape: bool = false;
// Set by scanNumber.
let nStart: usize = 0;
let nEnd: usize = 0;
let nIntDigits: u32 = 0;
let nFraction: bool = false;
let nExponent: bool = false;
let nNegative: bool = false;
let nMantissa: u64 = 0;
let nExpValue: i32 = 0; // the exponent's value, saturated

// JSON whitespace inside a line (a \n ends the line).
@inline function skipWs(): void {
  let c = load<u8>(p);
  while (c == 0x20 || c == 0x09 || c == 0x0d) {
    p++;
    c = load<u8>(p);
  }
}

@inline function isHex(c: u32): bool {
  return (c - 0x30 < 10) || ((c | 0x20) - 0x61 < 6);
}

/** A JSON string at p; on success p is past its closing quote. */
function scanString(): bool {
  let q = p + 1;
  sStart = q;
  sEscape = false;
  const quote = i8x16.splat(0x22);
  const backslash = i8x16.splat(0x5c);
  const space = i8x16.splat(0x20);
  while (true) {
    const v = v128.load(q);
    const hit = v128.or(v128.or(i8x16.eq(v, quote), i8x16.eq(v, backslash)), i8x16.lt_u(v, space));
    const bits = i8x16.bitmask(hit);
    if (bits == 0) {
      q += 16;
      continue;
    }
    q += <usize>ctz<u32>(bits);
    const c = load<u8>(q);
    if (c == 0x22) {
      sEnd = q;
      p = q + 1;
      return true;
    }
    if (c != 0x5c) return false; // a control character, or the line's end
    sEscape = true;
    const e = load<u8>(q + 1);
    if (e == 0x75) {
      for (let k: usize = 2; k < 6; k++) if (!isHex(load<u8>(q + k))) return false;
      q += 6;
    } else if (
      e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74
    ) {
      q += 2;
    } else {
      return false;
    }
  }
}

/** A JSON number at p (grammar only; the caller checks what follows). */
function scanNumber(): bool {
  let q = p;
  nStart = q;
  nNegative = false;
  nFraction = false;
  nExponent = false;
  nMantissa = 0;
  let c = <u32>load<u8>(q);
  if (c == 0x2d) {
    nNegative = true;
    q++;
    c = load<u8>(q);
  }
  if (c == 0x30) {
    q++;
    nIntDigits = 1;
  } else if (c - 0x31 < 9) {
    const d0 = q;
    let m: u64 = 0;
    while (c - 0x30 < 10) {
      m = m * 10 + <u64>(c - 0x30);
      q++;
      c = load<u8>(q);
    }
    nIntDigits = <u32>(q - d0);
    nMantissa = m; // meaningful when nIntDigits <= 15
  } else {
    return false;
  }
  c = load<u8>(q);
  if (c == 0x2e) {
    nFraction = true;
    q++;
    c = load<u8>(q);
    if (c - 0x30 >= 10) return false;
    while (c - 0x30 < 10) {
      q++;
      c = load<u8>(q);
    }
  }
  nExpValue = 0;
  if ((c | 0x20) == 0x65) {
    nExponent = true;
    q++;
    c = load<u8>(q);
    let negative = false;
    if (c == 0x2b || c == 0x2d) {
      negative = c == 0x2d;
      q++;
      c = load<u8>(q);
    }
    if (c - 0x30 >= 10) return false;
    let e: i32 = 0;
    while (c - 0x30 < 10) {
      if (e < 100000) e = e * 10 + <i32>(c - 0x30);
      q++;
      c = load<u8>(q);
    }
    nExpValue = negative ? -e : e;
  }
  nEnd = q;
  p = q;
  return true;
}

/** The number's value is exactly known here (an integer of at most 15 digits). */
@inline function numberExact(): bool {
  return !nFraction && !nExponent && nIntDigits <= 15;
}

/**
 * JSON.parse certainly gives a finite number: its magnitude is below 10^(integer digits + exponent),
 * and 10^308 is below the largest double.
 */
@inline function numberFinite(): bool {
  return <i64>nIntDigits + <i64>nExpValue <= 308;
}

function literal(word: u64, len: usize): bool {
  const mask: u64 = len == 4 ? 0xffffffff : 0xffffffffff;
  if ((load<u64>(p) & mask) != word) return false;
  p += len;
  return true;
}

const TRUE: u64 = 0x65757274; // "true" little-endian
const FALSE: u64 = 0x65736c6166;
const NULL: u64 = 0x6c6c756e;

/** A boolean at p; returns 0 false, 1 true, -1 not a boolean. */
function scanBool(): i32 {
  const c = load<u8>(p);
  if (c == 0x74) return literal(TRUE, 4) ? 1 : -1;
  if (c == 0x66) return literal(FALSE, 5) ? 0 : -1;
  return -1;
}

/**
 * At `opener` ('{' or '['): 1 at the first member, 0 for an empty container (p past it), -1 when p
 * is not at `opener`.
 */
function opened(opener: u8): i32 {
  if (load<u8>(p) != opener) return -1;
  p++;
  skipWs();
  if (load<u8>(p) == opener + 2) {
    // '}' and ']' follow '{' and '[' by two in ASCII.
    p++;
    return 0;
  }
  return 1;
}

/** After a member of a container opened by `opener`: 1 at the next member, 0 past the end, -1 on bad input. */
function nextMember(opener: u8): i32 {
  skipWs();
  const d = load<u8>(p);
  p++;
  if (d == opener + 2) return 0;
  if (d != 0x2c) return -1;
  skipWs();
  return 1;
}

/** At a key: the key string, the colon and the whitespace after it (no key lookup). */
function anyKey(): bool {
  if (load<u8>(p) != 0x22 || !scanString()) return false;
  skipWs();
  if (load<u8>(p) != 0x3a) return false;
  p++;
  skipWs();
  return true;
}

/** Any JSON value at p (syntax only). */
function skipValue(depth: i32): bool {
  const c = load<u8>(p);
  if (c == 0x22) return scanString();
  if (c == 0x7b || c == 0x5b) {
    if (depth >= MAX_DEPTH) return false;
    let more = opened(c);
    while (more == 1) {
      if ((c == 0x7b && !anyKey()) || !skipValue(depth + 1)) return false;
      more = nextMember(c);
    }
    return more == 0;
  }
  if (c == 0x74) return literal(TRUE, 4);
  if (c == 0x66) return literal(FALSE, 5);
  if (c == 0x6e) return literal(NULL, 4);
  if (c == 0x2d || <u32>c - 0x30 < 10) return scanNumber();
  return false;
}

// ---- objects -------------------------------------------------------------------------------------

/*
 * Objects are walked key by key: objectStart() and nextKey() leave the cursor on the value and the
 * key's index in `key` (-1 unknown). Keys with escapes and "__proto__" (which JSON.parse makes an
 * own property that the schema's fast check refuses) fall back, and so does a known key given twice
 * (JSON.parse keeps the last; simpler to let it).
 */
let key: i32 = 0;
let seen: u32 = 0;
const KEY_SCRATCH: u32 = 64;
const keyScratch: usize = memory.data(KEY_SCRATCH + 16);
// Set by keyText: where the key's decoded bytes are, or keyLen = 0xffffffff when it cannot be a
// known word (non-ASCII, or longer than any).
let keyPtr: usize = 0;
let keyLen: u32 = 0;

/** The last string's content decoded for matching against the ASCII word lists. */
function keyText(): void {
  if (!sEscape) {
    keyPtr = sStart;
    keyLen = <u32>(sEnd - sStart);
    return;
  }
  keyPtr = keyScratch;
  keyLen = 0xffffffff;
  let n: u32 = 0;
  let q = sStart;
  while (q < sEnd) {
    if (n >= KEY_SCRATCH) return;
    let c = <u32>load<u8>(q);
    if (c == 0x5c) {
      const e = <u32>load<u8>(q + 1);
      if (e == 0x75) {
        c = 0;
        for (let k: usize = 2; k < 6; k++) {
          const h = <u32>load<u8>(q + k);
          c = (c << 4) | (h - 0x30 < 10 ? h - 0x30 : (h | 0x20) - 0x57);
        }
        q += 6;
      } else {
        c = e == 0x62 ? 8 : e == 0x66 ? 12 : e == 0x6e ? 10 : e == 0x72 ? 13 : e == 0x74 ? 9 : e;
        q += 2;
      }
    } else {
      q++;
    }
    if (c >= 0x80) return;
    store<u8>(keyScratch + n, <u8>c);
    n++;
  }
  keyLen = n;
}

/** The decoded key (keyText) in `list`, or -1. */
@inline function matchKey(list: u32): i32 {
  return keyLen == 0xffffffff ? -1 : match(list, keyPtr, keyLen);
}

/** At '{': returns 1 at a key's value, 0 for an empty object, -1 on bad input. */
function objectStart(list: u32): i32 {
  const more = opened(0x7b);
  return more == 1 ? (readKey(list) ? 1 : -1) : more;
}

function readKey(list: u32): bool {
  if (load<u8>(p) != 0x22) return false;
  if (shortString()) {
    const len = <u32>(sEnd - sStart);
    key = matchFp(list, sStart, len, vA, vB);
    if (key < 0 && matchFp(L_OTHER, sStart, len, vA, vB) >= 0) return false;
  } else {
    if (!scanString()) return false;
    keyText();
    key = matchKey(list);
    if (key < 0 && matchKey(L_OTHER) >= 0) return false;
  }
  if (key >= 0) {
    const bit: u32 = 1 << <u32>key;
    if (seen & bit) return false;
    seen |= bit;
  }
  skipWs();
  if (load<u8>(p) != 0x3a) return false;
  p++;
  skipWs();
  return true;
}

/** After a value: returns 1 at the next key's value, 0 at the object's end, -1 on bad input. */
function nextKey(list: u32): i32 {
  const more = nextMember(0x7b);
  return more == 1 ? (readKey(list) ? 1 : -1) : more;
}

/** At '[': returns 1 at the first element, 0 for an empty array, -1 otherwise. */
@inline function arrayStart(): i32 {
  return opened(0x5b);
}

/** After an element: 1 at the next one, 0 at the array's end, -1 on bad input. */
@inline function nextElement(): i32 {
  return nextMember(0x5b);
}

/** A string value without escapes; false otherwise. */
@inline function plainString(): bool {
  return load<u8>(p) == 0x22 && scanString() && !sEscape;
}

/** An enum value of `list` at p, or -1. */
function enumValue(list: u32): i32 {
  if (!plainString()) return -1;
  return match(list, sStart, <u32>(sEnd - sStart));
}

function hasHighByte(a: usize, b: usize): bool {
  for (let q = a; q < b; q++) if (load<u8>(q) >= 0x80) return true;
  return false;
}

/** StrategyNameSchema: /^[a-z][a-z0-9_]*$/. */
function isStrategyName(a: usize, b: usize): bool {
  if (a == b) return false;
  let c = <u32>load<u8>(a);
  if (c - 0x61 >= 26) return false;
  for (let q = a + 1; q < b; q++) {
    c = load<u8>(q);
    if (!(c - 0x61 < 26 || c - 0x30 < 10 || c == 0x5f)) return false;
  }
  return true;
}

/** The id of the name [a, b), interned on first sight; -1 when the table is full. */
@inline function intern(a: usize, b: usize): i32 {
  const len = <u32>(b - a);
  return internFp(a, len, fp1(a, len), fp2(a, len));
}

/** intern() with the name's fingerprints already at hand. */
function internFp(a: usize, len: u32, f1: u64, f2: u64): i32 {
  let slot = hash(f1, f2, len, 16) & (NAME_SLOTS - 1);
  while (true) {
    const at = slotsPtr + (<usize>slot << 2);
    const v = load<u32>(at);
    if (v == 0) {
      if (nameCount >= MAX_NAMES || nameBytesUsed + len > NAME_BYTES_CAP) return -1;
      memory.copy(nameBytesPtr + nameBytesUsed, a, len);
      const e = nameEntriesPtr + <usize>nameCount * 24;
      store<u32>(e, nameBytesUsed);
      store<u32>(e + 4, len);
      store<u64>(e + 8, f1);
      store<u64>(e + 16, f2);
      nameBytesUsed += len;
      nameCount++;
      store<u32>(at, nameCount);
      return <i32>nameCount - 1;
    }
    const e = nameEntriesPtr + <usize>(v - 1) * 24;
    if (load<u64>(e + 8) == f1 && load<u64>(e + 16) == f2 && load<u32>(e + 4) == len) {
      if (len <= 16 || memory.compare(nameBytesPtr + load<u32>(e), a, len) == 0) return <i32>v - 1;
    }
    slot = (slot + 1) & (NAME_SLOTS - 1);
  }
}

/** A strategy name at p, interned; -1 on anything else. */
function strategyName(): i32 {
  if (load<u8>(p) != 0x22) return -1;
  if (shortString()) {
    const len = <u32>(sEnd - sStart);
    const all = (1 << len) - 1;
    // /^[a-z][a-z0-9_]*$/ checked on the vector's lanes.
    if (len == 0 || (vLower & 1) == 0 || (vName & all) != all) return -1;
    return internFp(sStart, len, vA, vB);
  }
  if (!scanString() || sEscape || !isStrategyName(sStart, sEnd)) return -1;
  return intern(sStart, sEnd);
}

@inline function tapeRoom(words: u32): bool {
  return tp + (<usize>words << 2) <= tapeEnd;
}

@inline function word(at: usize): u32 {
  return <u32>((at - tapePtr) >>> 2);
}

/**
 * A list written to the tape as [count, item...]: strategy name ids, or event type indices when
 * `ofEvents`. Returns its word index, or 0 on bad input.
 */
function tapeList(ofEvents: bool): u32 {
  const head = tp;
  if (!tapeRoom(1)) return 0;
  tp += 4;
  let n: u32 = 0;
  let more = arrayStart();
  while (more == 1) {
    const item = ofEvents ? event() : strategyName();
    if (item < 0 || !tapeRoom(1)) return 0;
    store<u32>(tp, <u32>item);
    tp += 4;
    n++;
    more = nextElement();
  }
  if (more < 0) return 0;
  store<u32>(head, n);
  return word(head);
}

/** SlotValueSchema: string, finite number, boolean, or an array of strings and finite numbers. */
function slotValue(): bool {
  const c = load<u8>(p);
  if (c == 0x22) return scanString();
  if (c == 0x74 || c == 0x66) return scanBool() >= 0;
  if (c == 0x5b) {
    let more = arrayStart();
    while (more == 1) {
      const d = load<u8>(p);
      if (d == 0x22) {
        if (!scanString()) return false;
      } else if (d == 0x2d || <u32>d - 0x30 < 10) {
        if (!scanNumber() || !numberFinite()) return false;
      } else {
        return false;
      }
      more = nextElement();
    }
    return more == 0;
  }
  if (c == 0x2d || <u32>c - 0x30 < 10) return scanNumber() && numberFinite();
  return false;
}

/** goal.slots: z.record(z.string(), SlotValueSchema). */
function slots(): bool {
  let more = opened(0x7b);
  while (more == 1) {
    // Any key is allowed but "__proto__".
    if (load<u8>(p) != 0x22 || !scanString()) return false;
    keyText();
    if (matchKey(L_OTHER) >= 0) return false;
    skipWs();
    if (load<u8>(p) != 0x3a) return false;
    p++;
    skipWs();
    if (!slotValue()) return false;
    more = nextMember(0x7b);
  }
  return more == 0;
}

/** The goal object; returns its type index or -1. */
function goal(): i32 {
  const outer = seen;
  seen = 0;
  let type: i32 = -1;
  let more = objectStart(L_GOAL);
  while (more == 1) {
    if (key == K_GOAL_TYPE) {
      type = enumValue(L_GOAL_TYPE);
      if (type < 0) return -1;
    } else if (key == K_SLOTS) {
      if (!slots()) return -1;
    } else if (!skipValue(2)) return -1;
    more = nextKey(L_GOAL);
  }
  seen = outer;
  return more == 0 ? type : -1;
}

/** One event: returns its type index or -1. */
function event(): i32 {
  const outer = seen;
  seen = 0;
  let type: i32 = -1;
  let more = objectStart(L_EVENT);
  while (more == 1) {
    if (key == K_EVENT_TYPE) {
      type = enumValue(L_EVENT_TYPE);
      if (type < 0) return -1;
    } else if (key == K_ITEM_ID || key == K_ORDER_ID) {
      if (load<u8>(p) != 0x22 || !scanString()) return -1;
    } else if (key == K_AMOUNT) {
      const c = load<u8>(p);
      if (!(c == 0x2d || <u32>c - 0x30 < 10) || !scanNumber() || !numberFinite()) return -1;
    } else if (!skipValue(4)) return -1;
    more = nextKey(L_EVENT);
  }
  seen = outer;
  return more == 0 ? type : -1;
}

/** A reference object into the turn at `t`; false on bad input. */
function reference(t: usize): bool {
  const outer = seen;
  seen = 0;
  let strategy: i32 = -1;
  let more = objectStart(L_REFERENCE);
  while (more == 1) {
    if (key == K_REF_STRATEGY) {
      strategy = strategyName();
      if (strategy < 0) return false;
    } else if (key == K_ACCEPTABLE) {
      const at = tapeList(false);
      if (at == 0) return false;
      store<u32>(t + 20, at);
    } else if (!skipValue(4)) return false;
    more = nextKey(L_REFERENCE);
  }
  seen = outer;
  if (more != 0 || strategy < 0) return false;
  store<u32>(t + 12, <u32>strategy);
  return true;
}

/** An array of strings at p (skipped); false on anything else. */
function stringList(): bool {
  let more = arrayStart();
  while (more == 1) {
    if (load<u8>(p) != 0x22 || !scanString()) return false;
    more = nextElement();
  }
  return more == 0;
}

/** One turn at p, written at tp; false on bad input. */
function turn(): bool {
  if (!tapeRoom(TURN_WORDS + 8)) return false;
  const t = tp;
  memory.fill(t, 0, <usize>TURN_WORDS << 2);
  tp += <usize>TURN_WORDS << 2;
  const outer = seen;
  seen = 0;
  let role: i32 = -1;
  let flags: u32 = 0;
  let more = objectStart(L_TURN);
  while (more == 1) {
    if (key == K_ROLE) {
      role = enumValue(L_ROLE);
      if (role < 0) return false;
    } else if (key == K_TEXT) {
      if (load<u8>(p) != 0x22 || !scanString()) return false;
    } else if (key == K_EVENTS) {
      const at = tapeList(true);
      if (at == 0) return false;
      store<u32>(t + 24, at);
    } else if (key == K_STRATEGY) {
      const id = strategyName();
      if (id < 0) return false;
      store<u32>(t + 4, <u32>id);
      flags |= F_STRATEGY;
    } else if (key == K_RANKING) {
      const at = tapeList(false);
      if (at == 0) return false;
      store<u32>(t + 16, at);
    } else if (key == K_REFERENCE) {
      if (!reference(t)) return false;
      flags |= F_REFERENCE;
    } else if (key == K_SOP) {
      const b = scanBool();
      if (b < 0) return false;
      flags |= F_SOP | (b == 1 ? F_SOP_TRUE : 0);
    } else if (key == K_SOP_STATE) {
      if (load<u8>(p) != 0x22 || !scanString()) return false;
    } else if (key == K_FACTS) {
      if (!stringList()) return false;
    } else if (key == K_DETECTED) {
      if (load<u8>(p) == 0x22) {
        if (!scanString() || sEscape) return false;
        if (hasHighByte(sStart, sEnd)) {
          flags |= DETECTED_UNMATCHABLE << DETECTED_SHIFT;
        } else {
          const id = intern(sStart, sEnd);
          if (id < 0) return false;
          store<u32>(t + 8, <u32>id);
          flags |= DETECTED_NAME << DETECTED_SHIFT;
        }
      } else {
        // The schema takes a string or null (no strategy detected); any other type falls back.
        if (!literal(NULL, 4)) return false;
        flags |= DETECTED_OTHER_TYPE << DETECTED_SHIFT;
      }
    } else if (!skipValue(3)) return false;
    more = nextKey(L_TURN);
  }
  const mine = seen;
  seen = outer;
  // role and text are required.
  if (more != 0 || role < 0 || (mine & (1 << <u32>K_TEXT)) == 0) return false;
  if (role == ROLE_AGENT) flags |= F_AGENT;
  store<u32>(t, flags);
  store<u32>(t + 28, word(tp));
  return true;
}

/** Stores the number just scanned at `at` (two words): its f64 bits (state 1) or its span (state 2). */
function storeNumber(at: usize): u32 {
  if (numberExact()) {
    const v = nNegative ? -(<f64>nMantissa) : <f64>nMantissa;
    store<f64>(at, v);
    return 1;
  }
  store<u32>(at, <u32>(nStart - inputPtr));
  store<u32>(at + 4, <u32>(nEnd - nStart));
  return 2;
}

@inline function atNumber(): bool {
  const c = load<u8>(p);
  return c == 0x2d || <u32>c - 0x30 < 10;
}

/** The outcome object into the session record at `r`; false on bad input. */
function outcome(r: usize): bool {
  const outer = seen;
  seen = 0;
  let status: i32 = -1;
  let bits: u32 = 0;
  let more = objectStart(L_OUTCOME);
  while (more == 1) {
    if (key == K_STATUS) {
      status = enumValue(L_STATUS);
      if (status < 0) return false;
    } else if (key == K_CONVERTED || key == K_RESOLVED || key == K_ESCALATED) {
      const b = scanBool();
      if (b < 0) return false;
      if (b == 1) bits |= key == K_CONVERTED ? 16 : key == K_RESOLVED ? 32 : 64;
    } else if (key == K_CSAT) {
      if (!atNumber() || !scanNumber()) return false;
      const state = storeNumber(r + 20);
      // Exact values are range-checked here, spans by the caller after Number().
      if (state == 1) {
        const v = load<f64>(r + 20);
        if (!(v >= 1 && v <= 5)) return false;
      }
      bits |= state << 8;
    } else if (key == K_ORDER_VALUE) {
      if (!atNumber() || !scanNumber()) return false;
      const state = storeNumber(r + 28);
      if (state == 1 && !(load<f64>(r + 28) >= 0)) return false;
      bits |= state << 10;
    } else if (!skipValue(2)) return false;
    more = nextKey(L_OUTCOME);
  }
  seen = outer;
  if (more != 0 || status < 0) return false;
  store<u32>(r + 12, bits | <u32>status);
  return true;
}

/** One session line's object at p, its record at `r` (after the line words); false on bad input. */
function session(r: usize): bool {
  seen = 0;
  tp = r + (<usize>(SESSION_WORDS - 3) << 2);
  let more = objectStart(L_SESSION);
  while (more == 1) {
    if (key == K_SESSION_ID) {
      if (load<u8>(p) != 0x22 || !scanString() || sEnd == sStart) return false;
      const flags: u32 = (hasHighByte(sStart, sEnd) ? 0x80000000 : 0) | (sEscape ? 0x40000000 : 0);
      store<u32>(r, <u32>(sStart - inputPtr));
      store<u32>(r + 4, <u32>(sEnd - sStart) | flags);
    } else if (key == K_DOMAIN) {
      if (load<u8>(p) != 0x22 || !scanString() || sEnd == sStart) return false;
    } else if (key == K_GOAL) {
      const type = goal();
      if (type < 0) return false;
      store<u32>(r + 8, <u32>type);
    } else if (key == K_TURNS) {
      let n: u32 = 0;
      let next = arrayStart();
      while (next == 1) {
        if (!turn()) return false;
        n++;
        next = nextElement();
      }
      if (next < 0) return false;
      store<u32>(r + 16, n);
    } else if (key == K_OUTCOME) {
      if (!outcome(r)) return false;
    } else if (!skipValue(1)) return false;
    more = nextKey(L_SESSION);
  }
  const required: u32 =
    (1 << <u32>K_SESSION_ID) | (1 << <u32>K_GOAL) | (1 << <u32>K_TURNS) | (1 << <u32>K_OUTCOME);
  if (more != 0 || (seen & required) != required) return false;
  // Only whitespace may follow the object on its line.
  skipWs();
  return load<u8>(p) == 0x0a;
}

/** A line that JavaScript's trim() leaves empty, checked on its ASCII whitespace. */
function blank(a: usize, b: usize): bool {
  for (let q = a; q < b; q++) {
    const c = load<u8>(q);
    if (!(c == 0x20 || (c >= 0x09 && c <= 0x0d))) return false;
  }
  return true;
}

let lines: u32 = 0;

/** The next \n at or after `q` (the input ends with a \n sentinel). */
function newline(q: usize): usize {
  const nl = i8x16.splat(0x0a);
  while (true) {
    const bits = i8x16.bitmask(i8x16.eq(v128.load(q), nl));
    if (bits != 0) return q + <usize>ctz<u32>(bits);
    q += 16;
  }
}

/**
 * Scans the lines in input bytes [start, end) (end is a line's end: a \n or the end of the input,
 * where JavaScript has put a \n sentinel). Writes one record per line from the tape's start and
 * returns where it stopped: `end`, or a line start when the tape ran short.
 */
export function scan(start: u32, end: u32): u32 {
  let q = inputPtr + start;
  const stop = inputPtr + end;
  let at = tapePtr;
  lines = 0;
  while (q < stop) {
    if (at + (<usize>LINE_RESERVE << 2) > tapeEnd) break;
    let kind: u32 = 1;
    let lineEnd: usize = 0;
    p = q;
    skipWs();
    if (load<u8>(p) == 0x7b && session(at + 12)) {
      lineEnd = p;
    } else {
      kind = 2;
      // From the line's start, not from where the parser gave up: on a line cut short the parser may
      // have read past the \n sentinel, and a search from there would run on through memory.
      lineEnd = newline(q);
      if (lineEnd > stop) lineEnd = stop;
    }
    let textEnd = lineEnd;
    if (textEnd > q && load<u8>(textEnd - 1) == 0x0d) textEnd--;
    if (kind == 2 && blank(q, textEnd)) kind = 0;
    store<u32>(at, kind);
    store<u32>(at + 4, <u32>(q - inputPtr));
    store<u32>(at + 8, <u32>(textEnd - inputPtr));
    at = kind == 1 ? tp : at + 12;
    lines++;
    q = lineEnd + 1;
  }
  if (q > stop) q = stop;
  return <u32>(q - inputPtr);
}

/** Lines (records) written by the last scan. */
export function scannedLines(): u32 {
  return lines;
}
