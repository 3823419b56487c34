import { createRequire } from 'node:module';
import { ConfigError } from '@gopo/core';
import type { Session } from '@gopo/dialogue';
import type { MathJsInstance, MathNode } from 'mathjs';
import { parseArithmetic } from './arithmetic.js';
import type { GreConfig } from './config.js';

// mathjs is loaded on first use: loading and instantiating it takes about a second, and plain
// arithmetic (the default expression among them) never needs it.
let mathInstance: MathJsInstance | null = null;
function math(): MathJsInstance {
  if (!mathInstance) {
    const { all, create } = createRequire(import.meta.url)('mathjs') as typeof import('mathjs');
    mathInstance = create(all!, {});
  }
  return mathInstance;
}

/**
 * The variables a business-reward expression may use, all numbers (booleans are 0/1), with what
 * each one means. `turns` counts USER turns, the same unit as TSE's t_m.
 */
export const BUSINESS_VARIABLES = {
  success: 'outcome.status == "success" (0/1)',
  partial: 'outcome.status == "partial" (0/1)',
  failure: 'outcome.status == "failure" (0/1)',
  abandoned: 'outcome.status == "abandoned" (0/1)',
  escalated: 'outcome.escalated, or outcome.status == "escalated" (0/1)',
  converted: 'outcome.converted (0/1)',
  resolved: 'outcome.resolved (0/1)',
  csat: 'outcome.csat (1-5), 0 when absent',
  has_csat: 'outcome.csat is present (0/1)',
  order_value: 'outcome.order_value (0 when absent)',
  turns: 'number of user turns',
  user_turns: 'number of user turns (same as turns)',
  agent_turns: 'number of agent turns',
  total_turns: 'number of turns of either role',
  sop_violations: 'number of agent turns with sop_violation: true',
  user_left: 'a user_left event occurred (0/1)',
  handoff: 'a handoff event occurred (0/1)',
} as const;
export type BusinessVariable = keyof typeof BUSINESS_VARIABLES;
export const BUSINESS_VARIABLE_NAMES = Object.keys(BUSINESS_VARIABLES) as BusinessVariable[];

export type BusinessScope = Record<BusinessVariable, number>;

const CONSTANTS = new Set(['pi', 'e', 'tau', 'phi', 'true', 'false', 'Infinity']);

/**
 * The mathjs functions a business-reward expression may call. mathjs also has functions that import
 * code, define units, parse and evaluate strings or change its configuration; an expression from a
 * config file is data, so only these pure numeric ones are allowed.
 */
export const BUSINESS_FUNCTIONS = [
  'abs',
  'cbrt',
  'ceil',
  'exp',
  'floor',
  'log',
  'log10',
  'log2',
  'max',
  'min',
  'mod',
  'pow',
  'round',
  'sign',
  'sqrt',
] as const;
const FUNCTIONS: ReadonlySet<string> = new Set(BUSINESS_FUNCTIONS);

// mathjs's names of the operators (+, -, *, /, ^, %, and, or, xor, not, comparisons) allowed.
const OPERATORS: ReadonlySet<string> = new Set([
  'add',
  'subtract',
  'multiply',
  'divide',
  'unaryMinus',
  'unaryPlus',
  'pow',
  'mod',
  'and',
  'or',
  'xor',
  'not',
  'equal',
  'unequal',
  'smaller',
  'larger',
  'smallerEq',
  'largerEq',
]);

// Expression parts allowed: numbers, variables, operators, parentheses, calls, `a ? b : c`, chained
// comparisons. Not: property access, indexing, arrays, objects, ranges, blocks, assignments.
const NODE_TYPES: ReadonlySet<string> = new Set([
  'ConstantNode',
  'SymbolNode',
  'OperatorNode',
  'ParenthesisNode',
  'FunctionNode',
  'ConditionalNode',
  'RelationalNode',
]);

export interface CompiledBusinessReward {
  readonly expression: string;
  readonly clip: readonly [number, number] | null;
  /** Variables the expression reads (for documentation and reports). */
  readonly variables: readonly BusinessVariable[];
  /** The expression is plain arithmetic, evaluated by a JS closure rather than by mathjs. */
  readonly native: boolean;
  /** R_goal for a scope (clipped). */
  evaluate(scope: BusinessScope): number;
}

