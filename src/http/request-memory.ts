import { getHeapStatistics } from 'node:v8';

/**
 * Bytes of V8 heap that parsing one byte of JSON may take, at worst: deeply nested empty
 * arrays (`[[[…]]]`, two bytes of text for an array of one element) come to 29 on Node.js
 * 20 and 24, empty objects to 22, the text itself to 1 or 2. A realistic pod takes about 2.
 * test/http/request-memory.test.ts holds the running Node.js to this bound.
 */
export const HEAP_BYTES_PER_BODY_BYTE = 32;

/**
 * Bodies declared this small are not counted while they arrive (counting costs a stream
 * per request): --max-connections bounds how many there can be. Larger or undeclared
 * (chunked) bodies are counted as their bytes arrive, not by what they declare, so a caller
 * that announces a large body and sends it slowly holds only what it sent.
 */
export const UNCOUNTED_ARRIVING_BYTES = 16 * 1024;

/**
 * The share of V8's heap limit (`--max-old-space-size` plus the young generation) that
 * request bodies may hold, while they arrive and once parsed until their answer is ready
 * (a large answer, until it is written).
 * The rest holds the webhook itself (~35 MiB with the Kubernetes client), its caches and
 * the young generation.
 */
const HEAP_SHARE = 0.5;

export function defaultRequestMemoryCapacity(): number {
  return Math.floor(getHeapStatistics().heap_size_limit * HEAP_SHARE);
}

/**
 * The memory request bodies may hold at once, in bytes of V8 heap. A body over
 * UNCOUNTED_ARRIVING_BYTES is charged its bytes as they arrive, and every body
 * `HEAP_BYTES_PER_BODY_BYTE` per character before it is parsed (json-body.ts); what does not
 * fit is refused (503) instead of the process running out of heap. Without such a bound,
 * three 4 MiB bodies of nested arrays, held while their image was looked up, took a webhook
 * with the Deployment's heap limit down.
 */
export class RequestMemory {
  readonly capacity: number;
  #held = 0;
  #arriving = 0;

  constructor(capacity: number) {
    if (!(capacity > 0)) throw new RangeError(`request memory capacity must be positive, not ${capacity}`);
    this.capacity = capacity;
  }

  /** Bytes held now by requests in flight. */
  get held(): number {
    return this.#held;
  }

  /** Takes `bytes` if they fit beside what is held; false, taking nothing, if not. */
  take(bytes: number): boolean {
    if (this.#held + bytes > this.capacity) return false;
    this.#held += bytes;
    return true;
  }

  /**
   * Takes `bytes` of a body still arriving if they fit, and if bodies still arriving hold at
   * most half the capacity with them: callers that send large bodies slowly cannot take the
   * room that parsing the bodies already here needs.
   */
  takeArriving(bytes: number): boolean {
    if (this.#arriving + bytes > this.capacity / 2 || !this.take(bytes)) return false;
    this.#arriving += bytes;
    return true;
  }

  /** `bytes` taken by takeArriving belong to a body no longer arriving (read, or given up); still held until given back. */
  arrived(bytes: number): void {
    this.#arriving -= bytes;
  }

  /** Bytes held by bodies still arriving. */
  get arriving(): number {
    return this.#arriving;
  }

  give(bytes: number): void {
    this.#held -= bytes;
  }
}

/**
 * How many of the largest bodies' parses `capacity` must have room for: the one being parsed,
 * and the one before it. A body's charge is given back when its answer is ready, but V8 may
 * not reclaim its parse at the next collection: one that was still in use when an
 * incremental marking began (or was made during it) stays until the marking after. Two
 * 4 MiB bodies of nested arrays parsed one after the other, each answered at once, ran the
 * Deployment's heap out that way (while the budget held only one of them).
 */
const LARGEST_PARSES_IN_HEAP = 2;

/** Why bodies of `maxRequestBytes` could not be parsed within `capacity` one after another, or undefined when they can. */
export function bodyLimitBeyondCapacity(maxRequestBytes: number, capacity: number): string | undefined {
  const needed = maxRequestBytes * HEAP_BYTES_PER_BODY_BYTE;
  if (needed * LARGEST_PARSES_IN_HEAP <= capacity) return undefined;
  return (
    `--max-request-bytes=${mib(maxRequestBytes)} MiB: parsing a body that large may take up to ${mib(needed)} MiB of heap, and V8 may still hold the previous one's, ` +
    `more than the ${mib(capacity)} MiB requests may hold (half of V8's heap limit); lower --max-request-bytes or raise --max-old-space-size in NODE_OPTIONS`
  );
}

/** The answer to a body that does not fit: 503, the caller may try again. */
export class RequestMemoryFull extends Error {
  override readonly name = 'RequestMemoryFull';
  readonly statusCode = 503;
  constructor(capacity: number) {
    super(`the webhook holds as much request data as its memory allows (${mib(capacity)} MiB); try again`);
  }
}

function mib(bytes: number): string {
  return String(Math.round((bytes / 1048576) * 10) / 10);
}
