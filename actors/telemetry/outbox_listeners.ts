/**
 * Who an Outbox tells about its commits: per cloud, those waiting for
 * appends (each cloud's drain), and those watching for records a cloud's
 * bound dropped. The Outbox calls them after a commit; a listener that
 * throws is logged, and the others are still called.
 */
import { getLogger } from "../runtime/logging.ts";

/** Records pushed out of a cloud's outbox by its bound. */
export interface OutboxDrop {
  /** The cloud whose records were dropped. */
  cloud: string;
  /** How many were dropped by this commit. */
  dropped: number;
  /** How many this cloud has lost in total, across restarts. */
  total: number;
}

const log = getLogger("telemetry");

/** The append and drop listeners of one Outbox. */
export class OutboxListeners {
  #appendListeners = new Map<string, Set<() => void>>();
  #dropListeners = new Set<(drop: OutboxDrop) => void>();

  /** Adds `listener` for commits that added records for `cloud`; returns an unsubscribe. */
  onAppend(cloud: string, listener: () => void): () => void {
    let set = this.#appendListeners.get(cloud);
    if (!set) this.#appendListeners.set(cloud, set = new Set());
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** Adds `listener` for drops by any cloud's bound; returns an unsubscribe. */
  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    this.#dropListeners.add(listener);
    return () => void this.#dropListeners.delete(listener);
  }

  /** Calls the append listeners of `cloud`. */
  appended(cloud: string): void {
    for (const listener of this.#appendListeners.get(cloud) ?? []) call(listener, undefined);
  }

  /** Calls every drop listener with `drop`. */
  dropped(drop: OutboxDrop): void {
    for (const listener of this.#dropListeners) call(listener, drop);
  }

  /** Removes every listener. */
  clear(): void {
    this.#appendListeners.clear();
    this.#dropListeners.clear();
  }
}

function call<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    log.error("An outbox listener threw: {error}", { error });
  }
}