/**
 * Parses and checks a business-reward expression once per run. Unknown variables, assignments and
 * non-numeric results fail here with a ConfigError naming the offending piece, never per session.
 */
export function compileBusinessReward(config: GreConfig, source = '(config)'): CompiledBusinessReward {
  const plain = parseArithmetic(config.expression, BUSINESS_VARIABLES);
  if (plain) return finish(config, source, plain.evaluate, null, plain.used);
  const where = { file: source, path: ['gre', 'expression'] as const };
  let node: MathNode;
  try {
    node = math().parse(config.expression);
  } catch (e) {
    throw new ConfigError(
      where,
      `cannot parse business reward "${config.expression}": ${(e as Error).message}`,
    );
  }
  const used = new Set<BusinessVariable>();
  const expr = config.expression;
  node.traverse((n, path, parent) => {
    if (n.type === 'AssignmentNode' || n.type === 'FunctionAssignmentNode')
      throw new ConfigError(where, 'the business reward may not assign variables or define functions');
    if (!NODE_TYPES.has(n.type))
      throw new ConfigError(
        where,
        `${n.type.replace(/Node$/, '').toLowerCase()} expressions are not allowed in business reward "${expr}"`,
      );
    const fields = n as unknown as { name?: string; fn?: unknown; value?: unknown };
    if (n.type === 'ConstantNode' && typeof fields.value !== 'number' && typeof fields.value !== 'boolean')
      throw new ConfigError(where, `only numbers are allowed as constants in business reward "${expr}"`);
    if (n.type === 'OperatorNode' && !OPERATORS.has(String(fields.fn)))
      throw new ConfigError(
        where,
        `operator "${String(fields.fn)}" is not allowed in business reward "${expr}"`,
      );
    if (n.type === 'FunctionNode' && (fields.fn as MathNode).type !== 'SymbolNode')
      throw new ConfigError(where, `only named functions may be called in business reward "${expr}"`);
    if (n.type !== 'SymbolNode') return;
    const name = fields.name!;
    if (parent?.type === 'FunctionNode' && path === 'fn') {
      if (!FUNCTIONS.has(name))
        throw new ConfigError(
          where,
          `function "${name}" is not allowed in business reward "${expr}"; allowed: ${BUSINESS_FUNCTIONS.join(', ')}`,
        );
      return;
    }
    if (Object.hasOwn(BUSINESS_VARIABLES, name)) used.add(name as BusinessVariable);
    else if (!CONSTANTS.has(name))
      throw new ConfigError(
        where,
        `unknown variable "${name}" in business reward "${expr}"; valid: ${BUSINESS_VARIABLE_NAMES.join(', ')}`,
      );
  });
  const native = nativeArithmetic(node);
  return finish(config, source, native, native ? null : node.compile(), used);
}

/** The compiled reward around a closure (or mathjs's compiled code), checked on an all-zero scope. */
function finish(
  config: GreConfig,
  source: string,
  native: NativeFn | null,
  code: { evaluate(scope: object): unknown } | null,
  used: ReadonlySet<BusinessVariable>,
): CompiledBusinessReward {
  const where = { file: source, path: ['gre', 'expression'] as const };
  const clip = config.clip;
  const evaluate = (scope: BusinessScope): number => {
    const raw = native ? native(scope) : code!.evaluate(scope);
    const v = typeof raw === 'boolean' ? Number(raw) : raw;
    if (typeof v !== 'number' || Number.isNaN(v))
      throw new ConfigError(
        where,
        `business reward "${config.expression}" must evaluate to a number, got ${String(raw)}`,
      );
    return clip ? Math.min(clip[1], Math.max(clip[0], v)) : v;
  };
  // A trial run on an all-zero scope catches expressions that never yield a number (matrices, units).
  evaluate(Object.fromEntries(BUSINESS_VARIABLE_NAMES.map((k) => [k, 0])) as BusinessScope);
  return { expression: config.expression, clip, variables: [...used], native: native !== null, evaluate };
}

type NativeFn = (scope: BusinessScope) => number;

