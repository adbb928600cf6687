/**
 * Sensors and metrics of the local API's apps, in SQLite (PROTOCOLS.md §4).
 * A sensor belongs to one client; a metric to one sensor. Ids are fresh
 * 32-hex strings, as the SDK's agent makes them. Deleting a sensor deletes
 * its metrics; deprovisioning a client deletes its sensors.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { migrate, statementCache } from "../store/database.ts";
import type {
  MetricDefinition,
  MetricUpdate,
  ValueType,
} from "../../protocols/local_api_payloads.ts";

/** A stored metric. */
export interface StoredMetric {
  metricId: string;
  matchingId: string | number;
  name: string;
  valueUnit?: string;
  valueType?: ValueType;
  valueAnnotation?: string;
}

/** A stored sensor. */
export interface StoredSensor {
  sensorId: string;
  name: string;
}

const STEPS = [
  `CREATE TABLE local_api_sensors (
    sensor_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  )`,
  "CREATE INDEX local_api_sensors_client ON local_api_sensors (client_id)",
  `CREATE TABLE local_api_metrics (
    metric_id TEXT PRIMARY KEY,
    sensor_id TEXT NOT NULL REFERENCES local_api_sensors (sensor_id) ON DELETE CASCADE,
    matching_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value_unit TEXT,
    value_type TEXT,
    value_annotation TEXT,
    created_at INTEGER NOT NULL
  )`,
  "CREATE INDEX local_api_metrics_sensor ON local_api_metrics (sensor_id)",
];

interface MetricRow {
  metric_id: string;
  matching_id: string;
  name: string;
  value_unit: string | null;
  value_type: string | null;
  value_annotation: string | null;
}

/** A fresh id: 32 lowercase hex characters. */
export function newId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

/** The sensor/metric tables. */
export class SensorStore {
  // Statements are compiled once: preparing one per call cost more than running it.
  readonly #statement: (sql: string) => StatementSync;

  constructor(private readonly db: DatabaseSync) {
    migrate(db, "local_api_sensors", STEPS);
    this.#statement = statementCache(db);
  }

