/**
 * `@outpost/outpost/aws`: AWS IoT Core for an app that embeds Outpost.
 * `AwsDevice` is the seed's Python client in Outpost's shape (a certificate
 * store, fleet provisioning on first run, telemetry to Basic Ingest through
 * the durable outbox, shadow sync); the rest is what an agent's
 * `agent.cloud<AwsParts>(name)?.parts` exposes. docs/aws.md explains it.
 *
 * @example
 * ```ts
 * import { AwsDevice } from "./aws.ts";
 *
 * const device = new AwsDevice({
 *   url: "mqtts://abc123-ats.iot.eu-west-1.amazonaws.com:8883",
 *   certStore: "./certificate_store",
 *   ingestRule: "iot_data_platform_telemetry_stg",
 * });
 * device.onDelta("fan", (speed) => speed);
 * await device.connect();
 * await device.publish("reference-client-test", { temperature: 21.5 });
 * await device.disconnect();
 * ```
 *
 * @module
 */
export { AwsDevice, type AwsDeviceOptions } from "./aws_device.ts";
export type { AwsParts } from "../aws/mod.ts";
export type { AwsCloudConfig, AwsEnvelope, AwsProvisioning } from "../aws/config.ts";
export { AwsIdentity } from "../aws/identity.ts";
export type { MqttLogin } from "../mqtt/connection.ts";
export {
  CERT_STORE_FILES,
  type CertStore,
  type DeviceIdentity,
  type DeviceIdentityToWrite,
  openCertStore,
} from "../aws/cert_store.ts";
export { type DeltaHandler, type ReplicaListener, ShadowReplica } from "../aws/shadow_replica.ts";
export { type GateDrops, TelemetryGate } from "../aws/telemetry.ts";
export { ProvisioningError } from "../../protocols/aws_csr.ts";
export { ShadowError, type ShadowErrorCode, type ShadowState } from "../../protocols/aws_shadow.ts";
export type { TelemetrySettings } from "../../protocols/aws_ingest.ts";
