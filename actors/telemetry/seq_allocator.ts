/**
 * The device's telemetry sequence numbers: strictly increasing across
 * restarts, never handed out twice, even after a crash.
 *
 * Writing the counter on every number would cost one transaction per
 * record, so numbers are reserved in blocks: the stored value is a promise
 * that no number at or above it was handed out, and it is raised (and
 * committed) before the first number of a block leaves. A crash loses the
 * rest of its block, leaving a gap, never a repeat; a clean `release()`
 * gives the rest back.
 *
 * The counter lives in the outbox's `outbox_counters` table (`name = 'seq'`,
 * `cloud = ''`); the Outbox creates that table before building this.
 */
import type { DatabaseSync } from "node:sqlite";

/** Options of {@link SeqAllocator}. */
export interface SeqAllocatorOptions {
  /** Sequence numbers reserved per database write. Default 1000. */
  block?: number;
}

/** Hands out sequence numbers from blocks reserved in `outbox_counters`. */
export class SeqAllocator {
  readonly #db: DatabaseSync;
  readonly #block: number;
  readonly #sql: ReturnType<typeof statements>;
  #next: number;
  #limit: number;

  /** `db` must hold the `outbox_counters` table; it stays owned by the caller. */
  constructor(db: DatabaseSync, options: SeqAllocatorOptions = {}) {
    this.#db = db;
    this.#block = positiveInteger("block", options.block ?? 1000);
    this.#sql = statements(db);
    // Nothing is reserved yet: the first next() reserves a block above the stored value.
    this.#next = this.#stored();
    this.#limit = this.#next;
  }

  /** Allocates `count` consecutive numbers and returns the first. */
  next(count = 1): number {
    positiveInteger("count", count);
    if (this.#next + count > this.#limit) this.#reserve(count);
    const first = this.#next;
    this.#next += count;
    return first;
  }

  /**
   * Gives back the unused part of the reservation so the next run has no
   * gap; only if nobody reserved past this allocator meanwhile.
   */
  release(): void {
    this.#sql.tighten.run(this.#next, this.#limit);
  }

  #stored(): number {
    return (this.#sql.get.get() as { value: number } | undefined)?.value ?? 1;
  }

  #reserve(count: number): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      // Another allocator on this database reserved past us: a range must
      // not run into its numbers, so continue above them.
      const stored = this.#stored();
      if (stored > this.#limit) this.#next = stored;
      this.#limit = this.#next + Math.max(count, this.#block);
      this.#sql.set.run(this.#limit);
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      // Nothing from the failed reservation may be handed out.
      this.#limit = this.#next;
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot reserve sequence numbers: ${message}`, { cause: error });
    }
  }
}

function statements(db: DatabaseSync) {
  return {
    get: db.prepare("SELECT value FROM outbox_counters WHERE name = 'seq' AND cloud = ''"),
    set: db.prepare(
      `INSERT INTO outbox_counters (name, cloud, value) VALUES ('seq', '', ?)
       ON CONFLICT (name, cloud) DO UPDATE SET value = excluded.value`,
    ),
    tighten: db.prepare(
      "UPDATE outbox_counters SET value = ? WHERE name = 'seq' AND cloud = '' AND value = ?",
    ),
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(
      `Sequence numbers: ${name} must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
