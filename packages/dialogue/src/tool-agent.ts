import { GopoError } from '@gopo/core';
import { match } from 'ts-pattern';
import { z } from 'zod';

/*
 * The tool-calling agent interface: each step an agent may write a plan, then either calls one tool or
 * replies to the user (never both: tau-bench's policy, and what ToolWOZ expects). Plain data in the
 * OpenAI chat-completions function-calling format, so an OpenAI-compatible backend sends tools and
 * messages as they are. The tool environments of packages/envs (ToolWOZ, tau-bench retail), their
 * scripted agents and the LM agents all speak it; nothing here depends on envs or lm.
 */

/** The JSON Schema subset tool parameters use (OpenAI function calling). */
export interface JsonSchema {
  readonly type?: 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object' | 'null';
  readonly description?: string;
  readonly enum?: readonly (string | number | boolean)[];
  readonly items?: JsonSchema;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
}

export const JsonSchemaSchema: z.ZodType<JsonSchema> = z.lazy(() =>
  z.object({
    type: z
      .enum(['string', 'number', 'integer', 'boolean', 'array', 'object', 'null'])
      .optional()
      .describe('JSON type of the value'),
    description: z.string().optional().describe('what the value means (shown to the model)'),
    enum: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe('the only values allowed'),
    items: JsonSchemaSchema.optional().describe('schema of every element (arrays)'),
    properties: z.record(z.string(), JsonSchemaSchema).optional().describe('schemas of the fields (objects)'),
    required: z.array(z.string()).optional().describe('fields that must be present (objects)'),
    additionalProperties: z.boolean().optional().describe('whether fields not listed are allowed'),
  }),
);

export const ToolNameSchema = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'tool names are 1-64 letters, digits, _ or -')
  .describe('the function name the model calls');

/** One tool in the OpenAI function-calling format: `{ type: 'function', function: {...} }`. */
export const ToolSpecSchema = z.object({
  type: z.literal('function').describe('always "function"'),
  function: z.object({
    name: ToolNameSchema,
    description: z.string().describe('what the tool does and when to use it (shown to the model)'),
    parameters: z
      .object({
        type: z.literal('object').describe('always "object": the arguments are named'),
        properties: z.record(z.string(), JsonSchemaSchema).describe('schema of every argument'),
        required: z.array(z.string()).default([]).describe('arguments that must be given'),
      })
      .describe('the arguments, as a JSON Schema object'),
  }),
});
export type ToolSpec = z.infer<typeof ToolSpecSchema>;

/** A tool call as agents and environments hold it: arguments already parsed. */
export const ToolCallSchema = z.object({
  id: z.string().min(1).describe('call id, echoed by the tool result message'),
  name: z.string().min(1).describe('the tool called'),
  arguments: z.record(z.string(), z.unknown()).describe('the named arguments'),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

/** A tool call on the wire (OpenAI): arguments are a JSON string. */
export const OpenAiToolCallSchema = z.object({
  id: z.string().describe('call id'),
  type: z.literal('function').describe('always "function"'),
  function: z.object({
    name: z.string().describe('the tool called'),
    arguments: z.string().describe('the arguments as a JSON object text'),
  }),
});
export type OpenAiToolCall = z.infer<typeof OpenAiToolCallSchema>;

export const SystemMessageSchema = z.object({
  role: z.literal('system').describe('the system prompt'),
  content: z.string().describe('instructions and policy for the agent'),
});
export const UserMessageSchema = z.object({
  role: z.literal('user').describe('a user message'),
  content: z.string().describe('what the user said'),
});
export const AssistantMessageSchema = z.object({
  role: z.literal('assistant').describe('an agent step'),
  content: z.string().nullable().describe('the reply to the user (null on a tool call)'),
  tool_calls: z.array(OpenAiToolCallSchema).optional().describe('the tool called on this step'),
});
export const ToolMessageSchema = z.object({
  role: z.literal('tool').describe('a tool result'),
  tool_call_id: z.string().describe('id of the call this answers'),
  name: z.string().describe('the tool that ran'),
  content: z.string().describe('what the tool returned'),
});
/** A chat message in the OpenAI chat-completions format. */
export const ChatMessageSchema = z.discriminatedUnion('role', [
  SystemMessageSchema,
  UserMessageSchema,
  AssistantMessageSchema,
  ToolMessageSchema,
]);
export type SystemMessage = z.infer<typeof SystemMessageSchema>;
export type UserMessage = z.infer<typeof UserMessageSchema>;
export type AssistantMessage = z.infer<typeof AssistantMessageSchema>;
export type ToolMessage = z.infer<typeof ToolMessageSchema>;
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** What an agent does on one step: call one tool, or reply to the user. */
export const ToolAgentActionSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('tool_call').describe('call one tool'),
    call: ToolCallSchema.describe('the tool call'),
  }),
  z.object({
    kind: z.literal('reply').describe('answer the user'),
    text: z.string().describe('the reply the user sees'),
  }),
]);
export type ToolAgentAction = z.infer<typeof ToolAgentActionSchema>;

/** One agent step: an optional plan (never shown to the user) and the action. */
export const ToolAgentStepSchema = z.object({
  plan: z.string().optional().describe("the agent's reasoning before acting (logged, not sent)"),
  action: ToolAgentActionSchema.describe('the tool call or the reply'),
});
export type ToolAgentStep = z.infer<typeof ToolAgentStepSchema>;

