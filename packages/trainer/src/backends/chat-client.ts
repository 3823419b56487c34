/**
 * The HTTP side of an OpenAI-compatible chat-completions server, shared by the reply backend and the
 * tool agent: POST with timeouts, retries on 5xx and network errors (exponential wait), errors that
 * name the server and what was wrong, and close() aborting what is in flight. The API key is read
 * from an environment variable, never from a config.
 */
import { GopoError } from '@gopo/core';

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

/** The connection settings of an OpenAI-compatible server (ReplyBackendConfig's openai fields). */
export interface ChatServerConfig {
  readonly baseUrl: string;
  readonly apiKeyEnv: string;
  readonly timeoutMs: number;
  readonly retries: number;
}

export interface ChatClientOptions {
  /** The fetch to use (tests, proxies); default the global fetch. */
  readonly fetch?: typeof fetch;
  /**
   * Wait before retry k (1-based) of a request: `retryDelayMs * 2^(k-1)` ms, so an overloaded
   * server is not hit again at once. Default 250.
   */
  readonly retryDelayMs?: number;
}

export class ChatCompletionClient {
  readonly url: string;
  private readonly controllers = new Set<AbortController>();
  private readonly fetchFn: typeof fetch;
  private readonly retryDelayMs: number;
  private closed = false;

  constructor(
    private readonly config: ChatServerConfig,
    options: ChatClientOptions = {},
  ) {
    this.url = `${config.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.fetchFn = options.fetch ?? fetch;
    this.retryDelayMs = options.retryDelayMs ?? 250;
  }

  closedError(): ChatBackendError {
    return new ChatBackendError(this.url, 'the backend was closed; requests in flight were aborted');
  }

  /** POSTs `body` (JSON) and returns the parsed JSON answer; retries timeouts, 5xx and network errors. */
  async post(body: unknown): Promise<unknown> {
    if (this.closed) throw this.closedError();
    const text = JSON.stringify(body);
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
          body: text,
          signal: controller.signal,
        });
        const answer = await res.text();
        if (res.status >= 500) {
          last = new ChatBackendError(
            this.url,
            `server error ${res.status}: ${answer.slice(0, 200)}`,
            res.status,
          );
          continue;
        }
        if (!res.ok)
          throw new ChatBackendError(
            this.url,
            `request refused (${res.status}): ${answer.slice(0, 200)}`,
            res.status,
          );
        try {
          return JSON.parse(answer);
        } catch {
          throw new ChatBackendError(this.url, `answer is not JSON: ${answer.slice(0, 120)}`);
        }
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

  /** Waits `ms`, or less when the client is closed meanwhile. */
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
  close(): void {
    this.closed = true;
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
