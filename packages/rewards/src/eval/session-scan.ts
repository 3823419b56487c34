import { decodeLines } from '@gopo/core';
import { EVENT_TYPES, GOAL_TYPES, OUTCOME_STATUSES, type Session } from '@gopo/dialogue';
import { SESSION_SCAN_WASM_BASE64 } from './session-scan-wasm.js';

/*
 * JavaScript side of the WebAssembly session scanner (assembly/session-scan.ts, which documents the
 * tape). The scanner checks each JSONL line and writes what the metrics read; this file turns tape
 * records into skeleton sessions: sessions with the fields the registered metrics read (texts are
 * '', goal slots {}, unknown fields dropped except detected_strategy). Lines the scanner does not
 * vouch for come back as "fallback" and go through JSON.parse and the schema.
 */

/** Key lists, in the order of the scanner's K_* constants; session-scan.test.ts ties them to the schema. */
export const SCANNED_KEYS = {
  session: ['session_id', 'domain', 'goal', 'turns', 'outcome'],
  goal: ['type', 'slots'],
  turn: [
    'role',
    'text',
    'events',
    'strategy',
    'ranking',
    'reference',
    'sop_violation',
    'detected_strategy',
    'sop_state',
    'facts',
  ],
  event: ['type', 'item_id', 'order_id', 'amount'],
  reference: ['strategy', 'acceptable'],
  outcome: ['status', 'converted', 'resolved', 'csat', 'escalated', 'order_value'],
} as const;

const ROLES = ['user', 'agent'] as const;

// The scanner's list ids (L_* in assembly/session-scan.ts), in order.
const WORD_LISTS: readonly (readonly string[])[] = [
  SCANNED_KEYS.session,
  SCANNED_KEYS.goal,
  SCANNED_KEYS.turn,
  SCANNED_KEYS.event,
  SCANNED_KEYS.reference,
  SCANNED_KEYS.outcome,
  GOAL_TYPES,
  EVENT_TYPES,
  OUTCOME_STATUSES,
  ROLES,
  ['__proto__'],
];

export const LINE_BLANK = 0;
export const LINE_SESSION = 1;
export const LINE_FALLBACK = 2;

const SESSION_WORDS = 13;
const F_AGENT = 1;
const F_STRATEGY = 2;
const F_REFERENCE = 4;
const F_SOP = 8;
const F_SOP_TRUE = 16;
const DETECTED_NAME = 1;
const DETECTED_OTHER_TYPE = 2;
const DETECTED_UNMATCHABLE = 3;
// A detected_strategy no strategy name can equal (the scanner does not decode non-ASCII strings).
const UNMATCHABLE = '\uFFFD';

interface ScanExports {
  readonly memory: { readonly buffer: ArrayBuffer };
  setup(): number;
  reserveInput(bytes: number): number;
  tapeStart(): number;
  names(): number;
  nameEntries(): number;
  nameBytes(): number;
  defineWord(list: number, ptr: number, len: number): void;
  scan(start: number, end: number): number;
  scannedLines(): number;
}

// The lib this project compiles against (ES2023 + @types/node 20) has no WebAssembly types; this
// is the part of the API used here.
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;

function scanModule(): object {
  compiled ??= new wasmApi.Module(Buffer.from(SESSION_SCAN_WASM_BASE64, 'base64'));
  return compiled;
}

const EVENTS = EVENT_TYPES.map((type) => Object.freeze({ type }));
const NO_EVENTS: never[] = Object.freeze([]) as unknown as never[];
const NO_SLOTS = Object.freeze({}) as Record<string, never>;

/**
 * One scanner instance: its own memory, name table and input area. State is per instance, so two
 * files scored concurrently need two scanners.
 */
