/**
 * A run's report: report.md (the before/after table with 95% intervals, the paired test, the phase
 * table) and report.html, one self-contained page (no network: Chart.js is inlined) with the
 * held-out TSE, GRE, ESNDCG and success per phase with their intervals, and the training reward, KL
 * and entropy per phase. Both are rebuilt from the run folder alone (`gopo report --run DIR`).
 */
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { FileFormatError, MissingFileError, writeFileAtomic } from '@gopo/core';
import type { Comparison, Evaluation, MetricSummary } from '@gopo/rewards';
import { REPORT_METRICS } from './evaluate.js';

export interface RunSummary {
  readonly phases: number;
  readonly before: Evaluation;
  readonly after: Evaluation;
  readonly comparison: Comparison;
}

type MetricsRecord = Record<string, number> & { step: number };

async function readMetrics(file: string): Promise<MetricsRecord[]> {
  if (!existsSync(file)) return [];
  const out: MetricsRecord[] = [];
  const lines = (await fs.readFile(file, 'utf8')).split('\n');
  lines.forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      out.push(JSON.parse(l) as MetricsRecord);
    } catch {
      throw new FileFormatError({ file, line: i + 1 }, 'not a JSON metrics record');
    }
  });
  return out;
}

const DIGITS: Record<string, number> = { gre: 3, user_turns: 2 };
const fmt = (m: MetricSummary | undefined) => {
  if (!m || Number.isNaN(m.value)) return 'n/a';
  const d = DIGITS[m.name] ?? 1;
  return `${m.value.toFixed(d)} [${m.low.toFixed(d)}, ${m.high.toFixed(d)}]`;
};

