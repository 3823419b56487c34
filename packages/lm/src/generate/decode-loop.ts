/**
 * Greedy decoding of several tokens per session run: the cached step graph (`buildStepGraph`, one
 * token per row) wrapped in an ONNX Loop whose body also picks the next token (ArgMax), so the KV
 * cache stays inside onnxruntime between tokens and crosses into JavaScript once per run instead of
 * once per token.
 *
 * Why: onnxruntime-node copies every fetched output into a fresh ArrayBuffer (preallocated or not)
 * and has no IO binding, so a run per token pays the cache's copy in, its copy out, page faults and
 * V8 collections, and the host's per-row argmax and log-sum-exp over the vocabulary; at batch 32 that
 * overhead, not the kernels, set the decode rate. Each iteration runs exactly the nodes of the
 * one-token step on the same shapes, so the logits, and hence the greedy tokens, are the same bits
 * as one run per token (tested).
 *
 * Loop state per row (carried): the input token, its position, the cache-slot mask of the window
 * before the step, a done flag and the caches. An iteration shifts the mask by one slot (the new
 * token's), runs the step, takes the argmax, marks rows that produced a stop id done, and feeds
 * `pad_id` to done rows, as the host path does; the loop ends after `max_steps` iterations or when
 * every row is done. Per iteration it emits the argmax, its raw logit and the float64 log-sum-exp of
 * the row's logits (the host turns the pair into the token's log-prob).
 *
 * Inputs: max_steps int64 [], stop_ids int64 [S] (-1 for none), pad_id int64 [], input_ids and
 * position_ids int64 [B, 1], cache_mask int64 [B, C], done bool [B], past_key_values.* and whatever
 * else the step reads (weights fed as inputs). Outputs: out.input_ids, out.position_ids,
 * out.cache_mask, out.done, present.* (the state after the last iteration), tokens int64 [N, B],
 * token_logits float32 [N, B] and logsumexp float64 [N, B] for the N iterations run.
 */
import { decodeModel, type EmittedModel, encodeModel, type ModelProtoJson } from '@gopo/nn';

type GraphProto = ModelProtoJson['graph'];
type NodeProto = GraphProto['node'][number];
type AttributeProto = NodeProto['attribute'][number];
type TensorProto = GraphProto['initializer'][number];
type ValueInfo = GraphProto['input'][number];
type Spec = EmittedModel['inputs'][number];

// onnx.proto codes (TensorProto.DataType, AttributeProto.AttributeType).
const DT = { float32: 1, int64: 7, bool: 9, float64: 11 } as const;
const ATTR_INT = 2;
const ATTR_GRAPH = 5;

const BODY = 'body/';
const PAST = 'past_key_values.';
const PRESENT = 'present.';

/** Carried state besides the caches, in Loop order: outer input name -> body name of its next value. */
export const DECODE_STATE = ['input_ids', 'position_ids', 'cache_mask', 'done'] as const;
export const DECODE_SCANS = ['tokens', 'token_logits', 'logsumexp'] as const;

const vi = (name: string, dtype: keyof typeof DT, dims: readonly (number | string)[]): ValueInfo => ({
  name,
  type: {
    tensorType: {
      elemType: DT[dtype],
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  },
});
const int = (name: string, i: number): AttributeProto => ({ name, type: ATTR_INT, i });
const node = (
  name: string,
  opType: string,
  input: string[],
  output: string[],
  attribute: AttributeProto[] = [],
): NodeProto => ({ name, opType, input, output, attribute });
const i64 = (name: string, dims: number[], values: readonly number[]): TensorProto => ({
  name,
  dims,
  dataType: DT.int64,
  rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer),
});

/**
 * The Loop model around `step`, a one-token cached step emitted with static shapes (inputs
 * input_ids / position_ids [B, 1], attention_mask [B, C], past_key_values.*; outputs logits [B, V]
 * and present.*).
 */
