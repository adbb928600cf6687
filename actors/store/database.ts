/**
 * The agent's one SQLite database (`<stateDir>/outpost.db`, through the
 * `node:sqlite` built into Deno) and the numbered schema steps each
 * component applies to it.
 *
 * Owns: the database file and its pragmas, the `schema_migrations` table.
 * The store actor opens it first and closes it last; the outbox, credential
 * cache, shadow state and chat history live in it as tables of their own.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { describeStorageError } from "./storage_fault.ts";

/**
 * How much a committed transaction survives.
 *
 * - `"process"`: the agent crashing or being killed (`kill -9`) loses
 *   nothing committed; an OS crash or power loss may lose the last
 *   transactions, never the database's integrity.
 * - `"power"`: committed transactions also survive an OS crash or power
 *   loss, at the cost of an fsync per commit.
 */
export type Durability = "process" | "power";

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Default `"process"`. */
  durability?: Durability;
  /** How long a statement waits for another connection's lock before failing. Default 5000 ms. */
  busyTimeoutMs?: number;
}

const DATABASE_FILE = "outpost.db";

// In WAL mode, synchronous=NORMAL writes each commit to the WAL file with a
// plain write(2): once that returns the bytes are in the OS page cache, which
// outlives the process, so a crash or kill -9 loses nothing committed. Only
// the fsync is deferred to checkpoints, so an OS crash or power loss may roll
// back the last commits (the database stays consistent). FULL fsyncs the WAL
// on every commit for devices that must also survive power loss.
const SYNCHRONOUS: Record<Durability, string> = { process: "NORMAL", power: "FULL" };

/**
 * Opens (creating if needed) `<stateDir>/outpost.db` in WAL mode. The state
 * directory is created with mode 0700 when missing: it holds credentials.
 *
 * @example
 * ```ts
 * const db = openDatabase("/var/lib/outpost", { durability: "power" });
 * migrate(db, "outbox", ["CREATE TABLE outbox_records (id INTEGER PRIMARY KEY)"]);
 * db.close();
 * ```
 */
export function openDatabase(stateDir: string, options: OpenDatabaseOptions = {}): DatabaseSync {
  const durability = options.durability ?? "process";
  if (!(durability in SYNCHRONOUS)) {
    throw new TypeError(
      `Cannot open the database in "${stateDir}": durability must be "process" or "power", got ${
        JSON.stringify(durability)
      }`,
    );
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new TypeError(
      `Cannot open the database in "${stateDir}": busyTimeoutMs must be an integer >= 0, got ${busyTimeoutMs}`,
    );
  }
  Deno.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = `${stateDir}/${DATABASE_FILE}`;
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file);
  } catch (error) {
    throw new Error(`Cannot open the database ${describeStorageError(error, file)}`, {
      cause: error,
    });
  }
  try {
    // busy_timeout first, so that switching to WAL waits for another opener.
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    const { journal_mode: mode } = db.prepare("PRAGMA journal_mode = WAL").get() as {
      journal_mode: string;
    };
    if (mode.toLowerCase() !== "wal") {
      throw new Error(`the file system refused WAL mode (journal_mode is "${mode}")`);
    }
    db.exec(`PRAGMA synchronous = ${SYNCHRONOUS[durability]}`);
    db.exec("PRAGMA foreign_keys = ON");
  } catch (error) {
    db.close();
    throw new Error(`Cannot open the database ${describeStorageError(error, file)}`, {
      cause: error,
    });
  }
  return db;
}

/**
 * Applies the steps of `component` that this database has not seen yet,
 * each in its own transaction, and records them in `schema_migrations`.
 * Step `i` of the list is version `i + 1`: only ever append steps, never
 * edit or reorder released ones. Returns how many steps were applied.
 *
 * @example
 * ```ts
 * migrate(db, "chats", [
 *   "CREATE TABLE chat_messages (id INTEGER PRIMARY KEY, room TEXT, text TEXT)",
 *   "ALTER TABLE chat_messages ADD COLUMN sent_at INTEGER",
 * ]);
 * ```
 */
export function migrate(db: DatabaseSync, component: string, steps: readonly string[]): number {
  if (typeof component !== "string" || component.length === 0) {
    throw new TypeError(
      `Cannot migrate: the component name must be a non-empty string, got ${
        JSON.stringify(component)
      }`,
    );
  }
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at INTEGER NOT NULL,
    PRIMARY KEY (component, version)
  )`);
  const current = db.prepare(
    "SELECT coalesce(max(version), 0) AS version FROM schema_migrations WHERE component = ?",
  );
  const record = db.prepare(
    "INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)",
  );
  const versionOf = () => (current.get(component) as { version: number }).version;
  const known = versionOf();
  if (known > steps.length) {
    throw new Error(
      `Cannot migrate "${component}": the database is at version ${known}, newer than the ${steps.length} step(s) this build knows; was it written by a newer Outpost?`,
    );
  }
  let applied = 0;
  for (let version = known + 1; version <= steps.length; version++) {
    // IMMEDIATE takes the write lock before reading the version, so two
    // processes opening the same state directory cannot both apply a step.
    db.exec("BEGIN IMMEDIATE");
    try {
      if (versionOf() < version) {
        db.exec(steps[version - 1]);
        record.run(component, version, Date.now());
        applied++;
      }
      db.exec("COMMIT");
    } catch (error) {
      // Some errors (SQLITE_FULL, SQLITE_IOERR) already rolled it back.
      if (db.isTransaction) db.exec("ROLLBACK");
      throw new Error(`Migration ${version} of "${component}" failed: ${message(error)}`, {
        cause: error,
      });
    }
  }
  return applied;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Prepares each SQL text once and returns the same statement after that:
 * preparing a statement costs more than running it, so stores on hot paths
 * ask this instead of `db.prepare`.
 *
 * @example
 * ```ts
 * const statement = statementCache(db);
 * statement("SELECT * FROM sensors WHERE id = ?").get(id);
 * ```
 */
export function statementCache(db: DatabaseSync): (sql: string) => StatementSync {
  const statements = new Map<string, StatementSync>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}
