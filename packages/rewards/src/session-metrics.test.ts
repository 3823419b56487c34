import { UnknownNameError } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { defaultMetricsConfig, MetricsConfigSchema } from './config.js';
import { scoreSessions, scoringContext, selectMetrics } from './eval/evaluate.js';
import { metricRegistry, scoreSession } from './session-metrics.js';
import { agent, session, user } from './testing/sessions.js';

const config = defaultMetricsConfig();
const ctx = scoringContext(config);
const m = (name: string) => metricRegistry.get(name);

describe('session metrics', () => {
  const s = session(
    'purchase',
    [
      user(['need_stated']),
      agent('recommend', { detected: 'recommend' }),
      user([]),
      agent('compare', { detected: 'recommend', violation: true }),
      agent('close'),
    ],
    { status: 'partial', resolved: true, csat: 3 },
  );

  it('turn-level rates are micro-averages over eligible turns', () => {
    expect(scoreSession(s, m('sop_compliance'), ctx)).toBeCloseTo(2 / 3, 12);
    expect(scoreSession(s, m('strategy_adherence'), ctx)).toBeCloseTo(1 / 2, 12);
    const two = scoreSessions(
      [s, session('purchase', [agent('close', { detected: 'close' })])],
      [m('strategy_adherence')],
      ctx,
    );
    expect(two.ratio(0)).toBeCloseTo(2 / 3, 12); // (1 + 1) / (2 + 1), not mean(0.5, 1)
  });

  it('session rates, turns and csat', () => {
    expect(scoreSession(s, m('success_rate'), ctx)).toBe(0);
    expect(scoreSession(s, m('resolution_rate'), ctx)).toBe(1);
    expect(scoreSession(s, m('user_turns'), ctx)).toBe(2);
    expect(scoreSession(s, m('agent_turns'), ctx)).toBe(3);
    expect(scoreSession(s, m('csat'), ctx)).toBe(3);
    expect(scoreSession(session('purchase', []), m('csat'), ctx)).toBeNaN();
    expect(scoreSession(session('purchase', []), m('sop_compliance'), ctx)).toBeNaN();
  });

  it('the registry lists valid names for an unknown metric', () => {
    expect(() => metricRegistry.get('tsee')).toThrow(UnknownNameError);
    expect(() => metricRegistry.get('tsee')).toThrow(
      /valid: agent_turns, conversion_rate, csat, escalation_rate, esndcg, gre/,
    );
    const cfg = MetricsConfigSchema.parse({ metrics: ['tse', 'gre'] });
    expect(selectMetrics(cfg).map((x) => x.name)).toEqual(['tse', 'gre']);
    expect(() => selectMetrics(MetricsConfigSchema.parse({ metrics: ['tse', 'nope'] }), 'm.yaml')).toThrow(
      /m\.yaml at metrics\[1\]: unknown metric "nope"; valid: agent_turns,/,
    );
    expect(() => selectMetrics(MetricsConfigSchema.parse({ metrics: ['tse', 'tse'] }))).toThrow(
      /listed twice/,
    );
  });
});
