/**
 * Failures of the state database that no retry of the same statement can
 * fix (a corrupt file, a full or read-only disk, an I/O error), told apart
 * from ordinary errors, named with the file and the cause an operator can
 * act on, and reported to the store's supervised monitor
 * (store_monitor.ts), which turns them into a crash of the tree.
 *
 * node:sqlite throws plain Errors whose only detail is SQLite's message, so
 * the kind is read from SQLite's fixed message texts.
 */
import { statfsSync } from "node:fs";
import type { DatabaseSync } from "node:sqlite";

/** What went wrong with the database file. */
export type StorageFaultKind = "corrupt" | "full" | "read-only" | "io";

/** A failure of the database file, as reported by {@link StoreHealth}. */
export interface StorageFault {
  /** Corrupt file, full disk, read-only file (system) or another I/O error. */
  kind: StorageFaultKind;
  /** One line naming the file and the cause. */
  message: string;
}

const KINDS: [RegExp, StorageFaultKind][] = [
  [/database disk image is malformed|file is not a database/i, "corrupt"],
  [/database or disk is full/i, "full"],
  [/attempt to write a readonly database/i, "read-only"],
  [/disk I\/O error|unable to open database file/i, "io"],
];

const CAUSES: Record<StorageFaultKind, string> = {
  corrupt: "the file is corrupt",
  full: "the disk is full",
  "read-only": "the file or its file system is read-only",
  io: "the disk failed",
};

/** The kind of storage failure `error` is, or undefined for any other error. */
export function storageFaultKind(error: unknown): StorageFaultKind | undefined {
  const text = error instanceof Error ? error.message : String(error);
  return KINDS.find(([pattern]) => pattern.test(text))?.[1];
}

/**
 * Names `file` and the cause of `error` in one line, e.g.
 * `/var/lib/outpost/outpost.db: the disk is full (disk I/O error)`. An I/O
 * error is looked into: a file system with no space left, or one that
 * refuses writes, is named as such.
 */
export function describeStorageError(error: unknown, file: string): string {
  const text = error instanceof Error ? error.message : String(error);
  const kind = storageFaultKind(error);
  if (!kind) return `${file}: ${text}`;
  const cause = kind === "io" ? probeCause(file) ?? CAUSES.io : CAUSES[kind];
  return `${file}: ${cause} (${text})`;
}

function probeCause(file: string): string | undefined {
  const dir = file.slice(0, Math.max(1, file.lastIndexOf("/")));
  try {
    if (statfsSync(dir).bavail === 0) return CAUSES.full;
  } catch {
    // Not every platform has statfs; fall through to the write probe.
  }
  const probe = `${dir}/.outpost-write-probe-${Deno.pid}`;
  try {
    Deno.writeTextFileSync(probe, "");
    Deno.removeSync(probe);
  } catch (error) {
    if (/read-only file system|EROFS/i.test(String(error))) return "the file system is read-only";
    if (/no space left|ENOSPC/i.test(String(error))) return CAUSES.full;
  }
  return undefined;
}

/**
 * Collects storage failures seen by the database's users (the outbox) and
 * tells the store monitor; remembers the last one until a probe shows the
 * database works again.
 *
 * @example
 * ```ts
 * const health = new StoreHealth("/var/lib/outpost/outpost.db");
 * health.onFault((fault) => console.error(fault.message));
 * health.report(new Error("database disk image is malformed"));
 * ```
 */
export class StoreHealth {
  #fault: StorageFault | undefined;
  #listeners = new Set<(fault: StorageFault) => void>();

  /** `file` is the database file, named in every message. */
  constructor(readonly file: string) {}

  /** The failure seen last, until {@link probe} passes. */
  get fault(): StorageFault | undefined {
    return this.#fault;
  }

  /** `error` named with the file (and the cause when it is a storage failure). */
  describe(error: unknown): string {
    return describeStorageError(error, this.file);
  }

  /** Records `error` if it is a storage failure and tells the listeners; returns whether it was. */
  report(error: unknown): boolean {
    const kind = storageFaultKind(error);
    if (!kind) return false;
    const fault = { kind, message: this.describe(error) };
    this.#fault = fault;
    for (const listener of [...this.#listeners]) listener(fault);
    return true;
  }

  /** Calls `listener` with each storage failure; returns an unsubscribe. */
  onFault(listener: (fault: StorageFault) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Checks that `db` can be read whole and written: SQLite's quick_check
   * over every page, then a write that reaches the WAL. Throws with the
   * file and the cause when it cannot; clears the fault when it can.
   */
  probe(db: DatabaseSync): void {
    try {
      const rows = db.prepare("PRAGMA quick_check(1)").all() as { quick_check: string }[];
      const verdict = rows[0]?.quick_check;
      if (verdict !== "ok") throw new Error(`database disk image is malformed: ${verdict}`);
      db.exec("BEGIN IMMEDIATE");
      try {
        db.exec("CREATE TABLE IF NOT EXISTS store_probe (at INTEGER NOT NULL)");
        db.prepare("INSERT INTO store_probe (at) VALUES (?)").run(Date.now());
        db.exec("DELETE FROM store_probe");
        db.exec("COMMIT");
      } catch (error) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw error;
      }
    } catch (error) {
      this.report(error);
      throw new Error(`The state database failed: ${this.describe(error)}`, { cause: error });
    }
    this.#fault = undefined;
  }
}
