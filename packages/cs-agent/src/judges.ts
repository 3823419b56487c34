/**
 * Reading two adherence judges side by side (issue 19): the CS Agent is judged by the simulator's NLU
 * and by an independent classifier, and how often they disagree is itself a metric (a reply model
 * that games one judge drives the two apart).
 */
import { GopoError, UsageError } from '@gopo/core';
import type { StrategyJudge } from '@gopo/dialogue';

/** Two lists of judgements that should be parallel are not. */
export class JudgeLengthError extends GopoError {
  constructor(
    readonly lengths: readonly number[],
    readonly what: string,
  ) {
    super(`${what} need one entry per text; lengths ${lengths.join(' vs ')}`);
  }
}

type Judged = readonly (string | null)[];

export interface JudgeAgreement {
  /** Texts judged. */
  readonly total: number;
  /** Texts both judges read as the same strategy (null counts as a reading: both null agree). */
  readonly agreed: number;
  /** agreed / total (1 when there are no texts). */
  readonly agreement: number;
  /** 1 - agreement: the disagreement metric. */
  readonly disagreement: number;
  /** Disagreements by pair, `"<a>|<b>"` (null written as "none"), most frequent first. */
  readonly confusions: readonly {
    readonly a: string | null;
    readonly b: string | null;
    readonly count: number;
  }[];
}

/** How often two judges' readings of the same texts agree, and where they part. */
export function judgeAgreement(a: Judged, b: Judged): JudgeAgreement {
  if (a.length !== b.length)
    throw new JudgeLengthError([a.length, b.length], 'judgeAgreement: both judgements');
  let agreed = 0;
  const pairs = new Map<string, { a: string | null; b: string | null; count: number }>();
  a.forEach((x, i) => {
    const y = b[i] ?? null;
    if (x === y) {
      agreed++;
      return;
    }
    const key = `${x ?? 'none'}|${y ?? 'none'}`;
    const p = pairs.get(key) ?? { a: x, b: y, count: 0 };
    p.count++;
    pairs.set(key, p);
  });
  const total = a.length;
  const agreement = total === 0 ? 1 : agreed / total;
  const confusions = [...pairs.values()].sort(
    (p, q) => q.count - p.count || `${p.a}|${p.b}`.localeCompare(`${q.a}|${q.b}`),
  );
  return { total, agreed, agreement, disagreement: 1 - agreement, confusions };
}

/** Share of replies whose judged strategy is the commanded one (DESIGN.md 4.5, strategy adherence). */
export function adherenceRate(judged: Judged, commanded: readonly string[]): number {
  if (judged.length !== commanded.length)
    throw new JudgeLengthError([judged.length, commanded.length], 'adherenceRate: judgements and commands');
  if (judged.length === 0) return 1;
  return judged.filter((s, i) => s === commanded[i]).length / judged.length;
}

export interface JudgesReport {
  /** Adherence under each judge, by judge name. */
  readonly adherence: Readonly<Record<string, number>>;
  readonly agreement: JudgeAgreement;
  /** Each judge's readings, by judge name. */
  readonly judged: Readonly<Record<string, Judged>>;
}

/** Runs two judges over the same replies: adherence to the commanded strategies under each, and their agreement. */
export async function compareJudges(
  a: StrategyJudge,
  b: StrategyJudge,
  texts: readonly string[],
  commanded: readonly string[],
): Promise<JudgesReport> {
  if (a.name === b.name)
    throw new UsageError(`compareJudges needs two judges with different names, got "${a.name}" twice`);
  const [ja, jb] = await Promise.all([a.judge(texts), b.judge(texts)]);
  return {
    adherence: { [a.name]: adherenceRate(ja, commanded), [b.name]: adherenceRate(jb, commanded) },
    agreement: judgeAgreement(ja, jb),
    judged: { [a.name]: ja, [b.name]: jb },
  };
}
