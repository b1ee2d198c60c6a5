/**
 * The bytes of registry answers that all requests of one client hold in memory at once.
 *
 * Each request caps its own body, but hostile registries on several ports can keep many
 * requests busy with large bodies that never end; without a bound over all of them a pod
 * naming enough images could make the webhook hold a gigabyte. A body's charge grows as its
 * bytes arrive (at once to its declared length) and is given back when its request settles,
 * however it settles. A body that finds no room fails at once rather than wait: waiting
 * would let stalled answers hold every other lookup up as well.
 */
export interface BodyCharge {
  /** Grows the charge to `bytes` in all; false, and the charge unchanged, when the budget has no room for it. */
  growTo(bytes: number): boolean;
  /** Gives the whole charge back; later calls do nothing. */
  release(): void;
}

export class BodyBudget {
  private held = 0;

  constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) {
      throw new RangeError(`the registry body budget must be a positive integer of bytes, not ${limitBytes}`);
    }
  }

  /** Bytes charged now. */
  get heldBytes(): number {
    return this.held;
  }

  /** A charge of nothing yet, for one body. */
  open(): BodyCharge {
    let charged = 0;
    let released = false;
    return {
      growTo: (bytes: number): boolean => {
        if (released) return false;
        if (bytes <= charged) return true;
        if (this.held + (bytes - charged) > this.limitBytes) return false;
        this.held += bytes - charged;
        charged = bytes;
        return true;
      },
      release: (): void => {
        if (released) return;
        released = true;
        this.held -= charged;
        charged = 0;
      },
    };
  }
}

/** `64 MiB`, `1 KiB`, or `1000 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
