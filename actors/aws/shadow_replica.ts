/**
 * The device's side of one AWS IoT shadow: the reported state it owns,
 * what it last saw of the cloud's copy, and the handlers that turn desired
 * values into reported ones. The shadow sync actor (shadow.ts) keeps it in
 * step with AWS; embedding apps read it, report through it, and register
 * handlers on it.
 *
 * The reported state and the last version survive restarts in the state
 * database (table `aws_shadows`), so the telemetry settings a shadow set
 * still hold when the agent starts offline.
 */
import type { DatabaseSync } from "node:sqlite";
import { migrate } from "../store/database.ts";
import type { DesiredHandler } from "../cloud/handlers.ts";
import { getLogger } from "../runtime/logging.ts";
import {
  checkShadowState,
  isPlainObject,
  mergeState,
  setKey,
  type ShadowState,
} from "../../protocols/aws_shadow.ts";

/**
 * Applies the desired `value` of one key; returns the value now in effect,
 * which is reported. Throwing refuses it: the current value is reported
 * instead, and the error is logged.
 */
export type DeltaHandler = (value: unknown, key: string) => unknown | Promise<unknown>;

/** Where a replica sends the device's own reports (the sync actor). */
export interface ReplicaListener {
  /** The device changed its reported state by `patch` (already applied locally). */
  reported(patch: ShadowState): void;
}

const SCHEMA = [
  `CREATE TABLE aws_shadows (
    cloud TEXT NOT NULL,
    shadow TEXT NOT NULL,
    reported TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (cloud, shadow)
  )`,
];

const log = getLogger("aws");

/** One shadow as the device holds it. `name` is "classic" for the unnamed shadow. */
export class ShadowReplica {
  #reported: ShadowState = {};
  #desired: ShadowState = {};
  #cloudReported: ShadowState = {};
  #version = 0;
  #handlers = new Map<string, DeltaHandler>();
  #otherKeys: DesiredHandler | undefined;
  #unhandled = new Set<string>();
  #listener: ReplicaListener | undefined;
  #save: ((reported: string, version: number) => void) | undefined;

  /** Shadow `name` of cloud `cloud`; with `db`, its reported state and version persist there. */
  constructor(
    readonly cloud: string,
    readonly name: string,
    db?: DatabaseSync,
  ) {
    if (db) this.#persistIn(db);
  }

