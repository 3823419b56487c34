/**
 * Greedy decoding of several tokens per session run: the cached step graph (`buildStepGraph`, one
 * token per row) wrapped in an ONNX Loop whose body also picks the next token (ArgMax), so the KV
 * cache stays inside onnxruntime between tokens and crosses into JavaScript once per run instead of
 * once per token.
 *
 * Why: onnxruntime-node copies every fetched output into a fresh ArrayBuffer (preallocated or not)
 * and has no IO binding, so a run per token pays the cache's copy in, its copy out, page faults and
 * V8 collections, and the host's per-row argmax and log-sum-exp over the vocabulary; at batch 32 that
 * overhead, not the kernels, set the decode rate. Each step in the body runs the nodes of the
 * one-token step on the same shapes, so the logits, and hence the greedy tokens, are the same bits
 * as one run per token (tested).
 *
 * The body unrolls STEPS_PER_ITERATION steps. A Loop body's outputs are fresh buffers (ORT never
 * writes a graph output in place), so a cache carried from one iteration to the next costs a full
 * copy on top of the window shift; inside the body, the shift is one copy (Pad) and the new slot is
 * written in place (TensorScatter, opset 24), so a step costs 1 + 1/STEPS_PER_ITERATION copies of
 * the cache instead of the step graph's 2 (Concat then Slice). The values are the same, so the
 * attention reading them computes the same bits.
 *
 * State per row (carried): the input token, its position, the cache-slot mask of the window before
 * the step, a done flag and the caches. A step shifts the mask by one slot (the new token's), runs
 * the step, takes the argmax, marks rows that produced a stop id done, and feeds `pad_id` to done
 * rows, as the host path does; the loop ends after `max_steps` iterations or when every row is done.
 * Per step it emits the argmax, its raw logit and the float64 log-sum-exp of the row's logits (the
 * host turns the pair into the token's log-prob). Positions are clamped to the RoPE table, so steps
 * past the last requested token (at most STEPS_PER_ITERATION - 1, discarded by the host) stay valid.
 *
 * Inputs: max_steps int64 [] (iterations), stop_ids int64 [S] (-1 for none), pad_id int64 [],
 * input_ids and position_ids int64 [B, 1], cache_mask int64 [B, C], done bool [B],
 * past_key_values.* and whatever else the step reads (weights fed as inputs). Outputs:
 * out.input_ids, out.position_ids, out.cache_mask, out.done, present.* (the state after the last
 * step), and tokens int64, token_logits float32, logsumexp float64, each [N, STEPS_PER_ITERATION, B]
 * for the N iterations run.
 */
import { decodeModel, type EmittedModel, encodeModel, type ModelProtoJson } from '@gopo/nn';

type GraphProto = ModelProtoJson['graph'];
type NodeProto = GraphProto['node'][number];
type AttributeProto = NodeProto['attribute'][number];
type TensorProto = GraphProto['initializer'][number];
type ValueInfo = GraphProto['input'][number];
type Spec = EmittedModel['inputs'][number];

/** Steps unrolled in one Loop iteration (a run decodes a multiple of this many tokens). */
export const STEPS_PER_ITERATION = 4;
/** TensorScatter needs opset 24; every op the step uses means the same there as in nn's opset. */
const LOOP_OPSET = 24;

// onnx.proto codes (TensorProto.DataType, AttributeProto.AttributeType).
const DT = { float32: 1, int64: 7, bool: 9, float64: 11 } as const;
const ATTR_INT = 2;
const ATTR_GRAPH = 5;

const BODY = 'body/';
const PAST = 'past_key_values.';
const PRESENT = 'present.';

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

interface StepState {
  ids: string;
  pos: string;
  mask: string;
  done: string;
  caches: string[];
}

