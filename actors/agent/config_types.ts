/**
 * The resolved configuration as plain types: what every part of the agent
 * reads after `parseConfig` / `loadConfig` filled the defaults. The zod
 * schema in config.ts is checked against these at compile time.
 * docs/configuration.md explains each key.
 */

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

/** `[remoteAccess]`: tunnels to TCP services (SSH, VNC, Telnet, …) on this device's side. */
export interface RemoteAccessSection {
  /** `host:port` targets a tunnel may reach; nothing else is ever dialed. Default: none. */
  allow: string[];
  /** Tunnels open at once, per cloud. */
  maxTunnels: number;
  /** Bytes read from either side at a time, and the bound of the buffer before both sides are up. */
  bufferSize: number;
  /** WebSocket ping interval, which keeps an idle tunnel open through NAT; 0 turns pings off. */
  pingIntervalSec: number;
  /** Time to open both sides before the tunnel fails. */
  dialTimeoutSec: number;
  /** HTTP proxy for the WebSocket (`http://host:port`). */
  proxy?: string;
}

/** A feature under access control (PROTOCOLS.md §5). */
export type SupportFeature = "FileTransfer" | "RemoteView" | "RemoteControl" | "ScreenRecording";

/** `[support]`: the remote-support modules (docs/support.md). */
export interface SupportSection {
  /** Access of each feature until a local app sets it; the stored value wins after that. */
  access: Record<SupportFeature, "Allowed" | "AfterConfirmation" | "Denied">;
  /** Target ports whose tunnels stand for each feature (`RemoteView = [5900]`). */
  ports: Record<SupportFeature, number[]>;
  /** The feature of a tunnel whose port is in no list of `ports`. */
  defaultFeature: SupportFeature;
  /** Time for a local app to answer an access request before it counts as denied. */
  confirmationTimeoutSec: number;
  /** Time for a local app to answer an instant-support connection request. */
  connectionRequestTimeoutSec: number;
  /** Time for the remote side to acknowledge a sent chat message before it failed. */
  sendTimeoutSec: number;
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

/** Exponential backoff between connection attempts. */
export interface ConnectionBackoff {
  /** First delay. */
  minMs: number;
  /** Longest delay. */
  maxMs: number;
  /** Fraction (0..1) of a delay taken off at random. */
  jitter: number;
}

/** The MQTT connection keys every cloud type shares. */
export interface MqttEndpointConfig {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://`. */
  url: string;
  /** The MQTT client id; each cloud type has its own default. */
  clientId: string;
  /** MQTT password (never logged). */
  password?: string;
  /** PEM file of the CA that signed the broker's certificate. */
  caFile?: string;
  /** PEM client certificate for mutual TLS (with `keyFile`). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** Turns TLS verification off (logged as a warning). */
  insecure: boolean;
  /** Start each connection without a stored session. */
  cleanSession: boolean;
  /** MQTT keep-alive. */
  keepaliveSec: number;
  /** Delays between connection attempts. */
  backoff: ConnectionBackoff;
}

/** `[clouds.<name>]` with `type = "mqtt"`: a generic MQTT cloud (client id default `outpost-<deviceId>`). */
export interface MqttCloudConfig extends MqttEndpointConfig {
  /** Selects this cloud type. */
  type: "mqtt";
  /** MQTT user name. */
  username?: string;
  /** Topics are `<topicPrefix>/<deviceId>/…`. */
  topicPrefix: string;
}

/** `[clouds.<name>.hardware]` of a Cumulocity cloud: the `110` line. */
export interface C8yHardware {
  /** `c8y_Hardware.model`. */
  model: string;
  /** `c8y_Hardware.revision`; "" leaves it out. */
  revision: string;
}

/** `[clouds.<name>.bootstrap]`: Cumulocity device registration (`s/ucr` → `70,…`). */
export interface C8yBootstrap {
  /** Register when no credentials are configured or stored. */
  enabled: boolean;
  /** The bootstrap user, without tenant. */
  user: string;
  /** The bootstrap password (never logged); required when `enabled`. */
  password?: string;
  /** Seconds between two registration requests. */
  intervalSec: number;
}

/** `[clouds.<name>.restart]`: the `510` restart operation. */
export interface C8yRestart {
  /** Announce `c8y_Restart` and run `command` on a `510`. */
  enabled: boolean;
  /** The argv to run (no shell); exit 0 is success. */
  command: string[];
  /** Seconds before the command is killed and the operation failed. */
  timeoutSec: number;
}

/** `[clouds.<name>.shell]`: the `511` shell operation. */
export interface C8yShell {
  /** Announce `c8y_Command` and run allowlisted commands on a `511`. */
  enabled: boolean;
  /** Program names (argv[0], exactly as written) that may run. */
  allow: string[];
  /** Seconds before the command is killed and the operation failed. */
  timeoutSec: number;
}

/**
 * `[clouds.<name>]` with `type = "c8y"`: Cumulocity IoT over MQTT (SmartREST
 * 2.0). `url` is `mqtts://<tenant host>:8883` (or `wss://<host>/mqtt`); the
 * client id defaults to `d:<serial>`; `password` is that of `<tenant>/<user>`;
 * a `certFile` (CN = serial) selects certificate authentication; Cumulocity
 * requires `cleanSession = true`.
 */
export interface C8yCloudConfig extends MqttEndpointConfig {
  /** Selects this cloud type. */
  type: "c8y";
  /** Tenant id; the MQTT user name is `<tenant>/<user>`. */
  tenant?: string;
  /** Device user name within the tenant. */
  user?: string;
  /** The device's serial (external id); defaults to `agent.deviceId`. */
  serial: string;
  /** Name of the device's managed object; defaults to `Outpost <serial>`. */
  deviceName: string;
  /** Type of the device's managed object. */
  deviceType: string;
  /** The `110` hardware line. */
  hardware: C8yHardware;
  /** Minutes without a message before Cumulocity marks the device unavailable; 0: not sent. */
  requiredIntervalMin: number;
  /** X-ID of a legacy `remoteConnect` response template (platforms before 10.7). */
  legacyTemplateXid?: string;
  /** Base URL of the remote-access WebSocket when it is not the MQTT host (tests, proxies). */
  remoteAccessUrl?: string;
  /** Announce and serve `c8y_RemoteAccessConnect` (`[remoteAccess]` holds the allowlist). */
  remoteAccess: boolean;
  /** Device registration. */
  bootstrap: C8yBootstrap;
  /** The `510` restart operation. */
  restart: C8yRestart;
  /** The `511` shell operation. */
  shell: C8yShell;
}

/** `[clouds.<name>.envelope]` of an AWS cloud: the seed's telemetry envelope header. */
export interface AwsEnvelope {
  /** `payloadVersion`. */
  payloadVersion: string;
  /** `assetType`. */
  assetType: string;
  /** `senderType`. */
  senderType: string;
  /** `assetId`; defaults to the thing name. */
  assetId?: string;
  /** `eventSubtype` of telemetry records (`eventType` is the stream; events use "event"). */
  eventSubtype: string;
}

/** `[clouds.<name>.provisioning]` of an AWS cloud: fleet provisioning by CSR. */
export interface AwsProvisioning {
  /** Provision when the certificate store holds no identity. */
  enabled: boolean;
  /** The claim certificate (PEM file). */
  claimCertFile?: string;
  /** Its private key (PEM file). */
  claimKeyFile?: string;
  /** The fleet provisioning template. */
  template?: string;
  /** Template parameters, e.g. `{ SerialNumber = "pump-7" }`. */
  parameters: Record<string, string>;
  /** Client id of the claim session; defaults to `agent.deviceId`. */
  clientId?: string;
}

/**
 * `[clouds.<name>]` with `type = "aws"`: AWS IoT Core over MQTT with mutual
 * TLS. `url` is `mqtts://<endpoint>:8883`, or `:443` (ALPN `x-amzn-mqtt-ca`
 * is then sent). The client id is the thing name. The identity comes from
 * `certFile` + `keyFile` + `thingName`, or from the certificate store, which
 * fleet provisioning fills when it is empty.
 */
export interface AwsCloudConfig extends Omit<MqttEndpointConfig, "clientId" | "password"> {
  /** Selects this cloud type. */
  type: "aws";
  /** The thing name (required with `certFile`; otherwise read from the store). */
  thingName?: string;
  /** The seed-compatible certificate store; default `<stateDir>/aws-<name>`. */
  certStore?: string;
  /** Basic Ingest rule telemetry goes to (`$aws/rules/<rule>`); none: no telemetry to AWS. */
  ingestRule?: string;
  /** Telemetry envelope header fields. */
  envelope: AwsEnvelope;
  /** Shadows kept in sync: "classic" and/or named shadows. */
  shadows: string[];
  /** The shadow whose `event_publishing_enabled` / `event_type_blacklist` gate telemetry. */
  telemetryShadow: string;
  /** Seconds a shadow request may go unanswered. */
  shadowTimeoutSec: number;
  /** Fleet provisioning. */
  provisioning: AwsProvisioning;
}

/**
 * `[clouds.<name>]` with `type = "azure"`: Azure IoT Hub through DPS, with
 * IoT Central's conventions. One of `deviceKey`, `groupKey` (the device key
 * is derived from it) or `certFile` + `keyFile` (X.509); DPS results are
 * cached in `<stateDir>/azure-<name>.credentials.json` (mode 0600).
 */
export interface AzureCloudConfig {
  /** Selects this cloud type. */
  type: "azure";
  /** DPS id scope; without it, `hub` is required and DPS is never asked. */
  idScope?: string;
  /** The registration (device) id; defaults to `agent.deviceId`. */
  deviceId: string;
  /** The device's symmetric key, base64 (never logged). */
  deviceKey?: string;
  /** An enrollment group's symmetric key, base64 (never logged). */
  groupKey?: string;
  /** PEM client certificate (X.509 authentication, with `keyFile`). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** PEM file of a CA to trust for DPS and the hub (tests, gateways). */
  caFile?: string;
  /** Turns TLS verification off (logged as a warning). */
  insecure: boolean;
  /** Plug and Play model id, sent to DPS and in the hub user name. */
  modelId?: string;
  /** A known hub host name: connect without DPS (DPS still runs if it refuses and idScope is set). */
  hub?: string;
  /** DPS endpoint; `host:port` is accepted. */
  dpsHost: string;
  /** Lifetime of each SAS token; the connection is renewed at 80 % of it. */
  tokenTtlSec: number;
  /** Seconds before DPS is asked again after it refused the device. */
  dpsRetrySec: number;
  /** Connects the hub did not answer, within `unreachableWindowSec`, before DPS runs again. */
  unreachableConnects: number;
  /** The window of `unreachableConnects`, in seconds. */
  unreachableWindowSec: number;
  /** MQTT keep-alive (IoT Hub allows at most 1177). */
  keepaliveSec: number;
  /** Delays between connection attempts. */
  backoff: ConnectionBackoff;
}

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
  /** Clouds by name; the embedded default is one cloud named `local`. */
  clouds: Record<string, CloudConfig>;
}
