import winston from 'winston';
import { escapeControl } from './errors.js';
import { checkAppendFile } from './paths.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Also write JSON lines (every level down to `debug`) to this file. */
  readonly file?: string;
  /** Console shows errors only. */
  readonly quiet?: boolean;
  /** Console writes to stderr so stdout stays clean for command results. */
  readonly consoleStream?: 'stderr' | 'stdout';
}

export type Logger = winston.Logger;

const humanFormat = winston.format.printf(({ level, message, timestamp, scope, ...rest }) => {
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  const where = scope ? ` [${String(scope)}]` : '';
  // Messages quote user input (file names, bad lines): escaped like errors, so the terminal shows bytes.
  return `${String(timestamp).slice(11, 19)} ${level}${where} ${escapeControl(String(message))}${extra}`;
});

/** Human-readable console output plus optional structured JSON lines in a file. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.quiet ? 'error' : (options.level ?? 'info');
  const transports: winston.transport[] = [
    new winston.transports.Console({
      level,
      stderrLevels: options.consoleStream === 'stdout' ? [] : ['error', 'warn', 'info', 'debug'],
      format: winston.format.combine(winston.format.timestamp(), humanFormat),
    }),
  ];
  if (options.file) {
    checkAppendFile(options.file);
    transports.push(
      new winston.transports.File({
        filename: options.file,
        level: 'debug',
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      }),
    );
  }
  return winston.createLogger({ level: 'debug', transports });
}

/** A logger that drops everything; for library code called without one, and for tests. */
export function silentLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}