  /** The reported state the device owns. */
  get reported(): ShadowState {
    return structuredClone(this.#reported);
  }

  /** The desired state as last fetched or patched by deltas. */
  get desired(): ShadowState {
    return structuredClone(this.#desired);
  }

  /** The last shadow version seen. */
  get version(): number {
    return this.#version;
  }

  /**
   * Sets the handler of desired key `key`, replacing any earlier one.
   * Keys without a handler go to {@link handleOtherKeys}'s handler; without
   * one they are logged and left unreported.
   */
  handle(key: string, handler: DeltaHandler): void {
    this.#handlers.set(key, handler);
    this.#unhandled.delete(key);
  }

  /**
   * Sets the handler of the desired keys that have no handler of their own.
   * It gets them as one document (`{key: value, …}`, the delta's values) at
   * the delta's version, and returns the keys it applied with the values to
   * report; `undefined` means all of them as given. Throwing refuses them
   * all: none is reported, and the error is logged. The agent's `onDesired`
   * handlers reach the classic shadow this way.
   */
  handleOtherKeys(handler: DesiredHandler | undefined): void {
    this.#otherKeys = handler;
  }

  /**
   * Changes the reported state by `patch` (`null` deletes a key) and, when
   * connected, reports it. Refuses a patch that would make the document
   * larger than AWS's 8 KB limit, with a `ShadowError` "too_large".
   */
  report(patch: ShadowState): void {
    const next = mergeState(this.#reported, patch);
    checkShadowState({ desired: this.#desired, reported: next });
    checkShadowState({ reported: patch });
    this.#setReported(next);
    this.#listener?.reported(patch);
  }

  /** For the sync actor: where local reports go. */
  attach(listener: ReplicaListener | undefined): void {
    this.#listener = listener;
  }

  /** For the sync actor: what `get` returned. */
  fetched(desired: ShadowState, reported: ShadowState, version: number): void {
    this.#desired = desired;
    this.#cloudReported = reported;
    this.#setVersion(version);
  }

  /** For the sync actor: the cloud's reported copy, as the device last knew it. */
  get cloudReported(): ShadowState {
    return this.#cloudReported;
  }

  /** For the sync actor: an update was accepted with this reported section at `version`. */
  confirmed(reported: ShadowState | undefined, version: number): void {
    if (reported) this.#cloudReported = mergeState(this.#cloudReported, reported);
    this.#setVersion(Math.max(this.#version, version));
  }

  /**
   * For the sync actor: applies desired `delta` through the handlers and
   * returns the reported patch that answers it (handled keys with their
   * value in effect; refused keys with their current value).
   *
   * A delta that would make the document break AWS's limits is refused
   * whole before anything changes: held, it would fail every later check,
   * and its handlers would have changed the device without a report.
   */
  async apply(delta: ShadowState, version: number): Promise<ShadowState> {
    const desired = mergeState(this.#desired, delta);
    try {
      checkShadowState({ desired, reported: this.#reported });
    } catch (error) {
      log.error(
        "Cloud {cloud}: shadow {shadow} refused the delta of version {version}: {error}; nothing applied",
        { cloud: this.cloud, shadow: this.name, version, error: (error as Error).message },
      );
      return {};
    }
    this.#desired = desired;
    this.#setVersion(Math.max(this.#version, version));
    const patch: ShadowState = {};
    const others: ShadowState = {};
    for (const [key, value] of Object.entries(delta)) {
      const handler = this.#handlers.get(key);
      if (!handler) {
        setKey(others, key, value);
        continue;
      }
      try {
        const applied = await handler(value, key);
        setKey(patch, key, applied === undefined ? null : applied);
      } catch (error) {
        log.error(
          "Cloud {cloud}: shadow {shadow} refused desired {key}: {error}; reporting the current value",
          { cloud: this.cloud, shadow: this.name, key, error: (error as Error).message },
        );
        if (Object.hasOwn(this.#reported, key)) setKey(patch, key, this.#reported[key]);
      }
    }
    if (Object.keys(others).length > 0) await this.#applyOthers(others, version, patch);
    const next = mergeState(this.#reported, patch);
    try {
      checkShadowState({ desired: this.#desired, reported: next });
    } catch (error) {
      log.error("Cloud {cloud}: shadow {shadow}: {error}; not reported", {
        cloud: this.cloud,
        shadow: this.name,
        error: (error as Error).message,
      });
      return {};
    }
    this.#setReported(next);
    return patch;
  }

  /** Hands the unclaimed keys to the other-keys handler and adds what it applied to `patch`. */
  async #applyOthers(others: ShadowState, version: number, patch: ShadowState): Promise<void> {
    let applied: ShadowState = {};
    if (this.#otherKeys) {
      try {
        applied = (await this.#otherKeys(structuredClone(others), version)) ?? others;
      } catch (error) {
        log.error(
          "Cloud {cloud}: shadow {shadow}: the desired-state handlers refused {keys} of version {version}: {error}; not reported",
          {
            cloud: this.cloud,
            shadow: this.name,
            keys: Object.keys(others).join(", "),
            version,
            error: error instanceof Error ? error.message : String(error),
          },
        );
        return;
      }
    }
    for (const key of Object.keys(others)) {
      const value = isPlainObject(applied) && Object.hasOwn(applied, key)
        ? applied[key]
        : undefined;
      if (value !== undefined) {
        setKey(patch, key, value);
        continue;
      }
      if (this.#unhandled.has(key)) continue;
      this.#unhandled.add(key);
      log.warn(
        "Cloud {cloud}: shadow {shadow}: no handler applied desired key {key}; not reported",
        {
          cloud: this.cloud,
          shadow: this.name,
          key,
        },
      );
    }
  }

  #setReported(next: ShadowState): void {
    this.#reported = next;
    this.#save?.(JSON.stringify(next), this.#version);
  }

  #setVersion(version: number): void {
    if (version === this.#version) return;
    this.#version = version;
    this.#save?.(JSON.stringify(this.#reported), version);
  }

  #persistIn(db: DatabaseSync): void {
    migrate(db, "aws_shadows", SCHEMA);
    const row = db.prepare(
      "SELECT reported, version FROM aws_shadows WHERE cloud = ? AND shadow = ?",
    )
      .get(this.cloud, this.name) as { reported: string; version: number } | undefined;
    if (row) {
      try {
        this.#reported = JSON.parse(row.reported);
        this.#version = row.version;
      } catch (error) {
        log.warn(
          "Cloud {cloud}: stored state of shadow {shadow} is unreadable; starting empty: {error}",
          {
            cloud: this.cloud,
            shadow: this.name,
            error,
          },
        );
      }
    }
    const upsert = db.prepare(
      `INSERT INTO aws_shadows (cloud, shadow, reported, version) VALUES (?, ?, ?, ?)
       ON CONFLICT (cloud, shadow) DO UPDATE SET reported = excluded.reported, version = excluded.version`,
    );
    this.#save = (reported, version) => {
      try {
        upsert.run(this.cloud, this.name, reported, version);
      } catch (error) {
        log.error("Cloud {cloud}: cannot store shadow {shadow}: {error}", {
          cloud: this.cloud,
          shadow: this.name,
          error,
        });
      }
    };
  }
}
