/**
 * A reply backend on any OpenAI-compatible chat-completions server (vLLM, llama.cpp, a hosted API):
 * a strong frozen model as the CS Agent. Each request carries the dialogue as user/assistant
 * messages and a system message with the facts and the strategy the reply must follow. Timeouts,
 * retries on 5xx and network errors, and malformed answers give errors that name the server and what
 * was wrong; the API key is read from an environment variable, never from the config.
 */
import type { ReplyPolicy, ReplyRequest } from '@gopo/dialogue';
import { z } from 'zod';
import type { ReplyBackendConfig } from '../gopo/config.js';
import { ChatBackendError, type ChatClientOptions, ChatCompletionClient } from './chat-client.js';

export { ChatBackendError } from './chat-client.js';

type OpenAiConfig = Extract<ReplyBackendConfig, { kind: 'openai' }>;

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

export type OpenAiReplyOptions = ChatClientOptions;

export class OpenAiReplyPolicy implements ReplyPolicy {
  readonly name = 'openai';
  private readonly client: ChatCompletionClient;

  constructor(
    private readonly config: OpenAiConfig,
    readonly strategies: readonly string[],
    options: OpenAiReplyOptions = {},
  ) {
    this.client = new ChatCompletionClient(config, options);
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

  private async complete(request: ReplyRequest): Promise<string> {
    const url = this.client.url;
    const json = await this.client.post({
      model: this.config.model,
      messages: chatMessages(request),
      temperature: this.config.temperature,
      max_tokens: this.config.maxTokens,
      seed: request.seed,
    });
    const parsed = CompletionSchema.safeParse(json);
    if (!parsed.success)
      throw new ChatBackendError(
        url,
        `answer is not a chat completion (${parsed.error.issues[0]!.path.join('.') || 'root'}: ${parsed.error.issues[0]!.message})`,
      );
    const content = parsed.data.choices[0]!.message.content.trim();
    if (content === '') throw new ChatBackendError(url, 'the model returned an empty reply');
    return content;
  }

  /** Aborts requests in flight; later requests are refused. */
  async close(): Promise<void> {
    this.client.close();
  }
}
