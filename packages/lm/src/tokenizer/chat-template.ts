import { UnknownNameError, UsageError } from '@gopo/core';
import { z } from 'zod';
import type { Tokenizer } from './tokenizer.js';

/**
 * How a dialogue history becomes one token sequence. Role headers, the end-of-turn marker and
 * strategy tokens are special tokens inserted by id; message content is encoded as plain text with
 * special-token matching off, so a user who types `<|agent|>` cannot forge a turn.
 *
 * With the defaults, an SFT example reads
 *   <|bos|><|system|>You are a shop assistant.<|end|><|user|>Hi!<|end|><|strategy:greet|><|agent|>Hello!<|end|>
 */
export const ChatTemplateConfigSchema = z
  .object({
    bos: z.string().nullable().default('<|bos|>').describe('special token opening the sequence (null: none)'),
    eos: z
      .string()
      .nullable()
      .default('<|eos|>')
      .describe('special token closing a whole dialogue when render() is asked to add it (null: none)'),
    roles: z
      .object({
        system: z.string().default('<|system|>').describe('header of a system message'),
        user: z.string().default('<|user|>').describe('header of a user turn'),
        agent: z.string().default('<|agent|>').describe('header of an agent turn'),
      })
      .prefault({})
      .describe('role header special tokens'),
    endOfTurn: z
      .string()
      .default('<|end|>')
      .describe('special token closing every message; the stop token when generating a reply'),
    strategyToken: z
      .string()
      .default('<|strategy:{name}|>')
      .describe('the special token naming the strategy of an agent turn; {name} is the strategy'),
    strategyPlacement: z
      .enum(['before_role', 'after_role'])
      .default('before_role')
      .describe('put the strategy token before the agent header or right after it'),
    roleSeparator: z
      .string()
      .default('')
      .describe('plain text between a role header and the content (e.g. "\\n"); part of the prompt'),
    turnSeparator: z
      .string()
      .default('')
      .describe('plain text after each end-of-turn token (e.g. "\\n"); part of the prompt'),
  })
  .superRefine((c, ctx) => {
    if (!c.strategyToken.includes('{name}')) {
      ctx.addIssue({ code: 'custom', path: ['strategyToken'], message: 'must contain {name}' });
    }
  });

export type ChatTemplateConfig = z.infer<typeof ChatTemplateConfigSchema>;
export type ChatTemplateOptions = z.input<typeof ChatTemplateConfigSchema>;

export const ChatRoleSchema = z.enum(['system', 'user', 'agent']).describe('who wrote the message');
export type ChatRole = z.infer<typeof ChatRoleSchema>;

export const ChatMessageSchema = z
  .object({
    role: ChatRoleSchema,
    content: z.string().describe('the message text'),
    strategy: z.string().optional().describe('strategy the agent turn follows (agent turns only)'),
  })
  .superRefine((m, ctx) => {
    if (m.strategy !== undefined && m.role !== 'agent') {
      ctx.addIssue({ code: 'custom', path: ['strategy'], message: 'only agent turns carry a strategy' });
    }
  });
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

export const RenderOptionsSchema = z.object({
  completion: z
    .enum(['all_agent_turns', 'last_agent_turn', 'none'])
    .default('all_agent_turns')
    .describe('which agent replies the completion mask marks (SFT trains on those tokens only)'),
  addEos: z.boolean().default(false).describe('close the sequence with the eos token'),
});
export type RenderOptions = z.input<typeof RenderOptionsSchema>;

/** A rendered dialogue. ids and completionMask have the same length. */
export interface RenderedChat {
  readonly ids: number[];
  /** 1 for tokens the model is trained to write: agent reply content and its end-of-turn token. */
  readonly completionMask: number[];
  /** The same sequence as text (special tokens written out). ids are authoritative: content is encoded on its own. */
  readonly text: string;
}

export interface GenerationPrompt {
  /** History plus the (strategy token and) agent header: the model continues with the reply. */
  readonly ids: number[];
  readonly text: string;
  /** The token that ends the reply; generation stops on it. */
  readonly stopId: number;
}

type Piece =
  | { readonly kind: 'special'; readonly token: string }
  | { readonly kind: 'text'; readonly text: string };

/** Renders dialogue histories for one tokenizer; every token the template names must exist in it. */
export class ChatTemplate {
  readonly config: ChatTemplateConfig;
  private readonly roleIds: Record<ChatRole, number>;
  private readonly endId: number;
  private readonly bosId: number | undefined;
  private readonly eosId: number | undefined;

  constructor(
    readonly tokenizer: Tokenizer,
    options: ChatTemplateOptions = {},
  ) {
    this.config = ChatTemplateConfigSchema.parse(options);
    const c = this.config;
    this.roleIds = {
      system: tokenizer.specialTokenId(c.roles.system),
      user: tokenizer.specialTokenId(c.roles.user),
      agent: tokenizer.specialTokenId(c.roles.agent),
    };
    this.endId = tokenizer.specialTokenId(c.endOfTurn);
    this.bosId = c.bos === null ? undefined : tokenizer.specialTokenId(c.bos);
    this.eosId = c.eos === null ? undefined : tokenizer.specialTokenId(c.eos);
  }

  /** Strategies this tokenizer has tokens for under this template's strategy token pattern. */
  get strategies(): string[] {
    const out: string[] = [];
    for (const t of this.tokenizer.specialTokens.keys()) {
      const name = parseStrategyName(t, this.config.strategyToken);
      if (name !== undefined) out.push(name);
    }
    return out;
  }

  /** The special token of a strategy under this template. */
  strategyToken(name: string): string {
    return this.config.strategyToken.replace('{name}', name);
  }

