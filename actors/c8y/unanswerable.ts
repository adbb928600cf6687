/**
 * Messages from the platform that nothing can be answered to, noted by the
 * Cumulocity session: each kind is logged once, then counted, so a platform
 * that keeps sending one does not flood the log. Not an actor.
 */
import { getLogger } from "../runtime/logging.ts";

const log = getLogger("c8y");

/**
 * Downstream lines nothing can be answered to: each kind is logged once,
 * then counted, so a platform that keeps sending one does not flood the log.
 *
 * @example
 * ```ts
 * const ignored = new UnanswerableLines("c8y");
 * ignored.note('a line of template "599"', "no fragment"); // logged
 * ignored.note('a line of template "599"', "no fragment"); // counted
 * ignored.counts(); // Map { 'a line of template "599"' => 2 }
 * ```
 */
export class UnanswerableLines {
  #counts = new Map<string, number>();

  /** `cloud` names the cloud in logs. */
  constructor(private readonly cloud: string) {}

  /** Notes one more line of kind `what` (logged the first time, with `why`). */
  note(what: string, why: string): void {
    // Kinds come from the cloud (template ids), so their number is capped.
    const kind = this.#counts.has(what) || this.#counts.size < MAX_KINDS ? what : OTHER_KINDS;
    const count = (this.#counts.get(kind) ?? 0) + 1;
    this.#counts.set(kind, count);
    if (count === 1) {
      log.warn("Cloud {cloud}: ignored {what}: {why}; further ones are counted, not logged", {
        cloud: this.cloud,
        what: kind,
        why,
      });
    } else {
      log.debug("Cloud {cloud}: ignored {what} ({count} so far)", {
        cloud: this.cloud,
        what: kind,
        count,
      });
    }
  }

  /** How many lines of each kind were ignored so far. */
  counts(): ReadonlyMap<string, number> {
    return this.#counts;
  }
}

const MAX_KINDS = 64;
const OTHER_KINDS = "lines of yet other kinds";
