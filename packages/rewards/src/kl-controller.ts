import { match } from 'ts-pattern';
import type { KlControllerConfig } from './config.js';

/** A KL coefficient that may change with the measured KL. */
export interface KlController {
  readonly kind: 'fixed' | 'adaptive';
  /** Current beta. */
  readonly value: number;
  /** Feeds the KL measured on the last batch; returns the new beta. */
  update(kl: number): number;
  state(): { value: number };
  restore(state: { value: number }): void;
}

export class FixedKlController implements KlController {
  readonly kind = 'fixed' as const;
  constructor(public value: number) {}
  update(_kl: number): number {
    return this.value;
  }
  state() {
    return { value: this.value };
  }
  restore(state: { value: number }) {
    this.value = state.value;
  }
}

/**
 * The proportional controller of Ziegler et al. 2019 in DESIGN.md 4.5's form:
 * e = clip((KL - KL_target) / KL_target, -c, c), beta <- beta (1 + K_beta e).
 */
export class AdaptiveKlController implements KlController {
  readonly kind = 'adaptive' as const;
  value: number;
  constructor(
    beta0: number,
    readonly target: number,
    readonly kBeta: number,
    readonly errorClip = 0.2,
  ) {
    if (!(target > 0)) throw new RangeError(`KL target must be positive, got ${target}`);
    this.value = beta0;
  }
  update(kl: number): number {
    if (!Number.isFinite(kl)) throw new RangeError(`KL must be finite, got ${kl}`);
    const e = Math.min(this.errorClip, Math.max(-this.errorClip, (kl - this.target) / this.target));
    this.value *= 1 + this.kBeta * e;
    return this.value;
  }
  state() {
    return { value: this.value };
  }
  restore(state: { value: number }) {
    this.value = state.value;
  }
}

export function createKlController(config: KlControllerConfig): KlController {
  return match(config.kind)
    .with('fixed', () => new FixedKlController(config.beta0))
    .with(
      'adaptive',
      () => new AdaptiveKlController(config.beta0, config.target, config.kBeta, config.errorClip),
    )
    .exhaustive();
}

/** r_t - beta * KL_t. */
export function klPenalizedReward(reward: number, kl: number, beta: number): number {
  return reward - beta * kl;
}
