import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, MissingFileError, parseConfigText, validateConfig } from '@gopo/core';
import { z } from 'zod';
import { type DialogueEvent, EVENT_TYPES, type Session } from './log-schema.js';
import { StrategyNameSchema, StrategySetSchema } from './strategies.js';

const FlagNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'flag names are lower_snake_case')
  .describe('a dialogue-state flag');
const FlagAssignmentSchema = z
  .record(FlagNameSchema, z.boolean())
  .describe('flag -> required (guard) or new (update) value');

export const SopStateSpecSchema = z.strictObject({
  name: z.string().min(1).describe('state name'),
  when: FlagAssignmentSchema.default({}).describe('guard: every listed flag must have the listed value'),
  admissible: z.array(StrategyNameSchema).min(1).describe('strategies admissible in this state'),
  description: z.string().optional().describe('what the state means'),
});

const EventNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]*$/, 'event names are lower_snake_case')
  .describe('an event type');

export const SopEventRuleSchema = z.strictObject({
  event: EventNameSchema.describe(
    "event type that triggers the update: a log event type or one declared in the SOP's `events`",
  ),
  requires: z.enum(['item_id', 'order_id']).optional().describe('only when the event carries this field'),
  set: FlagAssignmentSchema.describe('flags set (true) or cleared (false) by the event'),
});

export const SopStrategyRuleSchema = z.strictObject({
  strategy: z
    .union([StrategyNameSchema, z.literal('*')])
    .describe('strategy that triggers the update, or "*" for any agent turn'),
  set: FlagAssignmentSchema.describe('flags set (true) or cleared (false) when the agent uses the strategy'),
});

const MAX_FLAGS = 16;

/** A declarative SOP (YAML/JSON): flags, ordered guarded states with admissible strategies, update rules. */
export const SopSpecSchema = z
  .strictObject({
    name: z.string().min(1).describe('name of the SOP'),
    strategy_set: StrategySetSchema.describe('the strategy set the SOP constrains'),
    flags: z
      .array(FlagNameSchema)
      .min(1)
      .max(MAX_FLAGS)
      .describe('dialogue-state flags, all false at the start'),
    initial: FlagAssignmentSchema.default({}).describe('flags that start true'),
    events: z
      .array(EventNameSchema)
      .default([])
      .describe(
        "event types beyond the log schema's that on_event rules may name (environments such as tau-bench emit their own)",
      ),
    states: z
      .array(SopStateSpecSchema)
      .min(1)
      .describe('states, tried in order; the first matching guard wins'),
    on_event: z.array(SopEventRuleSchema).default([]).describe('flag updates caused by logged events'),
    on_strategy: z
      .array(SopStrategyRuleSchema)
      .default([])
      .describe('flag updates caused by agent strategies'),
  })
  .superRefine((spec, ctx) => {
    const flags = new Set<string>();
    spec.flags.forEach((f, i) => {
      if (flags.has(f))
        ctx.addIssue({ code: 'custom', path: ['flags', i], message: `duplicate flag "${f}"` });
      flags.add(f);
    });
    const strategies = new Set(spec.strategy_set.strategies);
    const checkFlags = (assign: Record<string, boolean>, path: (string | number)[]) => {
      for (const f of Object.keys(assign))
        if (!flags.has(f))
          ctx.addIssue({
            code: 'custom',
            path: [...path, f],
            message: `unknown flag "${f}" (flags: ${spec.flags.join(', ')})`,
          });
    };
    checkFlags(spec.initial, ['initial']);
    const names = new Set<string>();
    spec.states.forEach((s, i) => {
      if (names.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['states', i, 'name'], message: `duplicate state "${s.name}"` });
      names.add(s.name);
      checkFlags(s.when, ['states', i, 'when']);
      s.admissible.forEach((a, j) => {
        if (!strategies.has(a))
          ctx.addIssue({
            code: 'custom',
            path: ['states', i, 'admissible', j],
            message: `strategy "${a}" is not in the strategy set`,
          });
      });
    });
    const events = new Set<string>([...EVENT_TYPES, ...spec.events]);
    spec.on_event.forEach((r, i) => {
      checkFlags(r.set, ['on_event', i, 'set']);
      if (!events.has(r.event))
        ctx.addIssue({
          code: 'custom',
          path: ['on_event', i, 'event'],
          message: `unknown event "${r.event}" (declare it under events, or use a log event type)`,
        });
    });
    spec.on_strategy.forEach((r, i) => {
      checkFlags(r.set, ['on_strategy', i, 'set']);
      if (r.strategy !== '*' && !strategies.has(r.strategy))
        ctx.addIssue({
          code: 'custom',
          path: ['on_strategy', i, 'strategy'],
          message: `strategy "${r.strategy}" is not in the strategy set`,
        });
    });
    if (ctx.issues?.length) return;
    // Completeness and reachability over every flag combination (at most 2^16).
    const table = stateTable(spec);
    const missing = table.findIndex((s) => s < 0);
    if (missing >= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['states'],
        message: `no state matches flags {${describeMask(spec.flags, missing)}}; add a catch-all state`,
      });
    const reached = new Set(table);
    spec.states.forEach((s, i) => {
      if (!reached.has(i))
        ctx.addIssue({
          code: 'custom',
          path: ['states', i],
          message: `state "${s.name}" is unreachable: earlier states match every case it guards`,
        });
    });
  });
