/**
 * An Azure IoT cloud (`[clouds.<name>] type = "azure"`): DPS provisioning,
 * IoT Hub telemetry, the device twin and commands, with IoT Central's
 * conventions (PROTOCOLS.md §3).
 *
 * ```
 * cloud:<name>     rest_for_one
 * ├── connection   the MQTT connection actor; its credentials hook gives the
 * │                hub URL, `<hub>/<id>/?api-version=…&model-id=…` and a new SAS token
 * │                (and waits while DPS runs)
 * ├── provisioning (with an idScope) DPS whenever the credentials ask: no
 * │                cached credentials, or the hub keeps refusing them or
 * │                not answering (N failed connects within T)
 * ├── token        (SAS only) reconnects before the token expires
 * ├── twin         GET + boot sync on connect, desired patches → acks
 * ├── support      (with a support channel) attached while the hub is up:
 * │                support messages ↔ `outpostSupport` D2C messages and
 * │                `outpost.support` direct methods
 * ├── commands     direct methods → responses (`outpost.support` → support);
 * │                offline commands (C2D)
 * └── drain        (added by the agent) this cloud's outbox → devices/<id>/messages/events/<bag>
 * ```
 * rest_for_one: a new connection restarts everything that holds its
 * subscriptions; a crashed drain restarts alone. Provisioning comes right
 * after the connection (as Cumulocity's bootstrap does) so that it stops
 * first: a connection still waiting for DPS is then released at once. It
 * never fails (DPS errors are retried inside it), so it restarts nothing.
 *
 * Owns: the cloud's MqttLink and its AzureCredentials (hub, device key, the
 * credential cache), shared by its children. Receives: the agent's records
 * through the outbox, properties and commands from the hub, the support
 * service's messages. Sends: telemetry, reported properties, acks, command
 * answers and support messages to the hub; properties and commands to the
 * handlers it is given (the agent's, or AzureDevice's), support requests to
 * the support channel.
 * Supervised by: the agent's root supervisor (or AzureDevice's `device`).
 *
 * @module
 */
import { child, type Spec } from "../runtime/spec.ts";
import type { Clock } from "../runtime/clock.ts";
import { MqttLink } from "../mqtt/link.ts";
import { mqttConnection } from "../mqtt/connection.ts";
import type { CloudEncoder } from "../cloud/encoder.ts";
import type { SupportChannel } from "../cloud/support.ts";
import type { RetryBackoff } from "../../machines/mqtt_connection.ts";
import type { DpsMachineInput } from "../../machines/azure_dps.ts";
import { deriveDeviceKey } from "../../protocols/azure_sas.ts";
import { DEFAULT_DPS_HOST } from "../../protocols/azure_topics.ts";
import { AzureCredentials, type CredentialStorage } from "./credentials.ts";
import { dpsProvisioning } from "./dps.ts";
import { sasRenewal } from "./token.ts";
import { AzureTwin, type PropertyHandler, twinSync } from "./twin.ts";
import { type AzureCommandHandler, azureCommands } from "./commands.ts";
import { azureEncoder } from "./messages.ts";
import { AzureSupport, supportAttachment } from "./support.ts";

export {
  AzureCredentials,
  type CachedCredentials,
  type CredentialStorage,
  fileCredentialStorage,
  memoryCredentialStorage,
} from "./credentials.ts";
export {
  AzureTwin,
  type PropertyChange,
  type PropertyDecision,
  type PropertyHandler,
} from "./twin.ts";
export type {
  AzureCommand,
  AzureCommandHandler,
  AzureCommandResponder,
  AzureCommandResult,
} from "./commands.ts";
export { azureEncoder, azureMessage, type AzureMessageOptions } from "./messages.ts";
export { AzureSupport } from "./support.ts";

/** What an Azure cloud needs. */
export interface AzureCloudOptions {
  /** The cloud's configured name. */
  name: string;
  /** The device (registration) id. */
  deviceId: string;
  /** DPS id scope; without one, `hub` must be given. */
  idScope?: string;
  /** Default `global.azure-devices-provisioning.net`; `host:port` is accepted. */
  dpsHost?: string;
  /** The device's SAS key. */
  deviceKey?: string;
  /** An enrollment group key; the device key is derived from it. */
  groupKey?: string;
  /** PEM client certificate and key (X.509 authentication). */
  x509?: { cert: string; key: string };
  /** PEM CA to trust instead of the system's (tests, private gateways). */
  ca?: string;
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** The Plug and Play model id (`dtmi:…`). */
  modelId?: string;
  /** A known hub (`<name>.azure-devices.net`): DPS is skipped unless the hub refuses. */
  hub?: string;
  /** SAS token lifetime. Default 3600. */
  tokenTtlSec?: number;
  /** MQTT keep-alive. Default 30 (IoT Hub allows up to 1177). */
  keepaliveSec?: number;
  /** Connection retry delays. */
  backoff?: Partial<RetryBackoff>;
  /** Where DPS results are cached. */
  storage: CredentialStorage;
  /** Decides writable properties; read at each change. */
  properties: () => PropertyHandler | undefined;
  /** Answers commands; read at each command. `outpost.support` never reaches it (reserved). */
  commands: () => AzureCommandHandler | undefined;
  /**
   * The remote side of the support modules (docs/support.md); without it
   * `outpost.support` answers 404.
   */
  support?: SupportChannel;
  /** Sends `reconnect` to this cloud's connection actor (SAS renewal). */
  reconnect: () => void;
  /** Timers of the token renewal; default the wall clock. */
  clock?: Clock;
  /** DPS retry limits. */
  dpsLimits?: DpsMachineInput;
  /** Wait before registering again after DPS refused the device. Default 300000 ms. */
  dpsRetryMs?: number;
  /** Hub refusals (CONNACK 4/5) since the last connect before DPS runs again. Default 3. */
  refusalsBeforeProvisioning?: number;
  /**
   * Connects the hub did not answer (DNS, TCP, TLS, no CONNACK) within
   * `unreachableWindowMs` before DPS runs again. Default 10.
   */
  unreachableConnects?: number;
  /** The window of `unreachableConnects`. Default 900000 ms (15 min). */
  unreachableWindowMs?: number;
  /** Wall-clock time for SAS expiries (tests). */
  now?: () => number;
}

