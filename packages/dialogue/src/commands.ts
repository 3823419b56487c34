import { defineCommand, FileFormatError, OutputFormatSchema } from '@gopo/core';
import { z } from 'zod';
import {
  formatLogIssue,
  type LogValidationReport,
  noSessionsError,
  readSessions,
  validateLogFile,
} from './log-io.js';
import { loadSop, type Sop, shopSopDefault } from './sop.js';

const countsLine = (rec: Readonly<Record<string, number>>) =>
  Object.entries(rec)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-';

/** SOP violations of the valid sessions of a log. */
interface SopCount {
  readonly name: string;
  readonly violations: number;
  readonly agentTurns: number;
  readonly sessionsAffected: number;
}

async function countSopViolations(file: string, sop: Sop, strict: boolean): Promise<SopCount> {
  let violations = 0;
  let agentTurns = 0;
  let sessionsAffected = 0;
  for await (const { session } of readSessions(file, { skipInvalid: true, strict })) {
    const checks = sop.replay(session);
    const v = checks.filter((c) => c.violation).length;
    agentTurns += checks.length;
    violations += v;
    if (v > 0) sessionsAffected++;
  }
  return { name: sop.spec.name, violations, agentTurns, sessionsAffected };
}

function reportLines(report: LogValidationReport, sop: SopCount | null): string[] {
  const lines = [
    `${report.file}: ${report.validSessions} valid session(s), ${report.invalidLines} invalid line(s) skipped`,
    `user turns: ${report.userTurns}  agent turns: ${report.agentTurns}  sessions with references: ${report.withReference}`,
    `goals: ${countsLine(report.byGoal)}`,
    `outcomes: ${countsLine(report.byStatus)}`,
  ];
  if (sop)
    lines.push(
      `SOP ${sop.name}: ${sop.violations} violation(s) over ${sop.agentTurns} agent turn(s), ${sop.sessionsAffected} session(s) affected`,
    );
  return lines;
}

export const logsValidateCommand = defineCommand({
  path: ['logs', 'validate'],
  describe: 'Validate a Mgshop-style JSONL session log: every bad line with its number and field path',
  positionals: [{ name: 'file' }],
  options: z.object({
    file: z.string().describe('the JSONL log to validate'),
    skipInvalid: z
      .boolean()
      .default(false)
      .describe('report bad lines as a count and exit 0 instead of failing'),
    strict: z
      .boolean()
      .default(false)
      .describe('also require the fields each event type needs (item_id on item_shown, ...)'),
    sop: z
      .string()
      .optional()
      .describe('SOP file (YAML/JSON) to count SOP violations with; "shop" for the default shop SOP'),
    format: OutputFormatSchema,
  }),
  globals: [],
  files: { inputs: ['file'] },
  examples: [
    ['gopo logs validate logs.jsonl', 'check a log, exit 2 on the first bad line report'],
    ['gopo logs validate logs.jsonl --skip-invalid --sop shop', 'count bad lines and SOP violations'],
    ['gopo logs validate logs.jsonl --format json', 'the report as JSON'],
  ],
  async run(args, ctx) {
    const report = await validateLogFile(args.file, { strict: args.strict });
    const failed = report.invalidLines > 0 && !args.skipInvalid;
    const sop =
      args.sop && !failed
        ? await countSopViolations(
            args.file,
            args.sop === 'shop' ? shopSopDefault() : await loadSop(args.sop),
            args.strict,
          )
        : null;
    const empty = !failed && report.validSessions === 0;
    if (args.format === 'json') ctx.out(JSON.stringify({ ...report, sop }, null, 2));
    else if (failed) for (const issue of report.issues) ctx.out(formatLogIssue(args.file, issue));
    else if (!empty) for (const line of reportLines(report, sop)) ctx.out(line);
    if (failed) {
      const first = report.issues[0]!;
      throw new FileFormatError(
        { file: args.file, line: first.line, path: first.path },
        `${first.message} (${report.invalidLines} invalid line(s), ${report.issues.length} issue(s) in all)`,
      );
    }
    if (empty) throw noSessionsError(args.file, report.invalidLines);
    return 0;
  },
});

/** Command specs this package contributes to the `gopo` CLI. */
export const dialogueCommands = [logsValidateCommand];
