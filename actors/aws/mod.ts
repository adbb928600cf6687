/**
 * An AWS IoT Core cloud (`[clouds.<name>] type = "aws"`): mutual TLS,
 * fleet provisioning by CSR, version-aware shadow sync and Basic Ingest
 * telemetry in the seed's envelope (PROTOCOLS.md §2).
 *
 * ```
 * cloud:<name>       rest_for_one
 * ├── connection     MQTT over mTLS (8883, or 443 with ALPN x-amzn-mqtt-ca); client id =
 * │                  thing name; persistent session; identity from AwsIdentity.login()
 * ├── provisioning   (when enabled) claim certificate → create-from-csr → RegisterThing → store
 * ├── shadow:<name>  one per configured shadow ("classic" = the unnamed one)
 * └── drain          (added by the agent) this cloud's outbox → $aws/rules/<ingestRule>
 * ```
 * rest_for_one: a new connection restarts whatever holds its subscriptions;
 * a crashed shadow restarts with the drain after it, which only resumes.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { child, type Spec } from "../runtime/spec.ts";
import type { MqttLink } from "../mqtt/link.ts";
import { mqttConnection, type MqttConnectionOptions } from "../mqtt/connection.ts";
import type { AwsCloudConfig } from "./config.ts";
import type { CloudEncoder } from "../cloud/encoder.ts";
import { openCertStore } from "./cert_store.ts";
import { AwsIdentity } from "./identity.ts";
import { fleetProvisioning } from "./provisioning.ts";
import { shadowSync } from "./shadow.ts";
import { ShadowReplica } from "./shadow_replica.ts";
import { awsEncoder, AwsLink, TelemetryGate } from "./telemetry.ts";

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
  const alpnProtocols = awsAlpn(config.url);

  const connection: MqttConnectionOptions = {
    url: config.url,
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
      }),
      { restart: "transient", shutdownMs: 2000 },
    ));
  }

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
        thingName: () => identity.ready().then((i) => i.clientId),
        requestTimeoutMs: config.shadowTimeoutSec * 1000,
      }),
      { input: { requestTimeoutMs: config.shadowTimeoutSec * 1000, retryMs: 5000 } },
    ));
  }
  const gate = new TelemetryGate(name);
  gate.follow(shadows.get(config.telemetryShadow)!);
  const encoder = awsEncoder(name, { rule: config.ingestRule, envelope: config.envelope, gate });
  return { link, encoder, children, identity, shadows, gate };
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
