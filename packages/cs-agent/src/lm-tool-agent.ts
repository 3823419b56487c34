/**
 * The LM tool agent: a @gopo/lm decoder that acts in the tool environments (ToolWOZ, tau-bench
 * retail) through dialogue's ToolAgent interface. Each step it renders the view into a prompt
 * (tool-step-format.ts), generates one step up to eos and parses it; a malformed generation becomes
 * the fallback reply and is counted by reason. It lives here, beside the CS Agent, because it is the
 * same kind of thing (a service agent on an lm decoder) and trains with the same pieces: lm's SFT on
 * prompt/completion records and the CsUpdater's KTO step on (prompt, step tokens) items.
 *
 * The agent holds no dialogue state: a step is a function of the view and the sampling seed, so
 * search procedures that branch and replay (JOSH) can create agents at any point of a dialogue.
 */
import * as path from 'node:path';
import { hashString } from '@gopo/core';
import type { ToolAgent, ToolAgentStep, ToolAgentView } from '@gopo/dialogue';
import { LlamaModel, TOKENIZER_FILE, Tokenizer } from '@gopo/lm';
import { z } from 'zod';
import {
  MALFORMED_REASONS,
  type MalformedReason,
  type ParsedToolStep,
  parseToolStep,
  renderToolPrompt,
  renderToolStep,
  ToolPromptOptionsSchema,
} from './tool-step-format.js';

export const LmToolAgentConfigSchema = z
  .object({
    maxNewTokens: z.number().int().min(1).max(1024).default(96).describe('step length cap in tokens'),
    temperature: z.number().min(0).default(0).describe('sampling temperature (0: greedy)'),
    topK: z.number().int().min(0).default(0).describe('keep the k most likely tokens (0: all)'),
    topP: z.number().gt(0).max(1).default(1).describe('nucleus sampling mass'),
    seed: z.number().int().default(0).describe('sampling seed (each step mixes in its position)'),
    maxPromptTokens: z
      .number()
      .int()
      .min(16)
      .default(768)
      .describe('prompt budget: older messages are dropped until the prompt fits (then it is left-cut)'),
    prompt: ToolPromptOptionsSchema.prefault({}),
  })
  .strict()
  .describe('how the LM tool agent renders views and generates steps');
export type LmToolAgentConfig = z.infer<typeof LmToolAgentConfigSchema>;
export type LmToolAgentConfigInput = z.input<typeof LmToolAgentConfigSchema>;

/** Steps taken and malformed generations, by reason. */
export interface LmToolAgentStats {
  steps: number;
  malformed: number;
  byReason: Record<MalformedReason, number>;
}

const emptyStats = (): LmToolAgentStats => ({
  steps: 0,
  malformed: 0,
  byReason: Object.fromEntries(MALFORMED_REASONS.map((r) => [r, 0])) as Record<MalformedReason, number>,
});

/** A view's prompt as text and ids (bos first), fitted to a token budget. */
export interface FittedPrompt {
  readonly text: string;
  readonly ids: readonly number[];
  /** The ids were cut on the left because even the shortest rendering was too long. */
  readonly leftCut: boolean;
}

/**
 * The prompt of a view within `budget` tokens (bos included): the rendering with the most recent
 * messages that fits; when that is still too long, its ids are cut on the left (bos kept).
 * The ids are those lm's SFT makes of a prompt/completion record: bos + encode(text).
 */
export function fitToolPrompt(
  view: ToolAgentView,
  tokenizer: Tokenizer,
  config: Pick<LmToolAgentConfig, 'prompt'>,
  budget: number,
): FittedPrompt {
  const encode = (text: string) => [tokenizer.bosId, ...tokenizer.encode(text, { parseSpecial: false })];
  let maxMessages = Math.min(config.prompt.maxMessages, Math.max(1, view.messages.length));
  for (;;) {
    const text = renderToolPrompt(view, { ...config.prompt, maxMessages });
    const ids = encode(text);
    if (ids.length <= budget) return { text, ids, leftCut: false };
    if (maxMessages <= 2) {
      // Even the shortest rendering is too long: keep its end. The text is the kept ids decoded, so
      // an SFT record written from it reads (nearly: BPE may merge differently) what generation reads.
      const kept = [tokenizer.bosId, ...ids.slice(ids.length - budget + 1)];
      return { text: tokenizer.decode(kept.slice(1)), ids: kept, leftCut: true };
    }
    maxMessages--;
  }
}

