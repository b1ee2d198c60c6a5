/** A pull credential. `id` is a NON-secret label for messages and cache keys, e.g. "Secret team-a/regcred". */
export interface RegistryCredential {
  id: string;
  username: string;
  password: string;
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
  /** Cap on manifest, config and token bodies in bytes (default 4 MiB); bigger is an error. */
  maxBytes?: number;
}
