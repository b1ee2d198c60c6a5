/**
 * Caches for registry lookups.
 *
 * A burst of pods from one ReplicaSet names the same image hundreds of times
 * within milliseconds; it must cost one registry round trip. `AsyncCache`
 * coalesces concurrent loads of a key, remembers results (successes for
 * `ttlMs`, failures for `failureTtlMs`) and bounds its size with an LRU.
 * `ImageConfigCache` layers two of them: tags are mutable (tag → digest, with a
 * TTL), digests are content-addressed (digest → config, no expiry, LRU-bounded).
 */

/** A source of the current time in milliseconds; `Date.now` unless a test supplies one. */
export interface Clock { now(): number }

export interface AsyncCacheOptions {
  /** Most settled entries kept; the least recently used goes first. In-flight loads are not counted. */
  maxEntries: number;
  /** How long a success is served, in ms. `Infinity` = until evicted; 0 = not cached (loads are still coalesced). */
  ttlMs: number;
  /** How long a failure is re-thrown without calling `load` again, in ms. 0 = not cached. */
  failureTtlMs: number;
  /** Which failures to remember (default: all); e.g. not those that depend on the caller's credentials. */
  cacheFailure?: (error: unknown) => boolean;
  clock?: Clock;
}

export interface CacheStats {
  /** Gets answered by a fresh cached success. */
  hits: number;
  /** Gets that called `load`. */
  misses: number;
  /** Gets that joined a load already in flight. */
  coalesced: number;
  /** Gets answered by re-throwing a cached failure. */
  failuresServed: number;
  /** Entries dropped to stay within `maxEntries` (expiry and `delete`/`clear` are not counted). */
  evictions: number;
}

type Entry<V> =
  | { readonly ok: true; readonly value: V; readonly expiresAt: number }
  | { readonly ok: false; readonly error: unknown; readonly expiresAt: number };

const systemClock: Clock = { now: () => Date.now() };

function checkDuration(name: string, value: number): void {
  if (Number.isNaN(value) || value < 0) throw new RangeError(`${name} must be a duration >= 0 (ms), got ${value}`);
}

/** How a get was answered: from the cache, by joining a load in flight, or by a load of its own. */
export type ServedFrom = 'hit' | 'coalesced' | 'loaded';

/**
 * A bounded cache of async results with in-flight coalescing.
 *
 * Keys are strings the caller builds from non-secret parts only: they may show
 * up in logs and debuggers, and nothing secret should decide what is shared.
 */
export class AsyncCache<V> {
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #failureTtlMs: number;
  readonly #cacheFailure: (error: unknown) => boolean;
  readonly #clock: Clock;
  /** Settled results in LRU order: the first key is the least recently used. */
  readonly #entries = new Map<string, Entry<V>>();
  readonly #inFlight = new Map<string, Promise<V>>();
  readonly #stats: CacheStats = { hits: 0, misses: 0, coalesced: 0, failuresServed: 0, evictions: 0 };

