import { ConfigError } from '@gopo/core';
import type { Session } from '@gopo/dialogue';
import { all, create, type MathNode } from 'mathjs';
import type { GreConfig } from './config.js';

const math = create(all!, {});

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

export interface CompiledBusinessReward {
  readonly expression: string;
  readonly clip: readonly [number, number] | null;
  /** Variables the expression reads (for documentation and reports). */
  readonly variables: readonly BusinessVariable[];
  /** R_goal for a scope (clipped). */
  evaluate(scope: BusinessScope): number;
}

/**
 * Parses and checks a business-reward expression once per run. Unknown variables, assignments and
 * non-numeric results fail here with a ConfigError naming the offending piece, never per session.
 */
export function compileBusinessReward(config: GreConfig, source = '(config)'): CompiledBusinessReward {
  const where = { file: source, path: ['gre', 'expression'] as const };
  let node: MathNode;
  try {
    node = math.parse(config.expression);
  } catch (e) {
    throw new ConfigError(
      where,
      `cannot parse business reward "${config.expression}": ${(e as Error).message}`,
    );
  }
  const used = new Set<BusinessVariable>();
  node.traverse((n, path, parent) => {
    if (n.type === 'AssignmentNode' || n.type === 'FunctionAssignmentNode')
      throw new ConfigError(where, 'the business reward may not assign variables or define functions');
    if (n.type !== 'SymbolNode') return;
    const name = (n as unknown as { name: string }).name;
    if (parent?.type === 'FunctionNode' && path === 'fn') {
      if (typeof (math as unknown as Record<string, unknown>)[name] !== 'function')
        throw new ConfigError(where, `unknown function "${name}" in business reward "${config.expression}"`);
      return;
    }
    if (name in BUSINESS_VARIABLES) used.add(name as BusinessVariable);
    else if (!CONSTANTS.has(name))
      throw new ConfigError(
        where,
        `unknown variable "${name}" in business reward "${config.expression}"; valid: ${BUSINESS_VARIABLE_NAMES.join(', ')}`,
      );
  });
  const code = node.compile();
  const clip = config.clip;
  const evaluate = (scope: BusinessScope): number => {
    const raw = code.evaluate(scope) as unknown;
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
  return { expression: config.expression, clip, variables: [...used], evaluate };
}

/** The scope of a session (see BUSINESS_VARIABLES for the definitions). */
export function businessScope(session: Session): BusinessScope {
  let user = 0;
  let agent = 0;
  let violations = 0;
  let userLeft = 0;
  let handoff = 0;
  for (const turn of session.turns) {
    if (turn.role === 'user') user++;
    else {
      agent++;
      if (turn.sop_violation === true) violations++;
    }
    for (const ev of turn.events) {
      if (ev.type === 'user_left') userLeft = 1;
      else if (ev.type === 'handoff') handoff = 1;
    }
  }
  const o = session.outcome;
  return {
    success: o.status === 'success' ? 1 : 0,
    partial: o.status === 'partial' ? 1 : 0,
    failure: o.status === 'failure' ? 1 : 0,
    abandoned: o.status === 'abandoned' ? 1 : 0,
    escalated: o.escalated || o.status === 'escalated' ? 1 : 0,
    converted: o.converted ? 1 : 0,
    resolved: o.resolved ? 1 : 0,
    csat: o.csat ?? 0,
    has_csat: o.csat === undefined ? 0 : 1,
    order_value: o.order_value,
    turns: user,
    user_turns: user,
    agent_turns: agent,
    total_turns: session.turns.length,
    sop_violations: violations,
    user_left: userLeft,
    handoff,
  };
}
