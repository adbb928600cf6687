/**
 * The generic MQTT cloud (`[clouds.<name>] type = "mqtt"`) as the agent's
 * registry sees it. The builder (mod.ts) loads when a table names it.
 */
import type { CloudConnector } from "../cloud/connector.ts";
import { brokerUrls, mqttConnectionOptions } from "../cloud/mqtt_config.ts";
import { type MqttCloudConfig, mqttCloudSchema, type MqttTable } from "./config.ts";

/** What `agent.cloud(name).parts` holds for a generic cloud. */
export interface GenericParts {
  /** The cloud's topics (PROTOCOLS.md §0). */
  topics: import("../../protocols/outpost_topics.ts").OutpostTopics;
}

/** Outpost's own topics on any MQTT broker (PROTOCOLS.md §0). */
export const genericConnector: CloudConnector<MqttCloudConfig, GenericParts, MqttTable> = {
  type: "mqtt",
  schema: mqttCloudSchema,
  serves: { commands: true, desired: true },
  resolve: (cloud, agent) => ({
    ...cloud,
    ...brokerUrls(cloud),
    clientId: cloud.clientId || `outpost-${agent.deviceId}`,
  }),
  async build(cloud, ctx) {
    const { genericCloud } = await import("./mod.ts");
    const built = genericCloud({
      name: ctx.name,
      deviceId: ctx.deviceId,
      topicPrefix: cloud.topicPrefix,
      connection: await mqttConnectionOptions(cloud),
      handlers: ctx.handlers,
      tree: ctx.tree,
      reportEvent: ctx.events,
      tunnels: ctx.tunnels,
      support: ctx.support,
    });
    return {
      link: built.link,
      encoder: built.encoder,
      children: built.children,
      parts: { topics: built.topics },
    };
  },
};
