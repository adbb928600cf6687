/**
 * The device's telemetry sequence numbers: strictly increasing across
 * restarts and crashes, and dense, so that a consumer following
 * PROTOCOLS.md §0 can read a gap as a loss.
 *
 * Numbers are handed out from memory. The next free number is written to
 * the outbox's `outbox_counters` table (`name = 'seq'`, `cloud = ''`) in
 * the same transaction as the records that carry them ({@link persist}), so
 * after a crash the next run continues right after the last committed
 * record. Numbers handed out after that commit were never stored, so no
 * consumer can have seen them through the outbox, and they are handed out
 * again: no gap, no visible repeat.
 *
 * A second copy guards against a lost database (deleted, emptied, replaced):
 * the optional ceiling file holds a number that no handed-out number has
 * reached, raised a block at a time before the block is used. A producer
 * that uses up a block in less than a second gets twice the block next time
 * (up to {@link MAX_STEP}), so the file is replaced about once a second at
 * most whatever the rate: each replacement (write and rename) cost ~1 ms on
 * the main thread, once per 1000 records at first. A database
 * without a counter next to a ceiling file starts from the ceiling, so seqs
 * never go backwards for the device; `recoveredFrom` tells the agent to
 * report it.
 */
import type { DatabaseSync } from "node:sqlite";

/** The largest step the ceiling file is raised by. */
export const MAX_STEP = 1 << 20;

/** Options of {@link SeqAllocator}. */
export interface SeqAllocatorOptions {
  /** How far the ceiling file is raised at a time, at least. Default 1000. */
  block?: number;
  /** Milliseconds on a monotonic scale, to pace the ceiling file. Default `performance.now`. */
  now?: () => number;
  /** Where the ceiling survives a lost database (`<stateDir>/outpost.seq`). Default: nowhere. */
  ceilingFile?: string;
}

/** How the allocator started when its database had lost the counter. */
export interface SeqRecovery {
  /** The ceiling file it read. */
  ceilingFile: string;
  /** The first number this run hands out. */
  firstSeq: number;
}

/** Hands out dense sequence numbers and persists them with the records. */
export class SeqAllocator {
  readonly #block: number;
  readonly #ceilingFile: string | undefined;
  readonly #sql: ReturnType<typeof statements>;
  readonly #now: () => number;
  #step: number;
  #raisedAt = -Infinity;
  #next: number;
  #persisted: number;
  #ceiling: number;
  /** Set when the database had no counter but the ceiling file had one. */
  readonly recoveredFrom: SeqRecovery | undefined;