export type SopSpec = z.infer<typeof SopSpecSchema>;

function describeMask(flags: readonly string[], mask: number): string {
  return flags.map((f, i) => `${f}: ${(mask >> i) & 1 ? 'true' : 'false'}`).join(', ');
}

function guardBits(flags: readonly string[], when: Record<string, boolean>): [care: number, value: number] {
  let care = 0;
  let value = 0;
  for (const [f, v] of Object.entries(when)) {
    const bit = 1 << flags.indexOf(f);
    care |= bit;
    if (v) value |= bit;
  }
  return [care, value];
}

function stateTable(spec: Pick<SopSpec, 'flags' | 'states'>): Int32Array {
  const guards = spec.states.map((s) => guardBits(spec.flags, s.when));
  const table = new Int32Array(1 << spec.flags.length).fill(-1);
  for (let mask = 0; mask < table.length; mask++)
    table[mask] = guards.findIndex(([care, value]) => (mask & care) === value);
  return table;
}

/** What one or more update rules do to the flag mask: clear these bits, then set those. */
interface FlagUpdate {
  readonly set: number;
  readonly clear: number;
}
const NO_UPDATE: FlagUpdate = { set: 0, clear: 0 };
const applyUpdate = (mask: number, u: FlagUpdate) => (mask & ~u.clear) | u.set;
/** `a` then `b` as one update. */
const chain = (a: FlagUpdate, b: FlagUpdate): FlagUpdate => ({
  set: (a.set & ~b.clear) | b.set,
  clear: (a.clear & ~b.set) | b.clear,
});

/** Dialogue-state flags as named booleans. */
export type SopFlags = Readonly<Record<string, boolean>>;

/** One agent turn replayed against an SOP. */
export interface SopTurnCheck {
  /** Index of the agent turn in `session.turns`. */
  readonly turn: number;
  readonly state: string;
  readonly admissible: readonly string[];
  readonly strategy: string | undefined;
  /** The turn's strategy was not admissible (turns without a strategy are never violations). */
  readonly violation: boolean;
}

/**
 * A compiled SOP. Flags are held as a bit mask (bit i = flags[i]); the state of every mask is
 * precomputed, so `admissible` is a table lookup.
 */
export class Sop {
  readonly flags: readonly string[];
  readonly strategies: readonly string[];
  readonly stateNames: readonly string[];
  readonly initialMask: number;
  private readonly table: Int32Array;
  private readonly admissibleByState: readonly (readonly string[])[];
  private readonly maskByState: readonly (readonly boolean[])[];
  private readonly admissibleSetByState: readonly ReadonlySet<string>[];
  private readonly eventRules: readonly {
    event: string;
    requires?: 'item_id' | 'order_id';
    update: FlagUpdate;
  }[];
  private readonly strategyUpdates: ReadonlyMap<string, FlagUpdate>;
  private readonly anyStrategyUpdate: FlagUpdate;

  constructor(readonly spec: SopSpec) {
    this.flags = spec.flags;
    this.strategies = spec.strategy_set.strategies;
    this.stateNames = spec.states.map((s) => s.name);
    this.table = stateTable(spec);
    this.admissibleByState = spec.states.map((s) => this.strategies.filter((a) => s.admissible.includes(a)));
    this.admissibleSetByState = this.admissibleByState.map((a) => new Set(a));
    this.maskByState = spec.states.map((s) => this.strategies.map((a) => s.admissible.includes(a)));
    this.initialMask = this.bits(spec.initial);
    this.eventRules = spec.on_event.map((r) => ({
      event: r.event,
      requires: r.requires,
      update: this.update(r.set),
    }));
    const sb = new Map<string, FlagUpdate>();
    let any: FlagUpdate = NO_UPDATE;
    for (const r of spec.on_strategy) {
      if (r.strategy === '*') any = chain(any, this.update(r.set));
      else sb.set(r.strategy, chain(sb.get(r.strategy) ?? NO_UPDATE, this.update(r.set)));
    }
    this.strategyUpdates = sb;
    this.anyStrategyUpdate = any;
  }

