/**
 * A bounded cache of async results with in-flight coalescing, shared by the image config
 * cache and the cache of Secret/ConfigMap facts: a burst of pods from one ReplicaSet names
 * the same objects and images hundreds of times within milliseconds, and must cost one
 * round trip. Successes are remembered for `ttlMs`, failures for `failureTtlMs`; the size
 * is bounded by entries (LRU) and, optionally, by a total weight.
 */

/**
 * A source of the current time in milliseconds, used only to measure how long an entry has
 * been held: `performance.now()` (monotonic: NTP or an operator stepping the wall clock back
 * must not keep an entry past its TTL, nor a step ahead expire it early) unless a test
 * supplies one.
 */
export interface Clock { now(): number }

export interface AsyncCacheOptions<V = unknown> {
  /** Most settled entries kept; the least recently used goes first. In-flight loads are not counted. */
  maxEntries: number;
  /** How long a success is served, in ms. `Infinity` = until evicted; 0 = not cached (loads are still coalesced). */
  ttlMs: number;
  /** How long a failure is re-thrown without calling `load` again, in ms. 0 = not cached. */
  failureTtlMs: number;
  /** Which failures to remember (default: all); e.g. not those that depend on the caller's credentials. */
  cacheFailure?: (error: unknown) => boolean;
  /** The weight of a value (e.g. how many keys it holds); with `maxWeight`, bounds the total held. */
  weigh?: (value: V) => number;
  /** Most total weight of the settled successes held; the least recently used go first. */
  maxWeight?: number;
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

const monotonicClock: Clock = { now: () => performance.now() };

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
  readonly #weigh: ((value: V) => number) | undefined;
  readonly #maxWeight: number;
  #weight = 0;
  /** Settled results in LRU order: the first key is the least recently used. */
  readonly #entries = new Map<string, Entry<V>>();
  readonly #inFlight = new Map<string, Promise<V>>();
  readonly #stats: CacheStats = { hits: 0, misses: 0, coalesced: 0, failuresServed: 0, evictions: 0 };

  constructor(options: AsyncCacheOptions<V>) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a whole number >= 1, got ${options.maxEntries}`);
    }
    checkDuration('ttlMs', options.ttlMs);
    checkDuration('failureTtlMs', options.failureTtlMs);
    this.#maxEntries = options.maxEntries;
    this.#ttlMs = options.ttlMs;
    this.#failureTtlMs = options.failureTtlMs;
    this.#cacheFailure = options.cacheFailure ?? (() => true);
    this.#clock = options.clock ?? monotonicClock;
    this.#weigh = options.weigh;
    this.#maxWeight = options.maxWeight ?? Infinity;
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
      this.#remove(key);
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
   * The fresh cached success for `key`, else undefined; never loads, and a cached failure
   * or a load in flight is not an answer here. Counted as a hit when it answers.
   */
  peek(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || !entry.ok) return undefined;
    if (this.#clock.now() >= entry.expiresAt) {
      this.#remove(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry); // most recently used
    this.#stats.hits++;
    return entry.value;
  }

  /** Remembers `value` as the success for `key` (for `ttlMs`, as a load's would be). */
  set(key: string, value: V): void {
    if (this.#ttlMs > 0) this.#store(key, { ok: true, value, expiresAt: this.#clock.now() + this.#ttlMs });
  }

  /**
   * Forgets `key`. A load of it in flight still answers the gets that already
   * joined it, but its result is not cached and later gets start a new load.
   */
  delete(key: string): void {
    this.#remove(key);
    this.#inFlight.delete(key);
  }

  /** Forgets every key, as `delete` does. Statistics are kept. */
  clear(): void {
    this.#entries.clear();
    this.#weight = 0;
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

  #weightOf(entry: Entry<V>): number {
    return entry.ok && this.#weigh !== undefined ? this.#weigh(entry.value) : 0;
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#weight -= this.#weightOf(entry);
  }

  #store(key: string, entry: Entry<V>): void {
    this.#remove(key);
    const weight = this.#weightOf(entry);
    // A value heavier than the whole budget is not kept at all.
    if (weight > this.#maxWeight) return;
    this.#entries.set(key, entry);
    this.#weight += weight;
    // Map iteration is in insertion order, and deleting the current key while iterating is safe.
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries && this.#weight <= this.#maxWeight) break;
      this.#remove(oldest);
      this.#stats.evictions++;
    }
  }
}

