/**
 * The text format of the LM tool agent: how a tool-calling view becomes a prompt and how one agent
 * step is written and read back. One definition for generation, the SFT records and the KTO items
 * (JOSH), so the model is trained on exactly what it later reads and writes.
 *
 * Prompt (plain text; the markers are ordinary text to the tokenizer, so any BPE vocabulary works):
 *
 *     <|system|>{system prompt}
 *     <|tools|>
 *     search_hotel(name, area, parking?, ...): {first sentence of the description}
 *     <|user|>{text}
 *     <|agent|><|call|>{"name":"search_hotel","arguments":{"area":"east"}}
 *     <|tool|>search_hotel: {output, cut to maxToolChars}
 *     <|agent|><|reply|>{text}
 *     <|agent|>
 *
 * Step (the completion, ended by the tokenizer's eos): `<|plan|>{plan}` then exactly one of
 * `<|call|>{"name": ..., "arguments": {...}}` or `<|reply|>{text}`. The plan may be empty. Earlier
 * agent steps appear in the prompt without their plan (the view holds no plans).
 *
 * Parsing is strict: anything else is malformed (a reason is given) and the agent takes the fallback
 * step, a reply asking the user to repeat (FALLBACK_REPLY): the user simulators answer it like any
 * reply that offers nothing (a stall uses up their patience), so the episode goes on and a model
 * that keeps failing ends it by exhausting the user rather than by an exception.
 */
import {
  type ChatMessage,
  type ToolAgentStep,
  type ToolAgentView,
  type ToolSpec,
  toolCallsOf,
} from '@gopo/dialogue';
import { match } from 'ts-pattern';
import { z } from 'zod';

export const TOOL_STEP_MARKERS = {
  system: '<|system|>',
  tools: '<|tools|>',
  user: '<|user|>',
  agent: '<|agent|>',
  tool: '<|tool|>',
  plan: '<|plan|>',
  call: '<|call|>',
  reply: '<|reply|>',
} as const;
const M = TOOL_STEP_MARKERS;

/** The reply an agent makes when its generation is malformed. */
export const FALLBACK_REPLY = "I'm sorry, could you say that again?";
export const FALLBACK_PLAN = 'malformed generation: fallback reply';

export const ToolPromptOptionsSchema = z
  .object({
    maxToolChars: z
      .number()
      .int()
      .min(16)
      .default(400)
      .describe('characters of each tool output the prompt keeps (long search results are cut)'),
    maxMessages: z
      .number()
      .int()
      .min(1)
      .default(24)
      .describe('most recent dialogue messages the prompt keeps (the opening user message always stays)'),
  })
  .strict()
  .describe('how a view is rendered into a prompt');
export type ToolPromptOptions = z.infer<typeof ToolPromptOptionsSchema>;

