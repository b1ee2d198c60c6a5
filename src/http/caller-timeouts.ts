/**
 * How long a caller may hold a connection without finishing what it must send. Enforced by
 * node:tls and node:http themselves, not by a timer per connection: a socket inactivity
 * timeout (Fastify's `connectionTimeout`) is re-armed on every read and write, which cost
 * ~2 µs an admission, and a caller trickling a byte at a time keeps it from ever firing.
 * Idle keep-alive connections close after keepAliveMs.
 */
export interface CallerTimeouts {
  /** The TLS handshake (node:tls `handshakeTimeout`): a connection that never starts one is closed. */
  handshakeMs: number;
  /** The whole request, headers and body (node:http `requestTimeout`; its `headersTimeout` follows): 408, then closed. */
  requestMs: number;
  /** How often node:http checks requests in progress against requestMs (`connectionsCheckingInterval`). */
  sweepMs: number;
  /**
   * How long a keep-alive connection may stay idle between requests (node:http
   * `keepAliveTimeout`). It must be longer than callers keep one idle themselves, so that
   * it is always the caller that closes it: a request the caller sends on a connection the
   * server is closing at that moment fails with EOF, and the API server does not send a POST
   * again (the pod is then not created, or admitted without the webhook under
   * failurePolicy Ignore).
   */
  keepAliveMs: number;
}

/**
 * How long the API server keeps an idle connection to a webhook: client-go's transports take
 * Go's http.DefaultTransport IdleConnTimeout, 90 s.
 */
export const API_SERVER_IDLE_MS = 90_000;

export const CALLER_TIMEOUTS: CallerTimeouts = { handshakeMs: 10_000, requestMs: 30_000, sweepMs: 5_000, keepAliveMs: API_SERVER_IDLE_MS + 30_000 };

/** node:http server options for these bounds (given when the server is made: the sweep starts with it). */
export function httpServerTimeouts(timeouts: CallerTimeouts): { requestTimeout: number; connectionsCheckingInterval: number } {
  return { requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.sweepMs };
}

/** The same for node:https, plus the TLS handshake's bound. */
export function httpsServerTimeouts(timeouts: CallerTimeouts): { requestTimeout: number; connectionsCheckingInterval: number; handshakeTimeout: number } {
  return { ...httpServerTimeouts(timeouts), handshakeTimeout: timeouts.handshakeMs };
}
