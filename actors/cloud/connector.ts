/**
 * The one contract every cloud type meets. A cloud is a folder under
 * `actors/` with a `CloudConnector` (its `[clouds.<name>]` table's schema
 * and a `build`), registered in actors/clouds.ts. The agent validates the
 * table with `schema`, fills derived defaults with `resolve`, calls `build`
 * with a {@link CloudContext}, and puts the result in the tree itself:
 *
 * ```
 * cloud:<name>     rest_for_one (cloudSupervisor)
 * ├── …children    what build returned, in order (connection first)
 * └── drain        the agent adds it, always last
 * ```
 *
 * The outbox is the agent's alone: records reach a cloud only through its
 * `encoder` and the drain, so the context does not carry it.
 *
 * The drain is last by construction: rest_for_one restarts the children
 * started after a crashed one, so a drain crash restarts the drain alone
 * and never touches a cloud's tunnels or sessions.
 *
 * This folder may import runtime, mqtt, telemetry, tunnels and store; never
 * the agent and never a cloud (tests/unit/architecture_test.ts).
 */
import type { DatabaseSync } from "node:sqlite";
import type { MqttLink } from "../mqtt/link.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import type { Spec } from "../runtime/spec.ts";
import type { AccessCheck, RemoteAccessSection, TunnelObserver } from "../tunnels/types.ts";
import type { CloudEncoder } from "./encoder.ts";
import type { HandlerRegistry } from "./handlers.ts";
import type { SupportChannel } from "./support.ts";

/**
 * The schema of a cloud's table: a zod object schema (`z.strictObject`)
 * whose `type` is a literal, as the registry requires; named by the one
 * method the agent's public API promises, so the API does not spell out
 * zod's types.
 */
export interface TableSchema<T> {
  /** Validates `data`, returning the table or throwing zod's error. */
  parse(data: unknown): T;
}

/** The least a `[clouds.<name>]` table holds. */
export interface CloudTable {
  /** Selects the connector. */
  type: string;
}

/** What the agent knows of itself when a cloud fills its defaults. */
export interface AgentFacts {
  /** `agent.deviceId`. */
  deviceId: string;
  /** `agent.stateDir`. */
  stateDir: string;
}

/** Remote access as every cloud that carries tunnels uses it. */
export interface TunnelHost {
  /** The shared `[remoteAccess]` section (allowlist, limits). */
  remoteAccess: RemoteAccessSection;
  /** Asked before any tunnel opens, after the allowlist. */
  accessCheck: AccessCheck;
  /** Told when a tunnel opens and ends (session management). */
  observer?: TunnelObserver;
  /** Starts a proxy actor under this cloud's `tunnels` supervisor. */
  start(spec: Spec): Promise<string>;
}

/** What every cloud gets from the agent. */
export interface CloudContext {
  /** The configured name (`[clouds.<name>]`). */
  name: string;
  /** `agent.deviceId`. */
  deviceId: string;
  /** The path of a file of this cloud in the state directory (`stateFile("c8y.credentials.json")`). */
  stateFile(file: string): string;
  /** The state database (shadow state, credentials). */
  db: DatabaseSync;
  /** The embedding app's command and desired-state handlers. */
  handlers: HandlerRegistry;
  /** The live supervision tree. */
  tree(): ActorTreeNode;
  /** Stores an event for every cloud through the outbox. */
  events(type: string, text: string, data: Record<string, unknown>): Promise<unknown>;
  /** Remote access: allowlist, access check, observer, and where tunnels start. */
  tunnels: TunnelHost;
  /** The remote side of the support modules (docs/support.md). */
  support?: SupportChannel;
  /** Delivers `event` to this cloud's child `childId` while it runs. */
  send(childId: string, event: { type: string }): void;
}

/** What the agent can ask a cloud to serve for the embedding app. */
export interface CloudServes {
  /** `agent.onCommand` handlers reach this cloud. */
  commands: boolean;
  /** `agent.onDesired` handlers reach this cloud. */
  desired: boolean;
}

/** A built cloud, before the agent puts it in the tree. */
export interface CloudBuild<P = unknown> {
  /** Its MQTT link; the agent's drain publishes through it. */
  link: MqttLink;
  /** How the agent's records become this cloud's messages. */
  encoder: CloudEncoder;
  /** Its children, connection first; the agent appends the drain. */
  children: Spec[];
  /** What an embedding app may reach through `agent.cloud(name)`. */
  parts: P;
}

/**
 * A cloud type: the schema of its table, its defaults, and how to build it.
 *
 * @example
 * ```ts
 * const echo: CloudConnector<EchoTable> = {
 *   type: "echo",
 *   schema: z.strictObject({ type: z.literal("echo"), url: z.string() }),
 *   serves: { commands: false, desired: false },
 *   async build(config, ctx) {
 *     const link = new MqttLink(ctx.name);
 *     return { link, encoder: echoEncoder(ctx.name), children: [connection(link, config)], parts: {} };
 *   },
 * };
 * ```
 */
export interface CloudConnector<
  C extends CloudTable = CloudTable,
  P = unknown,
  T extends CloudTable = C,
> {
  /** The `type` value that selects it. */
  readonly type: string;
  /** Validates its `[clouds.<name>]` table; `describe()` texts are the error messages. */
  readonly schema: TableSchema<T>;
  /** What the embedding app's handlers reach; a handler it cannot serve is warned about. */
  readonly serves: CloudServes;
  /**
   * Fills defaults that depend on the agent (a client id from the device
   * id), turning the validated table `T` into the resolved `C`; without it
   * the table is used as it is.
   */
  resolve?(table: T, agent: AgentFacts): C;
  /** Builds the cloud: link, encoder, children (no drain), parts. */
  build(config: C, ctx: CloudContext): Promise<CloudBuild<P>>;
}
