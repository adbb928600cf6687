/**
 * Waiting for a condition in a test without sleeping: whoever changes the
 * state calls `changed()`, and every `until` looks again then. Emulators
 * use one each; a test waits on its events with a deadline.
 */

/** Conditions that are looked at again on every change. */
export class Condition {
  #wakers = new Set<() => void>();

  /** Something changed: every pending `until` checks again. */
  changed(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /**
   * Resolves with `check()`'s first truthy result (now or after a change);
   * rejects after `timeoutMs` with `what` and the `context` at that moment.
   */
  until<T>(
    what: string,
    check: () => T | undefined | false,
    options: { timeoutMs?: number; context?: () => string; pollMs?: number } = {},
  ): Promise<T> {
    const { timeoutMs = 5000, context, pollMs } = options;
    return new Promise((resolve, reject) => {
      let poll: ReturnType<typeof setInterval> | undefined;
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.#wakers.delete(wake);
      };
      const wake = () => {
        const result = check();
        if (result === undefined || result === false) return;
        done();
        resolve(result);
      };
      const timer = setTimeout(() => {
        done();
        const seen = context ? `; ${context()}` : "";
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${seen}`));
      }, timeoutMs);
      // For state that also changes where no `changed()` is called (the device's side).
      if (pollMs !== undefined) poll = setInterval(wake, pollMs);
      this.#wakers.add(wake);
      wake();
    });
  }
}
