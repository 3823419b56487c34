/**
 * Optimizers as init/update pairs that emit graph nodes (optax style): `init` lists the state slots
 * a parameter needs, `update` adds the nodes computing the new parameter and state from the
 * gradient, the learning rate and the step (both fed per step). Host-side helpers compute the
 * learning-rate schedule.
 */
import { z } from 'zod';
import type { Graph, ParamSpec, Tensor } from './graph.js';

export const adamwConfigSchema = z.object({
  kind: z.literal('adamw').describe('AdamW: Adam with bias correction and decoupled weight decay'),
  beta1: z.number().min(0).lt(1).default(0.9).describe('decay rate of the first-moment estimate'),
  beta2: z.number().min(0).lt(1).default(0.999).describe('decay rate of the second-moment estimate'),
  eps: z.number().positive().default(1e-8).describe('added to the root of the second moment'),
  weightDecay: z
    .number()
    .min(0)
    .default(0.01)
    .describe('decoupled weight decay; skipped for parameters marked no-decay (norms, biases, embeddings)'),
});

export const sgdConfigSchema = z.object({
  kind: z.literal('sgd').describe('stochastic gradient descent with optional momentum'),
  momentum: z.number().min(0).lt(1).default(0).describe('momentum factor (0 = plain SGD)'),
  nesterov: z.boolean().default(false).describe('use Nesterov momentum'),
  weightDecay: z
    .number()
    .min(0)
    .default(0)
    .describe('L2 penalty added to the gradient of decaying parameters'),
});

export const optimizerConfigSchema = z.discriminatedUnion('kind', [adamwConfigSchema, sgdConfigSchema]);
export type OptimizerConfig = z.infer<typeof optimizerConfigSchema>;
export type OptimizerConfigInput = z.input<typeof optimizerConfigSchema>;

export interface UpdateInputs {
  param: Tensor;
  grad: Tensor;
  state: Readonly<Record<string, Tensor>>;
  spec: ParamSpec;
  /** Scalar learning rate for this step (fed). */
  lr: Tensor;
  /** Scalar 1-based step count, as a float (fed). */
  step: Tensor;
  /** Scalar factor on the gradient (global-norm clipping), folded into the update's scalars. */
  gradScale?: Tensor | null;
}

export interface UpdateOutputs {
  param: Tensor;
  state: Record<string, Tensor>;
}

export interface Optimizer {
  readonly config: OptimizerConfig;
  /**
   * The update treats every element alike (no reductions or matrix structure within a tensor), so
   * several small parameters may be updated as one concatenated vector with the same bits.
   */
  readonly elementwise: boolean;
  /** Names of the state slots (initialised to zeros, shaped like the parameter). */
  init(spec: ParamSpec): readonly string[];
  update(g: Graph, inputs: UpdateInputs): UpdateOutputs;
}

export function adamw(config: z.input<typeof adamwConfigSchema> = { kind: 'adamw' }): Optimizer {
  const c = adamwConfigSchema.parse(config);
  return {
    config: c,
    elementwise: true,
    init: () => ['exp_avg', 'exp_avg_sq'],
    update(g, { param, grad, state, spec, lr, step, gradScale }) {
      // With a clip factor s: m uses (1 - b1) s g and v uses (1 - b2) s^2 g^2, scalars computed once.
      const s = gradScale ? g.cast(gradScale, param.dtype) : null;
      const c1 = s ? g.mul(s, 1 - c.beta1) : g.scalar(1 - c.beta1, param.dtype);
      const c2 = s ? g.mul(g.mul(s, s), 1 - c.beta2) : g.scalar(1 - c.beta2, param.dtype);
      const m = g.add(g.mul(state.exp_avg as Tensor, c.beta1), g.mul(grad, c1));
      const v = g.add(g.mul(state.exp_avg_sq as Tensor, c.beta2), g.mul(g.mul(grad, grad), c2));
      // Bias corrections are scalars: m_hat / (sqrt(v_hat) + eps) = m / (sqrt(v) + eps sqrt(bc2)) *
      // sqrt(bc2) / bc1, so the full-size work is Sqrt, Add, Div and one Mul by a scalar step size.
      const bc1 = g.sub(1, g.pow(g.scalar(c.beta1, step.dtype), step));
      const sqrtBc2 = g.sqrt(g.sub(1, g.pow(g.scalar(c.beta2, step.dtype), step)));
      const stepSize = g.cast(g.div(g.mul(lr, sqrtBc2), bc1), param.dtype);
      const epsHat = g.cast(g.mul(sqrtBc2, c.eps), param.dtype);
      const denom = g.add(g.sqrt(v), epsHat);
      let p = param;
      if (spec.decay && c.weightDecay > 0)
        p = g.mul(p, g.sub(1, g.mul(g.cast(lr, param.dtype), c.weightDecay)));
      return { param: g.sub(p, g.mul(g.div(m, denom), stepSize)), state: { exp_avg: m, exp_avg_sq: v } };
    },
  };
}

