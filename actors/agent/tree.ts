/**
 * The agent's supervision tree, top to bottom in one place.
 *
 * ```
 * agent                 one_for_one
 * ├── store             stands for the SQLite store: crashes on a storage failure
 * ├── console           the local web console (when enabled; see actors/console/mod.ts)
 * ├── broker            the embedded MQTT broker (when enabled)
 * ├── local-api         rest_for_one (when enabled; see actors/local_api/mod.ts)
 * │   ├── authority
 * │   ├── provisioning
 * │   └── api
 * ├── telemetry         one_for_one: built-in sources (system)
 * ├── support           one_for_one: remote-support modules (see actors/support/mod.ts)
 * │   ├── chats         dynamic: one chat room actor per chat
 * │   └── service
 * ├── cloud:<name>      rest_for_one per configured cloud: actors/generic, c8y, aws, azure
 * │   ├── connection    (mod.ts of each draws its own children)
 * │   ├── …
 * │   └── drain
 * └── apps              dynamic: actors added by the embedding app
 * ```
 * The SQLite store is opened before the tree starts and closed after it
 * stops: every actor may use it synchronously. The `store` child stands
 * for it: a corrupt file or a full or read-only disk crashes it, each
 * restart probes the database, and while the failure persists the root
 * gives up and the agent exits non-zero (actors/store/store_monitor.ts).
 */
import {
  type ActorLogic,
  child,
  type ChildSpec,
  type Spec,
  supervisor,
  type SupervisorSpec,
} from "../runtime/spec.ts";
import { embeddedBroker } from "../broker/embedded_broker.ts";
import { systemSource } from "../telemetry/system_source.ts";
import type { Config } from "./config.ts";

/** The parts of the tree that are built elsewhere. */
export interface TreeParts {
  config: Config;
  /** The store's monitor (actors/store/store_monitor.ts). */
  store?: ActorLogic;
  /** One subtree per configured cloud. */
  clouds: SupervisorSpec[];
  /** Stores a record of a built-in source. */
  emit: (stream: string, values: Record<string, unknown>) => void;
  /** The embedding app's own actors, started with the tree. */
  apps: Spec[];
  /** The remote-support subtree (sessions, access control, instant support, chats). */
  support: SupervisorSpec;
  /** The `local-api` subtree, when `[localApi]` is enabled. */
  localApi?: SupervisorSpec;
  /** The web console's subtree, when `[console]` is enabled (temporary: it never escalates). */
  console?: SupervisorSpec;
}

/** Builds the agent's root supervisor spec. */
export function agentTree(
  { config, store, clouds, emit, apps, support, localApi, console: web }: TreeParts,
): SupervisorSpec {
  // Restarts 0.25, 0.5, 1, 2, 2, 2 s apart: a failure that persists makes
  // the sixth restart one too many for the root (5 in 30 s), and it gives up.
  const monitor: ChildSpec[] = store
    ? [child("store", store, { backoff: { minMs: 250, maxMs: 2000, resetMs: 60_000 } })]
    : [];
  const broker: ChildSpec[] = config.broker.enabled
    ? [child("broker", embeddedBroker(config.broker), { backoff: { minMs: 1000, maxMs: 30_000 } })]
    : [];
  const system = config.telemetry.system;
  const sources: ChildSpec[] = system.enabled
    ? [child("system", systemSource({ intervalMs: system.intervalSec * 1000, emit }))]
    : [];
  return supervisor("agent", { strategy: "one_for_one", intensity: 5, periodMs: 30_000 }, [
    ...monitor,
    // Early, to see the rest start and log; last to stop.
    ...web ? [web] : [],
    ...broker,
    ...localApi ? [localApi] : [],
    supervisor("telemetry", { strategy: "one_for_one", intensity: 5, periodMs: 30_000 }, sources),
    // Before the clouds: their tunnels ask its access control and report to its sessions.
    support,
    ...clouds,
    supervisor("apps", { dynamic: true, intensity: 5, periodMs: 30_000 }, apps),
  ]);
}
