/**
 * `work` as it settles, or a rejection with `onTimeout()` when it has not settled within
 * `ms`. Whatever the work was doing goes on unless `onTimeout` stops it (an abort); the
 * timer does not keep the process alive.
 */
export function settleWithin<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
