/**
 * Outpost: an IoT device agent framework for Deno. Every connection and
 * session is an XState v5 actor under an OTP-style supervisor.
 *
 * This entry is the agent, its configuration and the cloud contract. Each
 * area has an entry of its own (deno.json `exports`):
 *
 * | entry | what |
 * |---|---|
 * | `@outpost/outpost` | `createAgent`, configuration, handlers, `registerCloud` and the cloud contract |
 * | `@outpost/outpost/runtime` | the supervised actor runtime alone (`createSystem`, `supervisor`, `child`, …) |
 * | `@outpost/outpost/c8y` | Cumulocity: `DeviceProxy` (one tunnel, the seed's c8ydp), config types |
 * | `@outpost/outpost/aws` | AWS IoT Core: `AwsDevice`, identity, shadows |
 * | `@outpost/outpost/azure` | Azure IoT Hub / DPS / IoT Central: `AzureDevice` |
 * | `@outpost/outpost/local-api` | apps on the device: `LocalApiClient`, `AgentConnection` |
 * | `@outpost/outpost/testing` | the embedded broker and an outbox for an app's own tests |
 *
 * @example The agent, embedded
 * ```ts
 * import { createAgent, parseConfig } from "./mod.ts";
 *
 * const agent = createAgent(parseConfig(undefined)); // the embedded default
 * agent.onCommand("blink", (payload) => ({ blinked: true }));
 * await agent.start();
 * await agent.publish("climate", { celsius: 21.5 });
 * await agent.stop();
 * ```
 *
 * @example A custom actor in the agent's tree
 * ```ts
 * import { child, createAgent, parseConfig } from "./mod.ts";
 * import { fromPromise } from "xstate";
 *
 * const agent = createAgent(parseConfig(undefined), {
 *   actors: [child("job", fromPromise(async () => "done"), { restart: "transient" })],
 * });
 * await agent.start();
 * await agent.stop();
 * ```
 * @module
 */
export * from "./actors/agent/mod.ts";
export {
  type InboundMessage,
  type MessageHandler,
  MqttLink,
  type MqttSession,
  type PublishOptions,
} from "./actors/mqtt/link.ts";
export {
  type MqttBroker,
  mqttConnection,
  type MqttConnectionOptions,
  type MqttLogin,
} from "./actors/mqtt/connection.ts";
export type { MqttConnectOptions } from "./protocols/mqtt_session.ts";
export { mqttConnectionOptions } from "./actors/cloud/mqtt_config.ts";
export {
  type ActorLogic,
  child,
  type ChildOptions,
  type ChildSpec,
  type Spec,
  supervisor,
  type SupervisorOptions,
  type SupervisorSpec,
} from "./actors/runtime/spec.ts";
export { type ActorSystem, createSystem } from "./actors/runtime/system.ts";
export type { ActorTreeNode } from "./actors/runtime/node.ts";
export {
  configureLogging,
  type LogFormat,
  type LoggingOptions,
  type LogLevel,
} from "./actors/runtime/logging.ts";
export { StateDirLockedError } from "./actors/store/state_dir.ts";
export type {
  AccessCheck,
  AccessDecision,
  TunnelObserver,
  TunnelRequest,
  TunnelTarget,
} from "./actors/tunnels/types.ts";
