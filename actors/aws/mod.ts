/**
 * An AWS IoT Core cloud (`[clouds.<name>] type = "aws"`): mutual TLS,
 * fleet provisioning by CSR, version-aware shadow sync and Basic Ingest
 * telemetry in the seed's envelope (PROTOCOLS.md §2).
 *
 * ```
 * cloud:<name>       rest_for_one
 * ├── connection     MQTT over mTLS (8883, or 443 with ALPN x-amzn-mqtt-ca); client id =
 * │                  thing name; persistent session; identity from AwsIdentity.login();
 * │                  fails over between the endpoints of `urls` (docs/failover.md)
 * ├── provisioning   (when enabled) claim certificate → create-from-csr → RegisterThing → store
 * ├── shadow:<name>  one per configured shadow ("classic" = the unnamed one; its keys
 * │                  without a handler of their own go to agent.onDesired)
 * ├── commands       (with commands = true) agent.onCommand on <prefix>/<thing>/commands/+/+
 * ├── support        (with support = true) the support modules' <prefix>/<thing>/support/…
 * └── drain          (added by the agent) this cloud's outbox → $aws/rules/<ingestRule>
 * ```
 * rest_for_one: a new connection restarts whatever holds its subscriptions;
 * a crashed shadow restarts with the children after it; the drain only resumes.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { child, type Spec } from "../runtime/spec.ts";
import type { MqttLink } from "../mqtt/link.ts";
import { type MqttBroker, mqttConnection, type MqttConnectionOptions } from "../mqtt/connection.ts";
import type { AwsCloudConfig } from "./config.ts";
import type { CloudEncoder } from "../cloud/encoder.ts";
import { openCertStore } from "./cert_store.ts";
import { AwsIdentity } from "./identity.ts";
import { fleetProvisioning } from "./provisioning.ts";
import { shadowSync } from "./shadow.ts";
import { ShadowReplica } from "./shadow_replica.ts";
import { awsEncoder, AwsLink, TelemetryGate } from "./telemetry.ts";
import { awsCommands } from "./commands.ts";
import { awsSupport } from "./support.ts";
import type { HandlerRegistry } from "../cloud/handlers.ts";
import type { SupportChannel } from "../cloud/support.ts";
import { getLogger } from "../runtime/logging.ts";

export { openCertStore } from "./cert_store.ts";
export { AwsIdentity } from "./identity.ts";
export { type DeltaHandler, type ReplicaListener, ShadowReplica } from "./shadow_replica.ts";
export {
  AwsLink,
  type AwsLinkOptions,
  type EnvelopeDefaults,
  type GateDrops,
  TelemetryGate,
} from "./telemetry.ts";
export {
  CERT_STORE_FILES,
  type CertStore,
  type DeviceIdentity,
  type DeviceIdentityToWrite,
} from "./cert_store.ts";
export { ProvisioningError } from "../../protocols/aws_csr.ts";
export { ShadowError, type ShadowErrorCode, type ShadowState } from "../../protocols/aws_shadow.ts";
export type { TelemetrySettings } from "../../protocols/aws_ingest.ts";

const log = getLogger("aws");

/** AWS IoT's ALPN protocol for MQTT with a client certificate on port 443. */
export const AWS_MQTT_ALPN = "x-amzn-mqtt-ca";

/** What an AWS cloud needs from the agent (PEM files already read). */
export interface AwsCloudOptions {
  /** The cloud's configured name. */
  name: string;
  /** Its resolved `[clouds.<name>]` table. */
  config: AwsCloudConfig;
  /** `agent.deviceId`: the claim client id, and the telemetry sender while there is no thing name. */
  deviceId: string;
  /** The certificate store folder (`config.certStore`, else {@link defaultCertStore}). */
  certStore: string;
  /** The state database, for the shadows' last-known state; none keeps it in memory. */
  db?: DatabaseSync;
  /** PEM contents of `caFile`, `certFile`, `keyFile` and the claim certificate and key. */
  pems: { ca?: string; cert?: string; key?: string; claimCert?: string; claimKey?: string };
  /** The agent's `onDesired` and `onCommand` handlers; none: nobody's. */
  handlers?: HandlerRegistry;
  /** The support modules' side (used with `support = true`). */
  support?: SupportChannel;
}

/** What an embedding app reaches of a running AWS cloud. */
export interface AwsParts {
  /** The device identity (thing name, certificate), once known. */
  identity: AwsIdentity;
  /** The synced shadows by name ("classic" for the unnamed one). */
  shadows: Map<string, ShadowReplica>;
  /** What the telemetry shadow lets through, and what it refused. */
  gate: TelemetryGate;
}

/** A built AWS cloud. */
export interface AwsCloud extends AwsParts {
  /** The cloud's MQTT link. */
  link: MqttLink;
  /** How the agent's records become envelopes on Basic Ingest. */
  encoder: CloudEncoder;
  /** The children of `cloud:<name>`, connection first; the agent appends the drain. */
  children: Spec[];
}

/**
 * Where the certificate store of cloud `name` is by default.
 *
 * @example
 * ```ts
 * defaultCertStore("/var/lib/outpost", "aws"); // "/var/lib/outpost/aws-aws"
 * ```
 */
export function defaultCertStore(stateDir: string, name: string): string {
  return `${stateDir.replace(/\/+$/, "")}/aws-${name}`;
}

