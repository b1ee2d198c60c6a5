/**
 * Classifies what `@kubernetes/client-node` 1.x throws into `LookupError`s.
 *
 * What the client throws (checked against client-node 1.4 + node-fetch 2):
 * - non-2xx: `ApiException` with `.code`; `.body` is the raw response text
 *   (a JSON `Status` from a real API server), except 401, where the body is
 *   dropped by the generated code and is `undefined`;
 * - connection failures: node-fetch `FetchError`, `type: 'system'`, `.code`
 *   (`ECONNREFUSED`, `ENOTFOUND`, TLS errors...), message
 *   `request to URL failed, reason: connect ECONNREFUSED 127.0.0.1:1`;
 * - an aborted request: node-fetch `AbortError` (`type: 'aborted'`);
 * - a 2xx body that is not JSON: `SyntaxError` from `JSON.parse`, whose
 *   message quotes the body, so it must never be passed on;
 * - failures before sending (unreadable CA / token file, exec plugin,
 *   `http:` server without `insecure-skip-tls-verify`): a plain `Error`.
 */
import { AbortError, ApiException, FetchError } from '@kubernetes/client-node';
import { LookupError } from './lookup.js';
import type { ObjectRef } from './lookup.js';
import { networkReason, oneLine } from './bounded-call.js';
import { redacted } from '../redaction.js';

const MAX_DETAIL = 500;

export interface ExchangeState {
  /** Set once a response arrived (by the client's post middleware). */
  responseStatus?: number;
  /**
   * What the request carried that no message may show: its Authorization (the webhook's own
   * token), which a server or a proxy in front of it may quote back in its error.
   */
  credentials?: readonly string[];
}

function clean(text: string): string {
  return oneLine(text, MAX_DETAIL);
}

interface KubeStatus {
  message?: string;
  reason?: string;
}

/** The `Status` object in an error response body, if that is what it is. */
export function parseStatus(body: unknown): KubeStatus | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (record['kind'] !== 'Status') return undefined;
  const status: KubeStatus = {};
  if (typeof record['message'] === 'string' && record['message'] !== '') status.message = record['message'];
  if (typeof record['reason'] === 'string' && record['reason'] !== '') status.reason = record['reason'];
  return status;
}

/** A 404 from the API server itself (a NotFound Status), as opposed to, say, a web server at the wrong URL. */
export function isNotFound(error: unknown): boolean {
  if (!(error instanceof ApiException) || error.code !== 404) return false;
  const status = parseStatus(error.body);
  return status?.reason === 'NotFound';
}

/**
 * A 410 with an Expired Status: the `continue` token of a list is older than the API server
 * can keep a list consistent (etcd compacts about every 5 minutes); a new list is needed.
 */
export function isExpired(error: unknown): boolean {
  if (!(error instanceof ApiException) || error.code !== 410) return false;
  return parseStatus(error.body)?.reason === 'Expired';
}

/**
 * What the server said, for the message: the Status message, or a short plain-text body,
 * without the credentials the request carried (redacted before the text is cut short, so
 * that no piece of one survives at the cut).
 */
function serverSaid(body: unknown, credentials: readonly string[]): string | undefined {
  const status = parseStatus(body);
  if (status !== undefined) return status.message === undefined ? undefined : clean(redacted(status.message, credentials));
  if (typeof body !== 'string') return undefined;
  const text = clean(redacted(body, credentials));
  // Skip HTML error pages and JSON that is not a Status.
  if (text === '' || text.startsWith('<') || text.startsWith('{') || text.startsWith('[')) return undefined;
  return text;
}

function httpFailure(ref: ObjectRef, code: number, body: unknown, credentials: readonly string[]): LookupError {
  const said = serverSaid(body, credentials);
  const suffix = said === undefined ? '' : `: ${said}`;
  if (code === 401) return new LookupError(ref, 'unauthorized', `unauthorized (HTTP 401)${suffix}`, code);
  if (code === 403) return new LookupError(ref, 'forbidden', `forbidden (HTTP 403)${suffix}`, code);
  if (code === 429) {
    return new LookupError(ref, 'server-error', `API server is throttling requests (HTTP 429)${suffix}`, code);
  }
  if (code >= 500) return new LookupError(ref, 'server-error', `API server error (HTTP ${code})${suffix}`, code);
  if (code === 404) {
    return new LookupError(
      ref,
      'bad-response',
      `HTTP 404 without a Kubernetes NotFound Status (is the API server URL right?)${suffix}`,
      code,
    );
  }
  return new LookupError(ref, 'bad-response', `unexpected response from API server (HTTP ${code})${suffix}`, code);
}

