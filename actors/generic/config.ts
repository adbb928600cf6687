/**
 * `[clouds.<name>] type = "mqtt"`: the table's schema and its resolved type
 * (docs/configuration.md explains each key).
 */
import { z } from "zod";
import { text } from "../cloud/config_fields.ts";
import {
  mqttConnectionFields,
  type MqttEndpointConfig,
  tlsPairing,
  urlOrUrls,
} from "../cloud/mqtt_config.ts";

// Levels without wildcards, "$" (reserved for broker topics) or empty levels.
const TOPIC_PREFIX = /^(?!\$)[^+#/\0]+(?:\/[^+#/\0]+)*$/;

/** The schema of a generic MQTT cloud's table. */
export const mqttCloudSchema = urlOrUrls(tlsPairing(z.strictObject({
  type: z.literal("mqtt"),
  ...mqttConnectionFields,
  topicPrefix: text(
    'a topic prefix like "outpost" or "site/7" (no "+", "#", empty levels, ' +
      'leading "$" or leading/trailing "/")',
  ).regex(TOPIC_PREFIX).default("outpost"),
})));

/** `[clouds.<name>]` with `type = "mqtt"`: a generic MQTT cloud (client id default `outpost-<deviceId>`). */
export interface MqttCloudConfig extends MqttEndpointConfig {
  /** Selects this cloud type. */
  type: "mqtt";
  /** MQTT user name. */
  username?: string;
  /** Topics are `<topicPrefix>/<deviceId>/…`. */
  topicPrefix: string;
}

/** A `[clouds.<name>] type = "mqtt"` table as validated, before the agent's defaults. */
export type MqttTable = z.output<typeof mqttCloudSchema>;
