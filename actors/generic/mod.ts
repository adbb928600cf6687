/**
 * A generic MQTT cloud (`[clouds.<name>] type = "mqtt"`): Outpost's own
 * topics (PROTOCOLS.md §0) on any broker.
 *
 * ```
 * cloud:<name>     rest_for_one
 * ├── connection   MQTT connection actor (will: presence offline)
 * ├── session      presence, desired/reported state, commands (`tunnel.open` too)
 * ├── tunnels      dynamic one_for_one: one temporary proxy actor per tunnel
 * └── drain        (added by the agent) the outbox queue of this cloud → broker
 * ```
 * rest_for_one: a new connection restarts everything after it; a crashed
 * drain, always last, restarts alone and leaves open tunnels alone.
 */
import { child } from "../runtime/spec.ts";
import { MqttLink } from "../mqtt/link.ts";
import { mqttConnection } from "../mqtt/connection.ts";
import type { CloudEncoder } from "../cloud/encoder.ts";
import {
  encodeEvent,
  encodePresence,
  encodeTelemetry,
  type OutpostTopics,
  outpostTopics,
} from "../../protocols/outpost_topics.ts";
import { genericSession, type GenericSessionOptions, type SupportChannel } from "./session.ts";
import type { MqttConnectionOptions } from "../mqtt/connection.ts";
import type { Spec } from "../runtime/spec.ts";
import type { TunnelHost } from "../cloud/connector.ts";
import { parseAllowlist } from "../tunnels/allowlist.ts";
import { tunnelsSupervisor } from "../tunnels/proxy_actor.ts";

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
  handlers: GenericSessionOptions["handlers"];
  tree: GenericSessionOptions["tree"];
  reportEvent: GenericSessionOptions["reportEvent"];
  /** `[remoteAccess]`, the access check and where `tunnel.open`'s proxies start. */
  tunnels: TunnelHost;
  /** The remote side of the support modules on this cloud's topics. */
  support?: SupportChannel;
}

/** A generic cloud: its link, its record encoder and its supervision subtree. */
export interface GenericCloud {
  link: MqttLink;
  topics: OutpostTopics;
  encoder: CloudEncoder;
  /** The children of `cloud:<name>`, connection first; the agent appends the drain. */
  children: Spec[];
}

/** Builds one generic cloud. */
export function genericCloud(options: GenericCloudOptions): GenericCloud {
  const { name, tunnels } = options;
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
  const children: Spec[] = [
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
          remoteAccess: tunnels.remoteAccess,
          allowlist: parseAllowlist(tunnels.remoteAccess.allow),
          accessCheck: tunnels.accessCheck,
          observer: tunnels.observer,
          start: (spec) => tunnels.start(spec),
        },
      }),
    ),
    tunnelsSupervisor(tunnels.remoteAccess.maxTunnels),
  ];
  return { link, topics, encoder, children };
}
