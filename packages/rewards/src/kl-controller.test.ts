import { describe, expect, it } from 'vitest';
import { defaultMetricsConfig, KlControllerConfigSchema } from './config.js';
import { AdaptiveKlController, createKlController, klPenalizedReward } from './kl-controller.js';

describe('KL controllers', () => {
  it('adaptive: beta <- beta (1 + K_beta clip((KL - target)/target, -0.2, 0.2))', () => {
    const c = createKlController(defaultMetricsConfig().kl); // beta0 0.01, K 0.2, target 6
    expect(c.kind).toBe('adaptive');
    expect(c.value).toBe(0.01);
    expect(c.update(9)).toBeCloseTo(0.01 * 1.04, 15); // e = 0.5 -> 0.2
    expect(c.update(3)).toBeCloseTo(0.01 * 1.04 * 0.96, 15); // e = -0.5 -> -0.2
    expect(c.update(6.6)).toBeCloseTo(0.01 * 1.04 * 0.96 * 1.02, 15); // e = 0.1
    expect(c.update(6)).toBeCloseTo(0.01 * 1.04 * 0.96 * 1.02, 15); // e = 0
    const saved = c.state();
    c.update(100);
    c.restore(saved);
    expect(c.value).toBeCloseTo(0.01 * 1.04 * 0.96 * 1.02, 15);
    expect(() => c.update(Number.NaN)).toThrow(/finite/);
    expect(() => new AdaptiveKlController(0.01, 0, 0.2)).toThrow(/positive/);
  });

  it('fixed stays put; penalised reward is r - beta KL', () => {
    const f = createKlController(KlControllerConfigSchema.parse({ kind: 'fixed', beta0: 0.05 }));
    expect(f.update(100)).toBe(0.05);
    expect(klPenalizedReward(1, 2, 0.05)).toBeCloseTo(0.9, 15);
  });
});
