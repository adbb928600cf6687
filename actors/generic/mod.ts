/**
 * A generic MQTT cloud (`[clouds.<name>] type = "mqtt"`): Outpost's own
 * topics (PROTOCOLS.md §0) on any broker.
 *
 * ```
 * cloud:<name>     rest_for_one
 * ├── connection   MQTT connection actor (will: presence offline)
 * ├── session      presence, desired/reported state, commands (`tunnel.open` too)
 * ├── drain        the outbox queue of this cloud → broker, QoS 1, in order
 * └── tunnels      dynamic one_for_one: one temporary proxy actor per tunnel
 * ```
 * rest_for_one: a new connection restarts the session and the drain that
 * depend on it; a crashed drain restarts alone (with the tunnels after it).
 */
import { child, type SupervisorSpec } from "../runtime/spec.ts";
import { MqttLink } from "../mqtt/link.ts";
import { mqttConnection } from "../mqtt/connection.ts";
import { cloudSupervisor, drainChild } from "../agent/cloud_tree.ts";
import type { Outbox } from "../telemetry/outbox.ts";
import type { CloudEncoder } from "../agent/telemetry_router.ts";
import {
  encodeEvent,
  encodePresence,
  encodeTelemetry,
  type OutpostTopics,
  outpostTopics,
} from "../../protocols/outpost_topics.ts";
import { genericSession, type GenericSessionOptions, type SupportChannel } from "./session.ts";
import type { MqttConnectionOptions } from "../mqtt/connection.ts";
import type { RemoteAccessSection } from "../agent/config_types.ts";
import type { Spec } from "../runtime/spec.ts";
import { parseAllowlist } from "../tunnels/allowlist.ts";
import { tunnelsPath, tunnelsSupervisor } from "../tunnels/proxy_actor.ts";
import type { AccessCheck, TunnelObserver } from "../tunnels/types.ts";

export {
  genericSession,
  type GenericSessionOptions,
  type SupportChannel,
  type SupportPort,
} from "./session.ts";

/** What a generic cloud needs from the agent. */
export interface GenericCloudOptions {
  name: string;
  deviceId: string;
  topicPrefix: string;
  /** How to reach the broker; the will is filled in here. */
  connection: Omit<MqttConnectionOptions, "will">;
  outbox: Outbox;
  handlers: GenericSessionOptions["handlers"];
  tree: GenericSessionOptions["tree"];
  reportEvent: GenericSessionOptions["reportEvent"];
  /** `[remoteAccess]`: the allowlist and limits of `tunnel.open`. */
  remoteAccess: RemoteAccessSection;
  /** Asked before a tunnel opens (after the allowlist). */
  accessCheck: AccessCheck;
  /** Told when a tunnel opens and ends (session management). */
  tunnelObserver?: TunnelObserver;
  /** The remote side of the support modules on this cloud's topics. */
  support?: SupportChannel;
  /** Starts a child under a dynamic supervisor of the running tree, by path. */
  startChild: (supervisorPath: string, spec: Spec) => Promise<string>;
}

/** A generic cloud: its link, its record encoder and its supervision subtree. */
export interface GenericCloud {
  link: MqttLink;
  topics: OutpostTopics;
  encoder: CloudEncoder;
  spec: SupervisorSpec;
}

/** Builds one generic cloud. */
export function genericCloud(options: GenericCloudOptions): GenericCloud {
  const { name } = options;
  const link = new MqttLink(name);
  const topics = outpostTopics(options.deviceId, options.topicPrefix);
  const encoder: CloudEncoder = {
    name,
    telemetry: (seq, ts, stream, values) => ({
      topic: topics.telemetry(stream),
      payload: encodeTelemetry(seq, ts, values),
      qos: 1,
    }),
    event: (seq, ts, type, text, data) => ({
      topic: topics.events(type),
      payload: encodeEvent(seq, ts, text, data),
      qos: 1,
    }),
  };
  const will = {
    topic: topics.status,
    payload: encodePresence(false, new Date()),
    qos: 1 as const,
    retain: true,
  };
  const spec = cloudSupervisor(name, [
    child("connection", mqttConnection(link, { ...options.connection, will }), {
      shutdownMs: 2000,
    }),
    child(
      "session",
      genericSession({
        cloud: name,
        link,
        topics,
        handlers: options.handlers,
        tree: options.tree,
        reportEvent: options.reportEvent,
        support: options.support,
        tunnels: {
          remoteAccess: options.remoteAccess,
          allowlist: parseAllowlist(options.remoteAccess.allow),
          accessCheck: options.accessCheck,
          observer: options.tunnelObserver,
          start: (spec) => options.startChild(tunnelsPath(name), spec),
        },
      }),
    ),
    drainChild(options.outbox, link, name),
    tunnelsSupervisor(options.remoteAccess.maxTunnels),
  ]);
  return { link, topics, encoder, spec };
}
