import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger, LevelWithSilent } from 'pino';

/** The reference's (logrus) level names, mapped to pino's. */
const LEVELS: Record<string, LevelWithSilent> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every record has, shown in the line's first part rather than as key=value. */
const FIXED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'app']);

/**
 * JSON lines with --json (for log collectors); otherwise one text line per event,
 * `time LEVEL message key=value …` (logfmt-style values: quoted when they hold spaces,
 * quotes or `=`; objects as JSON), cheap enough to write on the event loop. Both on stdout,
 * as the reference.
 */
export function createLogger(options: { logLevel: string; json: boolean }, destination: NodeJS.WritableStream = process.stdout): Logger {
  const level = LEVELS[options.logLevel] ?? 'info';
  const base = { level, base: { app: 'secrets-init-webhook' }, timestamp: isoTime };
  if (options.json) return pino(base, destination);
  return pino(base, textLines(destination));
}

let lastMs = Number.NaN;
let lastTime = '';

/**
 * pino's `"time"` field as ISO 8601 (pino.stdTimeFunctions.isoTime's text), formatted once per
 * millisecond: at thousands of admissions a second most lines share their millisecond.
 */
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** A stream that takes pino's JSON lines and writes them as text lines. */
function textLines(destination: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      const out: string[] = [];
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') out.push(textLine(line));
      }
      destination.write(out.join(''));
      done();
    },
  });
}

/** One JSON record as `time LEVEL message key=value …\n`; a line that is not JSON as it came. */
export function textLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return `${json}\n`;
  }
  const level = LEVEL_NAMES[Number(record['level'])] ?? String(record['level']);
  let line = `${String(record['time'] ?? '')} ${level} ${String(record['msg'] ?? '')}`;
  for (const [key, value] of Object.entries(record)) {
    if (FIXED.has(key) || value === undefined) continue;
    line += ` ${key}=${logfmtValue(value)}`;
  }
  return `${line}\n`;
}

function logfmtValue(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    const error = value as { type?: unknown; message?: unknown; stack?: unknown };
    // Errors as pino serialises them: the message, not a multi-line stack.
    if (typeof error.message === 'string' && typeof error.type === 'string') return quoted(`${error.type}: ${error.message}`);
    return quoted(JSON.stringify(value));
  }
  return quoted(String(value));
}

function quoted(text: string): string {
  return /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text);
}