export function decodeLoopModel(step: EmittedModel): EmittedModel {
  const spec = (name: string, list: readonly Spec[]) => {
    const s = list.find((x) => x.name === name);
    if (!s) throw new Error(`decodeLoopModel: the step has no "${name}"`);
    if (s.shape.some((d) => typeof d !== 'number'))
      throw new Error(`decodeLoopModel: "${name}" has symbolic dims; the loop needs static shapes`);
    return s.shape as number[];
  };
  const [b, one] = spec('input_ids', step.inputs) as [number, number];
  if (one !== 1) throw new Error(`decodeLoopModel: the step must take one token per row, not ${one}`);
  const [, cap] = spec('attention_mask', step.inputs) as [number, number];
  const logits = spec('logits', step.outputs);
  if (logits.length !== 2)
    throw new Error('decodeLoopModel: the step must return last-position logits [B, V]');
  const caches = step.inputs.filter((i) => i.name.startsWith(PAST)).map((i) => i.name);
  for (const c of caches) spec(PRESENT + c.slice(PAST.length), step.outputs);
  const own = new Set(['input_ids', 'position_ids', 'attention_mask', ...caches]);
  // Anything else the step reads (weights fed as inputs) is read from the outer scope by name.
  const outer = step.inputs.filter((i) => !own.has(i.name));
  const outerNames = new Set(outer.map((i) => i.name));

  const inner = decodeModel(step.bytes);
  const g = { ...inner.graph, node: oneCopyCacheWrites(inner.graph, caches, b, cap) };
  const rename = (n: string) => (n === '' || outerNames.has(n) ? n : `${BODY}${n}`);
  const r = (n: string) => `${BODY}${n}`;
  const cacheSpec = (name: string) => step.inputs.find((i) => i.name === name) as Spec;

  const consts: TensorProto[] = [
    i64(r('c/one'), [1], [1]),
    i64(r('c/cap'), [1], [cap]),
    i64(r('c/ones_b1'), [b, 1], new Array<number>(b).fill(1)),
    i64(r('c/shape_b'), [1], [b]),
    i64(r('c/shape_b1'), [2], [b, 1]),
    i64(r('c/scalar_one'), [], [1]),
  ];
  const body: GraphProto = {
    name: `${g.name}_decode_body`,
    node: [
      // The window moves one slot: drop the oldest, the new token's slot is real.
      node(r('mask/tail'), 'Slice', [r('cache_mask'), r('c/one'), r('c/cap'), r('c/one')], [r('mask/tail')]),
      node(
        r('mask/shift'),
        'Concat',
        [r('mask/tail'), r('c/ones_b1')],
        [r('attention_mask')],
        [int('axis', 1)],
      ),
      ...g.node.map((n) => ({ ...n, input: n.input.map(rename), output: n.output.map(rename) })),
      node(r('argmax'), 'ArgMax', [r('logits')], [r('argmax')], [int('axis', 1), int('keepdims', 1)]),
      node(r('picked'), 'GatherElements', [r('logits'), r('argmax')], [r('picked')], [int('axis', 1)]),
      node(r('token'), 'Reshape', [r('argmax'), r('c/shape_b')], [r('token')]),
      node(r('token_logit'), 'Reshape', [r('picked'), r('c/shape_b')], [r('token_logit')]),
      // log-sum-exp: max, exp(x - max) in float32 (vectorised), their sum and log in float64 (within
      // ~1e-8 of the host's float64 sum, some 6x faster than a float64 ReduceLogSumExp).
      node(r('lse/max'), 'ReduceMax', [r('logits'), r('c/one')], [r('lse/max')], [int('keepdims', 0)]),
      node(r('lse/max_col'), 'Reshape', [r('lse/max'), r('c/shape_b1')], [r('lse/max_col')]),
      node(r('lse/diff'), 'Sub', [r('logits'), r('lse/max_col')], [r('lse/diff')]),
      node(r('lse/exp'), 'Exp', [r('lse/diff')], [r('lse/exp')]),
      node(r('lse/exp64'), 'Cast', [r('lse/exp')], [r('lse/exp64')], [int('to', DT.float64)]),
      node(r('lse/sum'), 'ReduceSum', [r('lse/exp64'), r('c/one')], [r('lse/sum')], [int('keepdims', 0)]),
      node(r('lse/log'), 'Log', [r('lse/sum')], [r('lse/log')]),
      node(r('lse/max64'), 'Cast', [r('lse/max')], [r('lse/max64')], [int('to', DT.float64)]),
      node(r('lse'), 'Add', [r('lse/log'), r('lse/max64')], [r('lse')]),
      // A row is done once it produced a stop id; done rows feed pad_id (as the host path does).
      node(r('hit/eq'), 'Equal', [r('argmax'), 'stop_ids'], [r('hit/eq')]),
      node(r('hit/int'), 'Cast', [r('hit/eq')], [r('hit/int')], [int('to', DT.int64)]),
      node(r('hit/any'), 'ReduceMax', [r('hit/int'), r('c/one')], [r('hit/any')], [int('keepdims', 0)]),
      node(r('hit'), 'Cast', [r('hit/any')], [r('hit')], [int('to', DT.bool)]),
      node(r('done_next'), 'Or', [r('done'), r('hit')], [r('done_next')]),
      node(r('done_col'), 'Reshape', [r('done_next'), r('c/shape_b1')], [r('done_col')]),
      node(r('ids_next'), 'Where', [r('done_col'), 'pad_id', r('argmax')], [r('ids_next')]),
      node(r('pos_next'), 'Add', [r('position_ids'), r('c/scalar_one')], [r('pos_next')]),
      node(r('live'), 'Not', [r('done_next')], [r('live')]),
      node(r('live/int'), 'Cast', [r('live')], [r('live/int')], [int('to', DT.int64)]),
      node(r('live/any'), 'ReduceMax', [r('live/int')], [r('live/any')], [int('keepdims', 0)]),
      node(r('cond_out'), 'Cast', [r('live/any')], [r('cond_out')], [int('to', DT.bool)]),
    ],
    initializer: [...g.initializer.map((t) => ({ ...t, name: rename(t.name) })), ...consts],
    input: [
      vi(r('iteration'), 'int64', []),
      vi(r('cond_in'), 'bool', []),
      vi(r('input_ids'), 'int64', [b, 1]),
      vi(r('position_ids'), 'int64', [b, 1]),
      vi(r('cache_mask'), 'int64', [b, cap]),
      vi(r('done'), 'bool', [b]),
      ...caches.map((c) => vi(r(c), 'float32', cacheSpec(c).shape)),
    ],
    output: [
      vi(r('cond_out'), 'bool', []),
      vi(r('ids_next'), 'int64', [b, 1]),
      vi(r('pos_next'), 'int64', [b, 1]),
      vi(r('attention_mask'), 'int64', [b, cap]),
      vi(r('done_next'), 'bool', [b]),
      ...caches.map((c) => vi(r(PRESENT + c.slice(PAST.length)), 'float32', cacheSpec(c).shape)),
      vi(r('token'), 'int64', [b]),
      vi(r('token_logit'), 'float32', [b]),
      vi(r('lse'), 'float64', [b]),
    ],
  };

  const inputs: Spec[] = [
    { name: 'max_steps', dtype: 'int64', shape: [] },
    { name: 'stop_ids', dtype: 'int64', shape: ['stops'] },
    { name: 'pad_id', dtype: 'int64', shape: [] },
    { name: 'input_ids', dtype: 'int64', shape: [b, 1] },
    { name: 'position_ids', dtype: 'int64', shape: [b, 1] },
    { name: 'cache_mask', dtype: 'int64', shape: [b, cap] },
    { name: 'done', dtype: 'bool', shape: [b] },
    ...caches.map((c) => cacheSpec(c)),
    ...outer,
  ];
  const outputs: Spec[] = [
    { name: 'out.input_ids', dtype: 'int64', shape: [b, 1] },
    { name: 'out.position_ids', dtype: 'int64', shape: [b, 1] },
    { name: 'out.cache_mask', dtype: 'int64', shape: [b, cap] },
    { name: 'out.done', dtype: 'bool', shape: [b] },
    ...caches.map((c) => ({ ...cacheSpec(c), name: PRESENT + c.slice(PAST.length) })),
    { name: 'tokens', dtype: 'int64', shape: ['steps', b] },
    { name: 'token_logits', dtype: 'float32', shape: ['steps', b] },
    { name: 'logsumexp', dtype: 'float64', shape: ['steps', b] },
  ];
  const model: ModelProtoJson = {
    ...inner,
    graph: {
      name: `${g.name}_decode`,
      node: [
        node(
          'decode',
          'Loop',
          ['max_steps', 'decode/always', 'input_ids', 'position_ids', 'cache_mask', 'done', ...caches],
          outputs.map((o) => o.name),
          [{ name: 'body', type: ATTR_GRAPH, g: body }],
        ),
      ],
      initializer: [{ name: 'decode/always', dims: [], dataType: DT.bool, rawData: Uint8Array.of(1) }],
      input: inputs.map((i) => vi(i.name, i.dtype as keyof typeof DT, i.shape)),
      output: outputs.map((o) => vi(o.name, o.dtype as keyof typeof DT, o.shape)),
    },
  };
  return { bytes: encodeModel(model), inputs, outputs, nodeCount: step.nodeCount + 24 };
}

