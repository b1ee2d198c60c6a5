/**
 * Runs the REAL built webhook (`dist/main.js`) as a child process, for end-to-end tests.
 *
 * - `startWebhook(args, env?, options?)` starts a server and waits (bounded) until it logs
 *   `secrets-init-webhook is serving`, then returns its URL(s), its logs and `stop()`.
 * - `runCli(args, env?, options?)` runs one command to completion (bounded) and returns
 *   its exit code and output.
 *
 * The child never sees the developer's environment: it gets PATH, a HOME that is a fresh
 * empty directory (so `~/.kube/config` cannot leak in) and only the variables given.
 * `npm test` builds `dist/` first (pretest); when `dist/main.js` is missing, both
 * functions fail with a message saying so.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tap from 'tap';

/** The repository root (this file is test/helpers/webhook-process.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN_JS = join(REPO_ROOT, 'dist', 'main.js');

/** The message the server logs once it accepts requests. */
export const SERVING_MESSAGE = 'secrets-init-webhook is serving';

/** The part of a tap test the helpers use: something to attach cleanup to. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningWebhook {
  /** e.g. `https://127.0.0.1:40123` (as the server logged it). */
  url: string;
  port: number;
  /** The separate telemetry listener's URL, when `--telemetry-listen-address` was given. */
  telemetryUrl?: string;
  /** Process id of the child. */
  pid: number;
  /** Everything the child wrote so far: stdout then stderr, each in arrival order. */
  logs(): string;
  stdout(): string;
  stderr(): string;
  /** The stdout lines that parse as JSON objects (the logs, with --json or LOG_JSON=true). */
  jsonLogs(): Array<Record<string, unknown>>;
  /** Whether the child is still running. */
  running(): boolean;
  /** Sends `signal` and waits (bounded, then SIGKILL) for the child to exit. Idempotent. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
}

export interface StartOptions {
  /** Put `--json` first on the command line (default true: the helper reads JSON logs most reliably). */
  json?: boolean;
  /** How long to wait for the serving log line (default 20 s: startup takes 1-4 s on a loaded 2-CPU machine). */
  readyTimeoutMs?: number;
  /** Where to register the kill-on-teardown (default: the file's root tap test). */
  t?: Teardown;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill the command after this long (default 15 s) and fail. */
  timeoutMs?: number;
  t?: Teardown;
}

const live = new Set<ChildProcess>();
// Last resort if a test process ends without running teardowns: never leave a server behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

function requireBuild(): void {
  if (!existsSync(MAIN_JS)) {
    throw new Error(`${MAIN_JS} is missing: build first with \`npm run build\` (\`npm test\` builds via pretest)`);
  }
}

/**
 * The child's environment: PATH, an empty HOME and the given variables only. No KUBECONFIG,
 * LOG_LEVEL, LOG_JSON, KUBERNETES_SERVICE_* or NODE_OPTIONS unless given.
 */
