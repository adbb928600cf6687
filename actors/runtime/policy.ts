/**
 * The restart policy as pure functions: whether an exit is restarted, which
 * siblings a restart takes along, how long to wait, and when a supervisor
 * has restarted too often. The supervisor only applies these decisions.
 */
import type { RestartType, Strategy } from "./spec.ts";

/** How an actor ended: it reached a final state, or it failed. */
export type ExitReason = "normal" | "error";

/** OTP's rule: permanent always, transient after an error, temporary never. */
export function shouldRestart(restart: RestartType, reason: ExitReason): boolean {
  return restart === "permanent" || (restart === "transient" && reason === "error");
}

/**
 * Indexes (in start order) of the children a restart of child `index`
 * touches, itself included.
 */
export function restartScope(strategy: Strategy, index: number, count: number): number[] {
  switch (strategy) {
    case "one_for_one":
      return [index];
    case "one_for_all":
      return Array.from({ length: count }, (_, i) => i);
    case "rest_for_one":
      return Array.from({ length: count - index }, (_, i) => index + i);
  }
}

/**
 * Delay before restart number `attempt` (0-based since the last quiet
 * period): the one backoff curve of machines/backoff.ts, `minMs · 2^attempt`
 * capped at `maxMs`, minus up to `jitter` of it. `random` is a number in [0, 1).
 */
export { backoffDelay } from "../../machines/backoff.ts";

/**
 * Restart timestamps of one supervisor inside its intensity window.
 * `record` returns false when this restart is one too many: more than
 * `intensity` restarts within `periodMs`.
 */
export class RestartWindow {
  // Timestamps in order; those before `#head` have left the window. Only
  // the newest `intensity + 1` matter, so the live part stays that short.
  #times: number[] = [];
  #head = 0;

  constructor(readonly intensity: number, readonly periodMs: number) {}

  record(now: number): boolean {
    this.#times.push(now);
    while (now - this.#times[this.#head] >= this.periodMs) this.#head++;
    if (this.count > this.intensity + 1) this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    return this.count <= this.intensity;
  }

  /** Restarts currently counted in the window (at most `intensity + 1`). */
  get count(): number {
    return this.#times.length - this.#head;
  }
}
