/**
 * What JOSH's search leaves to learn from (our reading of Lee et al. 2024):
 *
 * - SFT: every (view, step) pair of the golden path, the turns from the reset to the first
 *   successful leaf.
 * - KTO: for each golden turn, its steps are desirable; each sibling turn (same parent, sampled at the
 *   same point) that differs from it is undesirable from the first step where it diverges on (the
 *   steps before are the golden turn's own, same view and step, and are not labelled twice). A
 *   sibling's subtree never reached success: the search stops at the first successful leaf.
 *
 * A search without a success gives no records: the sparse reward says nothing about which turn was
 * wrong.
 */
import { ToolAgentStepSchema, ToolAgentViewSchema } from '@gopo/dialogue';
import { z } from 'zod';
import type { JoshNode, JoshSearchResult, JoshStep } from './search.js';

export const JoshSftRecordSchema = z
  .object({
    item: z.string().describe('the goal or task id'),
    depth: z.number().int().min(1).describe('the turn of the golden path the step belongs to'),
    view: ToolAgentViewSchema.describe('what the agent saw'),
    step: ToolAgentStepSchema.describe('what it did'),
  })
  .strict()
  .describe('one step of a golden path');
export type JoshSftRecord = z.infer<typeof JoshSftRecordSchema>;

export const JoshKtoRecordSchema = JoshSftRecordSchema.extend({
  desirable: z.boolean().describe('on the golden path (true) or on a sibling turn that left it (false)'),
})
  .strict()
  .describe('one labelled step for KTO');
export type JoshKtoRecord = z.infer<typeof JoshKtoRecordSchema>;

const key = (s: JoshStep) => JSON.stringify([s.view.messages.length, s.step]);

function record(item: string, depth: number, s: JoshStep): JoshSftRecord {
  return {
    item,
    depth,
    view: { system: s.view.system, tools: [...s.view.tools], messages: [...s.view.messages] },
    step: s.step,
  };
}

/** The SFT and KTO records of one search (none when it found no success). */
export function joshRecords(
  item: string,
  result: JoshSearchResult,
): { sft: JoshSftRecord[]; kto: JoshKtoRecord[] } {
  if (result.outcome.kind !== 'success') return { sft: [], kto: [] };
  const golden = result.outcome.golden.slice(1);
  const sft: JoshSftRecord[] = [];
  const kto: JoshKtoRecord[] = [];
  const children = new Map<number, JoshNode[]>();
  for (const n of result.nodes)
    if (n.parent !== null) children.set(n.parent, [...(children.get(n.parent) ?? []), n]);
  for (const node of golden) {
    for (const s of node.turn) {
      sft.push(record(item, node.depth, s));
      kto.push({ ...record(item, node.depth, s), desirable: true });
    }
    const goodKeys = node.turn.map(key);
    const seen = new Set<string>();
    for (const sib of children.get(node.parent!) ?? []) {
      if (sib.id === node.id) continue;
      const at = sib.turn.findIndex((s, i) => key(s) !== goodKeys[i]);
      if (at < 0) continue; // the same turn sampled twice
      for (const s of sib.turn.slice(at)) {
        // Two siblings may share a bad step: label it once.
        if (seen.has(key(s))) continue;
        seen.add(key(s));
        kto.push({ ...record(item, sib.depth, s), desirable: false });
      }
    }
  }
  return { sft, kto };
}
