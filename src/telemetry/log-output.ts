import { pino } from 'pino';

/** Where the text of log lines finally goes. */
export interface LogSink {
  write(text: string): unknown;
}

/** Past this much pending text, lines leave at once rather than at the end of the turn. */
const EARLY_FLUSH_CHARS = 64 * 1024;

const pendingOutputs = new Set<TurnBatchedOutput>();
let exitHookInstalled = false;

/**
 * Log lines gathered during one turn of the event loop and written together at its end
 * (setImmediate), or at once past 64 KiB. At thousands of admissions a second several
 * lines share a turn, and one write(2) per line was a measurable share of an admission's
 * CPU. What is pending is written at process exit too (process.exit included), so a
 * fatal error's line is not lost; only a SIGKILL within the turn could lose the turn's lines.
 */
export class TurnBatchedOutput {
  #pending = '';
  #scheduled = false;
  readonly #sink: LogSink;

  constructor(sink: LogSink) {
    this.#sink = sink;
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', () => {
        for (const output of pendingOutputs) output.flush();
      });
    }
  }

  write(line: string): boolean {
    this.#pending += line;
    if (this.#pending.length >= EARLY_FLUSH_CHARS) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      pendingOutputs.add(this);
      setImmediate(this.#endOfTurn);
    }
    return true;
  }

  /** Writes what is pending now; pino's logger.flush(cb) calls this. */
  flush(done?: (error?: Error) => void): void {
    const text = this.#pending;
    this.#pending = '';
    if (text !== '') this.#sink.write(text);
    done?.();
  }

  readonly #endOfTurn = (): void => {
    this.#scheduled = false;
    pendingOutputs.delete(this);
    this.flush();
  };
}

/**
 * stdout as a synchronous destination (sonic-boom, as pino.destination makes it: it retries
 * a pipe that is full rather than dropping the line).
 */
export function stdoutSink(): LogSink {
  return pino.destination({ dest: 1, sync: true });
}
