/**
 * The cache of image configs. A burst of pods from one ReplicaSet names the same
 * image hundreds of times within milliseconds; it must cost one registry round trip.
 * `ImageConfigCache` layers two AsyncCaches: tags are mutable (tag → digest, with a
 * TTL), digests are content-addressed (digest → config, no expiry, LRU-bounded).
 */

import { AsyncCache } from '../cache/async-cache.js';
import type { CacheStats, Clock, ServedFrom } from '../cache/async-cache.js';

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

/**
 * Bound on the characters of the configs kept (about 16 MiB of strings): a registry may serve
 * long ENTRYPOINT and CMD lists, and configs are kept until evicted. Real ones take ~100.
 */
const MAX_CONFIG_CHARS = 8 * 1024 * 1024;

function configChars(config: ImageConfigValue): number {
  let chars = config.manifestDigest.length;
  for (const word of config.entrypoint) chars += word.length + 16;
  for (const word of config.cmd) chars += word.length + 16;
  return chars;
}

/** A private copy of a config, frozen so that no caller can alter what the next pod is given. */
function frozenConfig(config: ImageConfigValue): ImageConfigValue {
  const entrypoint = [...config.entrypoint];
  const cmd = [...config.cmd];
  Object.freeze(entrypoint);
  Object.freeze(cmd);
  return Object.freeze({ manifestDigest: config.manifestDigest, entrypoint, cmd });
}

/**
 * What a registry answered, and whether it answered without credentials: then anyone could
 * read it, and any pod may be given it.
 */
export interface Fetched<T> { value: T; anonymous: boolean }

/**
 * Longest access scope whose lookups are kept (and coalesced). Real ones are a namespace, a few
 * pull secret names and a ServiceAccount name: a few hundred characters. Every entry holds its
 * scope in its key, entries are bounded by count, and failures are kept too, so a hand-made
 * review naming thousands of pull secrets, or very long ones, could otherwise make 1,000
 * entries hold as much memory as its bodies.
 */
const MAX_CACHED_SCOPE_CHARS = 2048;

/** How much a lookup's level cost: the costlier of its two levels is how the lookup was served. */
const SERVED_COST: Readonly<Record<ServedFrom, number>> = { hit: 0, coalesced: 1, loaded: 2 };

/** The access scope of what was read anonymously (a scope the caller builds never equals it). */
const ANYONE = 'anyone';

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
 * Every entry belongs to an access scope: what the caller's credentials depend on (for pods,
 * their namespace, pull secret names and ServiceAccount), built from names only, never from
 * secrets. A pod is given only what was read with its own scope's credentials, or what was
 * read anonymously (anyone may read that), so a pod learns nothing of an image its own pull
 * secrets could not read, and one scope's failure (named after its Secrets) is never shown to
 * another. Lookups are coalesced within a scope: callers sharing a load share its
 * credentials. A burst of pods from one ReplicaSet shares one scope, and so one round trip.
 */
export class ImageConfigCache {
  readonly #tags: AsyncCache<string>;
  readonly #configs: AsyncCache<ImageConfigValue>;

  constructor(options: ImageCacheOptions) {
    const common = { maxEntries: options.maxEntries, failureTtlMs: options.failureTtlMs, cacheFailure: options.cacheFailure, clock: options.clock };
    this.#tags = new AsyncCache<string>({ ...common, ttlMs: options.tagTtlMs });
    this.#configs = new AsyncCache<ImageConfigValue>({ ...common, ttlMs: Infinity, weigh: configChars, maxWeight: MAX_CONFIG_CHARS });
  }

  /**
   * The config of `image` for its platform, as the `scope` may see it. Calls `resolveTag`
   * (only for references without a digest) and `fetchConfig` only on misses, at most once
   * per key and scope however many resolves are waiting. The result is frozen and shared:
   * do not mutate it. `served` is told once how the lookup was answered, by the costlier of
   * its levels: loaded when either asked the registry, else coalesced, else hit.
   */
  async resolve(
    image: ImageKeyParts,
    scope: string,
    resolveTag: () => Promise<Fetched<string>>,
    fetchConfig: (digest: string) => Promise<Fetched<ImageConfigValue>>,
    served?: (how: ServedFrom) => void,
  ): Promise<ImageConfigValue> {
    const { registry, repository, platform } = image;
    if (scope.length > MAX_CACHED_SCOPE_CHARS) {
      // Looked up for this caller alone, and nothing kept (see MAX_CACHED_SCOPE_CHARS).
      served?.('loaded');
      const digest = image.digest ?? (await resolveTag()).value;
      return frozenConfig((await fetchConfig(digest)).value);
    }
    // How the tag level answered: a tag resolved at the registry (its ttl passed) makes the
    // lookup a load, and one joined in flight a coalesced one, even when the config was cached.
    let tagServed: ServedFrom = 'hit';
    const digest = image.digest ?? (await scoped(this.#tags, `${registry}/${repository}:${image.tag ?? DEFAULT_TAG}`, scope, resolveTag, served && ((how) => (tagServed = how))));
    const fetchFrozen = async (): Promise<Fetched<ImageConfigValue>> => {
      const fetched = await fetchConfig(digest);
      return { value: frozenConfig(fetched.value), anonymous: fetched.anonymous };
    };
    const reported = served && ((how: ServedFrom) => served(SERVED_COST[tagServed] > SERVED_COST[how] ? tagServed : how));
    return scoped(this.#configs, `${registry}/${repository}@${digest} ${platform}`, scope, fetchFrozen, reported);
  }

  stats(): { tags: CacheStats; configs: CacheStats } {
    return { tags: this.#tags.stats(), configs: this.#configs.stats() };
  }
}

/**
 * `key` as `scope` may see it: what anyone may read, else the scope's own entry (loaded, and
 * coalesced, within the scope). What the load read anonymously is kept for anyone too.
 */
function scoped<V>(cache: AsyncCache<V>, key: string, scope: string, load: () => Promise<Fetched<V>>, served?: (how: ServedFrom) => void): Promise<V> {
  const anyone = `${key}\n${ANYONE}`;
  const open = cache.peek(anyone);
  if (open !== undefined) {
    served?.('hit');
    return Promise.resolve(open);
  }
  return cache.get(
    `${key}\n${scope}`,
    async () => {
      const fetched = await load();
      if (fetched.anonymous) cache.set(anyone, fetched.value);
      return fetched.value;
    },
    served,
  );
}
