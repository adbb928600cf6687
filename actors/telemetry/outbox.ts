/**
 * The durable telemetry outbox: records wait here, per cloud, until that
 * cloud's broker has acknowledged them. A record whose `append` resolved is
 * committed to the state database and survives the agent being killed.
 *
 * Owns: the `outbox_records` and `outbox_counters` tables (one Outbox per
 * database), the device's telemetry sequence numbers (allocated by its
 * SeqAllocator, seq_allocator.ts), and those of each seq partition (a
 * simulated device of `outpost fleet`). Receives: appends from
 * telemetry producers, acks from each cloud's drain. Sends: `onAppend` to
 * the drains, `onDrop` when a cloud's bound pushed its oldest records out.
 *
 * Commits: appends made in one turn of the event loop share a transaction
 * (group commit). Acks are cheaper to delay than appends, since an acked
 * record is already delivered: they are deleted with the next commit of
 * appends, or once `ackBatch` of them are pending, or `ackDelayMs` after
 * the first one, whichever comes first. Until then `peek` hides them; after
 * a crash they are sent again (at least once, never lost).
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import type { Clock } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";
import { migrate } from "../store/database.ts";
import type { StoreHealth } from "../store/storage_fault.ts";
import { SeqAllocator, SeqPartitions, type SeqRecovery } from "./seq_allocator.ts";
import { type OutboxRecord, type Row, type StoredRecord, toRows } from "./outbox_record.ts";
import { OutboxTails } from "./outbox_tail.ts";

export type { OutboxRecord, StoredRecord } from "./outbox_record.ts";

/** Records pushed out of a cloud's outbox by its bound. */
export interface OutboxDrop {
  /** The cloud whose records were dropped. */
  cloud: string;
  /** How many were dropped by this commit. */
  dropped: number;
  /** How many this cloud has lost in total, across restarts. */
  total: number;
}

/** Options of {@link Outbox}. */
export interface OutboxOptions {
  /** Most records kept per cloud; older ones are dropped. Default 100,000. */
  maxRecords?: number;
  /**
   * Times the group-commit window (a 0 ms timer) and the ack delay. Default:
   * `setImmediate` for 0 ms, which ends the window once pending I/O has run
   * (a 0 ms `setTimeout` takes about 2 ms in Deno, which capped an app that
   * awaits each append at ~430 appends/s), `setTimeout` otherwise.
   */
  clock?: Pick<Clock, "setTimeout" | "clearTimeout">;
  /** Wall-clock milliseconds stored as `created_at`. Default `Date.now`. */
  now?: () => number;
  /** Pending records that commit at once without waiting for the window. Default 500. */
  batchSize?: number;
  /**
   * Acked records deleted in one commit without waiting for an append or
   * the ack delay; also the most acked records sent again after a crash.
   * Default 512: a commit per ack turn cost more than the publishes
   * themselves (BENCHMARKS.md, "Agent").
   */
  ackBatch?: number;
  /** Longest an acked record waits for its delete when nothing else commits. Default 1000 ms. */
  ackDelayMs?: number;
  /**
   * How far the sequence ceiling file is raised at a time, at least; a fast
   * producer gets larger steps (seq_allocator.ts). Default 1000.
   */
  seqBlock?: number;
  /**
   * Keeps the device's seq above every number handed out even when the
   * database is lost (`<stateDir>/outpost.seq`; see seq_allocator.ts).
   */
  seqCeilingFile?: string;
  /** Told about storage failures (corrupt file, full or read-only disk). */
  health?: StoreHealth;
}

// 0 ms is the group-commit window, "after the I/O already waiting"; the ack delay is a timer.
const IMMEDIATE: Pick<Clock, "setTimeout" | "clearTimeout"> = {
  setTimeout: (fn, ms) =>
    ms === 0 ? { immediate: setImmediate(fn) } : { timeout: setTimeout(fn, ms) },
  clearTimeout: (handle) =>
    handle.immediate === undefined
      ? clearTimeout(handle.timeout)
      : clearImmediate(handle.immediate),
};

const SCHEMA = [
  `CREATE TABLE outbox_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cloud TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX outbox_records_by_cloud ON outbox_records (cloud, id);
  CREATE TABLE outbox_counters (
    name TEXT NOT NULL,
    cloud TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (name, cloud)
  );`,
];

