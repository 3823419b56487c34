/**
 * Wraps a compiled train step in an ONNX Loop that runs it K times in one session call.
 *
 * Why: onnxruntime-node copies every fetched output into a fresh ArrayBuffer, so a step that
 * returns its parameters and optimizer moments pays a copy, page faults and a V8 collection per
 * call (~50 MB and ~25 ms for the benchmark model). Carrying that state through a Loop pays it once
 * per K steps, and each iteration runs exactly the nodes of the single step, so K fused steps give
 * the same bits as K separate ones.
 *
 * Pairing: a step output `new:X` carries into input `X`. Every other step input is per-step data
 * fed stacked as `steps:X` ([K, ...shape]) and picked inside the body with Gather(iteration); every
 * other output (loss, grad_norm, metrics) comes back stacked as `steps:Y`. Body values are renamed
 * under `body/` so that no name in the body shadows one of the outer graph.
 */
import { type EmittedModel, valueInfo } from './emit.js';
import { sameShape } from './graph.js';
import {
  type AttributeProtoJson,
  decodeModel,
  encodeModel,
  type GraphProtoJson,
  type ModelProtoJson,
  ONNX_ATTR_TYPE,
  ONNX_DATA_TYPE,
} from './onnx-proto.js';

/** A step output `new:X` is the next value of input X (Trainer names new parameters and state so). */
export const CARRY_PREFIX = 'new:';
export const STACKED_PREFIX = 'steps:';
const BODY = 'body/';

/** The inputs a step reads back from its own `new:` outputs, with their specs checked. */
function carriedNames(step: EmittedModel): string[] {
  const inputs = new Map(step.inputs.map((i) => [i.name, i]));
  const names: string[] = [];
  for (const o of step.outputs) {
    if (!o.name.startsWith(CARRY_PREFIX)) continue;
    const name = o.name.slice(CARRY_PREFIX.length);
    const i = inputs.get(name);
    if (!i) throw new Error(`step output "${o.name}" has no input "${name}" to carry into`);
    if (i.dtype !== o.dtype || !sameShape(i.shape, o.shape))
      throw new Error(
        `step output "${o.name}" is ${o.dtype}[${o.shape.join(',')}] but input "${name}" is ${i.dtype}[${i.shape.join(',')}]`,
      );
    names.push(name);
  }
  return names;
}

/**
 * The K-step model of `step` (a model from emitModel with static shapes). Its inputs are the
 * carried values under their own names and the per-step inputs as `steps:X` [K, ...]; its outputs
 * are `new:X` (the values after K steps) and `steps:Y` [K, ...] for every other step output.
 */
export function stepLoopModel(step: EmittedModel, steps: number): EmittedModel {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`steps must be a positive integer, got ${steps}`);
  for (const v of [...step.inputs, ...step.outputs])
    if (v.shape.some((d) => typeof d !== 'number'))
      throw new Error(`step value "${v.name}" has symbolic dims; a step loop needs static shapes`);
  const carried = carriedNames(step);
  const isCarried = new Set(carried);
  const perStep = step.inputs.filter((i) => !isCarried.has(i.name));
  const carriedOut = new Set(carried.map((n) => `${CARRY_PREFIX}${n}`));
  const scanned = step.outputs.filter((o) => !carriedOut.has(o.name));
  const inner = decodeModel(step.bytes);
  const g = inner.graph;
  const rename = (n: string) => (n === '' ? '' : `${BODY}${n}`);
  const renameVi = <T extends { name: string }>(v: T): T => ({ ...v, name: rename(v.name) });
  const outByName = new Map(g.output.map((o) => [o.name, o]));
  const inByName = new Map(g.input.map((i) => [i.name, i]));

  const iter = `${BODY}iteration`;
  const body: GraphProtoJson = {
    name: `${g.name}_body`,
    node: [
      {
        name: `${BODY}cond`,
        opType: 'Identity',
        input: [`${BODY}cond_in`],
        output: [`${BODY}cond_out`],
        attribute: [],
      },
      // Per-step inputs: row `iteration` of the stacked outer input (outer names are visible here).
      ...perStep.map((i) => ({
        name: `${BODY}pick/${i.name}`,
        opType: 'Gather',
        input: [`${STACKED_PREFIX}${i.name}`, iter],
        output: [rename(i.name)],
        attribute: [{ name: 'axis', type: ONNX_ATTR_TYPE.INT, i: 0 }],
      })),
      ...g.node.map((n) => ({ ...n, input: n.input.map(rename), output: n.output.map(rename) })),
    ],
    initializer: g.initializer.map(renameVi),
    input: [
      valueInfo(iter, 'int64', []),
      valueInfo(`${BODY}cond_in`, 'bool', []),
      ...carried.map((n) => renameVi(inByName.get(n) as (typeof g.input)[number])),
    ],
    output: [
      valueInfo(`${BODY}cond_out`, 'bool', []),
      ...carried.map((n) => renameVi(outByName.get(`${CARRY_PREFIX}${n}`) as (typeof g.output)[number])),
      ...scanned.map((o) => renameVi(outByName.get(o.name) as (typeof g.output)[number])),
    ],
  };

  const inputs: EmittedModel['inputs'] = [
    ...step.inputs.filter((i) => isCarried.has(i.name)),
    ...perStep.map((i) => ({
      name: `${STACKED_PREFIX}${i.name}`,
      dtype: i.dtype,
      shape: [steps, ...i.shape],
    })),
  ];
  const outputs: EmittedModel['outputs'] = [
    ...carried.map(
      (n) => step.outputs.find((o) => o.name === `${CARRY_PREFIX}${n}`) as EmittedModel['outputs'][number],
    ),
    ...scanned.map((o) => ({
      name: `${STACKED_PREFIX}${o.name}`,
      dtype: o.dtype,
      shape: [steps, ...o.shape],
    })),
  ];
  const loopAttr: AttributeProtoJson = { name: 'body', type: ONNX_ATTR_TYPE.GRAPH, g: body };
  const model: ModelProtoJson = {
    ...inner,
    graph: {
      name: `${g.name}_x${steps}`,
      node: [
        {
          name: 'steps',
          opType: 'Loop',
          input: ['steps/count', 'steps/always', ...carried],
          output: outputs.map((o) => o.name),
          attribute: [loopAttr],
        },
      ],
      initializer: [
        {
          name: 'steps/count',
          dims: [],
          dataType: ONNX_DATA_TYPE.int64,
          rawData: new Uint8Array(BigInt64Array.of(BigInt(steps)).buffer),
        },
        { name: 'steps/always', dims: [], dataType: ONNX_DATA_TYPE.bool, rawData: Uint8Array.of(1) },
      ],
      input: inputs.map((i) => valueInfo(i.name, i.dtype, i.shape)),
      output: outputs.map((o) => valueInfo(o.name, o.dtype, o.shape)),
    },
  };
  return { bytes: encodeModel(model), inputs, outputs, nodeCount: step.nodeCount + perStep.length + 2 };
}
