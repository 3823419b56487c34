/**
 * The experiment's report: report.md and a self-contained report.html (Chart.js inlined) with
 * - the budget table (episodes each method played per seed, the models that act),
 * - the results table: per metric the mean over seeds with a 95% t interval across seeds,
 * - per reference method (`compareAgainst`), every other method's difference on the pooled held-out
 *   sessions (seed x scenario, paired session by session), the relative difference, and the paired
 *   test's p-value; the bootstrap resamples scenarios, each with its sessions under every seed, since
 *   one scenario's seeds are not independent (a frozen method plays it the same way under each),
 *
 * - learning curves: held-out metrics against training episodes, mean over seeds, one line per method.
 * results.json holds the same numbers for programs.
 */
import * as path from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@gopo/core';
import type { Session } from '@gopo/dialogue';
import { compareScored, type MetricComparison, MetricsConfigSchema, selectMetrics } from '@gopo/rewards';
import { tInterval } from '../gopo/compare.js';
import { REPORT_METRICS, scoreInMemory } from '../gopo/evaluate.js';
import { chartPage, escapeHtml, markdownTableToHtml } from '../gopo/report.js';
import { type ExperimentConfig, type ExperimentMethod, methodLabel } from './config.js';
import type { MethodSeedResult } from './run.js';

export interface MethodSummary {
  readonly id: string;
  readonly label: string;
  readonly kind: ExperimentMethod['kind'];
  readonly seeds: readonly number[];
  readonly episodes: number;
  readonly models: string;
  /** Per metric: mean over seeds and the 95% t interval across seeds. */
  readonly metrics: Readonly<Record<string, { mean: number; low: number; high: number }>>;
  /** Per metric: mean over seeds after each number of training episodes. */
  readonly curve: readonly { episodes: number; metrics: Readonly<Record<string, number>> }[];
  readonly wallSeconds: number;
}

export interface ReferenceComparison {
  readonly reference: string;
  readonly method: string;
  /** Sessions paired (seed x held-out scenario). */
  readonly paired: number;
  /** Scenarios the bootstrap resampled (each with its paired sessions under every seed). */
  readonly scenarios: number;
  readonly metrics: readonly (MetricComparison & { relative: number })[];
}

export interface ExperimentReport {
  readonly methods: readonly MethodSummary[];
  readonly comparisons: readonly ReferenceComparison[];
  readonly markdown: string;
  readonly files: { readonly markdown: string; readonly html: string };
}

const DIGITS: Record<string, number> = { gre: 3, user_turns: 2 };
const fix = (name: string, v: number) => (Number.isFinite(v) ? v.toFixed(DIGITS[name] ?? 1) : 'n/a');
const num = (v: number | null | undefined) => (v === null || v === undefined ? Number.NaN : v);

function summarizeMethod(m: ExperimentMethod, rows: readonly MethodSeedResult[]): MethodSummary {
  const metrics: Record<string, { mean: number; low: number; high: number }> = {};
  for (const name of REPORT_METRICS) metrics[name] = tInterval(rows.map((r) => num(r.values[name])));
  const byEpisodes = new Map<number, Record<string, number[]>>();
  for (const r of rows)
    for (const p of r.curve) {
      const at = byEpisodes.get(p.episodes) ?? {};
      for (const [k, v] of Object.entries(p.metrics)) at[k] = [...(at[k] ?? []), num(v)];
      byEpisodes.set(p.episodes, at);
    }
  const curve = [...byEpisodes.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([episodes, at]) => ({
      episodes,
      metrics: Object.fromEntries(Object.entries(at).map(([k, vs]) => [k, tInterval(vs).mean])),
    }));
  const episodes = rows.map((r) => r.episodes);
  return {
    id: m.id,
    label: methodLabel(m),
    kind: m.kind,
    seeds: rows.map((r) => r.seed),
    episodes: episodes.reduce((a, b) => a + b, 0) / Math.max(1, episodes.length),
    models: rows[0]?.models ?? '',
    metrics,
    curve,
    wallSeconds: rows.reduce((a, r) => a + r.wallSeconds, 0),
  };
}

/** The pooled session ids are `seed<S>/<scenario session id>` (run.ts). */
export const pooledSessionId = (seed: number, id: string) => `seed${seed}/${id}`;
const scenarioOf = (pooledId: string) => pooledId.slice(pooledId.indexOf('/') + 1);