/** Acks of one cloud waiting for their delete; `max` lets `peek` skip the check. */
interface PendingAcks {
  ids: number[];
  max: number;
}

interface PendingAppend {
  cloud: string;
  rows: Row[];
  resolve: () => void;
  reject: (error: Error) => void;
}

const log = getLogger("telemetry");
// SQLite binds LIMIT as an integer; a caller asking for "everything" may pass more.
const MAX_ROWS = Number.MAX_SAFE_INTEGER;

/**
 * A bounded, per-cloud, at-least-once queue in SQLite. Appends that arrive
 * within one turn of the event loop share one transaction (group commit);
 * acks are collected and deleted the same way.
 *
 * @example
 * ```ts
 * const outbox = new Outbox(openDatabase(stateDir));
 * const seq = outbox.nextSeq();
 * await outbox.append("c8y", [{ topic: "outpost/d1/telemetry/temp", payload: `{"seq":${seq}}`, qos: 1 }]);
 * const [first] = outbox.peek("c8y", 0, 1);
 * outbox.ack("c8y", [first.id]);
 * outbox.close();
 * ```
 */
export class Outbox {
  readonly #db: DatabaseSync;
  readonly #maxRecords: number;
  readonly #batchSize: number;
  readonly #ackBatch: number;
  readonly #ackDelayMs: number;
  readonly #seq: SeqAllocator;
  readonly #partitions: SeqPartitions;
  readonly #clock: Pick<Clock, "setTimeout" | "clearTimeout">;
  readonly #now: () => number;
  readonly #sql: ReturnType<typeof statements>;
  readonly #health: StoreHealth | undefined;
  #pending: PendingAppend[] = [];
  #pendingRows = 0;
  #acks = new Map<string, PendingAcks>();
  #ackCount = 0;
  #sent = new Map<string, number>();
  // deno-lint-ignore no-explicit-any
  #timer: any;
  // deno-lint-ignore no-explicit-any
  #ackTimer: any;
  #sizes = new Map<string, number>();
  #appendListeners = new Map<string, Set<() => void>>();
  #tails = new OutboxTails();
  #dropListeners = new Set<(drop: OutboxDrop) => void>();
  #commits = 0;
  #polledAt = -Infinity;
  #closed = false;
  #lostAtClose = 0;

