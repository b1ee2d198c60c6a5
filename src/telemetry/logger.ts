import { pino } from 'pino';
import type { Logger, LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

/** The reference's (logrus) level names, mapped to pino's. */
const LEVELS: Record<string, LevelWithSilent> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

/** JSON lines with --json (for log collectors), readable text lines otherwise; both on stderr-free stdout as the reference. */
export function createLogger(options: { logLevel: string; json: boolean }, destination: NodeJS.WritableStream = process.stdout): Logger {
  const level = LEVELS[options.logLevel] ?? 'info';
  const base = { level, base: { app: 'secrets-init-webhook' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.json) return pino(base, destination);
  return pino(base, pretty({ destination, sync: true, colorize: false, ignore: 'pid,hostname,app', translateTime: 'SYS:standard' }));
}