function isFetchError(error: unknown): error is FetchError {
  return error instanceof FetchError || (error instanceof Error && error.name === 'FetchError');
}

function isAbortError(error: unknown): boolean {
  return error instanceof AbortError || (error instanceof Error && error.name === 'AbortError');
}


export function timeoutError(ref: ObjectRef, timeoutMs: number): LookupError {
  return new LookupError(ref, 'timeout', `timed out after ${timeoutMs}ms`);
}

export function badResponse(ref: ObjectRef, problem: string, httpStatus?: number): LookupError {
  const status = httpStatus === undefined ? '' : ` (HTTP ${httpStatus})`;
  return new LookupError(ref, 'bad-response', `bad response from API server${status}: ${problem}`, httpStatus);
}

/** OpenSSL's codes for a peer certificate that does not verify (untrusted, expired, wrong name). */
const CERTIFICATE_CODES = /^(?:UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;

/** Any failure of a client call other than our own timeout, which the caller handles first. */
export function toLookupError(ref: ObjectRef, error: unknown, exchange: ExchangeState): LookupError {
  if (error instanceof LookupError) return error;
  if (error instanceof ApiException) {
    const code: unknown = error.code;
    if (typeof code === 'number') return httpFailure(ref, code, error.body, exchange.credentials ?? []);
  }
  if (isFetchError(error)) {
    if (error.type === 'system' && CERTIFICATE_CODES.test(String((error as { code?: unknown }).code ?? ''))) {
      return new LookupError(
        ref,
        'unreachable',
        `API server certificate not trusted (${networkReason(error, MAX_DETAIL)}): check the certificate-authority of the kubeconfig, or the service account's ca.crt`,
      );
    }
    if (error.type === 'system') {
      return new LookupError(ref, 'unreachable', `API server unreachable (${networkReason(error, MAX_DETAIL)})`);
    }
    if (error.type === 'body-timeout' || error.type === 'request-timeout') {
      return new LookupError(ref, 'timeout', `timed out (${error.type})`, exchange.responseStatus);
    }
    return badResponse(ref, `response could not be read (${error.type})`, exchange.responseStatus);
  }
  if (isAbortError(error)) {
    return new LookupError(ref, 'unreachable', 'API server request aborted');
  }
  if (exchange.responseStatus !== undefined) {
    // Deliberately not the error's message: a JSON SyntaxError quotes the body.
    const problem = error instanceof SyntaxError ? 'body is not valid JSON' : 'body could not be decoded';
    return badResponse(ref, problem, exchange.responseStatus);
  }
  // Nothing was sent: building the request (credentials, TLS material) failed.
  return new LookupError(ref, 'not-configured', `Kubernetes client configuration error: ${clean(configurationProblem(error))}`);
}

/**
 * Why a request could not be built, without any credential the client's message may quote:
 * a credential plugin (exec) whose output is not JSON makes the parser quote the start of it,
 * the token.
 */
export function configurationProblem(error: unknown): string {
  if (error instanceof SyntaxError) {
    const at = /at position (\d+)/.exec(error.message)?.[1];
    return `a credential plugin's output is not valid JSON${at === undefined ? '' : ` (at character ${at})`}`;
  }
  return withoutCredentials(error instanceof Error ? error.message : String(error));
}

/** node-fetch's error for a header it cannot send, which quotes the whole value first, line breaks and all. */
const ILLEGAL_HEADER_VALUE = /^\s*(?:(Bearer|Basic)\s)?[\s\S]*? is not a legal HTTP header value$/i;

/**
 * `message` without any credential it may quote. Runs on the raw message, before control
 * characters are folded into spaces: a token with a line break in it (a token file or a
 * kubeconfig with one) must not leave its second line behind as another word.
 */
export function withoutCredentials(message: string): string {
  const header = ILLEGAL_HEADER_VALUE.exec(message);
  if (header !== null) {
    const what = header[1] === undefined ? 'a header value' : `${header[1]} [redacted]`;
    return `${what} is not a legal HTTP header value (does the token or password hold a line break or another control character?)`;
  }
  // Anything else quoting a scheme: all that follows it may be the credential.
  return message.replace(/\b(Bearer|Basic)\s[\s\S]*$/i, '$1 [redacted]');
}