  /** Creates the outbox tables in `db` if needed; `db` stays owned by the caller. */
  constructor(db: DatabaseSync, options: OutboxOptions = {}) {
    this.#db = db;
    this.#maxRecords = positiveInteger("maxRecords", options.maxRecords ?? 100_000);
    this.#batchSize = positiveInteger("batchSize", options.batchSize ?? 500);
    this.#ackBatch = positiveInteger("ackBatch", options.ackBatch ?? 512);
    this.#ackDelayMs = options.ackDelayMs ?? 1000;
    if (!Number.isFinite(this.#ackDelayMs) || this.#ackDelayMs < 0) {
      throw new TypeError(`Outbox: ackDelayMs must be >= 0, got ${this.#ackDelayMs}`);
    }
    const seqBlock = positiveInteger("seqBlock", options.seqBlock ?? 1000);
    this.#clock = options.clock ?? IMMEDIATE;
    this.#now = options.now ?? Date.now;
    this.#health = options.health;
    migrate(db, "outbox", SCHEMA);
    this.#sql = statements(db);
    this.#seq = new SeqAllocator(db, { block: seqBlock, ceilingFile: options.seqCeilingFile });
    this.#partitions = new SeqPartitions(db);
  }

  /**
   * Set when the database had lost the seq counter (deleted, emptied) and
   * the ceiling file gave the first number instead: records queued in the
   * lost database are gone, and the agent reports it.
   */
  get seqRecovery(): SeqRecovery | undefined {
    return this.#seq.recoveredFrom;
  }

  /** Records whose append could not be committed by {@link close}; lost with the process. */
  get lostAtClose(): number {
    return this.#lostAtClose;
  }

  /** Transactions committed so far by this instance (for tests and metrics). */
  get commits(): number {
    return this.#commits;
  }

  /**
   * Allocates `count` consecutive sequence numbers and returns the first.
   * Numbers increase strictly across restarts and crashes and stay dense:
   * they become durable with the commit of the next append, and a number
   * whose record never reached the disk before a crash is handed out again
   * (no consumer can have seen it through the outbox). With `partition`,
   * the numbers come from that partition's own counter, with the same
   * guarantees but no ceiling file: several devices sharing one outbox
   * (`outpost fleet`) each number their records densely.
   */
  nextSeq(count = 1, partition?: string): number {
    this.#assertOpen("allocate sequence numbers");
    positiveInteger("count", count);
    return partition === undefined
      ? this.#seq.next(count)
      : this.#partitions.next(partition, count);
  }

  /**
   * Queues `records` for `cloud` and resolves once they are committed to
   * disk. Rejects at once, with the record and the problem named, when a
   * topic, qos, payload or retain flag is invalid.
   */
  append(cloud: string, records: readonly OutboxRecord[]): Promise<void> {
    let rows: Row[];
    try {
      if (this.#closed) {
        throw new Error(`Cannot append to the outbox of cloud "${cloud}": it is closed`);
      }
      rows = toRows(cloud, records);
    } catch (error) {
      return Promise.reject(error);
    }
    if (rows.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#pending.push({ cloud, rows, resolve, reject });
      this.#pendingRows += rows.length;
      if (this.#pendingRows >= this.#batchSize) this.#flush(true);
      else this.#schedule();
    });
  }

  /**
   * Up to `limit` records of `cloud` with an id above `afterId`, oldest
   * first; acked ones excluded. A drain passes the last id it read, so acked
   * records (all at or below it) are neither read again nor checked, and
   * once it has caught up the records come from memory (outbox_tail.ts).
   */
  peek(cloud: string, afterId: number, limit: number): StoredRecord[] {
    const acks = this.#acks.get(cloud);
    // Only acks above `afterId` can be among the rows: a pass that starts over.
    const hidden = acks !== undefined && acks.max > afterId
      ? new Set(acks.ids.filter((id) => id > afterId))
      : undefined;
    if (hidden === undefined) {
      const fromTail = this.#tails.read(cloud, afterId, limit);
      if (fromTail) return fromTail;
    }
    const wanted = Math.min(limit + (hidden?.size ?? 0), MAX_ROWS);
    let rows: PeekRow[];
    try {
      rows = this.#sql.peek.all(cloud, afterId, wanted) as unknown as PeekRow[];
    } catch (error) {
      throw this.#storageError(`Cannot read the outbox of cloud "${cloud}"`, error);
    }
    if (rows.length < wanted) this.#tails.covered(cloud, rows.at(-1)?.id ?? afterId);
    if (hidden !== undefined) rows = rows.filter((row) => !hidden.has(row.id)).slice(0, limit);
    // The rows become the records: one object per record, not two.
    for (const row of rows) (row as unknown as StoredRecord).retain = row.retain === 1;
    return rows as unknown as StoredRecord[];
  }

  /**
   * Marks records of `cloud` as delivered; they are deleted with the next
   * commit, at the latest `ackDelayMs` later. After {@link close} it does
   * nothing: those records are resent.
   */
  ack(cloud: string, ids: number | readonly number[]): void {
    if (this.#closed) return;
    if (typeof ids === "number") this.#keepAck(cloud, ids);
    else if (ids.length === 0) return;
    else for (const id of ids) this.#keepAck(cloud, id);
    // The console's "sent" count: each id is acknowledged once per delivery.
    this.#sent.set(
      cloud,
      (this.#sent.get(cloud) ?? 0) + (typeof ids === "number" ? 1 : ids.length),
    );
    if (this.#ackCount >= this.#ackBatch) this.#schedule();
    else if (this.#ackTimer === undefined) {
      this.#ackTimer = this.#clock.setTimeout(() => {
        this.#ackTimer = undefined;
        this.#flush();
      }, this.#ackDelayMs);
    }
  }

  /** Records waiting for `cloud`. Commits pending appends and acks first, so the count is exact. */
  size(cloud: string): number {
    this.#flush();
    return this.#sizeOf(cloud);
  }

  /** Records of `cloud` acknowledged by it since this outbox opened (this run of the agent). */
  sent(cloud: string): number {
    return this.#sent.get(cloud) ?? 0;
  }

  /** Records of `cloud` lost to the bound so far, across restarts. */
  dropped(cloud: string): number {
    const row = this.#sql.dropped.get(cloud) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  /** Calls `listener` after each commit that added records for `cloud`; returns an unsubscribe. */
  onAppend(cloud: string, listener: () => void): () => void {
    let set = this.#appendListeners.get(cloud);
    if (!set) this.#appendListeners.set(cloud, set = new Set());
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** Calls `listener` whenever a cloud's bound drops records; returns an unsubscribe. */
  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    this.#dropListeners.add(listener);
    return () => void this.#dropListeners.delete(listener);
  }

  /**
   * Commits pending appends and acks and stops accepting appends. The
   * database stays open: the store owns it.
   */
  close(): void {
    if (this.#closed) return;
    const pending = this.#pendingRows;
    if (!this.#flush() && pending > 0) this.#lostAtClose += pending;
    this.#closed = true;
    this.#tails.clear();
    this.#appendListeners.clear();
    this.#dropListeners.clear();
  }

  #keepAck(cloud: string, id: number): void {
    let acks = this.#acks.get(cloud);
    if (!acks) this.#acks.set(cloud, acks = { ids: [], max: 0 });
    acks.ids.push(id);
    if (id > acks.max) acks.max = id;
    this.#ackCount++;
  }

  #sizeOf(cloud: string): number {
    let size = this.#sizes.get(cloud);
    if (size === undefined) {
      size = (this.#sql.count.get(cloud) as { n: number }).n;
      this.#sizes.set(cloud, size);
    }
    return size;
  }

  #assertOpen(action: string): void {
    if (this.#closed) throw new Error(`Cannot ${action}: the outbox is closed`);
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, 0);
  }

  // Commits what is pending; false when the commit failed (its appends were
  // rejected). `forced`: the batch size was reached inside an `append` call.
  #flush(forced = false): boolean {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#ackTimer !== undefined) {
      this.#clock.clearTimeout(this.#ackTimer);
      this.#ackTimer = undefined;
    }
    const batch = this.#pending;
    const acks = this.#acks;
    if (batch.length === 0 && acks.size === 0) return true;
    this.#pending = [];
    this.#pendingRows = 0;
    this.#acks = new Map();
    this.#ackCount = 0;

    const sizes = new Map<string, number>();
    const appended = new Set(batch.map((p) => p.cloud));
    const drops: OutboxDrop[] = [];
    const createdAt = this.#now();
    let seqMark: number | undefined;
    let partitionMarks: Map<string, number> | undefined;
    let firstId = 0;
    try {
      // Counted before the transaction so the cache never includes its rows twice.
      for (const cloud of acks.keys()) sizes.set(cloud, this.#sizeOf(cloud));
      for (const { cloud } of batch) sizes.set(cloud, this.#sizeOf(cloud));
      this.#db.exec("BEGIN IMMEDIATE");
      for (const [cloud, { ids }] of acks) {
        const { changes } = this.#sql.ack.run(cloud, JSON.stringify(ids));
        sizes.set(cloud, sizes.get(cloud)! - Number(changes));
      }
      firstId = this.#insert(batch, createdAt);
      for (const { cloud, rows } of batch) sizes.set(cloud, sizes.get(cloud)! + rows.length);
      for (const cloud of appended) {
        const excess = sizes.get(cloud)! - this.#maxRecords;
        if (excess <= 0) continue;
        const dropped = Number(this.#sql.dropOldest.run(cloud, excess).changes);
        const { value } = this.#sql.addDropped.get(cloud, dropped) as { value: number };
        sizes.set(cloud, sizes.get(cloud)! - dropped);
        drops.push({ cloud, dropped, total: value });
        this.#tails.forget(cloud);
      }
      // The seq high-water mark commits with the records that carry it.
      seqMark = this.#seq.persist();
      partitionMarks = this.#partitions.persist();
      this.#db.exec("COMMIT");
    } catch (error) {
      try {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      } catch {
        // A failed disk may refuse the rollback too; SQLite rolls back on the next open.
      }
      for (const p of batch) {
        p.reject(this.#storageError(`Cannot append to the outbox of cloud "${p.cloud}"`, error));
      }
      // Acks are retried with the next commit; losing them would only resend.
      for (const [cloud, { ids }] of acks) for (const id of ids) this.#keepAck(cloud, id);
      return false;
    }
    this.#seq.committed(seqMark);
    this.#partitions.committed(partitionMarks);
    this.#commits++;
    if (batch.length > 0) this.#tails.committed(batch, firstId);
    for (const [cloud, size] of sizes) this.#sizes.set(cloud, size);
    if (forced) this.#settleForced(batch);
    else settle(batch);
    for (const drop of drops) {
      for (const listener of this.#dropListeners) call(listener, drop);
    }
    for (const cloud of appended) {
      for (const listener of this.#appendListeners.get(cloud) ?? []) call(listener, undefined);
    }
    return true;
  }

  // Appends committed because the batch size was reached resolve in a later
  // turn. Resolved at once, a producer awaiting batch after batch ran all of
  // them in one turn; and in Deno a chain of `setImmediate` callbacks never
  // polls a socket either (bench/agent_throughput.ts: the drain's first
  // PUBACK waited ~100 ms behind a burst of 20,000 records). So at least
  // every YIELD_MS such a producer waits for a timer, which lets the agent's
  // sockets in, and in between for `setImmediate`, which keeps it fast.
  #settleForced(batch: readonly PendingAppend[]): void {
    if (performance.now() - this.#polledAt < YIELD_MS) {
      this.#clock.setTimeout(() => settle(batch), 0);
      return;
    }
    this.#clock.setTimeout(() => {
      this.#polledAt = performance.now();
      settle(batch);
    }, 1);
  }

  // Rows go in INSERT_ROWS at a time: one statement per row cost twice as
  // much per row, most of it in the call. Returns the id of the first row:
  // AUTOINCREMENT numbers the rows of one transaction consecutively.
  #insert(batch: readonly PendingAppend[], createdAt: number): number {
    const args: SQLInputValue[] = [];
    let count = 0;
    let lastId = 0;
    for (const { cloud, rows } of batch) {
      count += rows.length;
      for (const row of rows) {
        args.push(cloud, row.topic, row.payload, row.qos, row.retain, createdAt);
        if (args.length === INSERT_ROWS * COLUMNS) {
          lastId = Number(this.#sql.insertMany.run(...args).lastInsertRowid);
          args.length = 0;
        }
      }
    }
    for (let at = 0; at < args.length; at += COLUMNS) {
      lastId = Number(this.#sql.insert.run(...args.slice(at, at + COLUMNS)).lastInsertRowid);
    }
    return lastId - count + 1;
  }

  // Names the database file and the cause, and tells the store's health.
  #storageError(what: string, error: unknown): Error {
    this.#health?.report(error);
    const detail = this.#health?.describe(error) ?? messageOf(error);
    return new Error(`${what}: ${detail}`, { cause: error });
  }
}

interface PeekRow {
  id: number;
  topic: string;
  payload: string | Uint8Array;
  qos: 0 | 1;
  retain: number;
}

const YIELD_MS = 5;
const INSERT_ROWS = 32;
const COLUMNS = 6;
const INSERT = "INSERT INTO outbox_records (cloud, topic, payload, qos, retain, created_at) VALUES";

function statements(db: DatabaseSync) {
  return {
    insert: db.prepare(`${INSERT} (?, ?, ?, ?, ?, ?)`),
    insertMany: db.prepare(`${INSERT} ${Array(INSERT_ROWS).fill("(?, ?, ?, ?, ?, ?)").join(", ")}`),
    peek: db.prepare(
      "SELECT id, topic, payload, qos, retain FROM outbox_records WHERE cloud = ? AND id > ? ORDER BY id LIMIT ?",
    ),
    ack: db.prepare(
      "DELETE FROM outbox_records WHERE cloud = ? AND id IN (SELECT value FROM json_each(?))",
    ),
    dropOldest: db.prepare(
      "DELETE FROM outbox_records WHERE id IN (SELECT id FROM outbox_records WHERE cloud = ? ORDER BY id LIMIT ?)",
    ),
    count: db.prepare("SELECT count(*) AS n FROM outbox_records WHERE cloud = ?"),
    addDropped: db.prepare(
      `INSERT INTO outbox_counters (name, cloud, value) VALUES ('dropped', ?, ?)
       ON CONFLICT (name, cloud) DO UPDATE SET value = value + excluded.value RETURNING value`,
    ),
    dropped: db.prepare(
      "SELECT value FROM outbox_counters WHERE name = 'dropped' AND cloud = ?",
    ),
  };
}

function settle(appends: readonly PendingAppend[]): void {
  for (const p of appends) p.resolve();
}

function call<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    log.error("An outbox listener threw: {error}", { error });
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`Outbox: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
