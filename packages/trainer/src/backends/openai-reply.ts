/**
 * A reply backend on any OpenAI-compatible chat-completions server (vLLM, llama.cpp, a hosted API):
 * a strong frozen model as the CS Agent. Each request carries the dialogue as user/assistant
 * messages and a system message with the facts and the strategy the reply must follow. Timeouts,
 * retries on 5xx and network errors, and malformed answers give errors that name the server and what
 * was wrong; the API key is read from an environment variable, never from the config.
 */
import { GopoError } from '@gopo/core';
import type { ReplyPolicy, ReplyRequest } from '@gopo/dialogue';
import { z } from 'zod';
import type { ReplyBackendConfig } from '../gopo/config.js';

type OpenAiConfig = Extract<ReplyBackendConfig, { kind: 'openai' }>;

/** The chat server failed or answered something that is not a chat completion. */
export class ChatBackendError extends GopoError {
  constructor(
    readonly url: string,
    detail: string,
    readonly status?: number,
  ) {
    super(`chat backend ${url}: ${detail}`);
  }
}

const CompletionSchema = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: z.string() }) }))
    .min(1, 'no choices in the answer'),
});

/** What each strategy asks of the reply, for the system message. */
const STRATEGY_HINTS: Readonly<Record<string, string>> = {
  greet: 'greet the customer',
  elicit_need: 'ask what the customer needs',
  clarify: 'ask one clarifying question (budget, features, order number)',
  recommend: 'recommend one item from the catalog facts, with its id and price',
  compare: 'compare two items from the catalog facts',
  answer_question: "answer the customer's question from the facts",
  check_order: 'report the order status from the order facts',
  process_return: 'start the return or issue the refund for the order in the facts',
  offer_coupon: 'offer a coupon code valid for the chosen item',
  reassure: 'apologise and reassure the customer',
  confirm_purchase: 'ask the customer to confirm the order of the chosen item, with its price',
  escalate: 'hand the customer over to a human colleague',
  close: 'thank the customer and close the conversation',
};

export function chatMessages(request: ReplyRequest): { role: string; content: string }[] {
  const { state, strategy } = request;
  const hint = STRATEGY_HINTS[strategy] ?? strategy.replace(/_/g, ' ');
  const system = [
    'You are a customer-service agent of an online shop. Reply in one or two short sentences.',
    `This turn's strategy is "${strategy}": ${hint}. Do exactly that and nothing else.`,
    'Use only these facts; never invent ids, prices, order numbers or coupon codes:',
    ...(state.facts.length > 0 ? state.facts.map((f) => `- ${f}`) : ['- (none yet)']),
  ].join('\n');
  return [
    { role: 'system', content: system },
    ...state.turns.map((t) => ({ role: t.role === 'user' ? 'user' : 'assistant', content: t.text })),
  ];
}

export interface OpenAiReplyOptions {
  /** The fetch to use (tests, proxies); default the global fetch. */
  readonly fetch?: typeof fetch;
  /**
   * Wait before retry k (1-based) of a request: `retryDelayMs * 2^(k-1)` ms, so an overloaded
   * server is not hit again at once. Default 250.
   */
  readonly retryDelayMs?: number;
}

export class OpenAiReplyPolicy implements ReplyPolicy {
  readonly name = 'openai';
  private readonly url: string;
  private readonly controllers = new Set<AbortController>();
  private readonly fetchFn: typeof fetch;
  private readonly retryDelayMs: number;
  private closed = false;

  constructor(
    private readonly config: OpenAiConfig,
    readonly strategies: readonly string[],
    options: OpenAiReplyOptions = {},
  ) {
    this.url = `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.fetchFn = options.fetch ?? fetch;
    this.retryDelayMs = options.retryDelayMs ?? 250;
  }

  /** One reply per request, in order, with at most `maxConcurrency` requests in flight. */
  async reply(requests: readonly ReplyRequest[]): Promise<string[]> {
    const out: string[] = new Array(requests.length);
    let next = 0;
    let failed = false;
    const worker = async () => {
      // After the first failure the batch is lost: stop sending its remaining requests.
      while (next < requests.length && !failed) {
        const i = next++;
        try {
          out[i] = await this.complete(requests[i]!);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.config.maxConcurrency, requests.length) }, worker));
    return out;
  }

  private closedError(): ChatBackendError {
    return new ChatBackendError(this.url, 'the backend was closed; requests in flight were aborted');
  }

  private async complete(request: ReplyRequest): Promise<string> {
    if (this.closed) throw this.closedError();
    const body = JSON.stringify({
      model: this.config.model,
      messages: chatMessages(request),
      temperature: this.config.temperature,
      max_tokens: this.config.maxTokens,
      seed: request.seed,
    });
    const key = process.env[this.config.apiKeyEnv];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    let last: ChatBackendError | undefined;
    for (let attempt = 0; attempt <= this.config.retries; attempt++) {
      if (attempt > 0 && this.retryDelayMs > 0) await this.pause(this.retryDelayMs * 2 ** (attempt - 1));
      if (this.closed) throw this.closedError();
      const controller = new AbortController();
      this.controllers.add(controller);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.config.timeoutMs);
      try {
        const res = await this.fetchFn(this.url, {
          method: 'POST',
          headers,
          body,
          signal: controller.signal,
        });
        const text = await res.text();
        if (res.status >= 500) {
          last = new ChatBackendError(
            this.url,
            `server error ${res.status}: ${text.slice(0, 200)}`,
            res.status,
          );
          continue;
        }
        if (!res.ok)
          throw new ChatBackendError(
            this.url,
            `request refused (${res.status}): ${text.slice(0, 200)}`,
            res.status,
          );
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new ChatBackendError(this.url, `answer is not JSON: ${text.slice(0, 120)}`);
        }
        const parsed = CompletionSchema.safeParse(json);
        if (!parsed.success)
          throw new ChatBackendError(
            this.url,
            `answer is not a chat completion (${parsed.error.issues[0]!.path.join('.') || 'root'}: ${parsed.error.issues[0]!.message})`,
          );
        const content = parsed.data.choices[0]!.message.content.trim();
        if (content === '') throw new ChatBackendError(this.url, 'the model returned an empty reply');
        return content;
      } catch (e) {
        if (e instanceof ChatBackendError) throw e;
        // close() aborts too: that is no timeout and is not retried.
        if (this.closed) throw this.closedError();
        last = new ChatBackendError(
          this.url,
          timedOut
            ? `no answer within ${this.config.timeoutMs} ms`
            : `cannot reach the server (${(e as Error).message})`,
        );
      } finally {
        clearTimeout(timer);
        this.controllers.delete(controller);
      }
    }
    throw new ChatBackendError(
      this.url,
      `${last?.message.replace(`chat backend ${this.url}: `, '')} (after ${this.config.retries + 1} attempts)`,
      last?.status,
    );
  }

  /** Waits `ms`, or less when the backend is closed meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const controller = new AbortController();
      const timer = setTimeout(() => {
        this.controllers.delete(controller);
        resolve();
      }, ms);
      controller.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
      this.controllers.add(controller);
    });
  }

  /** Aborts requests in flight; later requests are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
  }
}
