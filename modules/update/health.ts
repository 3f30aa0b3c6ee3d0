/*
 * The first boot of an update confirms itself only once it is healthy (the
 * firmware-update issue; ESP-IDF's app rollback, update/boot): the application's
 * self-check passes -> markValid(); it fails, or does not pass within the deadline
 * (a hang, a start that threw half-way) -> rollBack(), which restarts into the image
 * before. A boot that is not an update's first only logs the check's outcome.
 * Sans-IO: the check, the boot actions and the timer are injected.
 */
export interface HealthOptions {
  /** the boot's state (update/boot bootInfo().state) */
  state: "valid" | "pending-verify";
  /** resolves when the node is healthy, rejects with what is wrong */
  check(): Promise<void>;
  markValid(): void;
  rollBack(): void;
  /** ms the check may take before the update counts as failed */
  deadlineMs: number;
  /** a one-shot timer; returns its cancel */
  after(ms: number, callback: () => void): () => void;
  log(message: string): void;
}

/** Resolves true when the check passed (and a pending update was confirmed). */
export function confirmWhenHealthy(options: HealthOptions): Promise<boolean> {
  const pending = options.state === "pending-verify";
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (healthy: boolean, words: string): void => {
      if (done) return;
      done = true;
      cancel();
      if (healthy) {
        if (pending) options.markValid();
        options.log(`self-check: passed${words}${pending ? "; this update is confirmed" : ""}`);
      } else {
        options.log(`self-check: FAILED: ${words}${pending ? "; rolling back to the previous image" : ""}`);
        if (pending) options.rollBack();
      }
      resolve(healthy);
    };
    const cancel = options.after(options.deadlineMs, () => finish(false, `no answer within ${options.deadlineMs} ms`));
    options.check().then(() => finish(true, ""), (reason: unknown) => finish(false, String((reason as Error)?.message ?? reason)));
  });
}
