/**
 * Time as an input. The runtime never calls the global timers directly: it
 * asks a {@link Clock}, so tests can drive backoff, intensity windows and
 * shutdown budgets with XState's `SimulatedClock` instead of sleeping.
 *
 * The shape is XState's own clock (`setTimeout`/`clearTimeout`) plus `now()`,
 * which XState's `SimulatedClock` already has; the same clock is handed to
 * every actor the runtime creates, so delayed transitions follow it too.
 */

/** A source of time and timers; XState's `SimulatedClock` satisfies it. */
export interface Clock {
  /** Milliseconds on a monotonic scale; only differences are meaningful. */
  now(): number;
  /** Calls `fn` after `timeout` ms; returns a handle for `clearTimeout`. */
  // deno-lint-ignore no-explicit-any
  setTimeout(fn: (...args: any[]) => void, timeout: number): any;
  /** Cancels a timer made by `setTimeout`. */
  // deno-lint-ignore no-explicit-any
  clearTimeout(id: any): void;
}

/** The wall clock: global timers and `performance.now()`. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, timeout) => setTimeout(fn, timeout),
  clearTimeout: (id) => clearTimeout(id),
};

/** Resolves after `ms`, or at once when `signal` aborts, leaving no timer behind. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