  /** `db` must hold the `outbox_counters` table; it stays owned by the caller. */
  constructor(db: DatabaseSync, options: SeqAllocatorOptions = {}) {
    this.#block = positiveInteger("block", options.block ?? 1000);
    this.#ceilingFile = options.ceilingFile;
    this.#now = options.now ?? (() => performance.now());
    this.#step = this.#block;
    this.#sql = statements(db);
    const stored = (this.#sql.get.get() as { value: number } | undefined)?.value;
    this.#ceiling = this.#ceilingFile ? readCeiling(this.#ceilingFile) ?? 0 : 0;
    if (stored === undefined && this.#ceiling > 1) {
      this.recoveredFrom = { ceilingFile: this.#ceilingFile!, firstSeq: this.#ceiling };
    }
    this.#next = stored ?? Math.max(1, this.#ceiling);
    this.#persisted = stored ?? 0;
  }

  /** Allocates `count` consecutive numbers and returns the first. */
  next(count = 1): number {
    positiveInteger("count", count);
    if (this.#ceilingFile && this.#next + count > this.#ceiling) {
      this.#raiseCeiling(this.#next + Math.max(count, this.#nextStep()));
    }
    const first = this.#next;
    this.#next += count;
    return first;
  }

  /**
   * Writes the next free number to the database if it moved; call it inside
   * the transaction that commits the records, then {@link committed} with
   * the result once that transaction has committed.
   */
  persist(): number | undefined {
    if (this.#next <= this.#persisted) return undefined;
    this.#sql.set.run(this.#next);
    return this.#next;
  }

  /** The transaction that ran {@link persist} committed. */
  committed(value: number | undefined): void {
    if (value !== undefined && value > this.#persisted) this.#persisted = value;
  }

  // Twice the last step when it lasted under a second; back towards the block after 10 s.
  #nextStep(): number {
    const now = this.#now();
    const since = now - this.#raisedAt;
    if (since < 1000) this.#step = Math.min(this.#step * 2, MAX_STEP);
    else if (since > 10_000) this.#step = Math.max(this.#block, Math.floor(this.#step / 2));
    this.#raisedAt = now;
    return this.#step;
  }

  #raiseCeiling(ceiling: number): void {
    const file = this.#ceilingFile!;
    const temp = `${file}.tmp`;
    try {
      Deno.writeTextFileSync(temp, `${ceiling}\n`, { mode: 0o600 });
      Deno.renameSync(temp, file);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot write the sequence ceiling file "${file}": ${message}`, {
        cause: error,
      });
    }
    this.#ceiling = ceiling;
  }
}

function readCeiling(file: string): number | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(
      `The sequence ceiling file "${file}" holds ${
        JSON.stringify(text.slice(0, 40))
      }, not a positive integer; remove it only if this device's seqs may start again at 1`,
    );
  }
  return value;
}

function statements(db: DatabaseSync) {
  return {
    get: db.prepare("SELECT value FROM outbox_counters WHERE name = 'seq' AND cloud = ''"),
    // max(): the counter never moves backwards, whoever wrote it last.
    set: db.prepare(
      `INSERT INTO outbox_counters (name, cloud, value) VALUES ('seq', '', ?)
       ON CONFLICT (name, cloud) DO UPDATE SET value = max(value, excluded.value)`,
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

/**
 * The sequence numbers of producers that share one outbox but are devices
 * of their own (the simulated devices of `outpost fleet`): one dense
 * counter per partition, kept like the device's own counter in
 * `outbox_counters` (`name = 'seq'`, `cloud = <partition>`; the device's
 * own is `cloud = ''`) and written in the transaction that commits the
 * records carrying the numbers. There is no ceiling file: a lost database
 * starts every partition at 1 again.
 */
export class SeqPartitions {
  readonly #db: DatabaseSync;
  #sql: ReturnType<typeof partitionStatements> | undefined;
  readonly #counters = new Map<string, { next: number; persisted: number }>();
  // Partitions whose next number has not been written yet.
  readonly #moved = new Set<string>();

  /** `db` must hold the `outbox_counters` table; it stays owned by the caller. */
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Allocates `count` consecutive numbers of `partition` and returns the first. */
  next(partition: string, count = 1): number {
    positiveInteger("count", count);
    if (typeof partition !== "string" || partition === "") {
      throw new TypeError(
        `Sequence numbers: a partition must be a non-empty string, got ${
          JSON.stringify(partition)
        }`,
      );
    }
    let counter = this.#counters.get(partition);
    if (!counter) {
      this.#sql ??= partitionStatements(this.#db);
      const stored = (this.#sql.get.get(partition) as { value: number } | undefined)?.value;
      counter = { next: stored ?? 1, persisted: stored ?? 0 };
      this.#counters.set(partition, counter);
    }
    const first = counter.next;
    counter.next += count;
    this.#moved.add(partition);
    return first;
  }

  /** Writes each moved partition's next free number; call it inside the commit's transaction. */
  persist(): Map<string, number> | undefined {
    if (this.#moved.size === 0) return undefined;
    const marks = new Map<string, number>();
    for (const partition of this.#moved) {
      const { next } = this.#counters.get(partition)!;
      this.#sql!.set.run(partition, next);
      marks.set(partition, next);
    }
    return marks;
  }

  /** The transaction that ran {@link persist} committed; a rolled back one writes them again. */
  committed(marks: Map<string, number> | undefined): void {
    if (!marks) return;
    for (const [partition, value] of marks) {
      const counter = this.#counters.get(partition)!;
      if (value > counter.persisted) counter.persisted = value;
      if (counter.persisted >= counter.next) this.#moved.delete(partition);
    }
  }
}

function partitionStatements(db: DatabaseSync) {
  return {
    get: db.prepare("SELECT value FROM outbox_counters WHERE name = 'seq' AND cloud = ?"),
    set: db.prepare(
      `INSERT INTO outbox_counters (name, cloud, value) VALUES ('seq', ?, ?)
       ON CONFLICT (name, cloud) DO UPDATE SET value = max(value, excluded.value)`,
    ),
  };
}
