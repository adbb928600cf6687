/**
 * The sensor/metric calls of the local API (PROTOCOLS.md §4) as one
 * `LocalApiModule`: create, rename, delete and list sensors; create,
 * describe, update and delete metrics; push values. Every refusal is a
 * `LocalApiError` answered on the call's error topic with the SDK's code.
 *
 * Pushed values become one telemetry record per push on stream
 * `local.<sensorId>` with values keyed by metric id, through the agent's
 * TelemetryRouter (so the outbox delivers them to every cloud), and are
 * repeated to the app on `/sensor/<sid>/livedata`.
 */
import { LocalApiError } from "../../protocols/local_api_errors.ts";
import {
  checkValue,
  decodeMetricDefinitions,
  decodeMetricIds,
  decodeMetricUpdates,
  decodePushValues,
  decodeSensorName,
  parseObject,
} from "../../protocols/local_api_payloads.ts";
import {
  liveDataPath,
  type LocalApiRoute,
  metricLink,
  routeOf,
} from "../../protocols/local_api_topics.ts";
import type { LocalApiModule, LocalApiOutput, LocalApiRequest } from "./module.ts";
import { getLogger } from "../runtime/logging.ts";
import type { SensorStore, StoredMetric } from "./sensor_store.ts";

/** Stores a telemetry record for every cloud (the agent's `TelemetryRouter.publish`). */
export type PublishTelemetry = (
  stream: string,
  values: Record<string, unknown>,
  ts: Date,
) => Promise<unknown>;

/** Options of {@link sensorApi}. */
export interface SensorApiOptions {
  store: SensorStore;
  publish: PublishTelemetry;
  /** Most sensors per client. Default 1000. */
  maxSensors?: number;
  /** Most metrics per sensor. Default 1000. */
  maxMetrics?: number;
}

const log = getLogger("local-api", "sensors");

/** The telemetry stream of a sensor's pushed values. */
export function sensorStream(sensorId: string): string {
  return `local.${sensorId}`;
}

// `handles` and `handle` both route every request, and paths repeat (one per
// sensor and call): routed once each. Pure, so shared; bounded, since any
// client may send any path.
const routes = new Map<string, LocalApiRoute | undefined>();
const MAX_ROUTES = 1000;

function cachedRoute(path: string): LocalApiRoute | undefined {
  if (routes.has(path)) return routes.get(path);
  if (routes.size >= MAX_ROUTES) routes.clear();
  const route = routeOf(path);
  routes.set(path, route);
  return route;
}

const SENSOR_CALLS = new Set([
  "listSensors",
  "createSensor",
  "updateSensor",
  "deleteSensor",
  "createMetrics",
  "describeMetric",
  "updateMetrics",
  "deleteMetrics",
  "pushValues",
]);

/**
 * The sensor/metric module. It answers on `route.ok` / `route.error`; an
 * unexpected throw (the database, the outbox) is answered InternalError by
 * the router.
 */
