import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '@gopo/core';
import { testCliContext } from '@gopo/core/testing';
import {
  eventActor,
  goalCompletionEvent,
  logsValidateCommand,
  readSessionsAll,
  type Session,
  SessionSchema,
  shopSopDefault,
} from '@gopo/dialogue';
import {
  observationFeatureNames,
  oraclePolicy,
  POLICY_NAMES,
  ShopEnv,
  shopPolicies,
  simulate,
  simulateCommand,
  summarize,
} from '@gopo/envs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const env = new ShopEnv({ world: { items: 240, users: 60 } });
const sop = shopSopDefault();

function checkSession(s: Session): void {
  expect(SessionSchema.safeParse(s).success).toBe(true);
  const events = s.turns.flatMap((t) => t.events.map((e) => e.type));
  // every event sits on the turn of the speaker that causes it
  for (const t of s.turns) for (const e of t.events) expect(eventActor(e.type)).toBe(t.role);
  const o = s.outcome;
  expect(o.status === 'success').toBe(events.includes(goalCompletionEvent(s.goal.type)));
  expect(o.converted).toBe(events.includes('purchased'));
  expect(o.escalated).toBe(events.includes('handoff'));
  expect(o.status === 'abandoned').toBe(events.includes('user_left'));
  expect(o.status === 'escalated').toBe(events.includes('handoff'));
  if (o.converted) expect(o.order_value).toBeGreaterThan(0);
  // nothing happens after a terminal event
  const terminal = events.findIndex((e) => e === 'user_left' || e === 'handoff');
  if (terminal >= 0) expect(terminal).toBe(events.length - 1);
  // the logged SOP flags agree with an independent replay of the log
  const replay = sop.replay(s);
  const agentTurns = s.turns.filter((t) => t.role === 'agent');
  expect(replay.map((c) => c.violation)).toEqual(
    agentTurns.map((t) => t.role === 'agent' && t.sop_violation === true),
  );
  expect(o.sop_violations).toBe(replay.filter((c) => c.violation).length);
  // every agent turn carries a reference the SOP admits
  replay.forEach((c, i) => {
    const ref = (agentTurns[i] as { reference?: { strategy: string; acceptable: string[] } }).reference!;
    expect(c.admissible).toContain(ref.strategy);
    for (const a of ref.acceptable) expect(c.admissible).toContain(a);
  });
}

