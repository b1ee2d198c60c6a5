/**
 * One set of registry credentials. `id` is a NON-secret label for messages and logs:
 * `Secret <ns>/<name>`, `ECR`, `Google workload identity`.
 */
export interface RegistryCredential {
  id: string;
  username: string;
  password: string;
}

/** Pluggable cloud credentials for the webhook's OWN identity. */
export interface CloudCredentialProvider {
  /** Also the `id` of the credentials it returns, and the prefix of its error messages. */
  name: string;
  /** Whether `domain` (`host[:port]`) is a registry of this cloud. Cheap, no I/O. */
  matches(domain: string): boolean;
  /**
   * A credential for `domain`, or undefined when the provider has none for it. Rejects
   * (preferably with `CloudCredentialError`, whose message is safe to show) when the
   * credential could not be obtained; `collectCredentials` records that in `problems`.
   */
  credential(domain: string): Promise<RegistryCredential | undefined>;
}

/** The platform an image must run on, as in an OCI image index entry. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageConfigResult {
  /** Digest of the top-level manifest (or index) that was read, i.e. the digest the tag pointed to. */
  manifestDigest: string;
  entrypoint: string[];
  cmd: string[];
}

export interface RegistryClientOptions {
  /** Bound on each HTTP request, and on each client call as a whole (milliseconds, > 0). */
  timeoutMs: number;
  /** Extra PEM CA bundle, trusted in addition to Node's bundled root CAs. */
  ca?: string;
  /** Do not verify registry TLS certificates (--registry-skip-verify). */
  skipVerify: boolean;
  /** Registry hosts (`host` or `host:port`) that are reached over plain http. */
  insecureRegistries: readonly string[];
  /**
   * `host[:port]` patterns with `*` (--allowed-registries): when given, only registries
   * that match one are contacted. Loopback, link-local, metadata and unspecified
   * addresses are contacted only for hosts named here without `*`, or listed as insecure.
   */
  allowedRegistries?: readonly string[];
  /** Cap on manifest, config and token bodies in bytes (default 1 MiB); bigger is an error. */
  maxBytes?: number;
  /**
   * Cap on the bytes of the answers all requests of this client are reading at once (default
   * 64 MiB, and at least `maxBytes`). A body that finds no room fails at once, with kind
   * `overloaded`, rather than wait for room.
   */
  maxBytesInFlight?: number;
  /** Told of every HTTP request: what it fetched and its status (or `error` when no response came). */
  observeRequest?: (what: string, status: number | 'error') => void;
}
