import { ConfigError } from '@gopo/core';
import { describe, expect, it } from 'vitest';
import { parseSopText, shopSopDefault } from './sop.js';
import { SHOP_STRATEGIES } from './strategies.js';

const tiny = (states: string, extra = '') => `name: tiny
strategy_set: { name: t, strategies: [hello, ask, solve, bye] }
flags: [greeted, known]
states:
${states}
on_strategy:
  - { strategy: "*", set: { greeted: true } }
on_event:
  - { event: need_stated, set: { known: true } }
${extra}`;

describe('default shop SOP', () => {
  const sop = shopSopDefault();

  it('loads, covers the shop strategy set and starts in the opening state', () => {
    expect(sop.strategies).toEqual([...SHOP_STRATEGIES]);
    expect(sop.stateName(sop.initialMask)).toBe('opening');
    expect(sop.admissible(sop.initialMask)).toEqual(['greet', 'elicit_need']);
  });

  it('gives a mask aligned with the strategy set', () => {
    const m = sop.bits({ greeted: true, need_known: true, authenticated: true });
    expect(sop.stateName(m)).toBe('verifying');
    const mask = sop.admissibleMask(m);
    expect(mask).toHaveLength(SHOP_STRATEGIES.length);
    expect(SHOP_STRATEGIES.filter((_, i) => mask[i])).toEqual([
      'clarify',
      'check_order',
      'reassure',
      'escalate',
    ]);
    expect(sop.isAdmissible(m, 'process_return')).toBe(false);
  });

  it('derives flags from events and detects violations when replaying a log', () => {
    const checks = sop.replay({
      turns: [
        {
          role: 'user',
          text: 'my order o-10001 is late',
          events: [{ type: 'need_stated', order_id: 'o-10001' }],
        },
        { role: 'agent', text: 'refund issued', strategy: 'process_return', events: [] },
        { role: 'user', text: '?', events: [] },
        {
          role: 'agent',
          text: 'found it',
          strategy: 'check_order',
          events: [{ type: 'order_found', order_id: 'o-10001' }],
        },
        { role: 'user', text: 'ok', events: [] },
        { role: 'agent', text: 'return started', strategy: 'process_return', events: [] },
      ],
    });
    expect(checks.map((c) => [c.state, c.violation])).toEqual([
      ['opening', true],
      ['verifying', false],
      ['order_handling', false],
    ]);
    expect(checks[0]!.turn).toBe(1);
  });
});

describe('SOP validation on load', () => {
  it('accepts a small complete SOP', () => {
    const sop = parseSopText(
      tiny(`  - { name: start, when: { greeted: false }, admissible: [hello] }
  - { name: rest, admissible: [ask, solve, bye] }`),
    );
    expect(sop.admissible(0)).toEqual(['hello']);
    expect(sop.admissible(sop.bits({ greeted: true }))).toEqual(['ask', 'solve', 'bye']);
  });

  it('names the line and field of an unknown flag', () => {
    const text = tiny(`  - { name: start, when: { greted: false }, admissible: [hello] }
  - { name: rest, admissible: [ask] }`);
    expect(() => parseSopText(text, 'x.yaml')).toThrow(ConfigError);
    expect(() => parseSopText(text, 'x.yaml')).toThrow(
      /x\.yaml:5 at states\[0\]\.when\.greted: unknown flag "greted"/,
    );
  });

  it('rejects a strategy outside the set', () => {
    expect(() => parseSopText(tiny(`  - { name: rest, admissible: [dance] }`))).toThrow(
      /states\[0\]\.admissible\[0\].*"dance" is not in the strategy set/,
    );
  });

  it('rejects flag combinations no state covers', () => {
    expect(() =>
      parseSopText(
        tiny(`  - { name: start, when: { greeted: false }, admissible: [hello] }
  - { name: known, when: { known: true }, admissible: [solve] }`),
      ),
    ).toThrow(/no state matches flags \{greeted: true, known: false\}/);
  });

  it('rejects states shadowed by earlier ones', () => {
    expect(() =>
      parseSopText(
        tiny(`  - { name: any, admissible: [hello] }
  - { name: never, when: { known: true }, admissible: [solve] }`),
      ),
    ).toThrow(/state "never" is unreachable/);
  });

  it('lets update rules clear flags, in file order', () => {
    const sop = parseSopText(
      tiny(`  - { name: start, when: { greeted: false }, admissible: [hello] }
  - { name: known, when: { known: true }, admissible: [solve] }
  - { name: asking, admissible: [ask] }`).replace(
        'on_strategy:\n',
        'on_strategy:\n  - { strategy: solve, set: { known: false } }\n',
      ),
    );
    let mask = sop.applyEvent(sop.applyStrategy(sop.initialMask, 'hello'), { type: 'need_stated' });
    expect(sop.stateName(mask)).toBe('known');
    mask = sop.applyStrategy(mask, 'solve');
    expect(sop.stateName(mask)).toBe('asking');
    expect(sop.toFlags(mask)).toEqual({ greeted: true, known: false });
  });

  it('accepts events declared by the SOP and rejects unknown ones with the field', () => {
    const declared = (events: string) => `name: tiny
strategy_set: { name: t, strategies: [hello] }
flags: [confirmed]
${events}
states:
  - { name: any, admissible: [hello] }
on_event:
  - { event: user_confirmed, set: { confirmed: true } }`;
    const sop = parseSopText(declared('events: [user_confirmed]'));
    expect(sop.toFlags(sop.applyEvent(0, { type: 'user_confirmed' }))).toEqual({ confirmed: true });
    expect(() => parseSopText(declared(''))).toThrow(/on_event\[0\]\.event.*unknown event "user_confirmed"/);
  });
});