export class SessionScanner {
  private readonly wasm: ScanExports;
  private inputPtr: number;
  private inputCap = 0;
  private readonly tapePtr: number;
  /** Interned names by id. */
  private readonly names: string[] = [];
  /** The input area (valid until the next reserve). */
  input!: Buffer;
  /** The tape (valid until the next reserve). */
  tape!: Uint32Array;
  private f64 = new Float64Array(1);
  private u32 = new Uint32Array(this.f64.buffer);

  constructor() {
    this.wasm = new wasmApi.Instance(scanModule(), {}).exports as unknown as ScanExports;
    this.inputPtr = this.wasm.setup();
    this.tapePtr = this.wasm.tapeStart();
    this.reserve(4096);
    WORD_LISTS.forEach((words, list) => {
      for (const w of words) {
        const n = this.input.write(w, 0, 'latin1');
        this.wasm.defineWord(list, this.inputPtr, n);
      }
    });
  }

  /** The scanner's whole memory (tests fill what lies past the input). */
  memoryBuffer(): ArrayBuffer {
    return this.wasm.memory.buffer;
  }

  /** Makes the input area hold at least `bytes` (keeping its contents); returns it. */
  reserve(bytes: number): Buffer {
    if (bytes > this.inputCap || !this.input) {
      this.inputPtr = this.wasm.reserveInput(bytes);
      this.inputCap = Math.max(bytes, this.inputCap);
    }
    const buffer = this.wasm.memory.buffer;
    if (this.input?.buffer !== buffer || this.input.length < this.inputCap) {
      this.input = Buffer.from(buffer, this.inputPtr, this.inputCap + 16);
      this.tape = new Uint32Array(buffer, this.tapePtr, (this.inputPtr - this.tapePtr) >>> 2);
    }
    return this.input;
  }

  /**
   * Scans the input's lines in [start, end), where `end` is a line's end (a \n or the input's end);
   * returns where it stopped (`end`, or a line start when the tape filled: call again from there)
   * and how many line records the tape holds.
   */
  scan(start: number, end: number): { stop: number; lines: number } {
    // The scanner stops at a \n; one after the region keeps it inside. The byte there may be the
    // start of the next, incomplete line: it is put back.
    const saved = this.input[end]!;
    this.input[end] = 10;
    const stop = this.wasm.scan(start, end);
    this.input[end] = saved;
    const n = this.wasm.names();
    if (n > this.names.length) {
      const mem = Buffer.from(this.wasm.memory.buffer);
      // Entries of 6 words: byte offset, length, fingerprints.
      const entries = new Uint32Array(this.wasm.memory.buffer, this.wasm.nameEntries(), n * 6);
      const base = this.wasm.nameBytes();
      for (let id = this.names.length; id < n; id++) {
        const at = base + entries[6 * id]!;
        this.names.push(mem.toString('latin1', at, at + entries[6 * id + 1]!));
      }
    }
    return { stop, lines: this.wasm.scannedLines() };
  }

  /**
   * The text of input bytes [start, end), decoded as the JSON path decodes a line (the reader has
   * checked the region is UTF-8 before scanning it).
   */
  text(start: number, end: number): string {
    const bytes = this.input.subarray(start, end);
    return decodeLines(bytes) ?? bytes.toString('utf8');
  }

  /** A number written by the scanner at tape word `at` in state 1 (f64 bits) or 2 (span). */
  private number(at: number, state: number): number {
    if (state === 1) {
      this.u32[0] = this.tape[at]!;
      this.u32[1] = this.tape[at + 1]!;
      return this.f64[0]!;
    }
    const start = this.tape[at]!;
    return Number(this.input.toString('latin1', start, start + this.tape[at + 1]!));
  }