describe('shop simulator', () => {
  it('is deterministic: same seed, same logs', () => {
    for (const p of POLICY_NAMES) {
      const a = simulate(shopPolicies.get(p), { scenarios: 25, seed: 11 }, env);
      const b = simulate(
        shopPolicies.get(p),
        { scenarios: 25, seed: 11 },
        new ShopEnv({ world: { items: 240, users: 60 } }),
      );
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    }
    const c = simulate(oraclePolicy, { scenarios: 25, seed: 12 }, env);
    expect(JSON.stringify(c)).not.toBe(
      JSON.stringify(simulate(oraclePolicy, { scenarios: 25, seed: 11 }, env)),
    );
  });

  it('property: every session validates and its events agree with its outcome', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.constantFrom(...POLICY_NAMES), (seed, p) => {
        const [s] = simulate(shopPolicies.get(p), { scenarios: 1, seed }, env);
        checkSession(s!);
      }),
      { numRuns: 300 },
    );
  });

  it('property: the same holds for short turn limits and both SOP enforcement modes', () => {
    const variants = [2, 3, 5].flatMap((maxTurns) =>
      (['block', 'penalize'] as const).map((sopEnforcement) => ({ maxTurns, sopEnforcement })),
    );
    const envs = variants.map((v) => new ShopEnv(v, { world: env.world }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.constantFrom(...POLICY_NAMES),
        fc.integer({ min: 0, max: variants.length - 1 }),
        (seed, p, v) => {
          const e = envs[v]!;
          const [s] = simulate(shopPolicies.get(p), { scenarios: 1, seed }, e);
          checkSession(s!);
          expect(s!.turns.filter((t) => t.role === 'agent').length).toBeLessThanOrEqual(e.config.maxTurns);
        },
      ),
      { numRuns: 600 },
    );
  });

  it('property: the oracle only takes SOP-admissible actions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        const [s] = simulate(oraclePolicy, { scenarios: 1, seed }, env);
        expect(sop.countViolations(s!)).toBe(0);
        for (const t of s!.turns) if (t.role === 'agent') expect(t.strategy).toBe(t.reference!.strategy);
      }),
      { numRuns: 200 },
    );
  });

  it('measures something: the oracle beats greedy and template, and far beats random', () => {
    const n = 300;
    const sum = Object.fromEntries(
      POLICY_NAMES.map((p) => [p, summarize(simulate(shopPolicies.get(p), { scenarios: n, seed: 3 }, env))]),
    );
    expect(sum.oracle!.successRate).toBeGreaterThan(0.85);
    expect(sum.random!.successRate).toBeLessThan(0.2);
    expect(sum.oracle!.successRate - sum.greedy!.successRate).toBeGreaterThan(0.1);
    expect(sum.oracle!.meanCsat - sum.greedy!.meanCsat).toBeGreaterThan(0.4);
    expect(sum.greedy!.sopViolationRate).toBeGreaterThan(0.1);
    expect(sum.oracle!.sopViolationRate).toBe(0);
    expect(sum.oracle!.meanCsat).toBeGreaterThan(sum.template!.meanCsat);
  });

  it('summarize counts agent and user turns apart and averages csat over rated sessions only', () => {
    const [a, b] = simulate(shopPolicies.get('oracle'), { scenarios: 2, seed: 4 }, env) as [Session, Session];
    const unrated: Session = { ...b, outcome: { ...b.outcome, csat: undefined } };
    const sum = summarize([{ ...a, outcome: { ...a.outcome, csat: 4 } }, unrated]);
    expect(sum.meanCsat).toBe(4);
    expect(sum.csatSessions).toBe(1);
    const count = (role: string) => [a, b].flatMap((s) => s.turns).filter((t) => t.role === role).length;
    expect(sum.meanAgentTurns).toBe(count('agent') / 2);
    expect(sum.meanUserTurns).toBe(count('user') / 2);
    expect(summarize([unrated]).meanCsat).toBeNaN();
  });

  it('customers speak with varied surface forms', () => {
    const sessions = simulate(shopPolicies.get('template'), { scenarios: 200, seed: 5 }, env);
    const texts = new Set(
      sessions.flatMap((s) => s.turns.filter((t) => t.role === 'user').map((t) => t.text)),
    );
    expect(texts.size).toBeGreaterThan(500);
  });
});

describe('environment API', () => {
  it('exposes SOP state, the admissible mask, features and the reference each turn', () => {
    const { observation, userTurn } = env.reset(42);
    expect(userTurn.role).toBe('user');
    expect(observation.sopState).toBe('opening');
    expect(observation.mask.filter(Boolean).length).toBe(observation.admissible.length);
    expect(observation.features.length).toBe(observationFeatureNames(sop).length);
    const ref = env.reference();
    const r = env.step({
      strategy: 'process_return',
      text: 'Thanks for shopping with us, have a great day!',
      ranking: ['process_return', 'greet'],
    });
    expect(r.info.sopViolation).toBe(true);
    expect(r.info.detectedStrategy).toBe('close');
    expect(r.info.adherent).toBe(false);
    expect(r.agentTurn.reference!.strategy).toBe(ref.strategy);
    expect(r.agentTurn.ranking).toEqual(['process_return', 'greet']);
    // hard SOP: the move is not executed, so the close does not end the session
    expect(r.info.blocked).toBe(true);
    expect(r.events).toEqual([]);
    expect(r.done).toBe(false);
    const lenient = new ShopEnv({ world: { items: 240, users: 60 }, sopEnforcement: 'penalize' });
    lenient.reset(42);
    const r2 = lenient.step({
      strategy: 'process_return',
      text: 'Thanks for shopping with us, have a great day!',
    });
    expect(r2.info.blocked).toBe(false);
    expect(r2.done).toBe(true);
    expect(r2.info.outcome!.status).toBe('failure');
    expect(() => lenient.step({ strategy: 'greet', text: 'hi' })).toThrow(/after the session ended/);
    env.reset(43);
    expect(() => env.step({ strategy: 'dance', text: 'hi' })).toThrow(/unknown strategy "dance"/);
  });

  it('punishes a reply that contradicts its strategy', () => {
    const lost = (text: string) => {
      env.reset(7);
      return env.step({ strategy: 'greet', text }).info.patienceLost;
    };
    expect(lost('Could you tell me a bit more, please?')).toBeGreaterThan(
      lost('Hello and welcome to ShopCo!'),
    );
  });
});

