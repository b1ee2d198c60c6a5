import { X509Certificate } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { isIP } from 'node:net';
import { formatBytes, type BodyBudget, type BodyCharge } from './body-budget.js';
import { RegistryFailure } from './errors.js';
import { RefusedAddressError, guardedLookup, refusedAddressKind } from './address-guard.js';

/** Bodies of error responses are read only this far (for the registry's error code). */
const ERROR_BODY_LIMIT = 64 * 1024;
const MAX_REDIRECTS = 5;
const USER_AGENT = 'secrets-init-webhook';

export interface TransportOptions {
  ca?: string;
  skipVerify: boolean;
  /** Hosts (`host` or `host:port`, lowercase) reached over plain http. */
  insecureHosts: ReadonlySet<string>;
  /** Whether the operator named this URL's host, so that it may be a loopback, link-local or metadata address. */
  namedByOperator: (url: URL) => boolean;
  /** Told of every exchange: what it fetched and its status (or `error`: sent, no answer); not of a request refused before it was sent. */
  observe?: (what: string, status: number | 'error') => void;
  /** Bounds the bytes of the bodies all requests hold at once. */
  budget: BodyBudget;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD';
  url: URL;
  headers?: Readonly<Record<string, string>>;
  /** Sent to the first origin only: dropped once a redirect leaves it. */
  authorization?: string;
  /** Cap on a successful body; bigger is a `too-large` failure. */
  maxBytes: number;
  /** Bound on each request (ms). */
  timeoutMs: number;
  /** Epoch ms after which nothing more may be sent (the whole call's bound). */
  deadline: number;
  /** What is being fetched, for messages: "manifest", "config blob", "token". */
  what: string;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Empty for HEAD; at most ERROR_BODY_LIMIT bytes for error statuses. */
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: URL;
  /** True when a redirect led to another origin (so Authorization was not sent there). */
  crossOrigin: boolean;
}

export interface Transport {
  request(req: HttpRequest): Promise<HttpResponse>;
}

/** Splits a PEM bundle into certificates; throws if it holds none or one does not parse. */
export function parseCaBundle(pem: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error('the registry CA bundle contains no PEM certificate');
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new Error(`certificate ${index + 1} of the registry CA bundle does not parse: ${(err as Error).message}`);
    }
  });
  return blocks;
}

/**
 * Requests sent at once to one registry host. A request waiting for a free connection spends
 * its timeout (and its call's) waiting: with 32, a burst of 150 lookups from as many access
 * scopes of a registry answering in 300 ms had some time out without having been sent. The
 * lookups in flight are what bounds this (they are coalesced per image and scope), and the
 * bodies being read are bounded by the body budget.
 */
const MAX_SOCKETS_PER_HOST = 256;

