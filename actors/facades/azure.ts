/**
 * `@outpost/outpost/azure`: Azure IoT Hub, DPS and IoT Central for an app
 * that embeds Outpost. `AzureDevice` has the shape of the iotc client (the
 * seed): connect with a device key, a group key or X.509, telemetry through
 * the durable outbox, writable properties, commands. docs/azure.md explains it.
 *
 * @example
 * ```ts
 * import { AzureDevice } from "./azure.ts";
 *
 * const device = new AzureDevice("dev-1", "0ne00000000", "groupKey", Deno.env.get("GROUP_KEY")!);
 * device.on("properties", (name, value) => true); // true acknowledges
 * device.on("command", (command) => command.ack({ done: true }));
 * await device.connect();
 * await device.sendTelemetry({ temperature: 21.5 });
 * await device.disconnect();
 * ```
 *
 * @module
 */
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
} from "./azure_device.ts";
export type { AzureParts } from "../azure/connector.ts";
export type { AzureCredentials, AzureCredentialsOptions } from "../azure/credentials.ts";
export type { AzureTwin, TwinDocument } from "../azure/twin.ts";
export type { AzureCloudConfig } from "../azure/config.ts";
export {
  type CachedCredentials,
  type CredentialStorage,
  fileCredentialStorage,
  memoryCredentialStorage,
} from "../azure/credentials.ts";
export type { AzureCommand } from "../azure/commands.ts";
export type { PropertyChange } from "../azure/twin.ts";
export type { DpsMachineInput } from "../../machines/azure_dps.ts";
export type { DesiredProperty } from "../../protocols/azure_pnp.ts";