  constructor(options: AsyncCacheOptions) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a whole number >= 1, got ${options.maxEntries}`);
    }
    checkDuration('ttlMs', options.ttlMs);
    checkDuration('failureTtlMs', options.failureTtlMs);
    this.#maxEntries = options.maxEntries;
    this.#ttlMs = options.ttlMs;
    this.#failureTtlMs = options.failureTtlMs;
    this.#cacheFailure = options.cacheFailure ?? (() => true);
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * The value for `key`: a fresh cached result if there is one (a cached failure
   * is re-thrown as the same error object), else the promise of the load already
   * in flight, else the result of calling `load` once. Never throws
   * synchronously, even if `load` does.
   */
  get(key: string, load: () => Promise<V>, served?: (how: ServedFrom) => void): Promise<V> {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (this.#clock.now() < entry.expiresAt) {
        this.#entries.delete(key);
        this.#entries.set(key, entry); // most recently used
        if (entry.ok) {
          this.#stats.hits++;
          served?.('hit');
          return Promise.resolve(entry.value);
        }
        this.#stats.failuresServed++;
        return Promise.reject(entry.error);
      }
      this.#entries.delete(key);
    }
    const pending = this.#inFlight.get(key);
    if (pending !== undefined) {
      this.#stats.coalesced++;
      served?.('coalesced');
      return pending;
    }
    this.#stats.misses++;
    served?.('loaded');
    // The executor turns a synchronous throw from `load` into a rejection.
    const loaded = new Promise<V>((resolve) => resolve(load()));
    const promise = loaded.then(
      (value) => {
        if (this.#settle(key, promise) && this.#ttlMs > 0) {
          this.#store(key, { ok: true, value, expiresAt: this.#clock.now() + this.#ttlMs });
        }
        return value;
      },
      (error: unknown) => {
        if (this.#settle(key, promise) && this.#failureTtlMs > 0 && this.#cacheFailure(error)) {
          this.#store(key, { ok: false, error, expiresAt: this.#clock.now() + this.#failureTtlMs });
        }
        throw error;
      },
    );
    this.#inFlight.set(key, promise);
    return promise;
  }

  /**
   * Forgets `key`. A load of it in flight still answers the gets that already
   * joined it, but its result is not cached and later gets start a new load.
   */
  delete(key: string): void {
    this.#entries.delete(key);
    this.#inFlight.delete(key);
  }

  /** Forgets every key, as `delete` does. Statistics are kept. */
  clear(): void {
    this.#entries.clear();
    this.#inFlight.clear();
  }

  /** Settled entries held, including expired ones not yet looked up or evicted; in-flight loads are not counted. */
  get size(): number {
    return this.#entries.size;
  }

  /** A snapshot of the counters since construction. */
  stats(): CacheStats {
    return { ...this.#stats };
  }

  /** Ends the in-flight load of `key`; false if `delete`/`clear` detached it, so its result must not be cached. */
  #settle(key: string, promise: Promise<V>): boolean {
    if (this.#inFlight.get(key) !== promise) return false;
    this.#inFlight.delete(key);
    return true;
  }

  #store(key: string, entry: Entry<V>): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    // Map iteration is in insertion order, and deleting the current key while iterating is safe.
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
      this.#stats.evictions++;
    }
  }
}

/** What the webhook needs from an image's config, with the manifest it came from. */
export interface ImageConfigValue { manifestDigest: string; entrypoint: string[]; cmd: string[] }

export interface ImageCacheOptions {
  /** How long a tag → digest resolution is trusted, in ms (tags are mutable). */
  tagTtlMs: number;
  /** Bound on each level (tags and configs) separately. */
  maxEntries: number;
  /** How long a failed tag resolution or config fetch is re-thrown without asking the registry again, in ms. */
  failureTtlMs: number;
  /** Which failures to remember (default: all). */
  cacheFailure?: (error: unknown) => boolean;
  clock?: Clock;
}

/** The non-secret parts of an image reference that decide what it runs. */
export interface ImageKeyParts {
  /** Registry host as contacted, e.g. `docker.io`, `registry:5000`. */
  registry: string;
  /** Repository path, e.g. `library/nginx`. */
  repository: string;
  /** Used only when there is no digest; absent means `latest`, as for the kubelet. */
  tag?: string;
  /** When present, the tag is ignored: the digest is what gets pulled. */
  digest?: string;
  /** The node platform the config is for, e.g. `linux/amd64`. */
  platform: string;
}

const DEFAULT_TAG = 'latest';

/** A private copy of a config, frozen so that no caller can alter what the next pod is given. */
function frozenConfig(config: ImageConfigValue): ImageConfigValue {
  const entrypoint = [...config.entrypoint];
  const cmd = [...config.cmd];
  Object.freeze(entrypoint);
  Object.freeze(cmd);
  return Object.freeze({ manifestDigest: config.manifestDigest, entrypoint, cmd });
}

/**
 * Two-level cache of image configs:
 * - tags: `registry/repository:tag` → the digest the tag points to, for `tagTtlMs`;
 * - configs: (registry, repository, digest, platform) → config, never expiring
 *   (a digest names immutable content), bounded by `maxEntries` (LRU).
 * Both levels coalesce concurrent lookups and remember failures for `failureTtlMs`.
 *
 * `resolveTag` must return the digest the tag itself points to (for a multi-arch
 * image, the index digest), not a platform's manifest: tag entries are shared
 * by every platform, and `fetchConfig(digest)` picks the platform.
 *
 * Credentials are deliberately NOT part of any key: a digest's content is the
 * same for everyone, so the caller authenticates only on the miss path. The
 * trade-off: a pod whose pull secrets could not read the image may be given a
 * config (or tag → digest) cached from a pod that could. That is acceptable
 * because ENTRYPOINT/CMD are not secret data (anyone who can pull can read
 * them, and they only shape the mutated command line), and the kubelet still
 * refuses to pull the image without valid credentials, so the pod cannot run
 * it. Likewise a failure cached for one pod's credentials is served to another
 * pod for up to `failureTtlMs`; keep that short.
 */
export class ImageConfigCache {
  readonly #tags: AsyncCache<string>;
  readonly #configs: AsyncCache<ImageConfigValue>;

  constructor(options: ImageCacheOptions) {
    const common = { maxEntries: options.maxEntries, failureTtlMs: options.failureTtlMs, cacheFailure: options.cacheFailure, clock: options.clock };
    this.#tags = new AsyncCache<string>({ ...common, ttlMs: options.tagTtlMs });
    this.#configs = new AsyncCache<ImageConfigValue>({ ...common, ttlMs: Infinity });
  }

  /**
   * The config of `image` for its platform. Calls `resolveTag` (only for
   * references without a digest) and `fetchConfig` only on misses, at most
   * once per key however many resolves are waiting. The result is frozen and
   * shared: do not mutate it.
   */
  async resolve(
    image: ImageKeyParts,
    resolveTag: () => Promise<string>,
    fetchConfig: (digest: string) => Promise<ImageConfigValue>,
    served?: (how: ServedFrom) => void,
  ): Promise<ImageConfigValue> {
    const { registry, repository, platform } = image;
    const digest = image.digest ?? (await this.#tags.get(`${registry}/${repository}:${image.tag ?? DEFAULT_TAG}`, resolveTag));
    return this.#configs.get(`${registry}/${repository}@${digest} ${platform}`, async () => frozenConfig(await fetchConfig(digest)), served);
  }

  stats(): { tags: CacheStats; configs: CacheStats } {
    return { tags: this.#tags.stats(), configs: this.#configs.stats() };
  }
}