/** The completion ids of a step: encode(step text) + eos (what SFT and KTO train on). */
export function toolStepIds(step: ToolAgentStep, tokenizer: Tokenizer): number[] {
  return [...tokenizer.encode(renderToolStep(step), { parseSpecial: false }), tokenizer.eosId];
}

/** One generated step with its tokens (what token-level RL of the tool agent learns from). */
export interface SampledToolStep {
  readonly prompt: readonly number[];
  readonly tokens: readonly number[];
  readonly logprobs: readonly number[];
  readonly text: string;
  readonly parsed: ParsedToolStep;
}

export class LmToolAgent implements ToolAgent {
  readonly config: LmToolAgentConfig;
  readonly stats: LmToolAgentStats = emptyStats();

  constructor(
    readonly model: LlamaModel,
    readonly tokenizer: Tokenizer,
    config: LmToolAgentConfigInput = {},
    readonly name = 'lm',
  ) {
    this.config = LmToolAgentConfigSchema.parse(config);
  }

  /** A model folder (Hugging Face layout with tokenizer.json, e.g. an SFT run's model/). */
  static async load(
    dir: string,
    config: LmToolAgentConfigInput = {},
    options: { trainable?: boolean; intraOpThreads?: number; name?: string } = {},
  ): Promise<LmToolAgent> {
    const model = await LlamaModel.fromPretrained(dir, {
      ...(options.trainable ? { weightsAs: 'inputs' as const } : {}),
      ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
    });
    const tokenizer = await Tokenizer.load(path.join(dir, TOKENIZER_FILE));
    return new LmToolAgent(model, tokenizer, config, options.name);
  }

  /** The same model with other sampling settings (JOSH's branches: another seed each). */
  withConfig(overrides: Partial<LmToolAgentConfig>, name = this.name): LmToolAgent {
    return new LmToolAgent(this.model, this.tokenizer, { ...this.config, ...overrides }, name);
  }

  /** Tokens the prompt may take: the budget, less room for the step within the model's context. */
  get promptBudget(): number {
    return Math.max(
      16,
      Math.min(
        this.config.maxPromptTokens,
        this.model.config.max_position_embeddings - this.config.maxNewTokens,
      ),
    );
  }

  prompt(view: ToolAgentView): FittedPrompt {
    return fitToolPrompt(view, this.tokenizer, this.config, this.promptBudget);
  }

  /**
   * Generates one step for a view and keeps what RL needs of it: the prompt ids, the generated ids
   * (eos included when the step ended there), their log-probs under the model's own distribution,
   * the raw text and its parse. `act` is this without the tokens.
   */
  async sampleStep(view: ToolAgentView): Promise<SampledToolStep> {
    const c = this.config;
    const prompt = this.prompt(view).ids;
    const [r] = await this.model.generate(
      [[...prompt]],
      {
        maxNewTokens: c.maxNewTokens,
        temperature: c.temperature,
        topK: c.topK,
        topP: c.topP,
        rowSeeds: [hashString(`${c.seed}/${view.messages.length}`)],
        stopTokenIds: [this.tokenizer.eosId],
        padId: this.tokenizer.padId,
      },
      { tokenizer: this.tokenizer },
    );
    const text = r?.text ?? '';
    return {
      prompt,
      tokens: r?.tokens ?? [],
      logprobs: r?.logprobs ?? [],
      text,
      parsed: parseToolStep(text, view),
    };
  }

  /** Generates the step text for a view (raw, before parsing). */
  async generateText(view: ToolAgentView): Promise<string> {
    return (await this.sampleStep(view)).text;
  }

  async act(view: ToolAgentView): Promise<ToolAgentStep> {
    // Through generateText, the one seam tests stub to feed a text.
    return this.count(parseToolStep(await this.generateText(view), view));
  }

  /** Counts a parsed step in `stats` and hands back the step the environment gets. */
  count(parsed: ParsedToolStep): ToolAgentStep {
    this.stats.steps++;
    if (!parsed.ok) {
      this.stats.malformed++;
      this.stats.byReason[parsed.reason]++;
    }
    return parsed.step;
  }
}