/** One tool as a line: `name(required, optional?): first sentence of its description`. */
export function toolSignature(spec: ToolSpec): string {
  const f = spec.function;
  const required = new Set(f.parameters.required);
  const args = Object.keys(f.parameters.properties).map((a) => (required.has(a) ? a : `${a}?`));
  const sentence = f.description.split(/(?<=\.)\s/)[0] ?? f.description;
  return `${f.name}(${args.join(', ')}): ${sentence}`;
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

function messageLine(m: ChatMessage, maxToolChars: number): string | undefined {
  return match(m)
    .with({ role: 'system' }, () => undefined)
    .with({ role: 'user' }, (u) => `${M.user}${oneLine(u.content)}`)
    .with({ role: 'tool' }, (t) => {
      const c = oneLine(t.content);
      return `${M.tool}${t.name}: ${c.length > maxToolChars ? `${c.slice(0, maxToolChars)}...` : c}`;
    })
    .with({ role: 'assistant' }, (a) => {
      const call = a.tool_calls?.[0];
      if (call) {
        const args = (toolCallsOf([{ ...a, tool_calls: [call] }])[0]?.arguments ?? {}) as object;
        return `${M.agent}${M.call}${JSON.stringify({ name: call.function.name, arguments: args })}`;
      }
      return `${M.agent}${M.reply}${oneLine(a.content ?? '')}`;
    })
    .exhaustive();
}

/**
 * The prompt text of a view, ending with the agent marker the step follows. Only the last
 * `maxMessages` messages are kept (with the opening user message, which states the request).
 */
export function renderToolPrompt(view: ToolAgentView, options: Partial<ToolPromptOptions> = {}): string {
  const o = ToolPromptOptionsSchema.parse(options);
  const msgs = view.messages.filter((m) => m.role !== 'system');
  const kept =
    msgs.length <= o.maxMessages ? msgs : [msgs[0]!, ...msgs.slice(msgs.length - (o.maxMessages - 1))];
  const lines = [
    `${M.system}${oneLine(view.system)}`,
    M.tools,
    ...view.tools.map(toolSignature),
    ...kept.map((m) => messageLine(m, o.maxToolChars)).filter((l) => l !== undefined),
    M.agent,
  ];
  return lines.join('\n');
}

/** The completion text of a step (what the model learns to write after the prompt). */
export function renderToolStep(step: ToolAgentStep): string {
  const plan = `${M.plan}${oneLine(step.plan ?? '')}`;
  return match(step.action)
    .with(
      { kind: 'tool_call' },
      ({ call }) => `${plan}${M.call}${JSON.stringify({ name: call.name, arguments: call.arguments })}`,
    )
    .with({ kind: 'reply' }, ({ text }) => `${plan}${M.reply}${oneLine(text)}`)
    .exhaustive();
}

/** Why a generation is not a step. */
export type MalformedReason =
  | 'no_plan_marker'
  | 'no_action_marker'
  | 'extra_marker'
  | 'call_not_json'
  | 'call_shape'
  | 'unknown_tool'
  | 'empty_reply';
export const MALFORMED_REASONS: readonly MalformedReason[] = [
  'no_plan_marker',
  'no_action_marker',
  'extra_marker',
  'call_not_json',
  'call_shape',
  'unknown_tool',
  'empty_reply',
];

export type ParsedToolStep =
  | { readonly ok: true; readonly step: ToolAgentStep }
  | { readonly ok: false; readonly reason: MalformedReason; readonly step: ToolAgentStep };

const CallBodySchema = z.strictObject({
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

/** The fallback step of a malformed generation. */
export function fallbackStep(): ToolAgentStep {
  return { plan: FALLBACK_PLAN, action: { kind: 'reply', text: FALLBACK_REPLY } };
}

/**
 * Reads a generated step. A call gets the id `call_{n}`, n = 1 + the calls already in the view, so
 * the id is a function of the view (agents that branch and replay need no counter).
 */
export function parseToolStep(text: string, view: ToolAgentView): ParsedToolStep {
  const bad = (reason: MalformedReason): ParsedToolStep => ({ ok: false, reason, step: fallbackStep() });
  const t = text.trim();
  if (!t.startsWith(M.plan)) return bad('no_plan_marker');
  const rest = t.slice(M.plan.length);
  const callAt = rest.indexOf(M.call);
  const replyAt = rest.indexOf(M.reply);
  if (callAt < 0 && replyAt < 0) return bad('no_action_marker');
  const isCall = callAt >= 0 && (replyAt < 0 || callAt < replyAt);
  const at = isCall ? callAt : replyAt;
  const plan = rest.slice(0, at).trim();
  const body = rest.slice(at + (isCall ? M.call : M.reply).length).trim();
  // A second action, or any marker inside the plan or the body, is not one step.
  const markers = Object.values(M);
  if (markers.some((m) => plan.includes(m) || body.includes(m))) return bad('extra_marker');
  const withPlan = (step: ToolAgentStep['action']): ParsedToolStep => ({
    ok: true,
    step: { ...(plan ? { plan } : {}), action: step },
  });
  if (!isCall) return body === '' ? bad('empty_reply') : withPlan({ kind: 'reply', text: body });
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return bad('call_not_json');
  }
  const call = CallBodySchema.safeParse(json);
  if (!call.success) return bad('call_shape');
  if (!view.tools.some((s) => s.function.name === call.data.name)) return bad('unknown_tool');
  const id = `call_${toolCallsOf(view.messages).length + 1}`;
  return withPlan({ kind: 'tool_call', call: { id, name: call.data.name, arguments: call.data.arguments } });
}
