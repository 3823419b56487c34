/**
 * Messages between a ThreadPool and its rollout worker threads, schema-checked on both sides.
 * Requests are numbered; a worker answers each with `done`, `synced` or `error`, after streaming
 * one `episode` per finished episode of a `run`. `close` has no answer: the thread ends.
 */
import { z } from 'zod';
import { EpisodeJobSchema } from './episodes.js';

const ParamSchema = z.object({
  name: z.string().min(1),
  dims: z.array(z.number().int().min(0)),
  data: z.instanceof(Float32Array),
});
export type ParamMessage = z.infer<typeof ParamSchema>;

export const ToWorkerSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('close').describe('stop at the next policy call, then leave (the thread ends)'),
  }),
  z.object({
    type: z.literal('run'),
    request: z.number().int(),
    jobs: z.array(EpisodeJobSchema).describe("the worker's shard, played in one lockstep batch per `greedy`"),
  }),
  z.object({
    type: z.literal('sync'),
    request: z.number().int(),
    version: z.number().int().min(0).describe('the learner version these weights are'),
    params: z.array(ParamSchema).describe('every tensor of the learner ParamStore, as float32 copies'),
  }),
]);
export type ToWorker = z.infer<typeof ToWorkerSchema>;

export const FromWorkerSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    strategies: z.array(z.string()),
    version: z.number().int(),
  }),
  z.object({
    type: z.literal('episode'),
    request: z.number().int(),
    index: z.number().int().min(0).describe("the episode's index in the shard"),
    result: z.unknown().describe('an EpisodeResult (checked by the pool)'),
  }),
  z.object({ type: z.literal('done'), request: z.number().int(), count: z.number().int().min(0) }),
  z.object({ type: z.literal('synced'), request: z.number().int(), version: z.number().int() }),
  z.object({
    type: z.literal('error'),
    request: z.number().int().nullable().describe('null: the worker failed to start'),
    name: z.string(),
    message: z.string(),
    stack: z.string().optional(),
    jobs: z.array(z.string()).describe('ids of the jobs the failing call was playing'),
  }),
]);
export type FromWorker = z.infer<typeof FromWorkerSchema>;
