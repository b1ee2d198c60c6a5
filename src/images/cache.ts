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