export function sensorApi(options: SensorApiOptions): LocalApiModule {
  const { store, publish, maxSensors = 1000, maxMetrics = 1000 } = options;

  function sensorOf(clientId: string, route: LocalApiRoute) {
    const sensor = store.sensor(clientId, route.sensorId ?? "");
    if (!sensor) {
      throw new LocalApiError(
        "UnknownSensorId",
        `Unknown sensor id ${JSON.stringify(route.sensorId)}`,
      );
    }
    return sensor;
  }

  function metricOf(metrics: ReadonlyMap<string, StoredMetric>, metricId: string): StoredMetric {
    const metric = metrics.get(metricId);
    if (!metric) {
      throw new LocalApiError("UnknownMetricId", `Unknown metric id ${JSON.stringify(metricId)}`);
    }
    return metric;
  }

  async function answer(
    { clientId, payload }: LocalApiRequest,
    route: LocalApiRoute,
    output: LocalApiOutput,
  ): Promise<unknown> {
    switch (route.call) {
      case "listSensors":
        parseObject(payload);
        return store.sensors(clientId).map((s) => ({
          sensorId: s.sensorId,
          name: s.name,
          store: true,
          metrics: s.metricIds.map((metricId) => ({
            metricId,
            link: metricLink(clientId, s.sensorId, metricId),
          })),
        }));
      case "createSensor": {
        const name = decodeSensorName(payload);
        if (store.countSensors(clientId) >= maxSensors) {
          throw new LocalApiError("OutOfRange", `A client may have at most ${maxSensors} sensors`);
        }
        return { name, sensorId: store.createSensor(clientId, name) };
      }
      case "updateSensor": {
        const name = decodeSensorName(payload);
        store.renameSensor(sensorOf(clientId, route).sensorId, name);
        return { message: "Datasource Changed" };
      }
      case "deleteSensor":
        parseObject(payload);
        store.deleteSensor(sensorOf(clientId, route).sensorId);
        return { message: "Sensor was deleted" };
      case "createMetrics": {
        const definitions = decodeMetricDefinitions(payload);
        const { sensorId } = sensorOf(clientId, route);
        if (store.metrics(sensorId).size + definitions.length > maxMetrics) {
          throw new LocalApiError("OutOfRange", `A sensor may have at most ${maxMetrics} metrics`);
        }
        const ids = store.createMetrics(sensorId, definitions);
        return definitions.map((d, i) => ({ matchingId: d.matchingId, metricId: ids[i] }));
      }
      case "describeMetric": {
        parseObject(payload);
        const { sensorId } = sensorOf(clientId, route);
        const metric = metricOf(store.metrics(sensorId), route.metricId ?? "");
        return { ...metric, sensorId, link: metricLink(clientId, sensorId, metric.metricId) };
      }
      case "updateMetrics": {
        const updates = decodeMetricUpdates(payload);
        const metrics = store.metrics(sensorOf(clientId, route).sensorId);
        for (const u of updates) metricOf(metrics, u.metricId);
        const changed = store.updateMetrics(updates);
        if (changed.length === 0) {
          throw new LocalApiError(
            "NoMetricsUpdated",
            "No metric changed: the values given are the current ones",
          );
        }
        return { message: "Metrics updated", metrics: changed.map((metricId) => ({ metricId })) };
      }
      case "deleteMetrics": {
        const ids = decodeMetricIds(payload);
        const metrics = store.metrics(sensorOf(clientId, route).sensorId);
        for (const id of ids) metricOf(metrics, id);
        store.deleteMetrics(ids);
        return { message: "Metrics were deleted", metrics: ids.map((metricId) => ({ metricId })) };
      }
      case "pushValues": {
        const push = decodePushValues(payload);
        const { sensorId } = sensorOf(clientId, route);
        const metrics = store.metrics(sensorId);
        const values: Record<string, unknown> = {};
        push.values.forEach(({ metricId, value }, i) => {
          checkValue(metricOf(metrics, metricId), value, `metrics[${i}] (${metricId})`);
          values[metricId] = value;
        });
        const timestamp = push.timestamp ?? Date.now();
        await publish(sensorStream(sensorId), values, new Date(timestamp));
        output.send(clientId, liveDataPath(sensorId), {
          metrics: push.values.map(({ metricId, value }) => ({ metricId, value })),
          timestamp,
        });
        return { message: "Values accepted", count: push.values.length };
      }
    }
  }

  return {
    name: "sensors",
    handles: (path) => SENSOR_CALLS.has(cachedRoute(path)?.call ?? ""),
    async handle(request, output) {
      const route = cachedRoute(request.path)!;
      try {
        output.send(request.clientId, route.ok, await answer(request, route, output));
      } catch (error) {
        if (!(error instanceof LocalApiError)) throw error;
        log.debug("Refused {path} from {clientId}: {reason}", {
          path: request.path,
          clientId: request.clientId,
          reason: error.message,
        });
        output.send(request.clientId, route.error, error.toBody());
      }
    },
    clientRemoved(clientId) {
      store.deleteClient(clientId);
    },
  };
}