  /** Id of a strategy's special token; an unknown strategy lists the valid ones. */
  strategyId(name: string): number {
    const token = this.strategyToken(name);
    if (!this.tokenizer.hasSpecialToken(token)) {
      throw new UnknownNameError('strategy', name, this.strategies);
    }
    return this.tokenizer.specialTokenId(token);
  }

  private header(role: ChatRole, strategy: string | undefined): Piece[] {
    const c = this.config;
    const out: Piece[] = [];
    const strat: Piece[] =
      strategy === undefined ? [] : [{ kind: 'special', token: this.strategyToken(strategy) }];
    const head: Piece = { kind: 'special', token: c.roles[role] };
    if (c.strategyPlacement === 'before_role') out.push(...strat, head);
    else out.push(head, ...strat);
    if (c.roleSeparator !== '') out.push({ kind: 'text', text: c.roleSeparator });
    return out;
  }

  private emit(
    pieces: readonly Piece[],
    completion: boolean,
    ids: number[],
    mask: number[],
    text: string[],
  ): void {
    for (const p of pieces) {
      const before = ids.length;
      if (p.kind === 'special') {
        const name = parseStrategyName(p.token, this.config.strategyToken);
        ids.push(name === undefined ? this.tokenizer.specialTokenId(p.token) : this.strategyId(name));
        text.push(p.token);
      } else {
        ids.push(...this.tokenizer.encode(p.text, { parseSpecial: false }));
        text.push(p.text);
      }
      for (let i = before; i < ids.length; i++) mask.push(completion ? 1 : 0);
    }
  }

  private emitMessage(
    m: ChatMessage,
    completion: boolean,
    ids: number[],
    mask: number[],
    text: string[],
  ): void {
    this.emit(this.header(m.role, m.strategy), false, ids, mask, text);
    const body: Piece[] = [];
    if (m.content !== '') body.push({ kind: 'text', text: m.content });
    body.push({ kind: 'special', token: this.config.endOfTurn });
    this.emit(body, completion, ids, mask, text);
    if (this.config.turnSeparator !== '') {
      this.emit([{ kind: 'text', text: this.config.turnSeparator }], false, ids, mask, text);
    }
  }

  private validate(messages: readonly ChatMessage[]): ChatMessage[] {
    return messages.map((m, i) => {
      const r = ChatMessageSchema.safeParse(m);
      if (!r.success) {
        const issue = r.error.issues[0]!;
        throw new UsageError(
          `message ${i}${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`,
        );
      }
      return r.data;
    });
  }

  /**
   * Ids of one message (header, content, end of turn, separator), for callers that build a dialogue
   * incrementally: `render(ms).ids` is `prefixIds` followed by `messageIds(m)` for each message.
   */
  messageIds(message: ChatMessage): number[] {
    const [m] = this.validate([message]);
    const ids: number[] = [];
    this.emitMessage(m!, false, ids, [], []);
    return ids;
  }

  /** The ids every rendered dialogue starts with (the bos token, when the template has one). */
  get prefixIds(): number[] {
    return this.bosId === undefined ? [] : [this.bosId];
  }

  /** Renders a whole dialogue, marking agent replies for SFT. */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): RenderedChat {
    const o = RenderOptionsSchema.parse(options);
    const msgs = this.validate(messages);
    const ids: number[] = [];
    const mask: number[] = [];
    const text: string[] = [];
    if (this.config.bos !== null)
      this.emit([{ kind: 'special', token: this.config.bos }], false, ids, mask, text);
    let lastAgent = -1;
    msgs.forEach((m, i) => {
      if (m.role === 'agent') lastAgent = i;
    });
    msgs.forEach((m, i) => {
      const completion =
        m.role === 'agent' &&
        (o.completion === 'all_agent_turns' || (o.completion === 'last_agent_turn' && i === lastAgent));
      this.emitMessage(m, completion, ids, mask, text);
    });
    if (o.addEos) {
      if (this.config.eos === null) throw new UsageError('addEos needs an eos token in the chat template');
      this.emit([{ kind: 'special', token: this.config.eos }], false, ids, mask, text);
    }
    return { ids, completionMask: mask, text: text.join('') };
  }

  /** The history followed by an open agent turn (with its strategy token), where the model writes the reply. */
  generationPrompt(
    messages: readonly ChatMessage[],
    options: { strategy?: string | undefined } = {},
  ): GenerationPrompt {
    const rendered = this.render(messages, { completion: 'none' });
    const ids = [...rendered.ids];
    const mask = [...rendered.completionMask];
    const text = [rendered.text];
    this.emit(this.header('agent', options.strategy), false, ids, mask, text);
    return { ids, text: text.join(''), stopId: this.endId };
  }

  /** The ids of a reply as the model writes it after a generation prompt: content then end-of-turn. */
  replyIds(content: string): number[] {
    return [...this.tokenizer.encode(content, { parseSpecial: false }), this.endId];
  }

  /** Ids of the role headers, end-of-turn, bos and eos tokens under this template. */
  get ids(): {
    readonly roles: Readonly<Record<ChatRole, number>>;
    readonly end: number;
    readonly bos?: number;
    readonly eos?: number;
  } {
    return {
      roles: this.roleIds,
      end: this.endId,
      ...(this.bosId !== undefined ? { bos: this.bosId } : {}),
      ...(this.eosId !== undefined ? { eos: this.eosId } : {}),
    };
  }
}

function parseStrategyName(token: string, pattern: string): string | undefined {
  const at = pattern.indexOf('{name}');
  const pre = pattern.slice(0, at);
  const post = pattern.slice(at + '{name}'.length);
  if (token.length <= pre.length + post.length || !token.startsWith(pre) || !token.endsWith(post))
    return undefined;
  return token.slice(pre.length, token.length - post.length);
}
