/**
 * The state directory before the database opens: one agent per directory,
 * and a look at what earlier runs left.
 *
 * One agent per state directory. The agent takes an exclusive lock on
 * `<stateDir>/outpost.lock` before it opens its database or touches the
 * network, and holds it for as long as it runs: a second agent on the same
 * directory would otherwise log in with the same client id (knocking the
 * first off its broker) and write into the same outbox.
 *
 * The lock is the operating system's (`flock`), so it ends with the process
 * however the process ends (kill -9 included); a stale lock file left behind
 * is harmless. The file holds the holder's pid, only to name it in the error.
 */

/** A held lock on a state directory; `release()` lets it go. */
export interface StateLock {
  /** The lock file. */
  readonly path: string;
  /** Lets go of the lock; safe to call twice. */
  release(): void;
}

/** Another process holds the state directory's lock. */
export class StateDirLockedError extends Error {
  /** `holderPid` is read from the lock file; undefined when it holds none. */
  constructor(readonly stateDir: string, readonly holderPid: number | undefined) {
    const holder = holderPid === undefined ? "another process" : `process ${holderPid}`;
    super(
      `Cannot use the state directory "${stateDir}": ${holder} holds its lock ` +
        `(${lockPath(stateDir)}); is another Outpost running on it? Stop it, or give this ` +
        `one its own agent.stateDir.`,
    );
    this.name = "StateDirLockedError";
  }
}

const LOCK_FILE = "outpost.lock";

/** The lock file of `stateDir`. */
export function lockPath(stateDir: string): string {
  return `${stateDir}/${LOCK_FILE}`;
}

/**
 * Takes the exclusive lock of `stateDir` (created with mode 0700 when
 * missing) without waiting; throws {@link StateDirLockedError} naming the
 * holder's pid when another process holds it.
 *
 * @example
 * ```ts
 * const lock = lockStateDir("/var/lib/outpost");
 * try {
 *   // open the database, connect…
 * } finally {
 *   lock.release();
 * }
 * ```
 */
export function lockStateDir(stateDir: string): StateLock {
  Deno.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = lockPath(stateDir);
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  } catch (error) {
    const cause = error instanceof Deno.errors.NotCapable || !/os error 30\b/.test(String(error))
      ? messageOf(error)
      : `the file system is read-only (${messageOf(error)})`;
    throw new Error(`Cannot lock the state directory "${stateDir}": ${path}: ${cause}`, {
      cause: error,
    });
  }
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) throw new StateDirLockedError(stateDir, readPid(path));
  try {
    file.truncateSync(0);
    file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (error) {
    file.close();
    throw new Error(`Cannot write the lock file "${path}": ${messageOf(error)}`, { cause: error });
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      // Closing the descriptor ends the flock; the file stays for the next run.
      file.close();
    },
  };
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(Deno.readTextFileSync(path).trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What the state directory held before the agent opened its database. */
export interface StateDirSurvey {
  /** `<stateDir>/outpost.db`. */
  databaseFile: string;
  /** `present` with content, `empty` (0 bytes) or `missing`. */
  database: "present" | "empty" | "missing";
  /** Other files of earlier runs (keys, credentials, the seq ceiling), by name. */
  otherState: string[];
}

// Files that come and go with the database itself, or belong to this run.
const NOT_STATE = /^(outpost\.db(-wal|-shm|-journal)?|outpost\.lock|\..*)$/;

/**
 * Looks at `stateDir` before the database is opened: SQLite silently makes
 * a fresh database of a missing or 0-byte file, so this is the only moment
 * the agent can tell that queued records and counters were lost.
 */
export function surveyStateDir(stateDir: string): StateDirSurvey {
  const databaseFile = `${stateDir}/outpost.db`;
  let database: StateDirSurvey["database"] = "missing";
  try {
    database = Deno.statSync(databaseFile).size === 0 ? "empty" : "present";
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const otherState: string[] = [];
  try {
    for (const entry of Deno.readDirSync(stateDir)) {
      if (!NOT_STATE.test(entry.name)) otherState.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return { databaseFile, database, otherState: otherState.sort() };
}
