/**
 * The agent's report of outbox drops: a full outbox drops its oldest
 * records, and each drop becomes an `outbox.dropped` event at most once a
 * second per cloud.
 */
import { getLogger } from "../runtime/logging.ts";

const log = getLogger("agent");

/**
 * Reports outbox drops as one event per cloud at most every `intervalMs`.
 * The report itself goes into the full outbox and drops one more record;
 * that drop is counted in the outbox's total but not reported again, or a
 * full offline outbox would fill up with reports of its own reports.
 */
export class DropReporter {
  #pending = new Map<string, { dropped: number; total: number }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #reporting = false;

  constructor(
    private readonly report: (cloud: string, dropped: number, total: number) => Promise<unknown>,
    private readonly intervalMs = 1000,
  ) {}

  add(cloud: string, dropped: number, total: number): void {
    if (this.#reporting) return;
    const entry = this.#pending.get(cloud) ?? { dropped: 0, total };
    entry.dropped += dropped;
    entry.total = total;
    this.#pending.set(cloud, entry);
    this.#timer ??= setTimeout(() => this.#flush(), this.intervalMs);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #flush(): Promise<void> {
    this.#timer = undefined;
    const pending = [...this.#pending];
    this.#pending.clear();
    this.#reporting = true;
    try {
      await Promise.all(
        pending.map(([cloud, { dropped, total }]) => this.report(cloud, dropped, total)),
      );
    } catch (error) {
      log.error("Cannot report outbox drops: {error}", { error });
    } finally {
      this.#reporting = false;
    }
  }
}