/** What an agent sees before each step. */
export interface ToolAgentView {
  /** The system prompt: the domain's instructions and policy. */
  readonly system: string;
  readonly tools: readonly ToolSpec[];
  /** The dialogue so far without the system message: user, assistant and tool messages. */
  readonly messages: readonly ChatMessage[];
}

/** A view as data (datasets of (view, step) pairs store it: JOSH's SFT and KTO records). */
export const ToolAgentViewSchema = z.object({
  system: z.string().describe('the system prompt'),
  tools: z.array(ToolSpecSchema).describe('the tools the agent may call'),
  messages: z.array(ChatMessageSchema).describe('the dialogue so far, without the system message'),
});

/** A tool-calling agent: a scripted baseline, an LM agent, or a model behind an OpenAI-compatible API. */
export interface ToolAgent {
  readonly name: string;
  act(view: ToolAgentView): ToolAgentStep | Promise<ToolAgentStep>;
}

/** A tool call's arguments are not valid JSON, or not an object. */
export class ToolCallParseError extends GopoError {
  constructor(
    readonly callId: string,
    readonly tool: string,
    readonly detail: string,
  ) {
    super(`tool call ${callId} (${tool}): ${detail}`);
  }
}

export function toOpenAiToolCall(call: ToolCall): OpenAiToolCall {
  return {
    id: call.id,
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.arguments) },
  };
}

/** Parses a wire tool call; the result form of `parseOpenAiToolCall`. */
export function safeParseOpenAiToolCall(
  raw: OpenAiToolCall,
): { success: true; call: ToolCall } | { success: false; error: ToolCallParseError } {
  let args: unknown;
  try {
    args = raw.function.arguments.trim() === '' ? {} : JSON.parse(raw.function.arguments);
  } catch (e) {
    return {
      success: false,
      error: new ToolCallParseError(
        raw.id,
        raw.function.name,
        `arguments are not JSON: ${(e as Error).message}`,
      ),
    };
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    return {
      success: false,
      error: new ToolCallParseError(raw.id, raw.function.name, 'arguments must be a JSON object'),
    };
  return {
    success: true,
    call: { id: raw.id, name: raw.function.name, arguments: args as Record<string, unknown> },
  };
}

/** Parses a wire tool call; throws ToolCallParseError when its arguments are not a JSON object. */
export function parseOpenAiToolCall(raw: OpenAiToolCall): ToolCall {
  const r = safeParseOpenAiToolCall(raw);
  if (!r.success) throw r.error;
  return r.call;
}

/** The assistant message an action adds to the dialogue. */
export function assistantMessage(action: ToolAgentAction): AssistantMessage {
  return match(action)
    .with({ kind: 'reply' }, (a): AssistantMessage => ({ role: 'assistant', content: a.text }))
    .with(
      { kind: 'tool_call' },
      (a): AssistantMessage => ({ role: 'assistant', content: null, tool_calls: [toOpenAiToolCall(a.call)] }),
    )
    .exhaustive();
}

export function toolResultMessage(call: Pick<ToolCall, 'id' | 'name'>, content: string): ToolMessage {
  return { role: 'tool', tool_call_id: call.id, name: call.name, content };
}

/** The tool calls of a dialogue so far, parsed, in order (for agents that read their own history). */
export function toolCallsOf(messages: readonly ChatMessage[]): ToolCall[] {
  const out: ToolCall[] = [];
  for (const m of messages)
    if (m.role === 'assistant') for (const c of m.tool_calls ?? []) out.push(parseOpenAiToolCall(c));
  return out;
}

function typeOk(value: unknown, schema: JsonSchema): boolean {
  return match(schema.type)
    .with(undefined, () => true)
    .with('string', () => typeof value === 'string')
    .with('number', () => typeof value === 'number' && Number.isFinite(value))
    .with('integer', () => Number.isInteger(value))
    .with('boolean', () => typeof value === 'boolean')
    .with('null', () => value === null)
    .with('array', () => Array.isArray(value) && value.every((v) => !schema.items || typeOk(v, schema.items)))
    .with('object', () => typeof value === 'object' && value !== null && !Array.isArray(value))
    .exhaustive();
}

/** One problem with a call's arguments. */
export interface ToolArgumentIssue {
  readonly argument: string;
  readonly problem: 'missing' | 'unexpected' | 'wrong_type' | 'not_in_enum';
  readonly message: string;
}

/**
 * Checks a call's arguments against the tool's parameter schema: required arguments present, no
 * argument the tool does not declare, JSON types (array elements included) and enums. Empty when
 * the call is well-formed.
 */
export function checkToolArguments(
  spec: ToolSpec,
  args: Readonly<Record<string, unknown>>,
): ToolArgumentIssue[] {
  const { properties, required } = spec.function.parameters;
  const issues: ToolArgumentIssue[] = [];
  for (const name of required)
    if (args[name] === undefined)
      issues.push({ argument: name, problem: 'missing', message: `missing required argument "${name}"` });
  for (const [name, value] of Object.entries(args)) {
    const schema = properties[name];
    if (!schema) {
      issues.push({ argument: name, problem: 'unexpected', message: `unexpected argument "${name}"` });
      continue;
    }
    if (value === undefined) continue;
    if (!typeOk(value, schema))
      issues.push({
        argument: name,
        problem: 'wrong_type',
        message: `argument "${name}" must be ${schema.type === 'array' ? `an array of ${schema.items?.type ?? 'values'}` : `a ${schema.type}`}`,
      });
    else if (schema.enum && !schema.enum.includes(value as string))
      issues.push({
        argument: name,
        problem: 'not_in_enum',
        message: `argument "${name}" must be one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`,
      });
  }
  return issues;
}
