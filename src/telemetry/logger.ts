import { pino } from 'pino';
import type { DestinationStream, Logger, LevelWithSilent } from 'pino';
import type { LogSink } from './log-output.js';
import { TurnBatchedOutput, stdoutSink } from './log-output.js';

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
 * quotes, `=` or control characters; objects as JSON), cheap enough to write on the event
 * loop. Both on stdout, as the reference, one write per turn of the event loop
 * (TurnBatchedOutput).
 */
export function createLogger(options: { logLevel: string; json: boolean }, sink: LogSink = stdoutSink()): Logger {
  const level = LEVELS[options.logLevel] ?? 'info';
  const base = { level, base: { app: 'secrets-init-webhook' }, timestamp: isoTime };
  const output = new TurnBatchedOutput(sink);
  return pino(base, options.json ? output : textLines(output));
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

/** A destination that takes pino's JSON lines and passes them on as text lines. */
function textLines(output: TurnBatchedOutput): DestinationStream & { flush(done?: (error?: Error) => void): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) {
        if (line !== '') output.write(textLine(line));
      }
    },
    flush: (done) => output.flush(done),
  };
}

/** One JSON record as `time LEVEL message key=value …\n`; a line that is not a JSON object as it came. */
export function textLine(json: string): string {
  let record: unknown;
  try {
    record = JSON.parse(json);
  } catch {
    return `${json}\n`;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return `${json}\n`;
  const fields = record as Record<string, unknown>;
  const level = LEVEL_NAMES[Number(fields['level'])] ?? String(fields['level']);
  let line = `${oneLine(String(fields['time'] ?? ''))} ${oneLine(level)} ${oneLine(String(fields['msg'] ?? ''))}`;
  // for…in, not Object.entries: the same order (JSON.parse makes plain objects), no array per field.
  for (const key in fields) {
    if (!FIXED.has(key)) line += ` ${key}=${logfmtValue(fields[key])}`;
  }
  return `${line}\n`;
}

function logfmtValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'boolean':
      // Never a space, quote, `=` or backslash in them.
      return String(value);
    case 'string':
      return quoted(value);
  }
  if (typeof value === 'object' && value !== null) {
    const error = value as { type?: unknown; message?: unknown; stack?: unknown };
    // Errors as pino serialises them: the message, not a multi-line stack.
    if (typeof error.message === 'string' && typeof error.type === 'string') return quoted(`${error.type}: ${error.message}`);
    return quoted(JSON.stringify(value));
  }
  return quoted(String(value));
}

/** A value as it stands when it has no space, quote, `=`, backslash or control character; else as a JSON string. */
function quoted(text: string): string {
  return /^[^\s"=\\\u0000-\u001f]+$/.test(text) ? text : JSON.stringify(text);
}

/** The time, level and message as they stand, unless a control character (a line break) would split the line. */
function oneLine(text: string): string {
  return /[\u0000-\u001f]/.test(text) ? JSON.stringify(text) : text;
}
