import { assistantMessage, type ToolAgentView, type ToolSpec, toolResultMessage } from '@gopo/dialogue';
import { describe, expect, it } from 'vitest';
import {
  FALLBACK_REPLY,
  parseToolStep,
  renderToolPrompt,
  renderToolStep,
  toolSignature,
} from './tool-step-format.js';

const spec: ToolSpec = {
  type: 'function',
  function: {
    name: 'search_hotel',
    description: 'Search the hotel database. Every argument is optional.',
    parameters: {
      type: 'object',
      properties: { area: { type: 'string' }, stars: { type: 'string' } },
      required: ['area'],
    },
  },
};
const call = { id: 'call_1', name: 'search_hotel', arguments: { area: 'east' } };
const view: ToolAgentView = {
  system: 'You help users.',
  tools: [spec],
  messages: [
    { role: 'user', content: 'A hotel in the east.' },
    assistantMessage({ kind: 'tool_call', call }),
    toolResultMessage(call, `{"count": 2, "result...[${'"x",'.repeat(200)}"y"]}`),
  ],
};

describe('tool step format', () => {
  it('renders tools as signatures and the dialogue with markers, cutting long tool outputs', () => {
    expect(toolSignature(spec)).toBe('search_hotel(area, stars?): Search the hotel database.');
    const p = renderToolPrompt(view, { maxToolChars: 20 });
    expect(p.split('\n')).toEqual([
      '<|system|>You help users.',
      '<|tools|>',
      'search_hotel(area, stars?): Search the hotel database.',
      '<|user|>A hotel in the east.',
      '<|agent|><|call|>{"name":"search_hotel","arguments":{"area":"east"}}',
      '<|tool|>search_hotel: {"count": 2, "result...',
      '<|agent|>',
    ]);
  });

  it('keeps the opening user message and the most recent ones', () => {
    const p = renderToolPrompt(view, { maxMessages: 2, maxToolChars: 16 });
    expect(p).toContain('<|user|>A hotel in the east.');
    expect(p).not.toContain('<|call|>');
    expect(p).toContain('<|tool|>search_hotel');
  });

  it('parses what it renders (calls get the next call id of the view)', () => {
    const step = { plan: 'search', action: { kind: 'tool_call' as const, call: { ...call, id: 'x' } } };
    const text = renderToolStep(step);
    expect(text).toBe('<|plan|>search<|call|>{"name":"search_hotel","arguments":{"area":"east"}}');
    expect(parseToolStep(text, view)).toEqual({
      ok: true,
      step: { ...step, action: { kind: 'tool_call', call: { ...call, id: 'call_2' } } },
    });
    const reply = { action: { kind: 'reply' as const, text: 'Two hotels match.' } };
    expect(renderToolStep(reply)).toBe('<|plan|><|reply|>Two hotels match.');
    expect(parseToolStep(renderToolStep(reply), view)).toEqual({ ok: true, step: reply });
  });

  it.each([
    ['Hello there', 'no_plan_marker'],
    ['<|plan|>think', 'no_action_marker'],
    ['<|plan|>a<|reply|>hi<|call|>{}', 'extra_marker'],
    ['<|plan|><|call|>{name:', 'call_not_json'],
    ['<|plan|><|call|>{"tool":"x"}', 'call_shape'],
    ['<|plan|><|call|>{"name":"book_taxi","arguments":{}}', 'unknown_tool'],
    ['<|plan|><|reply|>  ', 'empty_reply'],
  ])('a malformed generation %j is the fallback reply (%s)', (text, reason) => {
    const r = parseToolStep(text, view);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
    expect(r.step.action).toEqual({ kind: 'reply', text: FALLBACK_REPLY });
  });
});
