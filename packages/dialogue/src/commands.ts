import { defineCommand, FileFormatError } from '@gopo/core';
import { z } from 'zod';
import { formatLogIssue, readSessions, validateLogFile } from './log-io.js';
import { loadSop, shopSopDefault } from './sop.js';

const countsLine = (rec: Readonly<Record<string, number>>) =>
  Object.entries(rec)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-';

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
  }),
  examples: [
    ['gopo logs validate logs.jsonl', 'check a log, exit 2 on the first bad line report'],
    ['gopo logs validate logs.jsonl --skip-invalid --sop shop', 'count bad lines and SOP violations'],
  ],
  async run(args, ctx) {
    const report = await validateLogFile(args.file, { strict: args.strict });
    if (report.invalidLines > 0 && !args.skipInvalid) {
      for (const issue of report.issues) ctx.out(formatLogIssue(args.file, issue));
      const first = report.issues[0]!;
      throw new FileFormatError(
        { file: args.file, line: first.line, path: first.path },
        `${first.message} (${report.invalidLines} invalid line(s), ${report.issues.length} issue(s) in all)`,
      );
    }
    ctx.out(
      `${args.file}: ${report.validSessions} valid session(s), ${report.invalidLines} invalid line(s) skipped`,
    );
    ctx.out(`turns: ${report.turns}  sessions with references: ${report.withReference}`);
    ctx.out(`goals: ${countsLine(report.byGoal)}`);
    ctx.out(`outcomes: ${countsLine(report.byStatus)}`);
    if (args.sop) {
      const sop = args.sop === 'shop' ? shopSopDefault() : await loadSop(args.sop);
      let violations = 0;
      let agentTurns = 0;
      let sessionsWithViolation = 0;
      for await (const { session } of readSessions(args.file, { skipInvalid: true, strict: args.strict })) {
        const checks = sop.replay(session);
        const v = checks.filter((c) => c.violation).length;
        agentTurns += checks.length;
        violations += v;
        if (v > 0) sessionsWithViolation++;
      }
      ctx.out(
        `SOP ${sop.spec.name}: ${violations} violation(s) over ${agentTurns} agent turn(s), ${sessionsWithViolation} session(s) affected`,
      );
    }
    return 0;
  },
});

/** Command specs this package contributes to the `gopo` CLI. */
export const dialogueCommands = [logsValidateCommand];
