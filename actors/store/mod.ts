/**
 * The agent's state on disk: one SQLite database per state directory, with
 * numbered schema steps per component, and secret files written atomically
 * with mode 0600.
 *
 * @module
 */
export {
  type Durability,
  migrate,
  openDatabase,
  type OpenDatabaseOptions,
  statementCache,
} from "./database.ts";
export { readSecretFile, writeSecretFile } from "./secret_file.ts";
export { lockStateDir, StateDirLockedError, type StateLock } from "./state_dir.ts";
export {
  describeStorageError,
  type StorageFault,
  type StorageFaultKind,
  StoreHealth,
} from "./storage_fault.ts";