export function sgd(config: z.input<typeof sgdConfigSchema> = { kind: 'sgd' }): Optimizer {
  const c = sgdConfigSchema.parse(config);
  return {
    config: c,
    elementwise: true,
    init: () => (c.momentum > 0 ? ['momentum_buffer'] : []),
    update(g, { param, grad, state, spec, lr, gradScale }) {
      let d = gradScale ? g.mul(grad, g.cast(gradScale, grad.dtype)) : grad;
      if (spec.decay && c.weightDecay > 0) d = g.add(d, g.mul(param, c.weightDecay));
      const out: Record<string, Tensor> = {};
      if (c.momentum > 0) {
        const buf = g.add(g.mul(state.momentum_buffer as Tensor, c.momentum), d);
        out.momentum_buffer = buf;
        d = c.nesterov ? g.add(d, g.mul(buf, c.momentum)) : buf;
      }
      return { param: g.sub(param, g.mul(d, g.cast(lr, param.dtype))), state: out };
    },
  };
}

export function makeOptimizer(config: OptimizerConfigInput): Optimizer {
  const c = optimizerConfigSchema.parse(config);
  return c.kind === 'adamw' ? adamw(c) : sgd(c);
}

/**
 * The global L2 norm of `grads` and the clip factor min(1, maxNorm / (norm + 1e-6)) (null when
 * maxNorm is null). Optimizers take the factor as `gradScale`, so clipping costs no extra pass.
 */
export function globalNormScale(
  g: Graph,
  grads: readonly Tensor[],
  maxNorm: number | null,
): { norm: Tensor; scale: Tensor | null } {
  return g.scope('clip', () => {
    const sq = grads.map((t) => g.cast(g.reduceSumSquare(t), 'float32'));
    let total = sq[0] ?? g.scalar(0);
    for (let i = 1; i < sq.length; i++) total = g.add(total, sq[i] as Tensor);
    const norm = g.sqrt(total);
    if (maxNorm === null) return { norm, scale: null };
    return { norm, scale: g.min(g.div(g.scalar(maxNorm), g.add(norm, 1e-6)), 1) };
  });
}

/** Gradients scaled by the global-norm clip factor, and the norm before clipping. */
export function clipByGlobalNorm(
  g: Graph,
  grads: readonly Tensor[],
  maxNorm: number | null,
): { grads: Tensor[]; norm: Tensor } {
  const { norm, scale } = globalNormScale(g, grads, maxNorm);
  return { grads: scale ? grads.map((t) => g.mul(t, g.cast(scale, t.dtype))) : [...grads], norm };
}

export const scheduleConfigSchema = z
  .object({
    peakLr: z.number().positive().describe('learning rate at the end of warmup'),
    warmupSteps: z.number().int().min(0).default(0).describe('linear warmup length in optimizer steps'),
    totalSteps: z.number().int().positive().describe('step at which the cosine decay reaches minLr'),
    minLr: z.number().min(0).default(0).describe('floor of the cosine decay'),
  })
  .superRefine((v, ctx) => {
    if (v.warmupSteps > v.totalSteps)
      ctx.addIssue({
        code: 'custom',
        path: ['warmupSteps'],
        message: 'warmupSteps must not exceed totalSteps',
      });
    if (v.minLr > v.peakLr)
      ctx.addIssue({ code: 'custom', path: ['minLr'], message: 'minLr must not exceed peakLr' });
  });
export type ScheduleConfig = z.infer<typeof scheduleConfigSchema>;

/** Linear warmup to peakLr, then cosine decay to minLr at totalSteps (steps are 1-based). */
export function warmupCosine(config: z.input<typeof scheduleConfigSchema>): (step: number) => number {
  const c = scheduleConfigSchema.parse(config);
  return (step) => {
    if (c.warmupSteps > 0 && step <= c.warmupSteps) return (c.peakLr * step) / c.warmupSteps;
    const span = Math.max(1, c.totalSteps - c.warmupSteps);
    const progress = Math.min(1, (step - c.warmupSteps) / span);
    return c.minLr + 0.5 * (c.peakLr - c.minLr) * (1 + Math.cos(Math.PI * progress));
  };
}
