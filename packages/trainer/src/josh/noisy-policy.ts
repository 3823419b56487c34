/**
 * A scripted stochastic agent for JOSH without an LM: a scripted policy (e.g. the ToolWOZ oracle)
 * whose tool calls are corrupted with probability `noise` (one argument dropped; a call without
 * arguments becomes a stalling reply). The scripted agents hold state built up step by step, so to be
 * a function of the view (JoshPolicy) each act rebuilds a fresh agent by feeding it every earlier
 * point of the dialogue where the agent acted, then acts on the current view. A corrupted call is
 * not retried (the rebuilt agent believes it made it), so a noisy branch fails for good: exactly
 * the sparse-reward search problem JOSH solves by branching.
 */
import { Rng } from '@gopo/core';
import type { ToolAgent, ToolAgentStep, ToolAgentView } from '@gopo/dialogue';
import type { ToolPolicy } from '@gopo/envs';
import type { JoshPolicy } from './search.js';

/** The step with one argument of its call dropped (or a stalling reply for a call without any). */
export function corruptStep(step: ToolAgentStep, rng: Rng): ToolAgentStep {
  if (step.action.kind !== 'tool_call') return step;
  const { call } = step.action;
  const keys = Object.keys(call.arguments);
  if (keys.length === 0)
    return { plan: 'noise: stall', action: { kind: 'reply', text: 'One moment, please.' } };
  const drop = keys[rng.int(keys.length)]!;
  const args = Object.fromEntries(Object.entries(call.arguments).filter(([k]) => k !== drop));
  return {
    plan: `noise: dropped ${drop}`,
    action: { kind: 'tool_call', call: { ...call, arguments: args } },
  };
}

export function noisyScriptedPolicy<P>(base: ToolPolicy<P>, noise: number): JoshPolicy<P> {
  return {
    name: `noisy-${base.name}`,
    create(privileged: P, seed: number): ToolAgent {
      return {
        name: `noisy-${base.name}`,
        async act(view: ToolAgentView): Promise<ToolAgentStep> {
          const agent = base.create(privileged);
          for (const [j, m] of view.messages.entries())
            if (m.role === 'assistant') await agent.act({ ...view, messages: view.messages.slice(0, j) });
          const step = await agent.act(view);
          const rng = Rng.fromSeed(seed, `josh-noise/${view.messages.length}`);
          return rng.float() < noise ? corruptStep(step, rng) : step;
        },
      };
    },
  };
}
