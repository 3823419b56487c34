import { match } from 'ts-pattern';

/**
 * The 13a tokenizer of mteval-v13a as sacrebleu applies it: unescape a few HTML entities, split
 * off punctuation and symbols, split period and comma except inside numbers, split a dash that
 * follows a digit, collapse whitespace.
 */
export function tokenize13a(line: string): string {
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  if (s.includes('&')) {
    s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  }
  s = ` ${s} `;
  // Symbols: { | } ~  [ \ ] ^ _ `  space ! " # $ % &  ( ) * +  : ; < = > ? @  /
  s = s.replace(/([{-~[-` -&(-+:-@/])/g, ' $1 ');
  s = s.replace(/([^0-9])([.,])/g, '$1 $2 ');
  s = s.replace(/([.,])([^0-9])/g, ' $1 $2');
  s = s.replace(/([0-9])(-)/g, '$1 $2 ');
  return s
    .trim()
    .split(/\s+/)
    .filter((t) => t.length > 0)
    .join(' ');
}

export type BleuSmoothing = 'none' | 'exp' | 'floor' | 'add-k';

export interface BleuOptions {
  /** Maximum n-gram order (4). */
  readonly maxOrder?: number;
  /** 'none' (default here; sacrebleu's corpus default is 'exp'), 'exp', 'floor' or 'add-k'. */
  readonly smoothing?: BleuSmoothing;
  /** Value for 'floor' (0.1) and 'add-k' (1). */
  readonly smoothValue?: number;
  /** Tokenize with 13a (true) or split on whitespace only (false). */
  readonly tokenize?: boolean;
  /** Lowercase before tokenizing. */
  readonly lowercase?: boolean;
}

export interface BleuResult {
  /** 0..100. */
  readonly score: number;
  readonly counts: number[];
  readonly totals: number[];
  /** Precisions in percent. */
  readonly precisions: number[];
  readonly bp: number;
  readonly sysLen: number;
  readonly refLen: number;
}

function ngramCounts(tokens: readonly string[], maxOrder: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let n = 1; n <= maxOrder; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      // \u0001 cannot occur in a token (tokens are split on whitespace) and keeps orders apart.
      const key = `${n}\u0001${tokens.slice(i, i + n).join(' ')}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Corpus BLEU (Papineni et al. 2002) as sacrebleu computes it: clipped n-gram matches and totals are
 * summed over the corpus; the reference length of a sentence is the closest reference length (the
 * shorter on ties); BP = exp(1 - r/c) when c < r. `references[j][i]` is the j-th reference of
 * sentence i (sacrebleu's layout); a missing reference (undefined) is skipped for that sentence.
 */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly (readonly (string | undefined)[])[],
  options: BleuOptions = {},
): BleuResult {
  const maxOrder = options.maxOrder ?? 4;
  const smoothing = options.smoothing ?? 'none';
  const prep = (s: string) => {
    const t = options.lowercase ? s.toLowerCase() : s;
    const tok = options.tokenize === false ? t.trim() : tokenize13a(t);
    return tok.length === 0 ? [] : tok.split(' ');
  };
  for (const [j, refs] of references.entries()) {
    if (refs.length !== hypotheses.length)
      throw new RangeError(
        `reference stream ${j} has ${refs.length} sentences, hypotheses have ${hypotheses.length}`,
      );
  }
  const counts = new Array<number>(maxOrder).fill(0);
  const totals = new Array<number>(maxOrder).fill(0);
  let sysLen = 0;
  let refLen = 0;
  hypotheses.forEach((hyp, i) => {
    const h = prep(hyp);
    const maxRef = new Map<string, number>();
    let closest = -1;
    let closestDiff = Infinity;
    for (const refs of references) {
      const r = refs[i];
      if (r === undefined) continue;
      const toks = prep(r);
      const diff = Math.abs(toks.length - h.length);
      if (diff < closestDiff || (diff === closestDiff && toks.length < closest)) {
        closestDiff = diff;
        closest = toks.length;
      }
      for (const [k, c] of ngramCounts(toks, maxOrder)) if (c > (maxRef.get(k) ?? 0)) maxRef.set(k, c);
    }
    sysLen += h.length;
    refLen += Math.max(0, closest);
    for (const [k, c] of ngramCounts(h, maxOrder)) {
      const n = Number(k.slice(0, k.indexOf('\u0001')));
      counts[n - 1]! += Math.min(c, maxRef.get(k) ?? 0);
    }
    for (let n = 1; n <= maxOrder; n++) totals[n - 1]! += Math.max(0, h.length - n + 1);
  });
  const bp = sysLen === 0 ? 0 : sysLen < refLen ? Math.exp(1 - refLen / sysLen) : 1;
  const precisions = new Array<number>(maxOrder).fill(0);
  const base = { counts, totals, precisions, bp, sysLen, refLen };
  if (sysLen === 0) return { score: 0, ...base };
  const k = options.smoothValue;
  let expDivisor = 1;
  const c = counts.slice();
  const t = totals.slice();
  for (let n = 1; n <= maxOrder; n++) {
    if (smoothing === 'add-k' && n > 1) {
      c[n - 1]! += k ?? 1;
      t[n - 1]! += k ?? 1;
    }
    if (t[n - 1] === 0) break;
    if (c[n - 1] === 0) {
      precisions[n - 1] = match(smoothing)
        .with('exp', () => {
          expDivisor *= 2;
          return 100 / (expDivisor * t[n - 1]!);
        })
        .with('floor', () => (100 * (k ?? 0.1)) / t[n - 1]!)
        .with('none', 'add-k', () => 0)
        .exhaustive();
    } else precisions[n - 1] = (100 * c[n - 1]!) / t[n - 1]!;
  }
  if (precisions.some((p) => p === 0)) return { score: 0, ...base };
  const logMean = precisions.reduce((s, p) => s + Math.log(p), 0) / maxOrder;
  return { score: bp * Math.exp(logMean), ...base };
}