  /** How many sensors `clientId` has. */
  countSensors(clientId: string): number {
    return (this.#statement("SELECT count(*) AS n FROM local_api_sensors WHERE client_id = ?").get(
      clientId,
    ) as { n: number }).n;
  }

  /** Creates a sensor; returns its id. */
  createSensor(clientId: string, name: string): string {
    const sensorId = newId();
    this.#statement(
      "INSERT INTO local_api_sensors (sensor_id, client_id, name, created_at) VALUES (?, ?, ?, ?)",
    ).run(sensorId, clientId, name, Date.now());
    return sensorId;
  }

  // Every push looks up its sensor and metrics; this process is the only
  // writer, so caches dropped on every write of the same rows stay exact.
  #sensorCache = new Map<string, StoredSensor & { clientId: string }>();
  #metricCache = new Map<string, Map<string, StoredMetric>>();

  /** The sensor `sensorId` of `clientId`, or undefined (another client's sensor is unknown too). */
  sensor(clientId: string, sensorId: string): StoredSensor | undefined {
    const cached = this.#sensorCache.get(sensorId);
    if (cached) {
      return cached.clientId === clientId ? { sensorId, name: cached.name } : undefined;
    }
    const row = this.#statement(
      "SELECT sensor_id, name FROM local_api_sensors WHERE client_id = ? AND sensor_id = ?",
    ).get(clientId, sensorId) as { sensor_id: string; name: string } | undefined;
    if (!row) return undefined;
    this.#sensorCache.set(sensorId, { clientId, sensorId, name: row.name });
    return { sensorId: row.sensor_id, name: row.name };
  }

  /** Every sensor of `clientId`, oldest first, with its metric ids. */
  sensors(clientId: string): (StoredSensor & { metricIds: string[] })[] {
    const rows = this.#statement(
      "SELECT sensor_id, name FROM local_api_sensors WHERE client_id = ? ORDER BY created_at, rowid",
    ).all(clientId) as unknown as { sensor_id: string; name: string }[];
    const ids = this.#statement(
      "SELECT metric_id FROM local_api_metrics WHERE sensor_id = ? ORDER BY created_at, rowid",
    );
    return rows.map((row) => ({
      sensorId: row.sensor_id,
      name: row.name,
      metricIds: (ids.all(row.sensor_id) as unknown as { metric_id: string }[]).map((m) =>
        m.metric_id
      ),
    }));
  }

  /** Renames a sensor. */
  renameSensor(sensorId: string, name: string): void {
    this.#sensorCache.delete(sensorId);
    this.#statement("UPDATE local_api_sensors SET name = ? WHERE sensor_id = ?").run(
      name,
      sensorId,
    );
  }

  /** Deletes a sensor and its metrics. */
  deleteSensor(sensorId: string): void {
    this.#sensorCache.delete(sensorId);
    this.#metricCache.delete(sensorId);
    this.#statement("DELETE FROM local_api_sensors WHERE sensor_id = ?").run(sensorId);
  }

  /** Deletes every sensor of `clientId`; returns how many. */
  deleteClient(clientId: string): number {
    this.#sensorCache.clear();
    this.#metricCache.clear();
    const { changes } = this.#statement("DELETE FROM local_api_sensors WHERE client_id = ?").run(
      clientId,
    );
    return Number(changes);
  }

  /** The metrics of a sensor, by id. */
  metrics(sensorId: string): ReadonlyMap<string, StoredMetric> {
    const cached = this.#metricCache.get(sensorId);
    if (cached) return cached;
    const rows = this.#statement(
      "SELECT * FROM local_api_metrics WHERE sensor_id = ? ORDER BY created_at, rowid",
    ).all(sensorId) as unknown as MetricRow[];
    const metrics = new Map(rows.map((row) => [row.metric_id, toMetric(row)]));
    this.#metricCache.set(sensorId, metrics);
    return metrics;
  }

  /** Creates metrics in one transaction; returns their ids in order. */
  createMetrics(sensorId: string, definitions: MetricDefinition[]): string[] {
    this.#metricCache.delete(sensorId);
    const insert = this.#statement(
      `INSERT INTO local_api_metrics
       (metric_id, sensor_id, matching_id, name, value_unit, value_type, value_annotation, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    return this.#transaction(() =>
      definitions.map((d) => {
        const metricId = newId();
        insert.run(
          metricId,
          sensorId,
          JSON.stringify(d.matchingId),
          d.name,
          d.valueUnit ?? null,
          d.valueType ?? null,
          d.valueAnnotation ?? null,
          Date.now(),
        );
        return metricId;
      })
    );
  }

  /** Applies updates in one transaction; returns the ids whose row changed. */
  updateMetrics(updates: MetricUpdate[]): string[] {
    this.#metricCache.clear();
    const rename = this.#statement(
      "UPDATE local_api_metrics SET name = ? WHERE metric_id = ? AND name != ?",
    );
    const annotate = this.#statement(
      "UPDATE local_api_metrics SET value_annotation = ? WHERE metric_id = ? AND value_annotation IS NOT ?",
    );
    return this.#transaction(() => {
      const changed = new Set<string>();
      for (const u of updates) {
        if (u.name !== undefined && Number(rename.run(u.name, u.metricId, u.name).changes) > 0) {
          changed.add(u.metricId);
        }
        if (
          u.valueAnnotation !== undefined &&
          Number(annotate.run(u.valueAnnotation, u.metricId, u.valueAnnotation).changes) > 0
        ) {
          changed.add(u.metricId);
        }
      }
      return [...changed];
    });
  }

  /** Deletes metrics in one transaction. */
  deleteMetrics(metricIds: string[]): void {
    this.#metricCache.clear();
    const remove = this.#statement("DELETE FROM local_api_metrics WHERE metric_id = ?");
    this.#transaction(() => metricIds.forEach((id) => remove.run(id)));
  }

  #transaction<T>(work: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
  }
}

function toMetric(row: MetricRow): StoredMetric {
  const metric: StoredMetric = {
    metricId: row.metric_id,
    matchingId: JSON.parse(row.matching_id),
    name: row.name,
  };
  if (row.value_unit !== null) metric.valueUnit = row.value_unit;
  if (row.value_type !== null) metric.valueType = row.value_type as ValueType;
  if (row.value_annotation !== null) metric.valueAnnotation = row.value_annotation;
  return metric;
}
