/**
 * A model behind an OpenAI-compatible chat-completions server as a ToolAgent: the view goes out as
 * it is (the system prompt, the dialogue in chat format, the tools in the function-calling format,
 * one call per step: parallel_tool_calls false), and the answer comes back as a step: its first
 * tool call (with the message text, if any, as the plan), or its text as a reply. An answer that is
 * neither, arguments that are not a JSON object, or a tool the view does not offer become the
 * fallback reply of the LM tool agent, counted by reason the same way.
 */
import { fallbackStep, MALFORMED_REASONS, type MalformedReason } from '@gopo/cs-agent';
import {
  OpenAiToolCallSchema,
  safeParseOpenAiToolCall,
  type ToolAgent,
  type ToolAgentStep,
  type ToolAgentView,
  toolCallsOf,
} from '@gopo/dialogue';
import { z } from 'zod';
import type { OpenAiServerConfig } from '../gopo/config.js';
import { ChatBackendError, type ChatClientOptions, ChatCompletionClient } from './chat-client.js';

/** The server settings: those of the openai reply backend. */
export type OpenAiToolAgentConfig = OpenAiServerConfig;

const ToolCompletionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z.array(OpenAiToolCallSchema).nullish(),
        }),
      }),
    )
    .min(1, 'no choices in the answer'),
});

export interface OpenAiToolAgentOptions extends ChatClientOptions {
  /** Sent as the request's seed (servers that honour it sample reproducibly). */
  readonly seed?: number;
  readonly name?: string;
}

/** The request body of a view (exported for tests and for logging what was sent). */
export function toolChatRequest(view: ToolAgentView, config: OpenAiToolAgentConfig, seed?: number) {
  return {
    model: config.model,
    messages: [{ role: 'system', content: view.system }, ...view.messages],
    tools: view.tools,
    tool_choice: 'auto',
    parallel_tool_calls: false,
    temperature: config.temperature,
    max_tokens: config.maxTokens,
    ...(seed !== undefined ? { seed } : {}),
  };
}

export class OpenAiToolAgent implements ToolAgent {
  readonly name: string;
  readonly stats = {
    steps: 0,
    malformed: 0,
    byReason: Object.fromEntries(MALFORMED_REASONS.map((r) => [r, 0])) as Record<MalformedReason, number>,
  };
  private readonly client: ChatCompletionClient;

  constructor(
    private readonly config: OpenAiToolAgentConfig,
    private readonly options: OpenAiToolAgentOptions = {},
  ) {
    this.client = new ChatCompletionClient(config, options);
    this.name = options.name ?? 'openai';
  }

  private malformed(reason: MalformedReason): ToolAgentStep {
    this.stats.malformed++;
    this.stats.byReason[reason]++;
    return fallbackStep();
  }

  async act(view: ToolAgentView): Promise<ToolAgentStep> {
    const json = await this.client.post(toolChatRequest(view, this.config, this.options.seed));
    const parsed = ToolCompletionSchema.safeParse(json);
    if (!parsed.success)
      throw new ChatBackendError(
        this.client.url,
        `answer is not a chat completion (${parsed.error.issues[0]!.path.join('.') || 'root'}: ${parsed.error.issues[0]!.message})`,
      );
    this.stats.steps++;
    const message = parsed.data.choices[0]!.message;
    const text = (message.content ?? '').trim();
    const raw = message.tool_calls?.[0];
    if (!raw) return text === '' ? this.malformed('empty_reply') : { action: { kind: 'reply', text } };
    if (!view.tools.some((t) => t.function.name === raw.function.name)) return this.malformed('unknown_tool');
    const call = safeParseOpenAiToolCall(raw);
    if (!call.success) return this.malformed('call_not_json');
    // Servers that give no id (or reuse one) get the view's next id, so results pair with their call.
    const id =
      raw.id && !toolCallsOf(view.messages).some((c) => c.id === raw.id)
        ? raw.id
        : `call_${toolCallsOf(view.messages).length + 1}`;
    return {
      ...(text ? { plan: text } : {}),
      action: { kind: 'tool_call', call: { ...call.call, id } },
    };
  }

  /** Aborts requests in flight; later requests are refused. */
  close(): void {
    this.client.close();
  }
}
