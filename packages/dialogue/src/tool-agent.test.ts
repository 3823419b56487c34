import { describe, expect, it } from 'vitest';
import {
  assistantMessage,
  ChatMessageSchema,
  checkToolArguments,
  parseOpenAiToolCall,
  safeParseOpenAiToolCall,
  ToolCallParseError,
  type ToolSpec,
  ToolSpecSchema,
  toOpenAiToolCall,
  toolCallsOf,
  toolResultMessage,
} from './tool-agent.js';

const cancel: ToolSpec = ToolSpecSchema.parse({
  type: 'function',
  function: {
    name: 'cancel_pending_order',
    description: 'Cancel a pending order.',
    parameters: {
      type: 'object',
      properties: {
        order_id: { type: 'string', description: 'the order id, such as #W0000000' },
        reason: { type: 'string', enum: ['no longer needed', 'ordered by mistake'] },
        item_ids: { type: 'array', items: { type: 'string' } },
      },
      required: ['order_id', 'reason'],
    },
  },
});

describe('tool-calling agent interface', () => {
  it('round-trips a tool call through the OpenAI wire format', () => {
    const call = {
      id: 'call_1',
      name: 'cancel_pending_order',
      arguments: { order_id: '#W1', reason: 'no longer needed' },
    };
    const wire = toOpenAiToolCall(call);
    expect(wire).toEqual({
      id: 'call_1',
      type: 'function',
      function: { name: 'cancel_pending_order', arguments: '{"order_id":"#W1","reason":"no longer needed"}' },
    });
    expect(parseOpenAiToolCall(wire)).toEqual(call);
    expect(parseOpenAiToolCall({ ...wire, function: { name: 'think', arguments: '' } }).arguments).toEqual(
      {},
    );
  });

  it('names the call when its arguments are not a JSON object (throwing and result forms)', () => {
    const bad = { id: 'c9', type: 'function' as const, function: { name: 'think', arguments: '{"x":' } };
    expect(() => parseOpenAiToolCall(bad)).toThrow(ToolCallParseError);
    expect(() => parseOpenAiToolCall(bad)).toThrow(/tool call c9 \(think\): arguments are not JSON/);
    const arr = safeParseOpenAiToolCall({ ...bad, function: { name: 'think', arguments: '[1]' } });
    expect(arr.success).toBe(false);
    if (!arr.success) expect(arr.error.detail).toBe('arguments must be a JSON object');
  });

  it('builds the assistant and tool messages of a step, which validate as chat messages', () => {
    const call = { id: 'call_2', name: 'think', arguments: { thought: 'check the order first' } };
    const msgs = [
      { role: 'user' as const, content: 'hi' },
      assistantMessage({ kind: 'tool_call', call }),
      toolResultMessage(call, ''),
      assistantMessage({ kind: 'reply', text: 'How can I help?' }),
    ];
    for (const m of msgs) expect(ChatMessageSchema.parse(m)).toEqual(m);
    expect(msgs[1]).toMatchObject({ content: null, tool_calls: [{ id: 'call_2' }] });
    expect(msgs[2]).toEqual({ role: 'tool', tool_call_id: 'call_2', name: 'think', content: '' });
    expect(toolCallsOf(msgs)).toEqual([call]);
  });

  it('checks arguments against the parameter schema', () => {
    expect(checkToolArguments(cancel, { order_id: '#W1', reason: 'ordered by mistake' })).toEqual([]);
    expect(
      checkToolArguments(cancel, { order_id: 7, reason: 'bored', item_ids: ['1', 2], extra: true }).map(
        (i) => [i.argument, i.problem],
      ),
    ).toEqual([
      ['order_id', 'wrong_type'],
      ['reason', 'not_in_enum'],
      ['item_ids', 'wrong_type'],
      ['extra', 'unexpected'],
    ]);
    expect(checkToolArguments(cancel, {}).map((i) => i.message)).toEqual([
      'missing required argument "order_id"',
      'missing required argument "reason"',
    ]);
  });

  it('rejects tool specs that are not in the function-calling format', () => {
    expect(
      ToolSpecSchema.safeParse({
        type: 'function',
        function: { name: 'a b', description: '', parameters: { type: 'object', properties: {} } },
      }).success,
    ).toBe(false);
    expect(
      ToolSpecSchema.parse({
        type: 'function',
        function: {
          name: 'book_attraction',
          description: 'x',
          parameters: { type: 'object', properties: {} },
        },
      }).function.parameters.required,
    ).toEqual([]);
  });
});