  private update(assign: SopFlags): FlagUpdate {
    const cleared = Object.fromEntries(Object.entries(assign).map(([f, v]) => [f, !v]));
    return { set: this.bits(assign), clear: this.bits(cleared) };
  }

  /** Mask with the assignment's true flags set. */
  bits(assign: SopFlags): number {
    let m = 0;
    for (const [f, v] of Object.entries(assign)) {
      const i = this.flags.indexOf(f);
      if (i < 0) throw new RangeError(`unknown SOP flag "${f}"`);
      if (v) m |= 1 << i;
    }
    return m;
  }

  toFlags(mask: number): Record<string, boolean> {
    return Object.fromEntries(this.flags.map((f, i) => [f, ((mask >> i) & 1) === 1]));
  }

  private maskOf(state: number | SopFlags): number {
    return typeof state === 'number' ? state : this.bits(state);
  }

  stateIndex(state: number | SopFlags): number {
    return this.table[this.maskOf(state)]!;
  }

  stateName(state: number | SopFlags): string {
    return this.stateNames[this.stateIndex(state)]!;
  }

  /** Admissible strategies in the state reached by these flags, in strategy-set order. */
  admissible(state: number | SopFlags): readonly string[] {
    return this.admissibleByState[this.stateIndex(state)]!;
  }

  /** Admissibility as a boolean mask over the strategy set (what a policy head masks with). */
  admissibleMask(state: number | SopFlags): readonly boolean[] {
    return this.maskByState[this.stateIndex(state)]!;
  }

  isAdmissible(state: number | SopFlags, strategy: string): boolean {
    return this.admissibleSetByState[this.stateIndex(state)]!.has(strategy);
  }

  /** Flags after an event: the matching rules apply in file order. */
  applyEvent(
    mask: number,
    event: Pick<DialogueEvent, 'item_id' | 'order_id'> & { readonly type: string },
  ): number {
    for (const r of this.eventRules) {
      if (r.event !== event.type) continue;
      if (r.requires && event[r.requires] === undefined) continue;
      mask = applyUpdate(mask, r.update);
    }
    return mask;
  }

  /** Flags after the agent used `strategy` on a turn ("*" rules first, then the strategy's own). */
  applyStrategy(mask: number, strategy: string | undefined): number {
    mask = applyUpdate(mask, this.anyStrategyUpdate);
    if (strategy !== undefined) mask = applyUpdate(mask, this.strategyUpdates.get(strategy) ?? NO_UPDATE);
    return mask;
  }

  /**
   * Replays a logged session: before each agent turn the state comes from the events and strategies
   * so far; the turn's strategy is checked, then its own strategy and events update the flags.
   */
  replay(session: Pick<Session, 'turns'>): SopTurnCheck[] {
    let mask = this.initialMask;
    const out: SopTurnCheck[] = [];
    session.turns.forEach((turn, i) => {
      if (turn.role === 'agent') {
        const state = this.stateIndex(mask);
        const strategy = turn.strategy;
        out.push({
          turn: i,
          state: this.stateNames[state]!,
          admissible: this.admissibleByState[state]!,
          strategy,
          violation: strategy !== undefined && !this.admissibleSetByState[state]!.has(strategy),
        });
        mask = this.applyStrategy(mask, strategy);
      }
      for (const e of turn.events) mask = this.applyEvent(mask, e);
    });
    return out;
  }

  countViolations(session: Pick<Session, 'turns'>): number {
    return this.replay(session).filter((c) => c.violation).length;
  }
}

/** Validates and compiles an SOP object; `source` names it in errors. */
export function compileSop(raw: unknown, source = '(sop)', text?: string): Sop {
  return new Sop(validateConfig(SopSpecSchema, raw, source, text));
}

/** Loads an SOP from a YAML or JSON file; errors name file, line and field. */
export async function loadSop(file: string): Promise<Sop> {
  return new Sop(await loadConfig(file, SopSpecSchema));
}

/** Parses SOP text (YAML or JSON, by `file`'s extension). */
export function parseSopText(text: string, file = 'sop.yaml'): Sop {
  return compileSop(parseConfigText(text, file), file, text);
}

/** Path of the default shop SOP shipped with this package. */
export const SHOP_SOP_FILE = fileURLToPath(new URL('../sop/shop.sop.yaml', import.meta.url));

/** Loads an SOP file synchronously (for defaults shipped beside a package); errors name file, line and field. */
export function loadSopSync(file: string, what = 'SOP'): Sop {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new MissingFileError(file, what);
  }
  return parseSopText(text, file);
}

let shopSop: Sop | undefined;
/** The default shop SOP (sop/shop.sop.yaml), loaded once. */
export function shopSopDefault(): Sop {
  shopSop ??= loadSopSync(SHOP_SOP_FILE, 'default shop SOP');
  return shopSop;
}
