/**
 * From a `[clouds.<name>]` table to a running cloud: the agent asks the
 * registry (actors/clouds.ts) for the type's connector, gives it a
 * CloudContext, and puts what it built into the cloud's subtree, with the
 * drain last (actors/cloud/connector.ts says why). Nothing here knows a
 * cloud type.
 */
import type { DatabaseSync } from "node:sqlite";
import type { MqttLink } from "../mqtt/link.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import { getLogger } from "../runtime/logging.ts";
import type { Spec, SupervisorSpec } from "../runtime/spec.ts";
import type { Outbox } from "../telemetry/outbox.ts";
import { tunnelsPath } from "../tunnels/proxy_actor.ts";
import type { AccessCheck, TunnelObserver } from "../tunnels/types.ts";
import type { CloudContext, CloudServes } from "../cloud/connector.ts";
import type { CloudEncoder } from "../cloud/encoder.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import type { SupportChannel } from "../cloud/support.ts";
import { cloudSupervisor, drainChild } from "../cloud/tree.ts";
import { connectorOf } from "../clouds.ts";
import type { CloudConfig, Config } from "./config_types.ts";

/** What every cloud gets from the agent. */
export interface CloudDeps {
  config: Config;
  /** The state database (shadow state, credentials). */
  db: DatabaseSync;
  outbox: Outbox;
  handlers: HandlerRegistry;
  /** The live supervision tree. */
  tree: () => ActorTreeNode;
  /** Stores an event for every cloud through the outbox. */
  reportEvent: (type: string, text: string, data: Record<string, unknown>) => Promise<unknown>;
  /** Asked before any remote-access tunnel opens. */
  accessCheck: AccessCheck;
  /** Told when any tunnel opens and ends (session management). */
  tunnelObserver?: TunnelObserver;
  /** The remote side of the support modules. */
  support?: SupportChannel;
  /** Starts a child under a dynamic supervisor of the running tree (a cloud's `tunnels`). */
  startChild: (supervisorPath: string, spec: Spec) => Promise<string>;
  /** Delivers an event to the actor at `path` of the running tree, if it runs. */
  sendTo: (path: string, event: { type: string }) => void;
}

/**
 * A running cloud as an embedding app sees it.
 *
 * @typeParam P what the cloud type exposes (`AwsParts` for `type = "aws"`…).
 */
export interface CloudHandle<P = unknown> {
  /** The configured name. */
  name: string;
  /** Its type (`mqtt`, `c8y`, `aws`, `azure`, or a registered one). */
  type: string;
  /** Its MQTT link: status, publish, subscribe. */
  link: MqttLink;
  /** What its connector exposes (the AWS identity, shadows and gate…). */
  parts: P;
}

/** A built cloud, ready to be put in the tree. */
export interface CloudParts extends CloudHandle {
  encoder: CloudEncoder;
  /** What the embedding app's handlers reach on this cloud. */
  serves: CloudServes;
  spec: SupervisorSpec;
}

const log = getLogger("agent");

/** Builds the cloud `name` from its resolved table. */
export function buildCloud(
  name: string,
  cloud: CloudConfig,
  deps: CloudDeps,
): Promise<CloudParts> {
  const stateDir = deps.config.agent.stateDir.replace(/\/+$/, "");
  const path = `agent/cloud:${name}`;
  const ctx: CloudContext = {
    name,
    deviceId: deps.config.agent.deviceId,
    stateFile: (file) => `${stateDir}/${file}`,
    db: deps.db,
    handlers: deps.handlers,
    tree: deps.tree,
    events: deps.reportEvent,
    tunnels: {
      remoteAccess: deps.config.remoteAccess,
      accessCheck: deps.accessCheck,
      observer: deps.tunnelObserver,
      start: (spec) => deps.startChild(tunnelsPath(name), spec),
    },
    support: deps.support,
    send: (childId, event) => deps.sendTo(`${path}/${childId}`, event),
  };
  return assembleCloud(cloud, ctx, { outbox: deps.outbox, subtree: name });
}

/** Where {@link assembleCloud} puts a cloud. */
export interface CloudPlace {
  /** The outbox whose queue `ctx.name` the cloud's drain empties. */
  outbox: Outbox;
  /** The subtree's id is `cloud:<subtree>`. */
  subtree: string;
}

/**
 * Asks the connector of `cloud.type` to build the cloud with `ctx` and puts
 * what it built in the subtree `cloud:<subtree>`, with the drain of the
 * outbox queue `ctx.name` last. The agent names both after the cloud; a
 * simulated device of `outpost fleet` keeps the subtree's name and gives
 * the connector a name of its own per device, so the queue, the files and
 * the rows a connector keys by its name are the device's.
 */
export async function assembleCloud(
  cloud: CloudConfig,
  ctx: CloudContext,
  place: CloudPlace,
): Promise<CloudParts> {
  const connector = connectorOf(cloud.type);
  const { name } = ctx;
  const built = await connector.build(cloud, ctx);
  const spec = cloudSupervisor(place.subtree, [
    ...built.children,
    drainChild(place.outbox, built.link, name),
  ]);
  return {
    name,
    type: cloud.type,
    link: built.link,
    parts: built.parts,
    encoder: built.encoder,
    serves: connector.serves,
    spec,
  };
}

/**
 * Warns, naming each cloud, about handlers the embedding app registered
 * that a cloud cannot serve: a command or desired state that never arrives
 * must not be silent.
 */
export function warnUnservedHandlers(clouds: readonly CloudParts[], handlers: HandlerRegistry) {
  for (const cloud of clouds) {
    if (handlers.commands.size > 0 && !cloud.serves.commands) {
      log.warning(
        "Cloud {cloud} ({type}) cannot deliver commands: onCommand handlers ({names}) are not reached from it",
        { cloud: cloud.name, type: cloud.type, names: [...handlers.commands.keys()].join(", ") },
      );
    }
    if (handlers.desired.size > 0 && !cloud.serves.desired) {
      log.warning(
        "Cloud {cloud} ({type}) cannot deliver desired state: onDesired handlers are not reached from it",
        { cloud: cloud.name, type: cloud.type },
      );
    }
  }
}