/** A built Azure cloud. */
export interface AzureCloud {
  link: MqttLink;
  encoder: CloudEncoder;
  /** The children of `cloud:<name>`, connection first; the agent appends the drain. */
  children: Spec[];
  credentials: AzureCredentials;
  twin: AzureTwin;
  /** The support channel's side on this cloud. */
  support: AzureSupport;
}

/**
 * Builds one Azure cloud: derives a group key's device key and reads the
 * credential cache, so the first connect already knows its hub.
 *
 * @example
 * ```ts
 * const cloud = await azureCloud({ name: "central", deviceId: "dev-1", idScope: "0ne00000000",
 *   deviceKey, storage: memoryCredentialStorage(), properties: () => undefined,
 *   commands: () => undefined, reconnect: () => {} });
 * ```
 */
export async function azureCloud(options: AzureCloudOptions): Promise<AzureCloud> {
  const { name, deviceId } = options;
  if (!options.idScope && !options.hub) {
    throw new TypeError(`Azure cloud "${name}" needs an idScope (DPS) or a hub`);
  }
  const keys = [options.deviceKey, options.groupKey, options.x509].filter((k) => k !== undefined);
  if (keys.length !== 1) {
    throw new TypeError(
      `Azure cloud "${name}" needs exactly one of deviceKey, groupKey or an X.509 certificate`,
    );
  }
  const deviceKey = options.groupKey !== undefined
    ? await deriveDeviceKey(options.groupKey, deviceId)
    : options.deviceKey;
  const credentials = new AzureCredentials({
    cloud: name,
    deviceId,
    deviceKey,
    modelId: options.modelId,
    tokenTtlSec: options.tokenTtlSec ?? 3600,
    hub: options.hub,
    canProvision: options.idScope !== undefined,
    storage: options.storage,
    refusalsBeforeProvisioning: options.refusalsBeforeProvisioning,
    unreachableConnects: options.unreachableConnects,
    unreachableWindowMs: options.unreachableWindowMs,
    now: options.now,
  });
  await credentials.load();
  const link = new MqttLink(name);
  link.onStatus((up) => up && credentials.connected());
  const tls = {
    ca: options.ca,
    cert: options.x509?.cert,
    key: options.x509?.key,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
  const children: Spec[] = [];
  children.push(child(
    "connection",
    mqttConnection(link, {
      // Replaced by the hub the credentials know at each attempt.
      url: `mqtts://${options.hub ?? "hub.invalid"}`,
      clientId: deviceId,
      ...tls,
      clean: false,
      keepaliveSec: options.keepaliveSec ?? 30,
      backoff: options.backoff,
      credentials: (lastError) => credentials.login(lastError),
    }),
    { shutdownMs: 2000 },
  ));
  if (options.idScope !== undefined) {
    children.push(child(
      "provisioning",
      dpsProvisioning({
        cloud: name,
        credentials,
        dpsHost: options.dpsHost ?? DEFAULT_DPS_HOST,
        idScope: options.idScope,
        registrationId: deviceId,
        modelId: options.modelId,
        tls,
        limits: options.dpsLimits,
        retryAfterFailureMs: options.dpsRetryMs,
      }),
      { shutdownMs: 2000, backoff: { minMs: 1000, maxMs: 60_000 } },
    ));
  }
  if (deviceKey !== undefined) {
    children.push(child(
      "token",
      sasRenewal({
        cloud: name,
        link,
        credentials,
        reconnect: options.reconnect,
        clock: options.clock,
      }),
    ));
  }
  const twin = new AzureTwin(link, { cloud: name, handler: options.properties });
  children.push(child("twin", twinSync(twin)));
  const hubDeviceId = () => credentials.current?.deviceId ?? deviceId;
  const support = new AzureSupport(link, {
    cloud: name,
    deviceId: hubDeviceId,
    channel: options.support,
  });
  // Before `commands`: attached before any `outpost.support` request can arrive.
  if (options.support) children.push(child("support", supportAttachment(support, link)));
  children.push(child(
    "commands",
    azureCommands(link, {
      cloud: name,
      deviceId,
      handler: () => support.route(options.commands()),
    }),
  ));
  const encoder = azureEncoder(name, hubDeviceId);
  return { link, encoder, children, credentials, twin, support };
}
