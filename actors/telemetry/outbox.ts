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
 *
 * Its parts: the SQL (outbox_sql.ts), the options and their defaults
 * (outbox_options.ts), the acks waiting for their delete (outbox_acks.ts),
 * the listeners (outbox_listeners.ts), the in-memory tails (outbox_tail.ts).
 */
import type { DatabaseSync } from "node:sqlite";
import { migrate } from "../store/database.ts";
import type { StoreHealth } from "../store/storage_fault.ts";
import { SeqAllocator, SeqPartitions, type SeqRecovery } from "./seq_allocator.ts";
import { type OutboxRecord, type Row, type StoredRecord, toRows } from "./outbox_record.ts";
import { OutboxTails } from "./outbox_tail.ts";
import { OUTBOX_SCHEMA, OutboxStatements, type PeekRow } from "./outbox_sql.ts";
import {
  type OutboxOptions,
  type OutboxSettings,
  outboxSettings,
  positiveInteger,
} from "./outbox_options.ts";
import { PendingAcks } from "./outbox_acks.ts";
import { type OutboxDrop, OutboxListeners } from "./outbox_listeners.ts";

export type { OutboxRecord, StoredRecord } from "./outbox_record.ts";
export type { OutboxOptions } from "./outbox_options.ts";
export type { OutboxDrop } from "./outbox_listeners.ts";

interface PendingAppend {
  cloud: string;
  rows: Row[];
  resolve: () => void;
  reject: (error: Error) => void;
}

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
  readonly #settings: OutboxSettings;
  readonly #seq: SeqAllocator;
  readonly #partitions: SeqPartitions;
  readonly #sql: OutboxStatements;
  readonly #health: StoreHealth | undefined;
  #pending: PendingAppend[] = [];
  #pendingRows = 0;
  #acks = new PendingAcks();
  #sent = new Map<string, number>();
  // deno-lint-ignore no-explicit-any
  #timer: any;
  // deno-lint-ignore no-explicit-any
  #ackTimer: any;
  #sizes = new Map<string, number>();
  #listeners = new OutboxListeners();
  #tails = new OutboxTails();
  #commits = 0;
  #polledAt = -Infinity;
  #closed = false;
  #lostAtClose = 0;

  /** Creates the outbox tables in `db` if needed; `db` stays owned by the caller. */
  constructor(db: DatabaseSync, options: OutboxOptions = {}) {
    this.#db = db;
    this.#settings = outboxSettings(options);
    const { seqBlock } = this.#settings;
    this.#health = options.health;
    migrate(db, "outbox", OUTBOX_SCHEMA);
    this.#sql = new OutboxStatements(db);
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
      if (this.#pendingRows >= this.#settings.batchSize) this.#flush(true);
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
    const hidden = this.#acks.above(cloud, afterId);
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
    if (typeof ids === "number") this.#acks.keep(cloud, ids);
    else if (ids.length === 0) return;
    else for (const id of ids) this.#acks.keep(cloud, id);
    // The console's "sent" count: each id is acknowledged once per delivery.
    this.#sent.set(
      cloud,
      (this.#sent.get(cloud) ?? 0) + (typeof ids === "number" ? 1 : ids.length),
    );
    if (this.#acks.count >= this.#settings.ackBatch) this.#schedule();
    else if (this.#ackTimer === undefined) {
      this.#ackTimer = this.#settings.clock.setTimeout(() => {
        this.#ackTimer = undefined;
        this.#flush();
      }, this.#settings.ackDelayMs);
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
    return this.#listeners.onAppend(cloud, listener);
  }

  /** Calls `listener` whenever a cloud's bound drops records; returns an unsubscribe. */
  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.#listeners.onDrop(listener);
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
    this.#listeners.clear();
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
    this.#timer = this.#settings.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, 0);
  }

  // Commits what is pending; false when the commit failed (its appends were
  // rejected). `forced`: the batch size was reached inside an `append` call.
  #flush(forced = false): boolean {
    if (this.#timer !== undefined) {
      this.#settings.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#ackTimer !== undefined) {
      this.#settings.clock.clearTimeout(this.#ackTimer);
      this.#ackTimer = undefined;
    }
    const batch = this.#pending;
    if (batch.length === 0 && this.#acks.count === 0) return true;
    this.#pending = [];
    this.#pendingRows = 0;
    const acks = this.#acks.take();

    const sizes = new Map<string, number>();
    const appended = new Set(batch.map((p) => p.cloud));
    const drops: OutboxDrop[] = [];
    const createdAt = this.#settings.now();
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
      firstId = this.#sql.insert(batch, createdAt);
      for (const { cloud, rows } of batch) sizes.set(cloud, sizes.get(cloud)! + rows.length);
      for (const cloud of appended) {
        const excess = sizes.get(cloud)! - this.#settings.maxRecords;
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
      for (const [cloud, { ids }] of acks) for (const id of ids) this.#acks.keep(cloud, id);
      return false;
    }
    this.#seq.committed(seqMark);
    this.#partitions.committed(partitionMarks);
    this.#commits++;
    if (batch.length > 0) this.#tails.committed(batch, firstId);
    for (const [cloud, size] of sizes) this.#sizes.set(cloud, size);
    if (forced) this.#settleForced(batch);
    else settle(batch);
    for (const drop of drops) this.#listeners.dropped(drop);
    for (const cloud of appended) this.#listeners.appended(cloud);
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
      this.#settings.clock.setTimeout(() => settle(batch), 0);
      return;
    }
    this.#settings.clock.setTimeout(() => {
      this.#polledAt = performance.now();
      settle(batch);
    }, 1);
  }

  // Names the database file and the cause, and tells the store's health.
  #storageError(what: string, error: unknown): Error {
    this.#health?.report(error);
    const detail = this.#health?.describe(error) ?? messageOf(error);
    return new Error(`${what}: ${detail}`, { cause: error });
  }
}

const YIELD_MS = 5;

function settle(appends: readonly PendingAppend[]): void {
  for (const p of appends) p.resolve();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
