/**
 * The store's place in the supervision tree. The database is opened before
 * the tree starts and shared by every actor, so it is not restarted itself;
 * this actor stands for it. It crashes when a user of the database reports
 * a storage failure (corrupt file, full or read-only disk, I/O error), and
 * each restart first probes the database: while the failure persists the
 * restart crashes again, until the agent's supervisor gives up and the
 * agent exits non-zero with the file and the cause in its error. A failure
 * that goes away (space freed) ends with a probe that passes.
 *
 * ```
 * watching ──fault──► error exit        (entry: probe if a fault is known)
 *    └──outpost.stop──► stopped (final)
 * ```
 *
 * Owns: nothing. Receives: faults from {@link StoreHealth}. Sends: nothing.
 * Supervised by: the agent's root, first child.
 */
import type { DatabaseSync } from "node:sqlite";
import { fromCallback, setup } from "xstate";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";
import type { StoreHealth } from "./storage_fault.ts";

const log = getLogger("store");

/**
 * Builds the monitor of `db`, whose users report to `health`.
 *
 * @example
 * ```ts
 * child("store", storeMonitor(db, new StoreHealth(db.location()!)));
 * ```
 */
export function storeMonitor(db: DatabaseSync, health: StoreHealth): ActorLogic {
  return setup({
    types: { events: {} as { type: "fault"; message: string } | { type: "outpost.stop" } },
    actors: {
      faults: fromCallback(({ sendBack }) =>
        health.onFault((fault) => sendBack({ type: "fault", message: fault.message }))
      ),
    },
    actions: {
      probe: () => {
        if (!health.fault) return;
        // Throws with the file and the cause while the failure persists.
        health.probe(db);
        log.info("The state database {file} works again", { file: health.file });
      },
      fail: (_, { message }: { message: string }) => {
        throw new Error(`The state database failed: ${message}`);
      },
    },
  }).createMachine({
    id: "store",
    initial: "watching",
    states: {
      watching: {
        entry: "probe",
        invoke: { src: "faults" },
        on: {
          fault: { actions: { type: "fail", params: ({ event }) => ({ message: event.message }) } },
          "outpost.stop": "stopped",
        },
      },
      stopped: { type: "final" },
    },
  });
}
