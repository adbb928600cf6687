/**
 * One log line for an error that repeats, not one per occurrence: a broken
 * disk fails every sample of every source, and a log that floods hides the
 * one line that says why. The first occurrence of a message is logged at
 * once; the same message again within `intervalMs` is only counted, and the
 * count is logged with the next occurrence after the interval.
 */
import type { Logger } from "@logtape/logtape";

/** Options of {@link RepeatedErrors}. */
export interface RepeatedErrorsOptions {
  /** How long identical messages are only counted. Default 60,000 ms. */
  intervalMs?: number;
  /** The time in ms. Default `Date.now`. */
  now?: () => number;
}

interface Seen {
  loggedAt: number;
  suppressed: number;
}

// Messages remembered at once; the oldest is forgotten past this.
const MAX_KINDS = 100;

/**
 * Logs each distinct error message at most once per interval, with the
 * number of repeats it held back.
 *
 * @example
 * ```ts
 * const errors = new RepeatedErrors(getLogger("agent"));
 * errors.error("Cannot store a {stream} record", { stream: "system" }, new Error("disk I/O error"));
 * ```
 */
export class RepeatedErrors {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #seen = new Map<string, Seen>();

  constructor(log: Logger, options: RepeatedErrorsOptions = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Logs `message` (a LogTape template) with `properties` and `error` at
   * error level, unless the same message and error text were logged within
   * the interval; then it only counts it. Returns whether it logged.
   */
  error(message: string, properties: Record<string, unknown>, error: unknown): boolean {
    const text = error instanceof Error ? error.message : String(error);
    const key = `${message}\u0000${JSON.stringify(properties)}\u0000${text}`;
    const now = this.#now();
    const seen = this.#seen.get(key);
    if (seen && now - seen.loggedAt < this.#intervalMs) {
      seen.suppressed++;
      return false;
    }
    const repeats = seen?.suppressed ?? 0;
    this.#seen.delete(key);
    this.#seen.set(key, { loggedAt: now, suppressed: 0 });
    if (this.#seen.size > MAX_KINDS) this.#seen.delete(this.#seen.keys().next().value!);
    const suffix = repeats > 0 ? ` (and {repeats} more time(s) since it was last logged)` : "";
    this.#log.error(`${message}: {error}${suffix}`, { ...properties, error, repeats });
    return true;
  }
}
