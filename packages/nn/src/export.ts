/**
 * Standalone .onnx export of a forward graph with its weights baked in as initializers: the file
 * runs in plain onnxruntime (any language) with only the listed inputs.
 */
import { Rng, writeFileAtomic } from '@gopo/core';
import { type EmittedModel, emitModel } from './emit.js';
import { type ConstData, Graph, type Tensor } from './graph.js';
import type { ParamStore } from './params.js';
import type { BatchSpec } from './trainer.js';

export function buildExportModel(
  model: (g: Graph, inputs: Readonly<Record<string, Tensor>>) => Record<string, Tensor>,
  inputs: BatchSpec,
  store: ParamStore,
  options: { name?: string; seed?: number } = {},
): EmittedModel {
  const g = new Graph({ name: options.name ?? 'model' });
  const ins = Object.fromEntries(Object.entries(inputs).map(([k, s]) => [k, g.input(k, s.dtype, s.shape)]));
  for (const [k, t] of Object.entries(model(g, ins))) g.output(k, t);
  store.initMissing(
    [...g.params.values()].map((p) => p.spec),
    Rng.fromSeed(options.seed ?? 0, 'init'),
  );
  const values = new Map<string, ConstData>();
  for (const name of g.params.keys()) values.set(name, store.get(name).data);
  return emitModel(g, { paramValues: values });
}

/** Writes the model to `file` atomically (temp + rename) and returns what was written. */
export async function exportOnnx(
  file: string,
  model: (g: Graph, inputs: Readonly<Record<string, Tensor>>) => Record<string, Tensor>,
  inputs: BatchSpec,
  store: ParamStore,
  options: { name?: string } = {},
): Promise<EmittedModel> {
  const emitted = buildExportModel(model, inputs, store, options);
  await writeFileAtomic(file, emitted.bytes);
  return emitted;
}
