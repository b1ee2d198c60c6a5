import { AsyncCache } from '../cache/async-cache.js';
import type { ObjectFacts } from '../core/object-facts.js';

/** Most heap the cached facts may take together, as `factsWeight` estimates it. */
export const MAX_FACTS_BYTES = 20 * 1024 * 1024;

/**
 * What one key of an object's facts takes beyond its characters: its Map entry and string
 * header (about 50 to 80 bytes, measured on Node 20 with 1 to 3,990 keys per object).
 */
const BYTES_PER_KEY = 96;
/**
 * What one cached object takes besides its keys: the facts and their Map, the cache's entry
 * and its key (kind, namespace and name, up to about 340 characters): about 700 bytes.
 */
const BYTES_PER_OBJECT = 768;

/**
 * An estimate, on the high side, of the heap one object's facts take in the cache: keys of
 * Secrets and ConfigMaps can be 253 characters long, so they are weighed by their length (2
 * bytes a character: a string with a character past Latin-1 takes two), not counted.
 */
export function factsWeight(facts: ObjectFacts): number {
  let bytes = BYTES_PER_OBJECT;
  if (facts.exists) for (const key of facts.keys.keys()) bytes += 2 * key.length + BYTES_PER_KEY;
  return bytes;
}

/**
 * Facts of Secrets and ConfigMaps shared across admissions: a Deployment scaled to 500
 * replicas sends 500 admissions that read the same objects. Concurrent reads of one
 * object are coalesced, and its facts (which keys hold which kind of reference, never a
 * value) are kept for `ttlMs` (--object-cache-ttl; 0: coalescing only). A failed read is
 * not kept. Bounded by entries and by MAX_FACTS_BYTES of estimated heap.
 */
export function createObjectFactsCache(ttlMs: number): AsyncCache<ObjectFacts> {
  return new AsyncCache<ObjectFacts>({
    maxEntries: 10_000,
    ttlMs,
    failureTtlMs: 0,
    weigh: factsWeight,
    maxWeight: MAX_FACTS_BYTES,
  });
}

/** The cache key of an object: its kind, namespace and name (never anything secret). */
export function objectFactsKey(kind: string, namespace: string, name: string): string {
  return JSON.stringify([kind, namespace, name]);
}
