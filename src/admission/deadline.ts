/**
 * One deadline for one admission: every read and lookup it starts is tracked under a
 * label, and when the deadline passes the admission stops waiting, aborts what can be
 * aborted (its own reads) and can say what was still pending. Lookups shared with other
 * admissions (the image config cache) go on within their own bounds.
 */
export class AdmissionDeadline {
  readonly #controller = new AbortController();
  readonly #pending = new Map<number, string>();
  #next = 0;
  /** Rejects when the deadline passes (nobody need handle it). */
  readonly #passed: Promise<never>;
  #pass: (reason: Error) => void = () => undefined;

  constructor() {
    this.#passed = new Promise<never>((_resolve, reject) => (this.#pass = reject));
    this.#passed.catch(() => undefined);
  }

  /** Aborted when the deadline passes. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * `work`, tracked as pending under `label` until it settles; what is returned also rejects
   * when the deadline passes. Work shared with other admissions (a cached read, an image
   * lookup) goes on, but this admission stops waiting for it: its suspended steps, which hold
   * the pod (the parsed request body), are not kept alive by the shared work until it ends.
   */
  track<T>(label: string, work: Promise<T>): Promise<T> {
    const id = this.#next++;
    this.#pending.set(id, label);
    const done = () => this.#pending.delete(id);
    work.then(done, done);
    return Promise.race([work, this.#passed]);
  }

  /** What was started and has not settled, each label once, in the order started. */
  pending(): string[] {
    return [...new Set(this.#pending.values())];
  }

  expire(): void {
    this.#controller.abort();
    this.#pass(new Error('the admission deadline passed'));
  }
}

export type DeadlineOutcome<T> = { ok: true; value: T } | { ok: false; pending: string[] };

/**
 * Runs `work` with a deadline of `timeoutMs`: its value if it finishes in time, else what
 * it was still waiting for. Never waits longer; a rejection of `work` rejects as usual.
 */
export async function withinDeadline<T>(timeoutMs: number, work: (deadline: AdmissionDeadline) => Promise<T>): Promise<DeadlineOutcome<T>> {
  const deadline = new AdmissionDeadline();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<DeadlineOutcome<T>>((resolve) => {
    timer = setTimeout(() => {
      const pending = deadline.pending();
      deadline.expire();
      resolve({ ok: false, pending });
    }, timeoutMs);
  });
  const running = work(deadline).then((value): DeadlineOutcome<T> => ({ ok: true, value }));
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
    // After the deadline nobody waits for the work; its late failure is not an error.
    running.catch(() => undefined);
  }
}