function childEnv(t: Teardown, env: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const home = mkdtempSync(join(tmpdir(), 'secrets-init-webhook-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const base: Record<string, string> = { HOME: home };
  if (process.env['PATH'] !== undefined) base['PATH'] = process.env['PATH'];
  if (process.env['TMPDIR'] !== undefined) base['TMPDIR'] = process.env['TMPDIR'];
  return { ...base, ...env };
}

function hasFlag(args: readonly string[], name: string): boolean {
  return args.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`) || arg === `-${name}` || arg.startsWith(`-${name}=`));
}

/** The `url`/`telemetryUrl` of the serving line, from JSON logs or from the text logs. */
function findServing(stdout: string): { url: string; telemetryUrl?: string } | undefined {
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof record !== 'object' || record === null) continue;
    const { msg, url, telemetryUrl } = record as Record<string, unknown>;
    if (msg === SERVING_MESSAGE && typeof url === 'string') {
      return typeof telemetryUrl === 'string' ? { url, telemetryUrl } : { url };
    }
  }
  // Text logs: `time INFO secrets-init-webhook is serving url=… telemetryUrl=…`.
  const text = / INFO secrets-init-webhook is serving( .*)?$/m.exec(stdout);
  if (text !== null) {
    const url = / url=(\S+)/.exec(text[1] ?? '')?.[1];
    const telemetryUrl = / telemetryUrl=(\S+)/.exec(text[1] ?? '')?.[1];
    if (url !== undefined) return telemetryUrl === undefined ? { url } : { url, telemetryUrl };
  }
  return undefined;
}

function waitForExit(child: ChildProcess): Promise<ExitStatus> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Starts `node dist/main.js [--json] ...args [--listen-address=127.0.0.1:0]` (the listen
 * address is appended unless args set one) and resolves once the server logs that it is
 * serving. Rejects, with the child's output, if it exits or stays silent for too long.
 * The child is killed at teardown of `options.t` (or of the file's root test).
 */
export async function startWebhook(
  args: readonly string[],
  env?: Readonly<Record<string, string>>,
  options: StartOptions = {},
): Promise<RunningWebhook> {
  requireBuild();
  const t = options.t ?? tap;
  const json = options.json ?? true;
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const argv = [...(json ? ['--json'] : []), ...args, ...(hasFlag(args, 'listen-address') ? [] : ['--listen-address=127.0.0.1:0'])];

  const child = spawn(process.execPath, [MAIN_JS, ...argv], {
    cwd: REPO_ROOT,
    env: childEnv(t, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const exited = waitForExit(child);
  void exited.then(() => live.delete(child));

  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });

  let stopping: Promise<ExitStatus> | undefined;
  const stop = (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitStatus> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, timeoutMs);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      return exited;
    })();
    return stopping;
  };
  t.teardown(async () => {
    await stop('SIGKILL', 5_000);
  });

  const describe = () => `command: node dist/main.js ${argv.join(' ')}\n--- stdout ---\n${out}--- stderr ---\n${err}`;
  const serving = await new Promise<{ url: string; telemetryUrl?: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      finish();
      void stop('SIGKILL');
      reject(new Error(`the webhook did not log "${SERVING_MESSAGE}" within ${readyTimeoutMs} ms\n${describe()}`));
    }, readyTimeoutMs);
    const check = () => {
      const found = findServing(out);
      if (found !== undefined) {
        finish();
        resolve(found);
      }
    };
    const onExit = () => {
      // Let the pipes drain so the message shows what the child said.
      setTimeout(() => {
        finish();
        reject(new Error(`the webhook exited (code ${child.exitCode}, signal ${child.signalCode}) before serving\n${describe()}`));
      }, 50);
    };
    const finish = () => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.once('exit', onExit);
    child.once('error', (error) => {
      finish();
      reject(error);
    });
  });

  const port = Number(new URL(serving.url).port);
  const running: RunningWebhook = {
    url: serving.url,
    port,
    pid: child.pid ?? -1,
    logs: () => out + err,
    stdout: () => out,
    stderr: () => err,
    jsonLogs: () =>
      out
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            const value: unknown = JSON.parse(line);
            return typeof value === 'object' && value !== null && !Array.isArray(value) ? [value as Record<string, unknown>] : [];
          } catch {
            return [];
          }
        }),
    running: () => child.exitCode === null && child.signalCode === null,
    stop,
  };
  if (serving.telemetryUrl !== undefined) running.telemetryUrl = serving.telemetryUrl;
  return running;
}

/**
 * Runs `node dist/main.js ...args` to completion with the same clean environment.
 * Rejects if it has not exited within `timeoutMs` (the child is then killed).
 */
export async function runCli(
  args: readonly string[],
  env?: Readonly<Record<string, string>>,
  options: RunOptions = {},
): Promise<CliResult> {
  requireBuild();
  const t = options.t ?? tap;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const child = spawn(process.execPath, [MAIN_JS, ...args], {
    cwd: REPO_ROOT,
    env: childEnv(t, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node dist/main.js ${args.join(' ')} did not exit within ${timeoutMs} ms\n--- stdout ---\n${stdout}--- stderr ---\n${stderr}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      live.delete(child);
      reject(error);
    });
    // 'close' (not 'exit'): both pipes are drained by then.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