/**
 * Builds one AWS cloud. Reads the certificate store, so a device that is
 * already provisioned connects at once.
 *
 * @example
 * ```ts
 * const aws = await awsCloud({ name: "aws", config, deviceId: "pump-7", certStore, pems: {} });
 * ```
 */
export async function awsCloud(options: AwsCloudOptions): Promise<AwsCloud> {
  const { name, config, pems } = options;
  const store = openCertStore(options.certStore);
  const fixed = pems.cert && pems.key && config.thingName
    ? { clientId: config.thingName, certificatePem: pems.cert, privateKeyPem: pems.key }
    : undefined;
  const identity = new AwsIdentity(name, fixed ? { fixed } : { store });
  const link = new AwsLink(name, {
    rule: config.ingestRule,
    // Asked as each record leaves, so one stored before provisioning goes out as the new thing.
    thingName: () => identity.thingName ?? config.thingName ?? options.deviceId,
  });
  const stored = await identity.load();
  const ca = pems.ca ?? stored?.rootCaPem;
  // Each endpoint with its own ALPN: port 443 needs it, 8883 must not depend on it.
  const brokers: MqttBroker[] = config.urls.map((url) => ({ url, alpnProtocols: awsAlpn(url) }));
  const { alpnProtocols } = brokers[0];

  const connection: MqttConnectionOptions = {
    url: config.url,
    brokers,
    clientId: config.thingName ?? options.deviceId,
    ca,
    rejectUnauthorized: !config.insecure,
    clean: config.cleanSession,
    keepaliveSec: config.keepaliveSec,
    backoff: config.backoff,
    alpnProtocols,
    credentials: () => identity.login(),
  };
  const children: Spec[] = [
    child("connection", mqttConnection(link, connection), { shutdownMs: 2000 }),
  ];
  const provisioning = config.provisioning;
  if (!fixed && provisioning.enabled) {
    children.push(child(
      "provisioning",
      fleetProvisioning({
        cloud: name,
        identity,
        store,
        template: provisioning.template!,
        parameters: provisioning.parameters,
        connect: {
          url: config.url,
          clientId: provisioning.clientId ?? options.deviceId,
          ca,
          cert: pems.claimCert,
          key: pems.claimKey,
          rejectUnauthorized: !config.insecure,
          alpnProtocols,
          keepaliveSec: config.keepaliveSec,
        },
        brokers,
      }),
      { restart: "transient", shutdownMs: 2000 },
    ));
  }

  const thingName = () => identity.ready().then((i) => i.clientId);
  const { handlers } = options;
  const shadows = new Map<string, ShadowReplica>();
  for (const shadow of config.shadows) {
    const replica = new ShadowReplica(name, shadow, options.db);
    shadows.set(shadow, replica);
    children.push(child(
      `shadow:${shadow}`,
      shadowSync({
        cloud: name,
        link,
        replica,
        thingName,
        requestTimeoutMs: config.shadowTimeoutSec * 1000,
      }),
      { input: { requestTimeoutMs: config.shadowTimeoutSec * 1000, retryMs: 5000 } },
    ));
  }
  if (handlers) {
    shadows.get("classic")?.handleOtherKeys((desired, version) =>
      handlers.applyDesired(desired, version)
    );
  }
  if (config.commands && handlers) {
    children.push(child(
      "commands",
      awsCommands({ cloud: name, link, handlers, prefix: config.topicPrefix, thingName }),
    ));
  }
  if (config.support && options.support) {
    children.push(child(
      "support",
      awsSupport({
        cloud: name,
        link,
        channel: options.support,
        prefix: config.topicPrefix,
        thingName,
      }),
    ));
  }
  if (handlers) warnUnserved(name, config, handlers);
  const gate = new TelemetryGate(name);
  gate.follow(shadows.get(config.telemetryShadow)!);
  const encoder = awsEncoder(name, { rule: config.ingestRule, envelope: config.envelope, gate });
  return { link, encoder, children, identity, shadows, gate };
}

/**
 * The agent warns about handlers no AWS cloud can serve; these are the ones
 * this table's settings leave out, named with the key that would let them in.
 */
function warnUnserved(name: string, config: AwsCloudConfig, handlers: HandlerRegistry): void {
  if (handlers.commands.size > 0 && !config.commands) {
    log.warning(
      "Cloud {cloud} (aws): onCommand handlers ({names}) are not reached from it: set commands = true and allow its command topics in the IoT policy (docs/aws.md)",
      { cloud: name, names: [...handlers.commands.keys()].join(", ") },
    );
  }
  if (handlers.desired.size > 0 && !config.shadows.includes("classic")) {
    log.warning(
      'Cloud {cloud} (aws): onDesired handlers are not reached from it: they serve the classic shadow, and shadows lacks "classic"',
      { cloud: name },
    );
  }
}

/**
 * The ALPN protocols an AWS IoT connection to `url` must offer: MQTT with a
 * client certificate on port 443 needs `x-amzn-mqtt-ca`; 8883 needs none.
 *
 * @example
 * ```ts
 * awsAlpn("mqtts://abc-ats.iot.eu-west-1.amazonaws.com:443"); // ["x-amzn-mqtt-ca"]
 * ```
 */
export function awsAlpn(url: string): string[] | undefined {
  const parsed = new URL(url);
  return parsed.protocol === "mqtts:" && parsed.port === "443" ? [AWS_MQTT_ALPN] : undefined;
}