// mathjs's number implementations of these are the plain IEEE operators, so a closure tree gives the
// same doubles several times faster than mathjs's evaluator (which wraps the scope and dispatches on
// types per call). Anything else (comparisons use mathjs's epsilon, functions, constants) stays on
// mathjs.
const BINARY: Readonly<Record<string, (a: NativeFn, b: NativeFn) => NativeFn>> = {
  add: (a, b) => (s) => a(s) + b(s),
  subtract: (a, b) => (s) => a(s) - b(s),
  multiply: (a, b) => (s) => a(s) * b(s),
  divide: (a, b) => (s) => a(s) / b(s),
};
const UNARY: Readonly<Record<string, (a: NativeFn) => NativeFn>> = {
  unaryMinus: (a) => (s) => -a(s),
  unaryPlus: (a) => a,
};

/** The expression as a closure when it is plain arithmetic on numbers and business variables. */
function nativeArithmetic(node: MathNode): NativeFn | null {
  const n = node as unknown as {
    type: string;
    value?: unknown;
    name?: string;
    fn?: string;
    args?: MathNode[];
    content?: MathNode;
  };
  switch (n.type) {
    case 'ConstantNode': {
      const v = n.value;
      return typeof v === 'number' ? () => v : null;
    }
    case 'SymbolNode': {
      const name = n.name!;
      if (!Object.hasOwn(BUSINESS_VARIABLES, name)) return null;
      const key = name as BusinessVariable;
      return (s) => s[key];
    }
    case 'ParenthesisNode':
      return nativeArithmetic(n.content!);
    case 'OperatorNode': {
      const args = n.args!.map(nativeArithmetic);
      if (args.some((a) => a === null)) return null;
      const fn = n.fn!;
      if (args.length === 2 && Object.hasOwn(BINARY, fn)) return BINARY[fn]!(args[0]!, args[1]!);
      if (args.length === 1 && Object.hasOwn(UNARY, fn)) return UNARY[fn]!(args[0]!);
      return null;
    }
    default:
      return null;
  }
}

/** The scope of a session (see BUSINESS_VARIABLES for the definitions). */
export function businessScope(session: Session): BusinessScope {
  return businessScopeInto(session, null);
}

/**
 * Fills `into` (or a new scope when null) with the scope of `session` and returns it, so that a
 * streaming scorer can reuse one scope object. With `session` null it returns an all-zero scope.
 */
export function businessScopeInto(session: Session | null, into: BusinessScope | null): BusinessScope {
  const scope =
    into ??
    ({
      success: 0,
      partial: 0,
      failure: 0,
      abandoned: 0,
      escalated: 0,
      converted: 0,
      resolved: 0,
      csat: 0,
      has_csat: 0,
      order_value: 0,
      turns: 0,
      user_turns: 0,
      agent_turns: 0,
      total_turns: 0,
      sop_violations: 0,
      user_left: 0,
      handoff: 0,
    } satisfies BusinessScope);
  if (!session) return scope;
  let user = 0;
  let agent = 0;
  let violations = 0;
  let userLeft = 0;
  let handoff = 0;
  const turns = session.turns;
  for (let i = 0; i < turns.length; i++) {
    const turn = turns[i]!;
    if (turn.role === 'user') user++;
    else {
      agent++;
      if (turn.sop_violation === true) violations++;
    }
    const events = turn.events;
    for (let j = 0; j < events.length; j++) {
      const type = events[j]!.type;
      if (type === 'user_left') userLeft = 1;
      else if (type === 'handoff') handoff = 1;
    }
  }
  const o = session.outcome;
  const status = o.status;
  scope.success = status === 'success' ? 1 : 0;
  scope.partial = status === 'partial' ? 1 : 0;
  scope.failure = status === 'failure' ? 1 : 0;
  scope.abandoned = status === 'abandoned' ? 1 : 0;
  scope.escalated = o.escalated || status === 'escalated' ? 1 : 0;
  scope.converted = o.converted ? 1 : 0;
  scope.resolved = o.resolved ? 1 : 0;
  scope.csat = o.csat ?? 0;
  scope.has_csat = o.csat === undefined ? 0 : 1;
  scope.order_value = o.order_value;
  scope.turns = user;
  scope.user_turns = user;
  scope.agent_turns = agent;
  scope.total_turns = turns.length;
  scope.sop_violations = violations;
  scope.user_left = userLeft;
  scope.handoff = handoff;
  return scope;
}
