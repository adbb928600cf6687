/**
 * Outpost: an IoT device agent framework for Deno. Every connection and
 * session is an XState v5 actor under an OTP-style supervisor.
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
 * @example The runtime alone
 * ```ts
 * import { child, createSystem, supervisor } from "./mod.ts";
 * import { fromPromise } from "xstate";
 *
 * const system = createSystem(supervisor("app", {}, [
 *   child("job", fromPromise(async () => "done"), { restart: "transient" }),
 * ]));
 * await system.start();
 * await system.stop();
 * ```
 * @example An Azure IoT Central device (the iotc client's shape)
 * ```ts
 * import { AzureDevice } from "./mod.ts";
 *
 * const device = new AzureDevice("dev-1", "0ne00000000", "groupKey", Deno.env.get("GROUP_KEY")!);
 * device.on("properties", (name, value) => true); // true acknowledges
 * device.on("command", (command) => command.ack({ done: true }));
 * await device.connect();
 * await device.sendTelemetry({ temperature: 21.5 });
 * ```
 * @module
 */
export * from "./actors/runtime/mod.ts";
export * from "./actors/agent/mod.ts";
export * from "./actors/mqtt/mod.ts";
export * from "./actors/telemetry/mod.ts";
export * from "./actors/store/mod.ts";
export * from "./actors/broker/mod.ts";
export * from "./actors/tunnels/mod.ts";
export { AwsDevice, type AwsDeviceOptions } from "./actors/facades/aws_device.ts";
export { DeviceProxy, type DeviceProxyOptions } from "./actors/facades/device_proxy.ts";
export {
  AwsIdentity,
  type AwsParts,
  CERT_STORE_FILES,
  type CertStore,
  type DeltaHandler,
  type DeviceIdentity,
  type DeviceIdentityToWrite,
  type GateDrops,
  openCertStore,
  ProvisioningError,
  type ReplicaListener,
  ShadowError,
  type ShadowErrorCode,
  ShadowReplica,
  type ShadowState,
  TelemetryGate,
  type TelemetrySettings,
} from "./actors/aws/mod.ts";
export * from "./actors/support/client.ts";
export {
  LocalApiClient,
  type LocalApiClientOptions,
  LocalApiRequestError,
  type MetricInfo,
  type MetricValue,
  type SensorInfo,
} from "./actors/local_api/client.ts";
export {
  type ClientState,
  LocalApi,
  type LocalApiClientRecord,
  type LocalApiModule,
  type LocalApiOptions,
  type LocalApiOutput,
  type LocalApiRequest,
  type LocalApiSettings,
  type PublishTelemetry,
} from "./actors/local_api/mod.ts";
export {
  LocalApiErrorCode,
  type MetricDefinition,
  type MetricUpdate,
  type ValueType,
} from "./actors/local_api/public_types.ts";
export {
  type AzureConnectType,
  AzureDevice,
  type AzureDeviceLogger,
  type AzureDeviceOptions,
  type AzureLogLevel,
  type CommandCallback,
  type IoTCCommand,
  IOTCConnectType,
  IOTCLogLevel,
  type PropertiesCallback,
  type X509Key,
} from "./actors/facades/azure_device.ts";
export {
  type CachedCredentials,
  type CredentialStorage,
  fileCredentialStorage,
  memoryCredentialStorage,
} from "./actors/azure/credentials.ts";
export type { AzureCommand } from "./actors/azure/commands.ts";
export type { PropertyChange } from "./actors/azure/twin.ts";
export type { DpsMachineInput } from "./machines/azure_dps.ts";
export type { DesiredProperty } from "./protocols/azure_pnp.ts";
