/**
 * The resolved configuration as plain types: what every part of the agent
 * reads after `parseConfig` / `loadConfig` filled the defaults. The zod
 * schema in config.ts is checked against these at compile time.
 * docs/configuration.md explains each key.
 */
import type { ConsoleSection } from "../console/config.ts";

/** `[agent]`: who this device is and where its state lives. */
export interface AgentSection {
  /** The device id in topics and client ids; defaults to the sanitized hostname. */
  deviceId: string;
  /** Directory of the SQLite database, key files and the control socket. */
  stateDir: string;
}

/** `[log]`. */
export interface LogSection {
  /** Lowest level written. */
  level: "trace" | "debug" | "info" | "warning" | "error" | "fatal";
  /** `text` for people, `json` for collectors. */
  format: "text" | "json";
}

/** `[outbox]`: the durable telemetry queue. */
export interface OutboxSection {
  /** Records kept per cloud; beyond it the oldest are dropped and counted. */
  maxRecords: number;
  /** `process`: survives kill -9; `power`: also power loss, slower. */
  durability: "process" | "power";
}

/** `[broker]`: the embedded MQTT broker. */
export interface BrokerSection {
  /** On by default only when no cloud is configured. */
  enabled: boolean;
  /** Loopback unless `allowRemote`. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Allow a non-loopback `host`. */
  allowRemote: boolean;
}

/** `[localApi]`: the TeamViewer IoT SDK compatible local API for apps (docs/local_api.md). */
export interface LocalApiSection {
  /** Off by default. */
  enabled: boolean;
  /** Loopback only. */
  host: string;
  /** TLS port for provisioning (`/createConnector`); 0 picks a free one. */
  provisioningPort: number;
  /** Mutual-TLS port for the API; 0 picks a free one. */
  apiPort: number;
  /** Where the CA certificate is written for apps; defaults to `<stateDir>/local-api/ca.crt`. */
  caCertPath: string;
  /** `auto` signs every valid CSR; `operator` waits for an approval. */
  approval: "auto" | "operator";
}

import type { MqttCloudConfig } from "../generic/config.ts";
import type { C8yCloudConfig } from "../c8y/config.ts";
import type { AwsCloudConfig } from "../aws/config.ts";
import type { AzureCloudConfig } from "../azure/config.ts";

import type { RemoteAccessSection } from "../tunnels/types.ts";
import type { SupportSection } from "../support/config.ts";

export type { ConnectionBackoff, MqttEndpointConfig } from "../cloud/mqtt_config.ts";
export type { RemoteAccessSection } from "../tunnels/types.ts";
export type { SupportFeature, SupportSection } from "../support/config.ts";
export type { MqttCloudConfig } from "../generic/config.ts";
export type {
  C8yBootstrap,
  C8yCloudConfig,
  C8yHardware,
  C8yRestart,
  C8yShell,
} from "../c8y/config.ts";
export type { AwsCloudConfig, AwsEnvelope, AwsProvisioning } from "../aws/config.ts";
export type { AzureCloudConfig } from "../azure/config.ts";

/** One configured cloud. */
export type CloudConfig =
  | MqttCloudConfig
  | C8yCloudConfig
  | AwsCloudConfig
  | AzureCloudConfig;

/** The whole resolved configuration. */
export interface Config {
  /** `[agent]`. */
  agent: AgentSection;
  /** `[log]`. */
  log: LogSection;
  /** `[control]`: the Unix socket `outpost tree` and `outpost status` ask. */
  control: { socket: string };
  /** `[outbox]`. */
  outbox: OutboxSection;
  /** `[telemetry.system]`: the built-in system source. */
  telemetry: { system: { enabled: boolean; intervalSec: number } };
  /** `[remoteAccess]`. */
  remoteAccess: RemoteAccessSection;
  /** `[broker]`. */
  broker: BrokerSection;
  /** `[support]`. */
  support: SupportSection;
  /** `[localApi]`. */
  localApi: LocalApiSection;
  /** `[console]`: the local web console (docs/console.md). */
  console: ConsoleSection;
  /** Clouds by name; the embedded default is one cloud named `local`. */
  clouds: Record<string, CloudConfig>;
}