/**
 * The step writes each cache window as Slice(Concat(past, new), T..C+T): two copies of the cache.
 * In the loop every iteration pays them on the whole cache, so each is rewritten as
 * ScatterND(Pad(past, -T at the front and +T at the end of the slot axis), new at the last T slots):
 * one copy (ScatterND writes in place into the Pad's fresh buffer). The values are the same, so the
 * attention that reads them computes the same bits.
 */
function oneCopyCacheWrites(
  g: GraphProto,
  caches: readonly string[],
  b: number,
  cap: number,
): GraphProto['node'] {
  const producer = new Map(g.node.map((n) => [n.output[0], n]));
  const consumers = (name: string) => g.node.filter((n) => n.input.includes(name)).length;
  const drop = new Set<NodeProto>();
  const replace = new Map<NodeProto, NodeProto[]>();
  const extra: TensorProto[] = [];
  for (const past of caches) {
    const present = PRESENT + past.slice(PAST.length);
    const slice = producer.get(present);
    const concat = slice && producer.get(slice.input[0] as string);
    const axis = concat?.attribute.find((a) => a.name === 'axis')?.i;
    if (
      slice?.opType !== 'Slice' ||
      !concat ||
      concat.opType !== 'Concat' ||
      Number(axis) !== 2 ||
      concat.input.length !== 2 ||
      concat.input[0] !== past ||
      consumers(concat.output[0] as string) !== 1
    )
      throw new Error(
        `decodeLoopModel: "${present}" is not written as Slice(Concat(past, new)); update oneCopyCacheWrites`,
      );
    const fresh = concat.input[1] as string;
    const kvHeads = shapeOf(g, past)[1] as number;
    if (extra.length === 0) {
      extra.push(i64('cache_write/pads', [8], [0, 0, -1, 0, 0, 0, 1, 0]));
      const idx: number[] = [];
      for (let i = 0; i < b; i++) for (let h = 0; h < kvHeads; h++) idx.push(i, h, cap - 1);
      extra.push(i64('cache_write/slots', [b, kvHeads, 1, 3], idx));
    }
    drop.add(concat);
    replace.set(slice, [
      node(`${present}/shift`, 'Pad', [past, 'cache_write/pads'], [`${present}/shifted`]),
      node(`${present}/write`, 'ScatterND', [`${present}/shifted`, 'cache_write/slots', fresh], [present]),
    ]);
  }
  g.initializer.push(...extra);
  return g.node.flatMap((n) => (drop.has(n) ? [] : (replace.get(n) ?? [n])));
}

function shapeOf(g: GraphProto, input: string): number[] {
  const v = g.input.find((i) => i.name === input);
  if (!v) throw new Error(`decodeLoopModel: no graph input "${input}"`);
  return v.type.tensorType.shape.dim.map((d) => Number((d as { dimValue: number }).dimValue));
}
