import { AsyncCache } from '../cache/async-cache.js';
import type { ObjectFacts } from '../core/object-facts.js';

/** Keys of all cached facts together (about 100 bytes each): a bound on the cache's memory. */
const MAX_KEYS = 200_000;

/**
 * Facts of Secrets and ConfigMaps shared across admissions: a Deployment scaled to 500
 * replicas sends 500 admissions that read the same objects. Concurrent reads of one
 * object are coalesced, and its facts (which keys hold which kind of reference, never a
 * value) are kept for `ttlMs` (--object-cache-ttl; 0: coalescing only). A failed read is
 * not kept. Bounded by entries and by the total number of keys held.
 */
export function createObjectFactsCache(ttlMs: number): AsyncCache<ObjectFacts> {
  return new AsyncCache<ObjectFacts>({
    maxEntries: 10_000,
    ttlMs,
    failureTtlMs: 0,
    weigh: (facts) => (facts.exists ? facts.keys.size + 1 : 1),
    maxWeight: MAX_KEYS,
  });
}

/** The cache key of an object: its kind, namespace and name (never anything secret). */
export function objectFactsKey(kind: string, namespace: string, name: string): string {
  return JSON.stringify([kind, namespace, name]);
}
