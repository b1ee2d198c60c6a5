/** What went wrong, for callers that treat causes differently (metrics, negative caching). */
export type RegistryErrorKind =
  | 'unauthorized' // 401 after every credential (and anonymously)
  | 'denied' // 403 after every credential
  | 'not-found' // 404: manifest or blob unknown
  | 'rate-limited' // 429
  | 'server' // 5xx
  | 'http' // any other unexpected HTTP status
  | 'timeout'
  | 'network' // connection refused/reset, DNS
  | 'tls' // certificate verification or handshake failure
  | 'invalid' // unparseable or malformed manifest/config/token response
  | 'digest-mismatch'
  | 'too-large'
  | 'overloaded' // the client's budget for registry answers in memory is taken by other lookups
  | 'platform' // no manifest for the requested platform
  | 'unsupported' // e.g. schema 1 manifests, non-sha256/sha512 digests
  | 'refused'; // a host the webhook may not contact (not allowed, or a loopback/link-local/metadata address)

const TRANSIENT: ReadonlySet<RegistryErrorKind> = new Set(['rate-limited', 'server', 'timeout', 'network', 'overloaded']);

/**
 * A failure below the client's public surface (transport, auth, parsing); the client turns it
 * into a RegistryError naming the image and the registry. Its message is the bare cause.
 */
export class RegistryFailure extends Error {
  override readonly name = 'RegistryFailure';
  readonly kind: RegistryErrorKind;
  readonly status: number | undefined;

  constructor(kind: RegistryErrorKind, cause: string, status?: number) {
    super(cause);
    this.kind = kind;
    this.status = status;
  }
}

/**
 * A registry lookup failed. The message names the image, the registry and the cause, e.g.
 * `cannot read image "reg:5000/app:1" from registry reg:5000: unauthorized (HTTP 401) with credentials Secret a/b and anonymously`.
 * It never contains credentials or tokens.
 */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly image: string;
  readonly registry: string;
  readonly status?: number;
  readonly kind: RegistryErrorKind;
  /** True for causes that may go away on their own (timeouts, 429, 5xx, network errors, no room for the answer). */
  readonly transient: boolean;

  constructor(image: string, registry: string, kind: RegistryErrorKind, cause: string, status?: number) {
    super(`cannot read image "${image}" from registry ${registry}: ${cause}`);
    this.image = image;
    this.registry = registry;
    this.kind = kind;
    if (status !== undefined) this.status = status;
    this.transient = TRANSIENT.has(kind);
  }
}

/** The cause for an unexpected HTTP status of a registry response. */
export function statusFailure(status: number, what: string, registryCode?: string): RegistryFailure {
  const detail = registryCode !== undefined ? `: ${registryCode}` : '';
  if (status === 401) return new RegistryFailure('unauthorized', `unauthorized (HTTP 401)${detail}`, status);
  if (status === 403) return new RegistryFailure('denied', `access denied (HTTP 403)${detail}`, status);
  if (status === 404) {
    return new RegistryFailure('not-found', registryCode !== undefined ? `${what} not found (HTTP 404): ${registryCode}` : `${what} unknown (HTTP 404)`, status);
  }
  if (status === 429) return new RegistryFailure('rate-limited', `too many requests (HTTP 429)${detail}`, status);
  if (status >= 500) return new RegistryFailure('server', `registry server error (HTTP ${status})${detail}`, status);
  return new RegistryFailure('http', `unexpected HTTP status ${status} for ${what}${detail}`, status);
}
