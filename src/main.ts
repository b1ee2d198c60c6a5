#!/usr/bin/env node
import { createRequire } from 'node:module';
import { parseCommandLine } from './cli/parse.js';
import { createLogger } from './telemetry/logger.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

async function main(): Promise<number> {
  const commandLine = parseCommandLine(process.argv.slice(2), process.env, version);
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
  // Loaded only here: the Kubernetes client takes a while to load, --help should not wait for it.
  const { StartupError, startServer } = await import('./commands/server.js');
  const logger = createLogger(commandLine.global);
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled rejection; exiting rather than serving in a broken state');
    process.exit(1);
  });
  let server;
  try {
    server = await startServer(commandLine.server, logger, process.env);
  } catch (error) {
    if (error instanceof StartupError) {
      process.stderr.write(`secrets-init-webhook: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const running = server;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down: no longer ready, finishing in-flight requests');
      running.close().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'error while closing');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  logger.info('stopped');
  return 0;
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
