/**
 * MQTT for every cloud: the {@link MqttLink} that a cloud's actors hold, and
 * the one connection actor that drives it.
 *
 * @example
 * ```ts
 * import { child, supervisor } from "../runtime/mod.ts";
 * import { MqttLink, mqttConnection } from "./mod.ts";
 *
 * const link = new MqttLink("generic");
 * const tree = supervisor("cloud:generic", { strategy: "rest_for_one" }, [
 *   child("connection", mqttConnection(link, { url: "mqtt://127.0.0.1:1883", clientId: "dev-1" })),
 * ]);
 * ```
 * @module
 */
export {
  type InboundMessage,
  type MessageHandler,
  MqttLink,
  type MqttSession,
  NotConnectedError,
  type PublishOptions,
} from "./link.ts";
export {
  type MqttBroker,
  mqttConnection,
  type MqttConnectionOptions,
  type MqttLogin,
} from "./connection.ts";
export type { RetryBackoff } from "../../machines/mqtt_connection.ts";
export { MqttConnectError, type MqttConnectOptions } from "../../protocols/mqtt_session.ts";
