/**
 * `@outpost/outpost/local-api`: the apps' side of Outpost's local API
 * (compatible with the TeamViewer IoT MQTT SDK) and of remote support.
 * `LocalApiClient` provisions an app (CSR over TLS) and creates sensors,
 * metrics and values; `AgentConnection` opens the support modules
 * (sessions, access control, instant support, chat). The agent's side is
 * `[localApi] enabled = true` (docs/local_api.md, docs/support.md).
 *
 * @example
 * ```ts
 * import { LocalApiClient } from "./local_api.ts";
 *
 * const client = new LocalApiClient({ caFile: ".outpost/local-api/ca.crt", certFolder: "certs" });
 * await client.provision("thermometer");
 * await client.connect();
 * const sensorId = await client.createSensor("kitchen");
 * const [{ metricId }] = await client.createMetrics(sensorId, [
 *   { matchingId: "t", name: "temperature", valueUnit: "SI.Temperature.CELSIUS" },
 * ]);
 * await client.pushValues(sensorId, [{ metricId, value: 21.5 }]);
 * await client.close();
 * ```
 *
 * @module
 */
export {
  LocalApiClient,
  type LocalApiClientOptions,
  LocalApiRequestError,
  type MetricInfo,
  type MetricValue,
  type SensorInfo,
} from "../local_api/client.ts";
export {
  LocalApiErrorCode,
  type MetricDefinition,
  type MetricUpdate,
  type ValueType,
} from "../local_api/public_types.ts";
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
} from "../local_api/mod.ts";
export * from "../support/client.ts";