/** The before/after table and the paired comparison as markdown. */
export function summaryMarkdown(s: RunSummary): string {
  const find = (e: Evaluation, n: string) => e.metrics.find((m) => m.name === n);
  const rows = REPORT_METRICS.map((name) => {
    const c = s.comparison.metrics.find((m) => m.name === name);
    const delta =
      c && Number.isFinite(c.delta)
        ? `${c.delta >= 0 ? '+' : ''}${c.delta.toFixed(DIGITS[name] ?? 1)}`
        : 'n/a';
    const p = c && Number.isFinite(c.pValue) ? c.pValue.toFixed(3) : 'n/a';
    return `| ${name} | ${fmt(find(s.before, name))} | ${fmt(find(s.after, name))} | ${delta} | ${p} |`;
  });
  return [
    `Held-out scenarios: ${s.after.sessions} (paired: ${s.comparison.paired}); 95% bootstrap intervals; ` +
      `p: ${s.comparison.test} test of after vs before on the same scenarios.`,
    '',
    '| metric | before | after | delta | p |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

const SERIES = [
  ['eval/tse', 'TSE (held-out, x100)'],
  ['eval/gre', 'GRE (held-out)'],
  ['eval/esndcg', 'ESNDCG (held-out, x100)'],
  ['eval/success_rate', 'success % (held-out)'],
  ['reward/total', 'R(tau) (training rollouts)'],
  ['policy/kl', 'KL(pi || pi_ref) per decision'],
  ['policy/entropy', 'policy entropy per decision (nats)'],
] as const;

function chartData(records: readonly MetricsRecord[]) {
  return SERIES.map(([key, label]) => {
    const points = records.filter((r) => Number.isFinite(r[key]));
    const band = points.every((r) => Number.isFinite(r[`${key}_low`]));
    return {
      key,
      label,
      x: points.map((r) => r.step),
      y: points.map((r) => r[key]),
      low: band ? points.map((r) => r[`${key}_low`]) : null,
      high: band ? points.map((r) => r[`${key}_high`]) : null,
    };
  }).filter((s) => s.x.length > 0);
}

export const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The first markdown table of `md` as an HTML table. */
export function markdownTableToHtml(md: string): string {
  const lines = md.split('\n').filter((l) => l.startsWith('|'));
  const cells = (l: string) =>
    l
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const [head, , ...body] = lines;
  if (!head) return '';
  return `<table><thead><tr>${cells(head)
    .map((c) => `<th>${escapeHtml(c)}</th>`)
    .join('')}</tr></thead><tbody>${body
    .map(
      (l) =>
        `<tr>${cells(l)
          .map((c) => `<td>${escapeHtml(c)}</td>`)
          .join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

let chartJs: string | undefined;
/** Chart.js's UMD bundle, inlined so the page needs no network. */
export async function chartLibrary(): Promise<string> {
  // chart.js's exports map hides its dist files; its main entry sits beside the UMD bundle.
  const main = createRequire(import.meta.url).resolve('chart.js');
  chartJs ??= await fs.readFile(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8');
  return chartJs;
}

/**
 * A self-contained HTML page: the title, `bodyHtml`, then one Chart.js chart per entry of `series`
 * (Chart.js inlined, no network). `drawSeries` is the script run for each series `s`, with `canvas`
 * already placed in the page's chart grid.
 */
export async function chartPage(page: {
  readonly title: string;
  readonly bodyHtml: string;
  readonly chartsHeading: string;
  readonly series: unknown;
  readonly drawSeries: string;
  readonly maxWidthPx: number;
  readonly chartHeightPx: number;
}): Promise<string> {
  const data = JSON.stringify(page.series).replace(/</g, '\\u003c');
  const lib = (await chartLibrary()).replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:${page.maxWidthPx}px;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}.grid{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}
.chart{position:relative;height:${page.chartHeightPx}px}
</style></head><body>
<h1>${escapeHtml(page.title)}</h1>
${page.bodyHtml}
<h2>${escapeHtml(page.chartsHeading)}</h2>
<div class="grid" id="charts"></div>
<script>${lib}</script>
<script>
const series = ${data};
const root = document.getElementById('charts');
for (const s of series) {
${page.drawSeries}
}
</script></body></html>
`;
}

/** The self-contained HTML page of a run. */
export async function reportHtml(
  title: string,
  summaryMd: string,
  records: readonly MetricsRecord[],
): Promise<string> {
  return chartPage({
    title,
    bodyHtml: `${markdownTableToHtml(summaryMd)}\n<p>${escapeHtml(summaryMd.split('\n')[0] ?? '')}</p>`,
    chartsHeading: 'Per phase',
    series: chartData(records),
    maxWidthPx: 1100,
    chartHeightPx: 260,
    drawSeries: `  const box = document.createElement('div'); box.className = 'chart';
  const canvas = document.createElement('canvas'); box.appendChild(canvas); root.appendChild(box);
  const pts = (ys) => ys.map((y, i) => ({ x: s.x[i], y }));
  const datasets = [{ label: s.label, data: pts(s.y), borderColor: '#1f77b4', backgroundColor: '#1f77b4', tension: 0 }];
  if (s.low) {
    datasets.push({ label: '95% low', data: pts(s.low), borderColor: 'rgba(31,119,180,0.25)', pointRadius: 0, fill: false });
    datasets.push({ label: '95% high', data: pts(s.high), borderColor: 'rgba(31,119,180,0.25)', backgroundColor: 'rgba(31,119,180,0.12)', pointRadius: 0, fill: '-1' });
  }
  new Chart(canvas, { type: 'line', data: { datasets },
    options: { animation: false, maintainAspectRatio: false,
      plugins: { title: { display: true, text: s.label }, legend: { display: false } },
      scales: { x: { type: 'linear', title: { display: true, text: 'phases done' }, ticks: { precision: 0 } } } } });`,
  });
}

/** Writes report.md and report.html into a finished run folder; returns their paths. */
export async function writeRunReport(runRoot: string): Promise<{ markdown: string; html: string }> {
  const summaryFile = path.join(runRoot, 'summary.json');
  if (!existsSync(summaryFile)) throw new MissingFileError(summaryFile, 'run summary (is the run finished?)');
  let summary: RunSummary;
  try {
    summary = JSON.parse(await fs.readFile(summaryFile, 'utf8')) as RunSummary;
  } catch (e) {
    throw new FileFormatError({ file: summaryFile }, `not JSON: ${(e as Error).message}`);
  }
  const records = await readMetrics(path.join(runRoot, 'metrics.jsonl'));
  const table = summaryMarkdown(summary);
  const phaseRows = records
    .filter((r) => r.phase !== undefined && r.phase >= 0)
    .map(
      (r) =>
        `| ${r.phase} | ${Number.isFinite(r['reward/total']) ? r['reward/total']!.toFixed(3) : '-'} | ${
          Number.isFinite(r['eval/tse']) ? r['eval/tse']!.toFixed(1) : '-'
        } | ${Number.isFinite(r['policy/kl']) ? r['policy/kl']!.toFixed(4) : '-'} | ${
          Number.isFinite(r['policy/entropy']) ? r['policy/entropy']!.toFixed(3) : '-'
        } | ${Number.isFinite(r['time/rollout']) ? r['time/rollout']!.toFixed(1) : '-'} | ${
          Number.isFinite(r['time/update']) ? r['time/update']!.toFixed(1) : '-'
        } |`,
    );
  const title = `GOPO run ${path.basename(runRoot)}`;
  const md = [
    `# ${title}`,
    '',
    table,
    '',
    '## Phases',
    '',
    '| phase | R(tau) train | TSE held-out | KL | entropy | rollout s | update s |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...phaseRows,
    '',
    'Plots: report.html (self-contained).',
    '',
  ].join('\n');
  const markdown = path.join(runRoot, 'report.md');
  const html = path.join(runRoot, 'report.html');
  await writeFileAtomic(markdown, md);
  await writeFileAtomic(html, await reportHtml(title, table, records));
  return { markdown, html };
}
