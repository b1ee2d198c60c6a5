#!/usr/bin/env node
import { constants } from 'node:os';
import { parseCommandLine } from './cli/parse.js';
import { createLogger } from './telemetry/logger.js';
import { buildInfo, versionText } from './build-info.js';

async function main(): Promise<number> {
  const commandLine = parseCommandLine(process.argv.slice(2), process.env, versionText(buildInfo(process.env)));
  if (commandLine.kind === 'exit') {
    process.stdout.write(commandLine.stdout);
    process.stderr.write(commandLine.stderr);
    return commandLine.code;
  }
  if (commandLine.kind === 'certs') {
    const { runCerts } = await import('./commands/certs.js');
    await runCerts(commandLine.certs, process.stdout, process.stderr);
    return 0;
  }
  if (commandLine.kind === 'inject') {
    const { runInject } = await import('./commands/inject.js');
    return runInject(commandLine.inject, commandIo());
  }
  if (commandLine.kind === 'audit') {
    const { runAudit } = await import('./commands/audit.js');
    return runAudit(commandLine.audit, commandIo());
  }
  // Loaded only here: the Kubernetes client takes a while to load, --help should not wait for it.
  const { StartupError, startServer } = await import('./commands/server.js');
  const logger = createLogger(commandLine.global);
  // A bug that escapes every handler leaves the server in an unknown state: log it and exit
  // non-zero, so Kubernetes restarts the pod, instead of serving on half-broken.
  const fatal = (what: string) => (reason: unknown) => {
    logger.fatal({ err: reason }, `${what}; exiting rather than serving in a broken state`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
  let server;
  try {
    server = await startServer(commandLine.server, logger, process.env);
  } catch (error) {
    if (error instanceof StartupError) {
      process.stderr.write(`secrets-init-webhook: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
  const running = server;
  const { shutdownDrainMs: drainMs, shutdownTimeoutMs: timeoutMs } = commandLine.server;
  const code = await new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        // An impatient operator (or a second Ctrl-C): stop now, as killed by that signal.
        const exitCode = 128 + (constants.signals[signal] ?? 0);
        logger.warn({ signal, exitCode }, 'second stop signal: exiting at once');
        process.exit(exitCode);
      }
      stopping = true;
      logger.info({ signal, drainMs, timeoutMs }, 'shutting down: no longer ready, draining, then finishing in-flight requests');
      running.shutdown().then(
        (clean) => resolve(clean ? 0 : 1),
        (error: unknown) => {
          logger.error({ err: error }, 'error while shutting down');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  logger.info({ exitCode: code }, 'stopped');
  // Do not wait for stray handles (API-server keep-alive sockets, timers): the shutdown is done.
  process.exit(code);
}

/** The offline commands' streams: results on stdout, reports on stderr. */
function commandIo() {
  // A reader that stops reading (`inject … | head`) closes the pipe: what is left is not
  // written, and the command ends as it would have, rather than on an unhandled EPIPE.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    // The bytes as they came: inject decodes them itself, refusing what is not UTF-8.
    readStdin: async (): Promise<Uint8Array> => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      return Buffer.concat(chunks);
    },
  };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`secrets-init-webhook: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
