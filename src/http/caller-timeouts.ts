/**
 * How long a caller may hold a connection without finishing what it must send. Enforced by
 * node:tls and node:http themselves, not by a timer per connection: a socket inactivity
 * timeout (Fastify's `connectionTimeout`) is re-armed on every read and write, which cost
 * ~2 µs an admission, and a caller trickling a byte at a time keeps it from ever firing.
 * Idle keep-alive connections close after Fastify's keepAliveTimeout (72 s).
 */
export interface CallerTimeouts {
  /** The TLS handshake (node:tls `handshakeTimeout`): a connection that never starts one is closed. */
  handshakeMs: number;
  /** The whole request, headers and body (node:http `requestTimeout`; its `headersTimeout` follows): 408, then closed. */
  requestMs: number;
  /** How often node:http checks requests in progress against requestMs (`connectionsCheckingInterval`). */
  sweepMs: number;
}

export const CALLER_TIMEOUTS: CallerTimeouts = { handshakeMs: 10_000, requestMs: 30_000, sweepMs: 5_000 };

/** node:http server options for these bounds (given when the server is made: the sweep starts with it). */
export function httpServerTimeouts(timeouts: CallerTimeouts): { requestTimeout: number; connectionsCheckingInterval: number } {
  return { requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.sweepMs };
}

/** The same for node:https, plus the TLS handshake's bound. */
export function httpsServerTimeouts(timeouts: CallerTimeouts): { requestTimeout: number; connectionsCheckingInterval: number; handshakeTimeout: number } {
  return { ...httpServerTimeouts(timeouts), handshakeTimeout: timeouts.handshakeMs };
}
