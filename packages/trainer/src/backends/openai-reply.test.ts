import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentState, ReplyRequest } from '@gopo/dialogue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ReplyBackendConfig, ReplyBackendConfigSchema } from '../gopo/config.js';
import { ChatBackendError, chatMessages, OpenAiReplyPolicy } from './openai-reply.js';

type OpenAiConfig = Extract<ReplyBackendConfig, { kind: 'openai' }>;

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: {
    model: string;
    messages: { role: string; content: string }[];
    temperature: number;
    max_tokens: number;
    seed: number;
  };
}

type Handler = (seen: Seen, res: ServerResponse, index: number) => void;

/** A stub chat-completions server on 127.0.0.1 that records every request and answers with `handler`. */
class StubServer {
  readonly seen: Seen[] = [];
  inFlight = 0;
  maxInFlight = 0;
  handler: Handler = (_, res) => answer(res, 'ok');
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => {
        raw += c.toString('utf8');
      });
      req.on('end', () => {
        const seen: Seen = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: JSON.parse(raw),
        };
        this.seen.push(seen);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        res.on('close', () => this.inFlight--);
        this.handler(seen, res, this.seen.length - 1);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1/`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

function answer(res: ServerResponse, content: string, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content } }] }));
}

function raw(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}

const state: AgentState = {
  sessionId: 's-1',
  domain: 'shop',
  turns: [
    { role: 'user', text: 'Hi, I need headphones under 80.', events: [] },
    { role: 'agent', text: 'Hello! Wired or wireless?', strategy: 'clarify', events: [] },
    { role: 'user', text: 'Wireless please.', events: [] },
  ],
  sopState: 'need_known',
  admissible: [],
  facts: ['item p-17 AcmeBuds, headphones, 59.00 EUR, in stock', 'item p-21 Zoomer, headphones, 75.00 EUR'],
};

const request = (seed: number, strategy = 'recommend'): ReplyRequest => ({ state, strategy, seed });

let stub: StubServer;
let baseUrl: string;

beforeEach(async () => {
  stub = new StubServer();
  baseUrl = await stub.start();
});

afterEach(async () => {
  await stub.stop();
});

function backend(overrides: Partial<OpenAiConfig> = {}): OpenAiReplyPolicy {
  const config = ReplyBackendConfigSchema.parse({
    kind: 'openai',
    baseUrl,
    model: 'shop-cs-7b',
    apiKeyEnv: 'GOPO_TEST_CHAT_KEY',
    ...overrides,
  }) as OpenAiConfig;
  return new OpenAiReplyPolicy(config, [], { retryDelayMs: 0 });
}

async function failure(p: Promise<unknown>): Promise<ChatBackendError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChatBackendError);
  return e as ChatBackendError;
}

describe('OpenAiReplyPolicy against a stub server', () => {
  it('returns the trimmed content of a good answer', async () => {
    stub.handler = (_, res) => answer(res, '  AcmeBuds (p-17) at 59.00 EUR would suit you.\n');
    expect(await backend().reply([request(1)])).toEqual(['AcmeBuds (p-17) at 59.00 EUR would suit you.']);
  });

  it('posts model, messages (system: facts and strategy), temperature, max_tokens and the seed', async () => {
    delete process.env.GOPO_TEST_CHAT_KEY;
    await backend({ temperature: 0.7, maxTokens: 48 }).reply([request(42)]);
    expect(stub.seen).toHaveLength(1);
    const s = stub.seen[0]!;
    expect(s.method).toBe('POST');
    expect(s.url).toBe('/v1/chat/completions');
    expect(s.headers['content-type']).toBe('application/json');
    expect(s.headers.authorization).toBeUndefined();
    expect(s.body.model).toBe('shop-cs-7b');
    expect(s.body.temperature).toBe(0.7);
    expect(s.body.max_tokens).toBe(48);
    expect(s.body.seed).toBe(42);
    const [system, ...rest] = s.body.messages;
    expect(system!.role).toBe('system');
    expect(system!.content).toContain('"recommend"');
    expect(system!.content).toContain('recommend one item from the catalog facts');
    for (const f of state.facts) expect(system!.content).toContain(`- ${f}`);
    expect(rest).toEqual([
      { role: 'user', content: 'Hi, I need headphones under 80.' },
      { role: 'assistant', content: 'Hello! Wired or wireless?' },
      { role: 'user', content: 'Wireless please.' },
    ]);
    expect(s.body.messages).toEqual(chatMessages(request(42)));
  });

  it('sends the API key from the configured environment variable only when it is set', async () => {
    process.env.GOPO_TEST_CHAT_KEY = 'sk-test-123';
    try {
      await backend().reply([request(1)]);
    } finally {
      delete process.env.GOPO_TEST_CHAT_KEY;
    }
    await backend().reply([request(2)]);
    expect(stub.seen[0]!.headers.authorization).toBe('Bearer sk-test-123');
    expect(stub.seen[1]!.headers.authorization).toBeUndefined();
  });

  it('keeps at most maxConcurrency requests in flight and returns replies in request order', async () => {
    // Later requests are answered sooner, so completion order differs from request order.
    stub.handler = (seen, res) =>
      setTimeout(() => answer(res, `reply ${seen.body.seed}`), 60 - 8 * seen.body.seed);
    const requests = [0, 1, 2, 3, 4, 5].map((i) => request(i));
    const out = await backend({ maxConcurrency: 2 }).reply(requests);
    expect(out).toEqual(requests.map((r) => `reply ${r.seed}`));
    expect(stub.seen).toHaveLength(6);
    expect(stub.maxInFlight).toBe(2);
  });

  it('a server that never answers gives an error naming the URL and the timeout after the retries', async () => {
    stub.handler = () => {};
    const t0 = performance.now();
    const e = await failure(backend({ timeoutMs: 150, retries: 2 }).reply([request(1)]));
    expect(e.url).toBe(`${baseUrl}chat/completions`);
    expect(e.message).toContain(`${baseUrl}chat/completions`);
    expect(e.message).toContain('no answer within 150 ms');
    expect(e.message).toContain('after 3 attempts');
    expect(stub.seen).toHaveLength(3);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(3 * 150 - 10);
  });

  it('retries a 5xx and returns the answer that follows', async () => {
    stub.handler = (_, res, i) => (i < 2 ? raw(res, 503, 'overloaded') : answer(res, 'third time lucky'));
    expect(await backend({ retries: 2 }).reply([request(1)])).toEqual(['third time lucky']);
    expect(stub.seen).toHaveLength(3);
  });

  it('gives up on a 5xx after the retries, with the status and the body', async () => {
    stub.handler = (_, res) => raw(res, 502, 'bad gateway');
    const e = await failure(backend({ retries: 1 }).reply([request(1)]));
    expect(e.status).toBe(502);
    expect(e.message).toMatch(/server error 502: bad gateway \(after 2 attempts\)/);
    expect(stub.seen).toHaveLength(2);
  });

  it('does not retry a 4xx', async () => {
    stub.handler = (_, res) => raw(res, 400, '{"error":"unknown model"}');
    const e = await failure(backend({ retries: 3 }).reply([request(1)]));
    expect(e.status).toBe(400);
    expect(e.message).toContain('request refused (400)');
    expect(e.message).toContain('unknown model');
    expect(stub.seen).toHaveLength(1);
  });

  it.each([
    ['non-JSON', '<html>gateway</html>', /answer is not JSON: <html>gateway/],
    ['JSON without choices', '{"id":"x"}', /answer is not a chat completion \(choices: /],
    ['an empty choices list', '{"choices":[]}', /no choices in the answer/],
    [
      'a choice without content',
      '{"choices":[{"message":{"role":"assistant"}}]}',
      /choices\.0\.message\.content/,
    ],
  ])('%s is a clear error, not retried', async (_, body, pattern) => {
    stub.handler = (_s, res) => raw(res, 200, body);
    const e = await failure(backend({ retries: 2 }).reply([request(1)]));
    expect(e.message).toMatch(pattern);
    expect(e.message).toContain(baseUrl);
    expect(stub.seen).toHaveLength(1);
  });

  it('an empty reply is an error', async () => {
    stub.handler = (_, res) => answer(res, '  \n ');
    const e = await failure(backend().reply([request(1)]));
    expect(e.message).toContain('the model returned an empty reply');
  });

  it('an unreachable server is reported after the retries', async () => {
    await stub.stop();
    const e = await failure(backend({ retries: 1 }).reply([request(1)]));
    expect(e.message).toMatch(/cannot reach the server .*after 2 attempts/);
  });

  it('stops sending a batch after its first failure', async () => {
    stub.handler = (_, res, i) =>
      i === 0 ? raw(res, 401, 'no key') : setTimeout(() => answer(res, 'ok'), 20);
    await failure(backend({ maxConcurrency: 2 }).reply([0, 1, 2, 3, 4].map((i) => request(i))));
    await new Promise((r) => setTimeout(r, 150));
    // Request 1 was already in flight beside the failing one; nothing was sent after the failure.
    expect(stub.seen.map((s) => s.body.seed)).toEqual([0, 1]);
  });

  it('close() aborts requests in flight (no retry) and refuses later ones', async () => {
    stub.handler = () => {};
    const b = backend({ timeoutMs: 30_000, retries: 3 });
    const pending = failure(b.reply([request(1), request(2)]));
    while (stub.seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    const t0 = performance.now();
    await b.close();
    const e = await pending;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e.message).toContain('closed');
    expect(stub.seen).toHaveLength(2);
    expect((await failure(b.reply([request(3)]))).message).toContain('closed');
    expect(stub.seen).toHaveLength(2);
  });
});
