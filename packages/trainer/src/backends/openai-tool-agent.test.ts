import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FALLBACK_REPLY } from '@gopo/cs-agent';
import { assistantMessage, type ToolAgentView, type ToolSpec, toolResultMessage } from '@gopo/dialogue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChatBackendError } from './chat-client.js';
import { OpenAiToolAgent, type OpenAiToolAgentConfig } from './openai-tool-agent.js';

// A stub chat-completions server on 127.0.0.1 that records each request body and answers with the
// next canned message.
let server: Server;
let baseUrl: string;
const seen: Record<string, unknown>[] = [];
let answers: unknown[] = [];

beforeEach(async () => {
  seen.length = 0;
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString('utf8');
    });
    req.on('end', () => {
      seen.push(JSON.parse(raw));
      const a = answers.shift();
      if (typeof a === 'number') {
        res.writeHead(a);
        res.end('busy');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', ...(a as object) } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const config = (): OpenAiToolAgentConfig => ({
  baseUrl,
  model: 'stub',
  apiKeyEnv: 'GOPO_TEST_NO_KEY',
  timeoutMs: 2000,
  retries: 1,
  maxConcurrency: 1,
  temperature: 0,
  maxTokens: 64,
});

const tool: ToolSpec = {
  type: 'function',
  function: {
    name: 'search_train',
    description: 'Search trains.',
    parameters: { type: 'object', properties: { day: { type: 'string' } }, required: [] },
  },
};
const first = { id: 'call_1', name: 'search_train', arguments: { day: 'monday' } };
const view: ToolAgentView = {
  system: 'You book trains.',
  tools: [tool],
  messages: [
    { role: 'user', content: 'A train on monday.' },
    assistantMessage({ kind: 'tool_call', call: first }),
    toolResultMessage(first, '{"count": 0}'),
  ],
};
const wireCall = (id: string, name: string, args: string) => ({
  id,
  type: 'function',
  function: { name, arguments: args },
});

describe('OpenAiToolAgent', () => {
  it('sends the system prompt, the dialogue and the tools in the function-calling format', async () => {
    answers = [{ content: 'Nothing on monday. Another day?' }];
    const agent = new OpenAiToolAgent(config(), { seed: 9, retryDelayMs: 0 });
    expect(await agent.act(view)).toEqual({
      action: { kind: 'reply', text: 'Nothing on monday. Another day?' },
    });
    const body = seen[0]!;
    expect(body.messages).toEqual([{ role: 'system', content: 'You book trains.' }, ...view.messages]);
    expect(body.tools).toEqual([tool]);
    expect(body).toMatchObject({ model: 'stub', tool_choice: 'auto', parallel_tool_calls: false, seed: 9 });
  });

  it('parses tool_calls back into a step (text as the plan; a reused id is replaced)', async () => {
    answers = [
      { content: 'try tuesday', tool_calls: [wireCall('call_abc', 'search_train', '{"day":"tuesday"}')] },
      { content: null, tool_calls: [wireCall('call_1', 'search_train', '{}')] },
    ];
    const agent = new OpenAiToolAgent(config(), { retryDelayMs: 0 });
    expect(await agent.act(view)).toEqual({
      plan: 'try tuesday',
      action: {
        kind: 'tool_call',
        call: { id: 'call_abc', name: 'search_train', arguments: { day: 'tuesday' } },
      },
    });
    expect(await agent.act(view)).toEqual({
      action: { kind: 'tool_call', call: { id: 'call_2', name: 'search_train', arguments: {} } },
    });
  });

  it('counts malformed answers and takes the fallback reply; retries a 5xx', async () => {
    answers = [
      503,
      { content: null, tool_calls: [wireCall('c', 'search_train', '{day:')] },
      { content: null, tool_calls: [wireCall('c', 'book_taxi', '{}')] },
      { content: '  ' },
    ];
    const agent = new OpenAiToolAgent(config(), { retryDelayMs: 0 });
    for (let i = 0; i < 3; i++)
      expect((await agent.act(view)).action).toEqual({ kind: 'reply', text: FALLBACK_REPLY });
    expect(agent.stats.malformed).toBe(3);
    expect(agent.stats.byReason).toMatchObject({ call_not_json: 1, unknown_tool: 1, empty_reply: 1 });
  });

  it('an answer that is no chat completion is an error naming the server', async () => {
    answers = [{}];
    server.removeAllListeners('request');
    server.on('request', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices": []}');
    });
    const agent = new OpenAiToolAgent(config(), { retryDelayMs: 0 });
    await expect(agent.act(view)).rejects.toThrow(ChatBackendError);
    await expect(agent.act(view)).rejects.toThrow(/chat\/completions: answer is not a chat completion/);
  });
});
