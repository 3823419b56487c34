/**
 * Held-out evaluation of a reply policy: the oracle picks the strategies (so only the replies vary),
 * the reply policy writes them, the simulator plays the customer. Reported per reply: adherence under
 * each judge (the simulator's NLU is logged on every turn as `detected_strategy`; further judges
 * read the texts), their agreement, fact accuracy (entities the reply states that its turn's facts
 * support), distinct-2 and mean length; per session: success. Intervals: bootstrap over sessions.
 */
import { Rng } from '@gopo/core';
import { checkFacts, factAccuracy, loadShippedClassifier } from '@gopo/cs-agent';
import type { DialogueEnv } from '@gopo/dialogue';
import { type ReplyPolicy, type Session, type StrategyJudge, turnAdherent } from '@gopo/dialogue';
import { oracleStrategyPolicy } from '@gopo/envs';
import { bootstrapMean } from '@gopo/rewards';
import { evalJobs } from '../gopo/scenarios.js';
import { InProcessPool } from '../rollout/worker-pool.js';

export interface CsEvaluation {
  readonly sessions: number;
  readonly replies: number;
  /** name -> { value, low, high } (percentages for rates). */
  readonly metrics: Readonly<Record<string, { value: number; low: number; high: number }>>;
}

/** Distinct bigrams over all bigrams of the replies (lower-cased words). */
export function distinct2(texts: readonly string[]): number {
  const seen = new Set<string>();
  let total = 0;
  for (const t of texts) {
    const w = t.toLowerCase().split(/\s+/).filter(Boolean);
    for (let i = 0; i + 1 < w.length; i++) {
      seen.add(`${w[i]} ${w[i + 1]}`);
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}

export async function evaluateReplies(
  reply: ReplyPolicy,
  makeEnv: () => DialogueEnv,
  options: { scenarios: number; seed: number; judges?: readonly StrategyJudge[]; resamples?: number },
): Promise<CsEvaluation & { sessionsList: Session[] }> {
  const pool = new InProcessPool({ strategy: oracleStrategyPolicy, reply }, makeEnv);
  const sessions = (await pool.run(evalJobs(options.scenarios, { streamSeed: options.seed }))).map(
    (r) => r.session,
  );
  const replies = sessions.flatMap((s) => s.turns.flatMap((t) => (t.role === 'agent' ? [t] : [])));
  const texts = replies.map((t) => t.text);
  // The second adherence judge defaults to the shipped classifier, independent of the simulator.
  const judges = options.judges ?? [await loadShippedClassifier()];
  const judged = await Promise.all(judges.map((j) => j.judge(texts)));
  const perSession = (f: (s: Session) => number) => sessions.map(f);
  const rng = Rng.fromSeed(options.seed, 'cs-eval');
  const ci = (values: number[], scale = 100) => {
    const i = bootstrapMean(values, { resamples: options.resamples ?? 1000, confidence: 0.95, rng });
    return { value: i.value * scale, low: i.low * scale, high: i.high * scale };
  };
  let offset = 0;
  const bySession = sessions.map((s) => {
    const n = s.turns.filter((t) => t.role === 'agent').length;
    const idx = Array.from({ length: n }, (_, k) => offset + k);
    offset += n;
    return idx;
  });
  const rate = (ok: (i: number) => boolean) =>
    bySession.map((idx) => (idx.length ? idx.filter(ok).length / idx.length : 1));
  const metrics: Record<string, { value: number; low: number; high: number }> = {
    success_rate: ci(perSession((s) => (s.outcome.status === 'success' ? 1 : 0))),
    adherence_nlu: ci(rate((i) => turnAdherent(replies[i]!) === true)),
  };
  judges.forEach((j, k) => {
    metrics[`adherence_${j.name}`] = ci(rate((i) => judged[k]![i] === replies[i]!.strategy));
    metrics[`agreement_nlu_${j.name}`] = ci(
      rate((i) => judged[k]![i] === (replies[i]!.detected_strategy ?? null)),
    );
  });
  const checks = replies.map((t) => checkFacts(t.text, t.facts ?? []));
  metrics.fact_accuracy = ci(bySession.map((idx) => factAccuracy(idx.map((i) => checks[i]!)).accuracy));
  metrics.distinct_2 = { value: 100 * distinct2(texts), low: Number.NaN, high: Number.NaN };
  metrics.reply_words = ci(
    bySession.map((idx) =>
      idx.length
        ? idx.reduce((a, i) => a + texts[i]!.split(/\s+/).filter(Boolean).length, 0) / idx.length
        : 0,
    ),
    1,
  );
  return { sessions: sessions.length, replies: replies.length, metrics, sessionsList: sessions };
}
