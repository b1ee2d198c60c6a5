/**
 * One `@kubernetes/client-node` call with a deadline that really aborts the HTTP request
 * (and also bounds what comes before it: token files, exec credential plugins), the
 * response status recorded for error messages. Callers map the outcome to their errors.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ApiException, Observable, ResponseContext } from '@kubernetes/client-node';
import type { ConfigurationOptions, ObservableMiddleware, RequestContext } from '@kubernetes/client-node';
import type { AgentPool } from './agent-pool.js';
import { MIN_REDACTED_CHARS } from '../redaction.js';

export type BoundedCallResult<T> =
  | { ok: true; value: T; status: number | undefined; body?: string }
  | { ok: false; reason: 'timeout' | 'aborted' }
  | { ok: false; reason: 'failed'; error: unknown; status: number | undefined; credentials: readonly string[] };

export interface BoundedCallOptions {
  timeoutMs: number;
  /** Aborts the call from outside (e.g. on shutdown): reason 'aborted'. */
  signal?: AbortSignal;
  /** Content-Type of the request body, where the generated client would choose another (JSON patch). */
  contentType?: string;
  /**
   * Keep the response body as the server sent it (`body` of the result), and let the
   * client deserialise a success as an empty object: the caller parses the body itself.
   * (The client's deserialiser builds maps by assignment, which drops a key such as
   * `__proto__`, and would hold a second copy of a large object.)
   */
  keepBody?: boolean;
  /** Keep-alive agents to use instead of client-node's new agent per request. */
  agents?: AgentPool;
  /**
   * For a GET: sent once more, within the same timeout, when the API server asks for that
   * (429 or 5xx with Retry-After, as API Priority and Fairness answers when its queues are
   * full) and the wait fits in the time left, or at once when the connection was reset before
   * any answer (a keep-alive connection the server closed as the request went out), as
   * client-go retries a GET.
   */
  retry?: boolean;
}

/** How long to wait before sending a GET again after `error`, when it is worth sending again within `leftMs`. */
function retryWait(error: unknown, leftMs: number): number | undefined {
  if (error instanceof ApiException) {
    const code: unknown = error.code;
    if (typeof code !== 'number' || (code !== 429 && (code < 500 || code > 599))) return undefined;
    const header = (error.headers as Record<string, string | undefined> | undefined)?.['retry-after']?.trim();
    if (header === undefined || !/^\d{1,4}$/.test(header)) return undefined;
    const waitMs = Number(header) * 1000;
    return waitMs < leftMs ? waitMs : undefined;
  }
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  const reset = error instanceof Error && error.name === 'FetchError' && (code === 'ECONNRESET' || code === 'EPIPE');
  return reset ? 0 : undefined;
}

function passThrough<T>(value: T): Observable<T> {
  return new Observable(Promise.resolve(value));
}

/** `send` is given the per-call options to pass to the generated API method. Never rejects. */
export async function boundedCall<T>(send: (callOptions: ConfigurationOptions) => Promise<T>, options: BoundedCallOptions): Promise<BoundedCallResult<T>> {
  const controller = new AbortController();
  let status: number | undefined;
  let body: string | undefined;
  /** What the requests carried that no message may show (a server may quote it back). */
  const credentials = new Set<string>();
  // ObjectParamAPI methods (what CoreV1Api is) take Observable middleware, not PromiseMiddleware.
  const middleware: ObservableMiddleware = {
    pre(context: RequestContext): Observable<RequestContext> {
      context.setSignal(controller.signal);
      for (const [name, value] of Object.entries(context.getHeaders())) {
        if (name.toLowerCase() === 'authorization') for (const secret of authorizationSecrets(value)) credentials.add(secret);
      }
      const agent = context.getAgent();
      if (options.agents !== undefined && agent !== undefined) context.setAgent(options.agents.reuse(agent) as typeof agent);
      if (options.contentType !== undefined) context.setHeaderParam('Content-Type', options.contentType);
      return passThrough(context);
    },
    post(context: ResponseContext): Observable<ResponseContext> {
      status = context.httpStatusCode;
      if (options.keepBody !== true) return passThrough(context);
      // The body can be read once: read it here. A success is the caller's to parse, so the
      // client gets an empty object to deserialise instead of building a second copy of a
      // large object; an error body goes to the client as it came (its Status is read from it).
      return new Observable(
        context.body.text().then((text) => {
          body = text;
          const ok = context.httpStatusCode >= 200 && context.httpStatusCode < 300;
          const forClient = ok ? '{}' : text;
          return new ResponseContext(context.httpStatusCode, context.headers, {
            text: () => Promise.resolve(forClient),
            binary: () => Promise.resolve(Buffer.from(forClient)),
          });
        }),
      );
    },
  };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve('timeout');
    }, options.timeoutMs);
    onAbort = () => {
      controller.abort();
      resolve('aborted');
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  const deadline = performance.now() + options.timeoutMs;
  const attempt = (): Promise<T> => send({ middleware: [middleware], middlewareMergeStrategy: 'append' });
  // A synchronous throw becomes a rejection like any other.
  const pending = (async () => {
    try {
      return await attempt();
    } catch (error) {
      const waitMs = options.retry === true && !controller.signal.aborted ? retryWait(error, deadline - performance.now()) : undefined;
      if (waitMs === undefined) throw error;
      if (waitMs > 0) await delay(waitMs, undefined, { signal: controller.signal });
      status = undefined;
      body = undefined;
      return await attempt();
    }
  })();
  try {
    const outcome = await Promise.race([
      pending.then((value) => ({ done: true as const, value }), (error: unknown) => ({ done: false as const, error })),
      stopped.then((reason) => ({ stopped: reason })),
    ]);
    if ('stopped' in outcome) return { ok: false, reason: outcome.stopped };
    // An abort also rejects the call itself; report why it was aborted.
    if (controller.signal.aborted) return { ok: false, reason: options.signal?.aborted ? 'aborted' : 'timeout' };
    if (!outcome.done) return { ok: false, reason: 'failed', error: outcome.error, status, credentials: [...credentials] };
    return body === undefined ? { ok: true, value: outcome.value, status } : { ok: true, value: outcome.value, status, body };
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort);
    // After a timeout the aborted call still settles; nobody is waiting for it.
    pending.catch(() => undefined);
  }
}

/**
 * What an Authorization header gives away: the header, its token or Basic value, and for
 * Basic the password (and `user:password`) it encodes.
 */
function authorizationSecrets(value: string): string[] {
  const secrets = [value];
  const scheme = /^(\S+)\s+([\s\S]*)$/.exec(value);
  if (scheme !== null) {
    const credential = scheme[2] ?? '';
    secrets.push(credential);
    if (scheme[1]?.toLowerCase() === 'basic') {
      const decoded = Buffer.from(credential, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      secrets.push(decoded, colon < 0 ? decoded : decoded.slice(colon + 1));
    }
  }
  return secrets.filter((secret) => secret.trim().length >= MIN_REDACTED_CHARS);
}

/** Control characters folded to spaces, and cut at `max` characters: server text made safe for a one-line message. */
export function oneLine(text: string, max: number): string {
  const folded = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return folded.length > max ? `${folded.slice(0, max)}...` : folded;
}

/** `connect ECONNREFUSED 127.0.0.1:1` out of node-fetch's `request to URL failed, reason: ...`. */
export function networkReason(error: Error, max = 300): string {
  const match = /, reason: (.*)$/s.exec(error.message);
  if (match?.[1] !== undefined && match[1] !== '') return oneLine(match[1], max);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : oneLine(error.message, max);
}