describe('gopo simulate', () => {
  it('writes a log that gopo logs validate accepts', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gopo-envs-'));
    const out = path.join(dir, 'logs.jsonl');
    const { ctx, output: lines } = testCliContext({ seed: 9 });
    expect(await simulateCommand.run({ scenarios: 30, policy: 'oracle', out, format: 'text' }, ctx)).toBe(0);
    expect(lines.join('\n')).toMatch(/30 sessions, policy oracle, seed 9/);
    const sessions = await readSessionsAll(out);
    expect(sessions).toHaveLength(30);
    expect(sessions[0]!.session_id).toBe('shop-9-00000');
    const v: string[] = [];
    expect(
      await logsValidateCommand.run(
        { file: out, skipInvalid: false, strict: true, sop: 'shop', format: 'text' },
        { ...ctx, out: (t) => v.push(t) },
      ),
    ).toBe(0);
    expect(v.join('\n')).toMatch(/30 valid session\(s\)/);
    expect(v.join('\n')).toMatch(/SOP shop: 0 violation/);
    // a config file sets the environment (here: a two-turn limit)
    const cfg = path.join(dir, 'shop.yaml');
    await fs.writeFile(cfg, 'maxTurns: 2\nsopEnforcement: penalize\n');
    const out2 = path.join(dir, 'short.jsonl');
    expect(
      await simulateCommand.run(
        { scenarios: 20, policy: 'random', out: out2, format: 'text' },
        { ...ctx, configFile: cfg },
      ),
    ).toBe(0);
    const short = await readSessionsAll(out2);
    for (const s of short) expect(s.turns.filter((t) => t.role === 'agent').length).toBeLessThanOrEqual(2);
    await fs.writeFile(cfg, 'maxTurns: 1\n');
    await expect(
      simulateCommand.run(
        { scenarios: 1, policy: 'random', out: out2, format: 'text' },
        { ...ctx, configFile: cfg },
      ),
    ).rejects.toThrow(/shop\.yaml:1 at maxTurns/);
    await fs.rm(dir, { recursive: true, force: true });
  });
});

describe('personas and observations', () => {
  it('verbose customers write longer messages; cooperative ones need fewer turns', () => {
    const sessions = simulate(shopPolicies.get('oracle'), { scenarios: 600, seed: 21 }, env);
    const persona = (s: Session) =>
      (s as unknown as { persona: { verbosity: number; cooperativeness: number } }).persona;
    const meanLen = (ss: Session[]) => {
      const texts = ss.flatMap((s) => s.turns.filter((t) => t.role === 'user').map((t) => t.text.length));
      return texts.reduce((a, b) => a + b, 0) / texts.length;
    };
    const meanTurns = (ss: Session[]) => ss.reduce((a, s) => a + s.turns.length, 0) / ss.length;
    expect(meanLen(sessions.filter((s) => persona(s).verbosity > 0.7))).toBeGreaterThan(
      meanLen(sessions.filter((s) => persona(s).verbosity < 0.3)),
    );
    expect(meanTurns(sessions.filter((s) => persona(s).cooperativeness > 0.7))).toBeLessThan(
      meanTurns(sessions.filter((s) => persona(s).cooperativeness < 0.3)),
    );
  });

  it('encodes observations in [0, 1] with one name per entry', () => {
    const names = observationFeatureNames(sop);
    expect(new Set(names).size).toBe(names.length);
    let { observation } = env.reset(3);
    while (!env.done) {
      expect(observation.features.length).toBe(names.length);
      for (const v of observation.features) expect(v >= 0 && v <= 1).toBe(true);
      expect(observation.features[names.indexOf(`state/${observation.sopState}`)]).toBe(1);
      observation = env.step(oraclePolicy.act(env, observation, Rng.fromSeed(1))).info.observation;
    }
  });
});
