/**
 * SFT data: JSON Lines of chat records ({"messages": [...]}, rendered with the chat template) or
 * prompt/completion pairs. Each record becomes token ids plus a mask of the tokens the loss counts
 * (the completion: agent replies and their end token, or the completion text and eos).
 */
import { FileFormatError, GopoError, readJsonl } from '@gopo/core';
import { z } from 'zod';
import { type ChatMessage, ChatMessageSchema, type ChatTemplate } from '../tokenizer/chat-template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export const SftRecordSchema = z
  .object({
    messages: z
      .array(ChatMessageSchema)
      .min(1)
      .optional()
      .describe('a dialogue: {role: system|user|agent, content, strategy?} turns'),
    prompt: z.string().optional().describe('prompt text (not trained on)'),
    completion: z.string().optional().describe('completion text the model learns to write after the prompt'),
  })
  .strict()
  .superRefine((r, ctx) => {
    const chat = r.messages !== undefined;
    const pair = r.prompt !== undefined || r.completion !== undefined;
    if (chat === pair)
      ctx.addIssue({
        code: 'custom',
        path: chat ? ['prompt'] : ['messages'],
        message: 'a record holds either "messages" or "prompt" and "completion"',
      });
    else if (pair && r.prompt === undefined)
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'missing prompt' });
    else if (pair && (r.completion === undefined || r.completion === ''))
      ctx.addIssue({ code: 'custom', path: ['completion'], message: 'missing or empty completion' });
  })
  .describe('one SFT example');
export type SftRecord = z.infer<typeof SftRecordSchema>;

/** A tokenized example: ids and a 0/1 mask (1 = the loss counts predicting this token). */
export interface SftExample {
  readonly ids: readonly number[];
  readonly mask: readonly number[];
  /** Where it came from, for messages about it. */
  readonly source: string;
}

export interface TokenizeOptions {
  /** Which agent turns of chat records are trained on. */
  readonly completion: 'all_agent_turns' | 'last_agent_turn';
}

/** Tokenizes one record. Prompt/completion pairs become bos + prompt + completion + eos. */
export function tokenizeRecord(
  record: SftRecord,
  tokenizer: Tokenizer,
  template: ChatTemplate,
  options: TokenizeOptions,
  source: string,
): SftExample {
  if (record.messages) {
    const r = template.render(record.messages as ChatMessage[], { completion: options.completion });
    return { ids: r.ids, mask: r.completionMask, source };
  }
  const prompt = [tokenizer.bosId, ...tokenizer.encode(record.prompt ?? '', { parseSpecial: false })];
  const completion = [...tokenizer.encode(record.completion ?? '', { parseSpecial: false }), tokenizer.eosId];
  return {
    ids: [...prompt, ...completion],
    mask: [...prompt.map(() => 0), ...completion.map(() => 1)],
    source,
  };
}

/** Reads and tokenizes SFT files; a bad line throws a FileFormatError naming file, line and field. */
export async function readSftExamples(
  files: readonly string[],
  tokenizer: Tokenizer,
  template: ChatTemplate,
  options: TokenizeOptions,
): Promise<SftExample[]> {
  const out: SftExample[] = [];
  for (const file of files) {
    for await (const { line, value } of readJsonl(file, SftRecordSchema)) {
      let ex: SftExample;
      try {
        ex = tokenizeRecord(value, tokenizer, template, options, `${file}:${line}`);
      } catch (e) {
        // e.g. an agent turn with a strategy this tokenizer has no token for
        if (e instanceof GopoError) throw new FileFormatError({ file, line, path: ['messages'] }, e.message);
        throw e;
      }
      if (!ex.mask.some((m) => m === 1))
        throw new FileFormatError(
          { file, line, path: ['messages'] },
          'nothing to train on (no agent turn in the completion)',
        );
      out.push(ex);
    }
  }
  return out;
}
