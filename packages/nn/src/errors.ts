import { GopoError } from '@gopo/core';

export function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * A graph could not be built: shapes or dtypes do not fit an op. The message names the module path
 * the op was created under, the op and its input shapes, e.g.
 * `blocks.2.attn.q_proj: MatMul [16,128,256] x [255,256]: inner dimensions differ (256 vs 255)`.
 */
export class GraphBuildError extends GopoError {
  constructor(
    readonly modulePath: string,
    readonly op: string,
    readonly shapes: readonly (readonly (number | string)[])[],
    readonly detail: string,
  ) {
    super(`${modulePath || '(root)'}: ${op} ${shapes.map(formatShape).join(' x ')}: ${detail}`);
  }
}

/** A requested execution provider cannot run here; says what is missing and how to pick another. */
export class ProviderUnavailableError extends GopoError {
  constructor(
    readonly provider: string,
    readonly reason: string,
    readonly available: readonly string[],
  ) {
    super(
      `execution provider "${provider}" is not available: ${reason}. Available here: ${available.join(', ') || '(none)'}; ` +
        `pick one with --device ${available[0] ?? 'cpu'} (or 'auto' to use the best available).`,
    );
  }
}

/** Feeds given to a compiled graph do not match what it was built for. */
export class FeedError extends GopoError {}
