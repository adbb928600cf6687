/**
 * The agent's public face as types: what `createAgent` takes
 * ({@link AgentOptions}), what it returns ({@link Agent}), and what
 * `outpost status` shows ({@link AgentStatus}). agent.ts builds and runs
 * the agent and re-exports these.
 */
import type { SystemExit } from "../runtime/system.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import type { Spec } from "../runtime/spec.ts";
import type { AccessCheck } from "../tunnels/types.ts";
import type { CloudHandle } from "./clouds.ts";
import type { CommandHandler, DesiredHandler } from "../cloud/handlers.ts";
import type { LocalApi, LocalApiModule } from "../local_api/mod.ts";
import type { Config } from "./config.ts";

/** Options of {@link createAgent}. */
export interface AgentOptions {
  /** The app's own actors, started under `agent/apps` with the tree. */
  actors?: Spec[];
  /** Serve the control endpoint (`outpost tree`, `outpost status`). Default true. */
  control?: boolean;
  /**
   * Asked before any remote-access tunnel opens, after the allowlist and the
   * device's access control (`[support]`, docs/support.md) allowed it.
   */
  accessCheck?: AccessCheck;
  /** Called with the built clouds at every start, before any actor runs (to attach handlers). */
  onCloudsBuilt?: (clouds: readonly CloudHandle[]) => void;
  /** More local API modules after the sensor/metric one (used when `[localApi]` is enabled). */
  localApiModules?: LocalApiModule[];
}

/** What `outpost status` shows. */
export interface AgentStatus {
  /** Outpost's version. */
  version: string;
  /** `agent.deviceId` from the configuration. */
  deviceId: string;
  /** Time since the tree started. */
  uptimeMs: number;
  /**
   * Per cloud: link up or down, the broker it is connected to (null while
   * down), records waiting in the outbox, records dropped so far.
   */
  clouds: {
    name: string;
    connected: boolean;
    broker: string | null;
    queued: number;
    dropped: number;
  }[];
}

/** A running (or ready to run) Outpost agent. */
export interface Agent {
  /** The resolved configuration it runs with. */
  readonly config: Config;
  /** Opens the state, starts the tree and the control endpoint. */
  start(): Promise<void>;
  /** Stops the tree in reverse order, then closes the state. */
  stop(): Promise<void>;
  /** Resolves when the agent has stopped, by `stop()` or because its tree gave up. */
  readonly exited: Promise<SystemExit>;
  /** The live supervision tree. */
  tree(): ActorTreeNode;
  /** Connection and outbox state per cloud. */
  status(): AgentStatus;
  /** Stores a telemetry record for every cloud; resolves with its `seq` once on disk. */
  publish(stream: string, values: Record<string, unknown>): Promise<number>;
  /** Stores an event for every cloud; resolves with its `seq` once on disk. */
  event(type: string, text: string, data?: Record<string, unknown>): Promise<number>;
  /** Adds a desired-state handler; returns a function that removes it. */
  onDesired(handler: DesiredHandler): () => void;
  /** Answers command `name` (or replaces a built-in); returns a function that removes it. */
  onCommand(name: string, handler: CommandHandler): () => void;
  /** Resolves once every cloud has connected at least once since `start()`. */
  connected(): Promise<void>;
  /** Starts a custom actor under `agent/apps` while the agent runs; resolves with its path. */
  startActor(spec: Spec): Promise<string>;
  /**
   * Cloud `name` while the agent runs: its link and what its type exposes
   * in `parts` (`agent.cloud<AwsParts>("aws")?.parts.shadows`); else undefined.
   */
  cloud<P = unknown>(name: string): CloudHandle<P> | undefined;
  /** The modules the local API serves for this agent (the `support` module, docs/support.md). */
  localApiModules(): LocalApiModule[];
  /** The local API (clients, approval, ports); throws when `[localApi]` is not enabled. */
  localApi(): LocalApi;
}