/**
 * The Loop model around `step`, a one-token cached step emitted with static shapes (inputs
 * input_ids / position_ids [B, 1], attention_mask [B, C], past_key_values.*; outputs logits [B, V]
 * and present.*; RoPE tables of C rows).
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
  if (spec('logits', step.outputs).length !== 2)
    throw new Error('decodeLoopModel: the step must return last-position logits [B, V]');
  const caches = step.inputs.filter((i) => i.name.startsWith(PAST)).map((i) => i.name);
  const presentOf = (c: string) => PRESENT + c.slice(PAST.length);
  for (const c of caches) spec(presentOf(c), step.outputs);
  const cacheSpec = (name: string) => step.inputs.find((i) => i.name === name) as Spec;
  const own = new Set(['input_ids', 'position_ids', 'attention_mask', ...caches]);
  // Anything else the step reads (weights fed as inputs) is read from the outer scope by name.
  const outer = step.inputs.filter((i) => !own.has(i.name));
  const outerNames = new Set(outer.map((i) => i.name));

  const inner = decodeModel(step.bytes);
  const g = inner.graph;
  const writes = cacheWrites(g, caches);
  const shared = new Set(g.initializer.map((t) => t.name));
  const r = (n: string) => `${BODY}${n}`;

  const body: NodeProto[] = [];
  const stepOutputs = { tokens: [] as string[], logits: [] as string[], lse: [] as string[] };
  let state: StepState = {
    ids: r('input_ids'),
    pos: r('position_ids'),
    mask: r('cache_mask'),
    done: r('done'),
    caches: caches.map(r),
  };
  let cond = '';
  for (let u = 0; u < STEPS_PER_ITERATION; u++) {
    const p = (n: string) => `${BODY}${u}/${n}`;
    const inputs = new Map<string, string>([
      ['input_ids', state.ids],
      ['position_ids', state.pos],
      ['attention_mask', p('attention_mask')],
      ...caches.map((c, i): [string, string] => [c, state.caches[i] as string]),
    ]);
    const name = (n: string) =>
      n === '' || outerNames.has(n) ? n : (inputs.get(n) ?? (shared.has(n) ? r(n) : p(n)));
    const last = u === STEPS_PER_ITERATION - 1;
    body.push(
      // The window moves one slot: drop the oldest, the new token's slot is real.
      node(p('mask/tail'), 'Slice', [state.mask, r('c/one'), r('c/cap'), r('c/one')], [p('mask/tail')]),
      node(
        p('mask/shift'),
        'Concat',
        [p('mask/tail'), r('c/ones_b1')],
        [p('attention_mask')],
        [int('axis', 1)],
      ),
    );
    for (const n of g.node) {
      const write = writes.get(n);
      if (write === null) continue; // the Concat of a rewritten cache write
      if (write) {
        // One copy for the shift; the new slot is written into the Pad's buffer in place (except
        // in the last step, whose output leaves the body and so gets a buffer of its own).
        const out = p(write.present);
        body.push(
          node(`${out}/shift`, 'Pad', [name(write.past), r('c/pads')], [`${out}/shifted`]),
          node(
            `${out}/write`,
            'TensorScatter',
            [`${out}/shifted`, name(write.fresh), r('c/slots')],
            [out],
            [int('axis', 2)],
          ),
        );
        continue;
      }
      body.push({ ...n, name: p(n.name), input: n.input.map(name), output: n.output.map(name) });
    }
    body.push(
      node(p('argmax'), 'ArgMax', [p('logits')], [p('argmax')], [int('axis', 1), int('keepdims', 1)]),
      node(p('picked'), 'GatherElements', [p('logits'), p('argmax')], [p('picked')], [int('axis', 1)]),
      node(p('token'), 'Reshape', [p('argmax'), r('c/shape_1b')], [p('token')]),
      node(p('token_logit'), 'Reshape', [p('picked'), r('c/shape_1b')], [p('token_logit')]),
      // log-sum-exp: max, exp(x - max) in float32 (vectorised), their sum and log in float64 (within
      // ~1e-8 of the host's float64 sum, some 6x faster than a float64 ReduceLogSumExp).
      node(p('lse/max'), 'ReduceMax', [p('logits'), r('c/one')], [p('lse/max')], [int('keepdims', 1)]),
      node(p('lse/diff'), 'Sub', [p('logits'), p('lse/max')], [p('lse/diff')]),
      node(p('lse/exp'), 'Exp', [p('lse/diff')], [p('lse/exp')]),
      node(p('lse/exp64'), 'Cast', [p('lse/exp')], [p('lse/exp64')], [int('to', DT.float64)]),
      node(p('lse/sum'), 'ReduceSum', [p('lse/exp64'), r('c/one')], [p('lse/sum')], [int('keepdims', 1)]),
      node(p('lse/log'), 'Log', [p('lse/sum')], [p('lse/log')]),
      node(p('lse/max64'), 'Cast', [p('lse/max')], [p('lse/max64')], [int('to', DT.float64)]),
      node(p('lse/sum_log'), 'Add', [p('lse/log'), p('lse/max64')], [p('lse/sum_log')]),
      node(p('lse'), 'Reshape', [p('lse/sum_log'), r('c/shape_1b')], [p('lse')]),
      // A row is done once it produced a stop id; done rows feed pad_id (as the host path does).
      node(p('hit/eq'), 'Equal', [p('argmax'), 'stop_ids'], [p('hit/eq')]),
      node(p('hit/int'), 'Cast', [p('hit/eq')], [p('hit/int')], [int('to', DT.int64)]),
      node(p('hit/any'), 'ReduceMax', [p('hit/int'), r('c/one')], [p('hit/any')], [int('keepdims', 0)]),
      node(p('hit'), 'Cast', [p('hit/any')], [p('hit')], [int('to', DT.bool)]),
      node(p('done_next'), 'Or', [state.done, p('hit')], [p('done_next')]),
      node(p('done_col'), 'Reshape', [p('done_next'), r('c/shape_b1')], [p('done_col')]),
      node(p('ids_next'), 'Where', [p('done_col'), 'pad_id', p('argmax')], [p('ids_next')]),
      node(p('pos_plus'), 'Add', [state.pos, r('c/scalar_one')], [p('pos_plus')]),
      node(p('pos_next'), 'Min', [p('pos_plus'), r('c/last_position')], [p('pos_next')]),
    );
    if (last)
      body.push(
        node(p('live'), 'Not', [p('done_next')], [p('live')]),
        node(p('live/int'), 'Cast', [p('live')], [p('live/int')], [int('to', DT.int64)]),
        node(p('live/any'), 'ReduceMax', [p('live/int')], [p('live/any')], [int('keepdims', 0)]),
        node(p('cond_out'), 'Cast', [p('live/any')], [p('cond_out')], [int('to', DT.bool)]),
      );
    cond = p('cond_out');
    stepOutputs.tokens.push(p('token'));
    stepOutputs.logits.push(p('token_logit'));
    stepOutputs.lse.push(p('lse'));
    state = {
      ids: p('ids_next'),
      pos: p('pos_next'),
      mask: p('attention_mask'),
      done: p('done_next'),
      caches: caches.map((c) => p(presentOf(c))),
    };
  }
  const u = STEPS_PER_ITERATION;
  body.push(
    node(r('tokens'), 'Concat', stepOutputs.tokens, [r('tokens')], [int('axis', 0)]),
    node(r('token_logits'), 'Concat', stepOutputs.logits, [r('token_logits')], [int('axis', 0)]),
    node(r('logsumexp'), 'Concat', stepOutputs.lse, [r('logsumexp')], [int('axis', 0)]),
  );
  const consts: TensorProto[] = [
    i64(r('c/one'), [1], [1]),
    i64(r('c/cap'), [1], [cap]),
    i64(r('c/ones_b1'), [b, 1], new Array<number>(b).fill(1)),
    i64(r('c/shape_1b'), [2], [1, b]),
    i64(r('c/shape_b1'), [2], [b, 1]),
    i64(r('c/scalar_one'), [], [1]),
    i64(r('c/last_position'), [], [cap - 1]),
    i64(r('c/pads'), [8], [0, 0, -1, 0, 0, 0, 1, 0]),
    i64(r('c/slots'), [b], new Array<number>(b).fill(cap - 1)),
  ];
  const bodyGraph: GraphProto = {
    name: `${g.name}_decode_body`,
    node: body,
    initializer: [...g.initializer.map((t) => ({ ...t, name: r(t.name) })), ...consts],
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
      vi(cond, 'bool', []),
      vi(state.ids, 'int64', [b, 1]),
      vi(state.pos, 'int64', [b, 1]),
      vi(state.mask, 'int64', [b, cap]),
      vi(state.done, 'bool', [b]),
      ...caches.map((c, i) => vi(state.caches[i] as string, 'float32', cacheSpec(c).shape)),
      vi(r('tokens'), 'int64', [u, b]),
      vi(r('token_logits'), 'float32', [u, b]),
      vi(r('logsumexp'), 'float64', [u, b]),
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
    ...caches.map((c) => ({ ...cacheSpec(c), name: presentOf(c) })),
    { name: 'tokens', dtype: 'int64', shape: ['iterations', u, b] },
    { name: 'token_logits', dtype: 'float32', shape: ['iterations', u, b] },
    { name: 'logsumexp', dtype: 'float64', shape: ['iterations', u, b] },
  ];
  const model: ModelProtoJson = {
    ...inner,
    opsetImport: inner.opsetImport.map((o) => (o.domain === '' ? { ...o, version: LOOP_OPSET } : o)),
    graph: {
      name: `${g.name}_decode`,
      node: [
        node(
          'decode',
          'Loop',
          ['max_steps', 'decode/always', 'input_ids', 'position_ids', 'cache_mask', 'done', ...caches],
          outputs.map((o) => o.name),
          [{ name: 'body', type: ATTR_GRAPH, g: bodyGraph }],
        ),
      ],
      initializer: [{ name: 'decode/always', dims: [], dataType: DT.bool, rawData: Uint8Array.of(1) }],
      input: inputs.map((i) => vi(i.name, i.dtype as keyof typeof DT, i.shape)),
      output: outputs.map((o) => vi(o.name, o.dtype as keyof typeof DT, o.shape)),
    },
  };
  return {
    bytes: encodeModel(model),
    inputs,
    outputs,
    nodeCount: body.length + 1,
  };
}

/**
 * The step writes each cache window as Slice(Concat(past, new), 1..C+1). Maps each such Slice to
 * the names of its write (and each Concat to null: it is dropped), so the body can emit the write as
 * a shift and an in-place write instead.
 */
function cacheWrites(
  g: GraphProto,
  caches: readonly string[],
): Map<NodeProto, { past: string; fresh: string; present: string } | null> {
  const producer = new Map(g.node.map((n) => [n.output[0], n]));
  const consumers = (name: string) => g.node.filter((n) => n.input.includes(name)).length;
  const out = new Map<NodeProto, { past: string; fresh: string; present: string } | null>();
  for (const past of caches) {
    const present = PRESENT + past.slice(PAST.length);
    const slice = producer.get(present);
    const concat = slice && producer.get(slice.input[0] as string);
    const axis = concat?.attribute.find((a) => a.name === 'axis')?.i;
    if (
      slice?.opType !== 'Slice' ||
      concat?.opType !== 'Concat' ||
      Number(axis) !== 2 ||
      concat.input.length !== 2 ||
      concat.input[0] !== past ||
      consumers(concat.output[0] as string) !== 1
    )
      throw new Error(
        `decodeLoopModel: "${present}" is not written as Slice(Concat(past, new)); update cacheWrites`,
      );
    out.set(concat, null);
    out.set(slice, { past, fresh: concat.input[1] as string, present });
  }
  return out;
}