/** Method `a` against reference `b` on their pooled held-out sessions, paired by seed and scenario. */
function compareToReference(
  a: readonly Session[],
  b: readonly Session[],
  e: ExperimentConfig,
): { paired: number; scenarios: number; metrics: (MetricComparison & { relative: number })[] } {
  const config = MetricsConfigSchema.parse({
    ...e.gopo.metrics,
    metrics: [...REPORT_METRICS],
    bootstrap: { ...e.gopo.metrics.bootstrap, resamples: e.eval.resamples },
  });
  const sa = scoreInMemory(a, config, e.seeds[0] ?? 0).scored;
  const sb = scoreInMemory(b, config, e.seeds[0] ?? 0).scored;
  const c = compareScored(sa, sb, selectMetrics(config), config, e.seeds[0] ?? 0, {
    clusterOf: scenarioOf,
  });
  return {
    paired: c.paired,
    scenarios: c.units,
    metrics: c.metrics.map((m) => ({
      ...m,
      relative: m.b !== 0 ? (100 * m.delta) / Math.abs(m.b) : Number.NaN,
    })),
  };
}

function resultsTable(methods: readonly MethodSummary[]): string {
  const head = `| method | episodes / seed | ${REPORT_METRICS.join(' | ')} |`;
  const rule = `| --- | --- | ${REPORT_METRICS.map(() => '---').join(' | ')} |`;
  const rows = methods.map((m) => {
    const cells = REPORT_METRICS.map((n) => {
      const x = m.metrics[n]!;
      return m.seeds.length > 1 ? `${fix(n, x.mean)} [${fix(n, x.low)}, ${fix(n, x.high)}]` : fix(n, x.mean);
    });
    return `| ${m.label} | ${m.episodes} | ${cells.join(' | ')} |`;
  });
  return [head, rule, ...rows].join('\n');
}

function budgetTable(methods: readonly MethodSummary[]): string {
  return [
    '| method | kind | seeds | training episodes / seed | models | wall s (all seeds) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...methods.map(
      (m) =>
        `| ${m.label} | ${m.kind} | ${m.seeds.join(', ')} | ${m.episodes} | ${m.models} | ${m.wallSeconds.toFixed(0)} |`,
    ),
  ].join('\n');
}

/** p as the test gives it; at its floor 1 / (resamples + 1) it can only say "at most". */
function pText(p: number, resamples: number): string {
  return p <= 1 / (resamples + 1) + 1e-12 ? `p<=${p.toFixed(4)}` : `p=${p.toFixed(3)}`;
}

function comparisonTable(
  reference: string,
  rows: readonly ReferenceComparison[],
  labels: Map<string, string>,
  resamples: number,
): string {
  const shown = ['tse', 'gre', 'esndcg', 'success_rate', 'user_turns'];
  const head = `| method vs ${labels.get(reference)} | pairs (scenarios) | ${shown.map((n) => `${n}: delta (relative) p`).join(' | ')} |`;
  const rule = `| --- | --- | ${shown.map(() => '---').join(' | ')} |`;
  const body = rows.map((r) => {
    const cells = shown.map((n) => {
      const m = r.metrics.find((x) => x.name === n);
      if (!m || !Number.isFinite(m.delta)) return 'n/a';
      const sign = m.delta >= 0 ? '+' : '';
      const rel = Number.isFinite(m.relative)
        ? ` (${m.relative >= 0 ? '+' : ''}${m.relative.toFixed(1)}%)`
        : '';
      return `${sign}${fix(n, m.delta)}${rel} ${pText(m.pValue, resamples)}`;
    });
    return `| ${labels.get(r.method)} | ${r.paired} (${r.scenarios}) | ${cells.join(' | ')} |`;
  });
  return [head, rule, ...body].join('\n');
}

function curveTable(methods: readonly MethodSummary[], metric: string): string {
  const points = [...new Set(methods.flatMap((m) => m.curve.map((p) => p.episodes)))].sort((a, b) => a - b);
  const withCurve = methods.filter((m) => m.curve.length > 0);
  if (withCurve.length === 0 || points.length === 0) return '';
  return [
    `| episodes | ${withCurve.map((m) => m.label).join(' | ')} |`,
    `| --- | ${withCurve.map(() => '---').join(' | ')} |`,
    ...points.map((ep) => {
      const cells = withCurve.map((m) => {
        const p = m.curve.find((x) => x.episodes === ep);
        return p ? fix(metric, p.metrics[metric] ?? Number.NaN) : '';
      });
      return `| ${ep} | ${cells.join(' | ')} |`;
    }),
  ].join('\n');
}

const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

