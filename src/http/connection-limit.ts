import type { Server } from 'node:net';
import type { Logger } from 'pino';
import type { ConnectionListener, WebhookMetrics } from '../telemetry/metrics.js';

/** How often a listener that keeps dropping connections says so, at most. */
const WARN_EVERY_MS = 10_000;

export interface ConnectionLimit {
  /** --max-connections: most connections open at once on this listener. */
  max: number;
  listener: ConnectionListener;
  metrics: WebhookMetrics;
  logger: Logger;
  /** Tests shorten it. */
  warnEveryMs?: number;
}

/**
 * At most `max` connections open at once on `server`: past it, node:net closes each new
 * connection as it is accepted (before any TLS handshake), so a flood of connections cannot
 * take the memory each one holds (~46 KiB for an idle TLS connection). Open connections are
 * left alone: closing idle keep-alive ones to make room would race with a caller reusing one
 * for its next request (the API server does not retry a POST) and could cut an answer still
 * being written. Every dropped connection is counted
 * (secrets_init_webhook_connections_dropped_total); the first of a run is logged at once, the
 * rest in one warning per WARN_EVERY_MS, so a flood does not flood the log. The number open
 * is exported as secrets_init_webhook_open_connections.
 */
export function limitConnections(server: Server, limit: ConnectionLimit): void {
  const { max, listener, metrics, logger } = limit;
  const every = limit.warnEveryMs ?? WARN_EVERY_MS;
  server.maxConnections = max;
  metrics.watchConnections(listener, () => new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count))));
  let unreported = 0;
  let quiet: NodeJS.Timeout | undefined;
  const report = (dropped: number) => logger.warn({ listener, maxConnections: max, dropped }, `connections dropped: ${max} (--max-connections) were open`);
  const endQuiet = () => {
    quiet = undefined;
    if (unreported > 0) {
      report(unreported);
      unreported = 0;
      quiet = setTimeout(endQuiet, every).unref();
    }
  };
  server.on('drop', () => {
    metrics.observeDroppedConnection(listener);
    if (quiet !== undefined) {
      unreported++;
      return;
    }
    report(1);
    quiet = setTimeout(endQuiet, every).unref();
  });
  server.once('close', () => clearTimeout(quiet));
}
