/*
 * A promise's outcome as a value: how a sans-IO object waits for something
 * asynchronous (a handler, a sensor read, a peer's answer) without acting outside a
 * call that is given the time. The outcome is handed to `take` when it settles; the
 * object keeps it and acts on it at its next tick(now).
 */
export type Outcome<T> = { value: T } | { error: unknown };

/** Runs `start` (a throw counts as a rejection) and hands its outcome to `take` when it settles. */
export function whenSettled<T>(start: () => Promise<T>, take: (outcome: Outcome<T>) => void): void {
  let pending: Promise<T>;
  try {
    pending = start();
  } catch (error) {
    pending = Promise.reject(error);
  }
  pending.then(
    (value) => take({ value }),
    (error: unknown) => take({ error }),
  );
}
