/**
 * The fleet's supervision tree, top to bottom in one place.
 *
 * ```
 * fleet                 rest_for_one, 5 restarts / 30 s
 * ├── store             stands for the fleet's database, as in the agent
 * ├── devices           one_for_one, dynamic: one device:<id> per simulated device
 * │   └── device:<id>   (device.ts) telemetry + the agent's cloud subtree(s)
 * ├── ramp              starts the devices at rampPerSec; ends when all are started
 * └── churn             takes devices' clouds down and back (when percentPerMin > 0)
 * ```
 *
 * `rest_for_one`: `devices` restarts empty (its children are started at run
 * time), so the ramp after it must start again to fill it, and churn with
 * it. A store that crashes takes the rest along in the same way: a storage
 * failure that heals leaves the devices restarted on a working database;
 * one that persists makes the root give up and the fleet exit non-zero,
 * as the agent does. `devices` tolerates a tenth of the fleet restarting
 * within a minute, so one broken device never takes the others down.
 */
import {
  type ActorLogic,
  child,
  type ChildSpec,
  supervisor,
  type SupervisorSpec,
} from "../runtime/spec.ts";

/** The parts of the fleet's tree built in fleet.ts. */
export interface FleetTreeParts {
  /** How many devices run (the `devices` supervisor's intensity follows it). */
  devices: number;
  /** The store's monitor (actors/store/store_monitor.ts). */
  store: ActorLogic;
  /** Starts the devices (a promise actor that resolves once all are started). */
  ramp: ActorLogic;
  /** Drives churn, when it is on. */
  churn?: ActorLogic;
}

/** Builds the fleet's root supervisor spec. */
export function fleetTree({ devices, store, ramp, churn }: FleetTreeParts): SupervisorSpec {
  const churnChild: ChildSpec[] = churn ? [child("churn", churn, { shutdownMs: 1000 })] : [];
  return supervisor("fleet", { strategy: "rest_for_one", intensity: 5, periodMs: 30_000 }, [
    child("store", store, { backoff: { minMs: 250, maxMs: 2000, resetMs: 60_000 } }),
    supervisor("devices", {
      strategy: "one_for_one",
      dynamic: true,
      intensity: Math.max(10, Math.ceil(devices / 10)),
      periodMs: 60_000,
    }),
    child("ramp", ramp, { restart: "transient", shutdownMs: 1000 }),
    ...churnChild,
  ]);
}
