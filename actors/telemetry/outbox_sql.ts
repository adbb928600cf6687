/**
 * The outbox's SQL: the schema of its `outbox_records` and
 * `outbox_counters` tables, the statements it prepares once, and the
 * multi-row INSERT that writes a commit's appends. When they run, and in
 * which transaction, is the Outbox's to decide (outbox.ts).
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import type { Row } from "./outbox_record.ts";

/** The outbox's migrations, for `migrate(db, "outbox", …)` (store/database.ts). */
export const OUTBOX_SCHEMA: readonly string[] = [
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

/** A record as {@link OutboxStatements.peek} reads it: `retain` is still 0 or 1. */
export interface PeekRow {
  id: number;
  topic: string;
  payload: string | Uint8Array;
  qos: 0 | 1;
  retain: number;
}

/** The rows appended for one cloud, as {@link OutboxStatements.insert} writes them. */
export interface CloudRows {
  cloud: string;
  rows: readonly Row[];
}

const INSERT_ROWS = 32;
const COLUMNS = 6;
const INSERT = "INSERT INTO outbox_records (cloud, topic, payload, qos, retain, created_at) VALUES";

/** The outbox's prepared statements; its tables must exist ({@link OUTBOX_SCHEMA}). */
export class OutboxStatements {
  /** Args: cloud, after id, limit; {@link PeekRow}s oldest first. */
  readonly peek: StatementSync;
  /** Args: cloud, JSON array of ids; deletes those records. */
  readonly ack: StatementSync;
  /** Args: cloud, count; deletes that many of the cloud's oldest records. */
  readonly dropOldest: StatementSync;
  /** Args: cloud; `{ n }`, the records waiting for it. */
  readonly count: StatementSync;
  /** Args: cloud, dropped; adds to the cloud's dropped counter and returns `{ value }`. */
  readonly addDropped: StatementSync;
  /** Args: cloud; `{ value }` of its dropped counter, if any. */
  readonly dropped: StatementSync;
  readonly #insert: StatementSync;
  readonly #insertMany: StatementSync;

  constructor(db: DatabaseSync) {
    this.#insert = db.prepare(`${INSERT} (?, ?, ?, ?, ?, ?)`);
    this.#insertMany = db.prepare(
      `${INSERT} ${Array(INSERT_ROWS).fill("(?, ?, ?, ?, ?, ?)").join(", ")}`,
    );
    this.peek = db.prepare(
      "SELECT id, topic, payload, qos, retain FROM outbox_records WHERE cloud = ? AND id > ? ORDER BY id LIMIT ?",
    );
    this.ack = db.prepare(
      "DELETE FROM outbox_records WHERE cloud = ? AND id IN (SELECT value FROM json_each(?))",
    );
    this.dropOldest = db.prepare(
      "DELETE FROM outbox_records WHERE id IN (SELECT id FROM outbox_records WHERE cloud = ? ORDER BY id LIMIT ?)",
    );
    this.count = db.prepare("SELECT count(*) AS n FROM outbox_records WHERE cloud = ?");
    this.addDropped = db.prepare(
      `INSERT INTO outbox_counters (name, cloud, value) VALUES ('dropped', ?, ?)
       ON CONFLICT (name, cloud) DO UPDATE SET value = value + excluded.value RETURNING value`,
    );
    this.dropped = db.prepare(
      "SELECT value FROM outbox_counters WHERE name = 'dropped' AND cloud = ?",
    );
  }

  /**
   * Inserts the rows of `batch` in order, inside the caller's transaction,
   * and returns the id of the first one.
   */
  insert(batch: readonly CloudRows[], createdAt: number): number {
    // Rows go in INSERT_ROWS at a time: one statement per row cost twice as
    // much per row, most of it in the call. The id of the first row follows
    // from the last: AUTOINCREMENT numbers the rows of one transaction
    // consecutively.
    const args: SQLInputValue[] = [];
    let count = 0;
    let lastId = 0;
    for (const { cloud, rows } of batch) {
      count += rows.length;
      for (const row of rows) {
        args.push(cloud, row.topic, row.payload, row.qos, row.retain, createdAt);
        if (args.length === INSERT_ROWS * COLUMNS) {
          lastId = Number(this.#insertMany.run(...args).lastInsertRowid);
          args.length = 0;
        }
      }
    }
    for (let at = 0; at < args.length; at += COLUMNS) {
      lastId = Number(this.#insert.run(...args.slice(at, at + COLUMNS)).lastInsertRowid);
    }
    return lastId - count + 1;
  }
}