async function experimentHtml(
  title: string,
  sections: readonly [string, string][],
  methods: readonly MethodSummary[],
) {
  const series = ['tse', 'success_rate', 'gre', 'esndcg'].map((metric) => ({
    metric,
    lines: methods
      .filter((m) => m.curve.length > 0)
      .map((m, i) => ({
        label: m.label,
        color: COLORS[i % COLORS.length],
        points: m.curve.map((p) => ({ x: p.episodes, y: p.metrics[metric] ?? null })),
      })),
  }));
  const body = sections
    .map(
      ([h, md]) =>
        `<h2>${escapeHtml(h)}</h2>\n${md.startsWith('|') ? markdownTableToHtml(md) : `<p>${escapeHtml(md)}</p>`}`,
    )
    .join('\n');
  return chartPage({
    title,
    bodyHtml: body,
    chartsHeading: 'Learning curves (held-out, mean over seeds)',
    series,
    maxWidthPx: 1200,
    chartHeightPx: 300,
    drawSeries: `  if (s.lines.length === 0) continue;
  const box = document.createElement('div'); box.className = 'chart';
  const canvas = document.createElement('canvas'); box.appendChild(canvas); root.appendChild(box);
  const datasets = s.lines.map((l) => ({ label: l.label, data: l.points, borderColor: l.color, backgroundColor: l.color, tension: 0 }));
  new Chart(canvas, { type: 'line', data: { datasets },
    options: { animation: false, maintainAspectRatio: false,
      plugins: { title: { display: true, text: s.metric + ' against training episodes' } },
      scales: { x: { type: 'linear', title: { display: true, text: 'training episodes' } } } } });`,
  });
}

/** Summarizes finished method/seed results and writes report.md, report.html and results.json. */
export async function writeExperimentReport(
  root: string,
  e: ExperimentConfig,
  perMethod: ReadonlyMap<string, readonly MethodSeedResult[]>,
  sessions: ReadonlyMap<string, readonly Session[]>,
  invocationSeconds: number,
): Promise<ExperimentReport> {
  const methods = e.methods
    .filter((m) => perMethod.has(m.id))
    .map((m) => summarizeMethod(m, perMethod.get(m.id)!));
  const labels = new Map(e.methods.map((m) => [m.id, methodLabel(m)]));
  const comparisons: ReferenceComparison[] = [];
  for (const ref of e.compareAgainst) {
    const b = sessions.get(ref);
    if (!b) continue;
    for (const m of methods) {
      const a = sessions.get(m.id);
      if (m.id === ref || !a) continue;
      comparisons.push({ reference: ref, method: m.id, ...compareToReference(a, b, e) });
    }
  }
  const totalWall = methods.reduce((s, m) => s + m.wallSeconds, 0);
  const sections: [string, string][] = [
    [
      'Setup',
      `Seeds ${e.seeds.join(', ')}; budget ${e.budget.episodes} environment episodes per trained method and seed; ` +
        `${e.eval.scenarios} held-out scenarios per seed (the same for every method); mean over seeds [95% t interval across seeds]. ` +
        `Wall time of all method runs ${totalWall.toFixed(0)} s (this invocation ${invocationSeconds.toFixed(0)} s).`,
    ],
    ['Results', resultsTable(methods)],
    ['Budgets', budgetTable(methods)],
    ...e.compareAgainst
      .filter((ref) => comparisons.some((c) => c.reference === ref))
      .map(
        (ref) =>
          [
            `Against ${labels.get(ref)}`,
            comparisonTable(
              ref,
              comparisons.filter((c) => c.reference === ref),
              labels,
              e.eval.resamples,
            ),
          ] as [string, string],
      ),
    ['Learning curve: TSE (held-out, curve scenarios) against training episodes', curveTable(methods, 'tse')],
  ];
  const title = `gopo experiment ${path.basename(root)}`;
  const markdown = [
    `# ${title}`,
    '',
    ...sections.flatMap(([h, body]) => [`## ${h}`, '', body, '']),
    'Differences are on the pooled held-out sessions paired by seed and scenario; relative = delta / reference value; ' +
      `p: ${e.gopo.metrics.bootstrap.test} test resampling scenarios (each with its sessions under every seed). Plots: report.html.`,
    '',
  ].join('\n');
  const files = { markdown: path.join(root, 'report.md'), html: path.join(root, 'report.html') };
  await writeFileAtomic(files.markdown, markdown);
  await writeFileAtomic(files.html, await experimentHtml(title, sections, methods));
  await writeJsonAtomic(path.join(root, 'results.json'), { methods, comparisons, wallSeconds: totalWall });
  return { methods, comparisons, markdown, files };
}