export function createTransport(options: TransportOptions): Transport {
  const ca = options.ca !== undefined ? [...rootCertificates, ...parseCaBundle(options.ca)] : undefined;
  const httpsAgent = new https.Agent({
    keepAlive: true,
    maxSockets: MAX_SOCKETS_PER_HOST,
    timeout: 30_000,
    rejectUnauthorized: !options.skipVerify,
    ...(ca !== undefined ? { ca } : {}),
  });
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_HOST, timeout: 30_000 });

  function isInsecure(url: URL): boolean {
    return options.insecureHosts.has(url.host.toLowerCase()) || options.insecureHosts.has(url.hostname.toLowerCase());
  }

  async function request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let crossOrigin = false;
    for (let hop = 0; ; hop++) {
      const authorization = crossOrigin ? undefined : req.authorization;
      const response = await exchangeWithRetry(req, url, authorization);
      const location = response.headers.location;
      if (!isRedirect(response.status) || location === undefined) {
        return { ...response, url, crossOrigin };
      }
      if (hop >= MAX_REDIRECTS) throw new RegistryFailure('http', `too many redirects fetching the ${req.what}`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new RegistryFailure('http', `invalid redirect location fetching the ${req.what}`);
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryFailure('http', `redirect to unsupported protocol ${next.protocol} fetching the ${req.what}`);
      }
      if (url.protocol === 'https:' && next.protocol === 'http:' && !isInsecure(next)) {
        throw new RegistryFailure('http', `refusing redirect from https to plain http (${next.host}) fetching the ${req.what}`);
      }
      if (next.origin !== url.origin) crossOrigin = true;
      url = next;
    }
  }

  async function exchangeWithRetry(req: HttpRequest, url: URL, authorization: string | undefined): Promise<Exchange> {
    try {
      let response: Exchange;
      try {
        response = await exchange(req, url, authorization);
      } catch (err) {
        // A kept-alive socket that the server closed meanwhile: GET/HEAD are idempotent, retry once.
        if (!(err instanceof StaleSocket)) throw err;
        response = await exchange(req, url, authorization);
      }
      options.observe?.(req.what, response.status);
      return response;
    } catch (err) {
      // A host the webhook may not contact was never sent the request: no exchange to count.
      if (!(err instanceof RegistryFailure && err.kind === 'refused')) options.observe?.(req.what, 'error');
      throw err;
    }
  }

  function exchange(req: HttpRequest, url: URL, authorization: string | undefined): Promise<Exchange> {
    const remaining = req.deadline - Date.now();
    const timeoutMs = Math.min(req.timeoutMs, remaining);
    if (timeoutMs <= 0) {
      return Promise.reject(new RegistryFailure('timeout', `timed out after ${req.timeoutMs} ms before fetching the ${req.what} from ${url.host}`));
    }
    const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const kind = isIP(literal) !== 0 ? refusedAddressKind(literal) : undefined;
    if (kind !== undefined && !options.namedByOperator(url)) {
      return Promise.reject(new RegistryFailure('refused', `${new RefusedAddressError(url.host, literal, kind, true).message} (fetching the ${req.what})`));
    }
    return new Promise<Exchange>((resolve, reject) => {
      const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...req.headers };
      if (authorization !== undefined) headers.authorization = authorization;
      const secure = url.protocol === 'https:';
      const client = secure ? https : http;
      let settled = false;
      // The body's bytes count against the budget until the request settles, however it settles.
      let charge: BodyCharge | undefined;
      const finish = (outcome: Exchange | Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        charge?.release();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const lookup = guardedLookup(() => options.namedByOperator(url));
      const outgoing = client.request(url, { method: req.method, headers, agent: secure ? httpsAgent : httpAgent, lookup });
      const timer = setTimeout(() => {
        // Either this request took timeoutMs, or the call as a whole reached it: the same bound.
        finish(new RegistryFailure('timeout', `timed out after ${req.timeoutMs} ms fetching the ${req.what} from ${url.host}`));
        outgoing.destroy();
      }, timeoutMs);
      outgoing.on('error', (err: NodeJS.ErrnoException) => {
        if (!settled && outgoing.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          finish(new StaleSocket());
          return;
        }
        finish(socketFailure(err, url, req.what));
      });
      outgoing.on('response', (incoming) => {
        if (settled) {
          // Timed out as the answer came: nobody waits for it.
          outgoing.destroy();
          return;
        }
        const status = incoming.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        if (req.method === 'HEAD' || isRedirect(status)) {
          discardBody(incoming, () => outgoing.destroy(), timeoutMs);
          finish({ status, headers: incoming.headers, body: Buffer.alloc(0) });
          return;
        }
        const limit = ok ? req.maxBytes : ERROR_BODY_LIMIT;
        const declared = Number(incoming.headers['content-length']);
        if (ok && Number.isFinite(declared) && declared > limit) {
          finish(tooLarge(req.what, limit));
          outgoing.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        const held = options.budget.open();
        charge = held;
        /** No room in the budget: a body we need fails; an error body is only read for its error code, so what we have will do. */
        const noRoom = (): void => {
          finish(ok ? overBudget(req.what, url, options.budget.limitBytes) : { status, headers: incoming.headers, body: Buffer.concat(chunks, total) });
          outgoing.destroy();
        };
        if (Number.isSafeInteger(declared) && declared > 0 && !held.growTo(Math.min(declared, limit))) {
          noRoom();
          return;
        }
        incoming.on('data', (chunk: Buffer) => {
          if (settled) return;
          const over = total + chunk.length > limit;
          if (over && ok) {
            finish(tooLarge(req.what, limit));
            outgoing.destroy();
            return;
          }
          // An error body is only read for its error code: keep what fits and stop.
          const kept = over ? chunk.subarray(0, limit - total) : chunk;
          if (!held.growTo(total + kept.length)) {
            noRoom();
            return;
          }
          total += kept.length;
          chunks.push(kept);
          if (over) {
            finish({ status, headers: incoming.headers, body: Buffer.concat(chunks, total) });
            outgoing.destroy();
          }
        });
        incoming.on('end', () => finish({ status, headers: incoming.headers, body: Buffer.concat(chunks, total) }));
        incoming.on('error', (err: NodeJS.ErrnoException) => finish(socketFailure(err, url, req.what)));
        incoming.on('close', () => {
          if (!incoming.complete) {
            finish(new RegistryFailure('network', `connection to ${url.host} closed before the ${req.what} was complete`));
          }
        });
      });
      outgoing.end();
    });
  }

  return { request };
}

interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

class StaleSocket extends Error {}

/**
 * Reads a body nobody needs (a redirect's, or a HEAD's none) to its end, so that the socket can
 * be reused; a body over ERROR_BODY_LIMIT, or one not ended within `timeoutMs`, has its
 * connection cut instead (a registry must not keep a socket busy with a redirect's body).
 */
function discardBody(incoming: http.IncomingMessage, cut: () => void, timeoutMs: number): void {
  if (incoming.complete) return;
  let total = 0;
  const stop = (): void => {
    clearTimeout(timer);
    incoming.off('data', count);
  };
  const count = (chunk: Buffer): void => {
    total += chunk.length;
    if (total > ERROR_BODY_LIMIT) {
      stop();
      cut();
    }
  };
  const timer = setTimeout(() => {
    stop();
    cut();
  }, timeoutMs);
  timer.unref();
  incoming.on('data', count);
  incoming.once('close', stop);
  incoming.resume();
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function tooLarge(what: string, limit: number): RegistryFailure {
  return new RegistryFailure('too-large', `the ${what} is larger than the limit of ${limit} bytes`);
}

function overBudget(what: string, url: URL, budget: number): RegistryFailure {
  return new RegistryFailure(
    'overloaded',
    `no room to read the ${what} from ${url.host}: registry answers being read already hold the webhook's budget of ${formatBytes(budget)} for them (try again shortly)`,
  );
}

const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Maps a socket/TLS error to a failure whose message is safe to show (no headers, no credentials). */
function socketFailure(err: NodeJS.ErrnoException & { reason?: unknown }, url: URL, what: string): RegistryFailure {
  const code = err.code ?? '';
  const host = url.host;
  if (err instanceof RefusedAddressError) return new RegistryFailure('refused', `${err.message} (fetching the ${what})`);
  if (CERTIFICATE_CODES.has(code)) {
    return new RegistryFailure(
      'tls',
      `TLS certificate verification failed for ${host}: ${err.message} (${code}); provide the registry's CA bundle, or skip verification`,
    );
  }
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    const reason = typeof err.reason === 'string' ? err.reason : code;
    const hint = url.protocol === 'https:' ? '; if the registry serves plain http, list it as an insecure registry' : '';
    return new RegistryFailure('tls', `TLS handshake with ${host} failed: ${reason} (${code})${hint}`);
  }
  if (code === 'ECONNREFUSED') return new RegistryFailure('network', `connection refused by ${host} (${url.protocol}//${host})`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new RegistryFailure('network', `cannot resolve host ${url.hostname} (${code})`);
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new RegistryFailure('network', `connection to ${host} reset while fetching the ${what} (${code})`);
  }
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return new RegistryFailure('network', `cannot connect to ${host} (${code})`);
  }
  return new RegistryFailure('network', `network error fetching the ${what} from ${host}: ${err.message}${code !== '' ? ` (${code})` : ''}`);
}
