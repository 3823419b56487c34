import type { Comparison, Evaluation, MetricSummary } from './evaluate.js';

export type ReportFormat = 'table' | 'json' | 'md';

export interface EvalReport {
  readonly evaluation: Evaluation;
  readonly against?: Evaluation;
  readonly comparison?: Comparison;
  readonly confidence: number;
  readonly resamples: number;
  readonly seed: number;
}

const fmt = (x: number, digits = 2) => (Number.isNaN(x) ? 'n/a' : x.toFixed(digits));
const fmtP = (p: number) => (Number.isNaN(p) ? 'n/a' : p < 0.001 ? '<0.001' : p.toFixed(3));

function rowsFor(metrics: readonly MetricSummary[]): string[][] {
  return metrics.map((m) => [m.name, fmt(m.value), `[${fmt(m.low)}, ${fmt(m.high)}]`, String(m.sessions)]);
}

function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** Renders an eval report as an aligned text table, Markdown, or JSON (NaN becomes null). */
export function formatReport(report: EvalReport, format: ReportFormat): string {
  if (format === 'json')
    return `${JSON.stringify(report, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
  const table = format === 'md' ? mdTable : textTable;
  const ci = `${Math.round(report.confidence * 100)}% CI`;
  const header = ['metric', 'value', ci, 'sessions'];
  const ev = report.evaluation;
  const parts: string[] = [];
  const title = (t: string) => (format === 'md' ? `### ${t}` : t);
  parts.push(
    title(
      `${ev.file}: ${ev.sessions} sessions${ev.skipped > 0 ? `, ${ev.skipped} invalid lines skipped` : ''} (bootstrap ${report.resamples} resamples, seed ${report.seed})`,
    ),
  );
  parts.push(table(header, rowsFor(ev.metrics)));
  for (const g of ev.byGoal) {
    parts.push(title(`goal ${g.goal}: ${g.sessions} sessions`));
    parts.push(table(header, rowsFor(g.metrics)));
  }
  if (report.comparison && report.against) {
    const c = report.comparison;
    parts.push(
      title(
        `${ev.file} (A) vs ${report.against.file} (B): ${c.paired} paired sessions, ${c.onlyInA} only in A, ${c.onlyInB} only in B; test ${c.test}`,
      ),
    );
    parts.push(
      table(
        ['metric', 'A', 'B', 'A - B', `${ci} of A - B`, 'p'],
        c.metrics.map((m) => [
          m.name,
          fmt(m.a),
          fmt(m.b),
          fmt(m.delta),
          `[${fmt(m.low)}, ${fmt(m.high)}]`,
          fmtP(m.pValue),
        ]),
      ),
    );
  }
  return `${parts.join('\n\n')}\n`;
}