  /**
   * The skeleton session of the session record at tape word `at`, or null when a number the
   * scanner left to JavaScript is out of the schema's range (the line then takes the JSON path).
   * Its session_id is '' unless `withId` (no metric reads it).
   */
  session(at: number, withId: boolean): Session | null {
    const tape = this.tape;
    const names = this.names;
    const bits = tape[at + 6]!;
    const csatState = (bits >>> 8) & 3;
    const valueState = (bits >>> 10) & 3;
    const csat = csatState === 0 ? undefined : this.number(at + 8, csatState);
    const orderValue = valueState === 0 ? 0 : this.number(at + 10, valueState);
    if (csat !== undefined && csatState === 2 && !(csat >= 1 && csat <= 5)) return null;
    if (valueState === 2 && !(Number.isFinite(orderValue) && orderValue >= 0)) return null;
    const nTurns = tape[at + 7]!;
    const turns: Session['turns'] = new Array(nTurns);
    let t = at + SESSION_WORDS;
    for (let i = 0; i < nTurns; i++) {
      const flags = tape[t]!;
      const eventsAt = tape[t + 6]!;
      let events: Session['turns'][number]['events'] = NO_EVENTS;
      if (eventsAt !== 0) {
        const n = tape[eventsAt]!;
        if (n > 0) {
          events = new Array(n);
          for (let k = 0; k < n; k++) events[k] = EVENTS[tape[eventsAt + 1 + k]!]!;
        }
      }
      if ((flags & F_AGENT) === 0) {
        turns[i] = { role: 'user', text: '', events };
      } else {
        const detectedKind = (flags >>> 5) & 3;
        turns[i] = {
          role: 'agent',
          text: '',
          events,
          strategy: flags & F_STRATEGY ? names[tape[t + 1]!] : undefined,
          ranking: tape[t + 4] !== 0 ? this.nameList(tape[t + 4]!) : undefined,
          reference:
            flags & F_REFERENCE
              ? {
                  strategy: names[tape[t + 3]!]!,
                  acceptable: tape[t + 5] !== 0 ? this.nameList(tape[t + 5]!) : [],
                }
              : undefined,
          sop_violation: flags & F_SOP ? (flags & F_SOP_TRUE) !== 0 : undefined,
          detected_strategy:
            detectedKind === DETECTED_NAME
              ? names[tape[t + 2]!]
              : detectedKind === DETECTED_OTHER_TYPE
                ? null
                : detectedKind === DETECTED_UNMATCHABLE
                  ? UNMATCHABLE
                  : undefined,
        };
      }
      t = tape[t + 7]!;
    }
    return {
      session_id: withId ? this.sessionId(at) : '',
      domain: 'shop',
      goal: { type: GOAL_TYPES[tape[at + 5]!]!, slots: NO_SLOTS },
      turns,
      outcome: {
        status: OUTCOME_STATUSES[bits & 15]!,
        converted: (bits & 16) !== 0,
        resolved: (bits & 32) !== 0,
        escalated: (bits & 64) !== 0,
        csat,
        order_value: orderValue,
      },
    };
  }

  /** The session_id of the session record at `at`. */
  private sessionId(at: number): string {
    const idStart = this.tape[at + 3]!;
    const idWord = this.tape[at + 4]!;
    const idEnd = idStart + (idWord & 0x3fffffff);
    const encoding = idWord >>> 31 ? 'utf8' : 'latin1';
    // An id with escapes is decoded by JSON.parse itself, quotes included.
    return idWord & 0x40000000
      ? (JSON.parse(this.input.toString(encoding, idStart - 1, idEnd + 1)) as string)
      : this.input.toString(encoding, idStart, idEnd);
  }

  /** The end (tape word) of the session record at `at`. */
  sessionEnd(at: number): number {
    const nTurns = this.tape[at + 7]!;
    let t = at + SESSION_WORDS;
    for (let i = 0; i < nTurns; i++) t = this.tape[t + 7]!;
    return t;
  }

  private nameList(at: number): string[] {
    const n = this.tape[at]!;
    const out = new Array<string>(n);
    for (let k = 0; k < n; k++) out[k] = this.names[this.tape[at + 1 + k]!]!;
    return out;
  }
}
