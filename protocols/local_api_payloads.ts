/**
 * The request bodies of the local API's sensor/metric calls (PROTOCOLS.md
 * §4), checked field by field so that every refusal carries the SDK's
 * error code: InvalidJson, JsonIsNotAObject, MissingParameter,
 * ParameterIsNotAString, … Pure: bytes in, typed request out, or a
 * `LocalApiError` thrown. Messages name the field and what it held, never
 * a whole payload.
 */
import { describe, isPlainObject } from "./describe_value.ts";
import { LocalApiError } from "./local_api_errors.ts";

/** The value units an app may give a metric instead of a value type. */
export const VALUE_UNITS: readonly string[] = [
  "SI.ElectricCurrent.AMPERE",
  "SI.DataAmount.BIT",
  "SI.Temperature.CELSIUS",
  "SI.ElectricCapacitance.FARAD",
  "SI.Mass.GRAM",
  "SI.Frequency.HERTZ",
  "SI_Energy_JOULE",
  "SI.Length.METER",
  "SI.Velocity.METERS_PER_SECOND",
  "SI.AmountOfSubstance.MOLE",
  "SI.Force.NEWTON",
  "SI.ElectricResistance.OHM",
  "SI.Pressure.PASCAL",
  "SI.Angle.RADIAN",
  "SI.Duration.SECOND",
  "SI.Area.SQUARE_METRE",
  "SI.ElectricPotential.VOLT",
  "SI.Power.WATT",
  "SI.LuminousIntensity.CANDELA",
  "SI.Acceleration.METERS_PER_SQUARE_SECOND",
  "NoSI.Dimensionless.PERCENT",
  "NoSI.Dimensionless.DECIBEL",
];

/** The value types of a metric with a custom unit. */
export const VALUE_TYPES: readonly ValueType[] = ["bool", "string", "double", "integer"];

/** The type of a custom-unit metric's values. */
export type ValueType = "bool" | "string" | "double" | "integer";

/** Longest sensor or metric name, annotation or matching id. */
export const MAX_TEXT = 256;
/** Most metrics in one create, update, delete or push. */
export const MAX_METRICS = 1000;

/** A metric as an app defines it. */
export interface MetricDefinition {
  /** The app's own id, echoed back with the new metric id (string or number, as sent). */
  matchingId: string | number;
  /** The metric's name. */
  name: string;
  /** Set for a metric with a predefined unit (its values are numbers). */
  valueUnit?: string;
  /** Set for a metric with a custom unit. */
  valueType?: ValueType;
  /** A custom unit's label. */
  valueAnnotation?: string;
}

/** One change of `updateMetrics`. */
export interface MetricUpdate {
  /** Which metric. */
  metricId: string;
  /** A new name. */
  name?: string;
  /** A new annotation. */
  valueAnnotation?: string;
}

/** One value of `pushValues`, not yet checked against the metric's type. */
export interface PushedValue {
  metricId: string;
  value: unknown;
}

/** The body of `pushValues`. */
export interface PushValues {
  values: PushedValue[];
  /** Milliseconds since the epoch; absent means now. */
  timestamp?: number;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a payload that must be a JSON object.
 *
 * @throws {LocalApiError} InvalidJson, JsonIsNotAObject.
 */
export function parseObject(payload: Uint8Array | string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === "string" ? payload : decoder.decode(payload));
  } catch (error) {
    throw new LocalApiError("InvalidJson", `The payload is not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value)) {
    throw new LocalApiError(
      "JsonIsNotAObject",
      `The payload must be a JSON object, found ${describe(value)}`,
    );
  }
  return value;
}

/** `{"name":"…"}` of create and rename sensor. */
export function decodeSensorName(payload: Uint8Array | string): string {
  return requireText(parseObject(payload), "name", "");
}

/** `{"metrics":[…]}` of create metrics; an item may also be a JSON string of an object (as the SDK's example sends). */
export function decodeMetricDefinitions(payload: Uint8Array | string): MetricDefinition[] {
  const items = requireMetrics(parseObject(payload));
  return items.map((raw, i) => {
    const at = `metrics[${i}].`;
    const item = itemObject(raw, i);
    const matchingId = item.matchingId;
    if (matchingId === undefined) {
      throw new LocalApiError("MissingParameter", `Missing parameter "${at}matchingId"`);
    }
    if (typeof matchingId !== "string" && !Number.isFinite(matchingId)) {
      throw new LocalApiError(
        "ParameterIsNotAString",
        `Parameter "${at}matchingId" must be a string, found ${describe(matchingId)}`,
      );
    }
    if (typeof matchingId === "string" && matchingId.length > MAX_TEXT) {
      throw outOfRange(`${at}matchingId`);
    }
    const definition: MetricDefinition = {
      matchingId: matchingId as string | number,
      name: requireText(item, "name", at),
    };
    const unit = optionalText(item, "valueUnit", at);
    const type = optionalText(item, "valueType", at);
    const annotation = optionalText(item, "valueAnnotation", at);
    if (unit !== undefined) {
      if (!VALUE_UNITS.includes(unit)) {
        throw new LocalApiError(
          "UnknownValueUnit",
          `Unknown value unit ${describe(unit)} in "${at}valueUnit"`,
        );
      }
      definition.valueUnit = unit;
    } else if (type !== undefined) {
      if (!(VALUE_TYPES as readonly string[]).includes(type)) {
        throw new LocalApiError(
          "UnknownMetricType",
          `Unknown value type ${
            describe(type)
          } in "${at}valueType": use bool, string, double or integer`,
        );
      }
      definition.valueType = type as ValueType;
    } else {
      throw new LocalApiError(
        "ValueUnitOrValueTypeHasToBeProvided",
        `Metric "${at.slice(0, -1)}" needs a valueUnit or a valueType`,
      );
    }
    if (annotation !== undefined) definition.valueAnnotation = annotation;
    return definition;
  });
}

/** `{"metrics":[{"metricId","name"?,"valueAnnotation"?}]}` of update metrics. */
export function decodeMetricUpdates(payload: Uint8Array | string): MetricUpdate[] {
  return requireMetrics(parseObject(payload)).map((raw, i) => {
    const at = `metrics[${i}].`;
    const item = itemObject(raw, i);
    const update: MetricUpdate = { metricId: requireText(item, "metricId", at) };
    const name = optionalText(item, "name", at);
    const annotation = optionalText(item, "valueAnnotation", at);
    if (name !== undefined) {
      if (name.length === 0) throw outOfRange(`${at}name`);
      update.name = name;
    }
    if (annotation !== undefined) update.valueAnnotation = annotation;
    return update;
  });
}

/** `{"metrics":[{"metricId"}]}` of delete metrics. */
export function decodeMetricIds(payload: Uint8Array | string): string[] {
  return requireMetrics(parseObject(payload)).map((raw, i) =>
    requireText(itemObject(raw, i), "metricId", `metrics[${i}].`)
  );
}

// Timestamps outside 1970..9999 are surely wrong units (seconds, µs).
const MAX_TIMESTAMP = Date.UTC(9999, 11, 31);

/** `{"metrics":[{"metricId","value"}],"timestamp"?:ms}` of push values. */
export function decodePushValues(payload: Uint8Array | string): PushValues {
  const body = parseObject(payload);
  const values = requireMetrics(body).map((raw, i) => {
    const at = `metrics[${i}].`;
    const item = itemObject(raw, i);
    const metricId = requireText(item, "metricId", at);
    if (!("value" in item)) {
      throw new LocalApiError("MissingParameter", `Missing parameter "${at}value"`);
    }
    return { metricId, value: item.value };
  });
  const { timestamp } = body;
  if (timestamp === undefined || timestamp === null) return { values };
  if (typeof timestamp !== "number") {
    throw new LocalApiError(
      "ParameterIsNotANumber",
      `Parameter "timestamp" must be milliseconds since 1970, found ${describe(timestamp)}`,
    );
  }
  if (!Number.isInteger(timestamp)) {
    throw new LocalApiError(
      "ParameterIsNotAnInteger",
      `Parameter "timestamp" must be an integer, found ${timestamp}`,
    );
  }
  if (timestamp < 0 || timestamp > MAX_TIMESTAMP) {
    throw new LocalApiError(
      "OutOfRange",
      `Parameter "timestamp" must be milliseconds between 1970 and 9999, found ${timestamp}`,
    );
  }
  return { values, timestamp };
}

/**
 * Checks a pushed value against its metric: a metric with a value unit or
 * type double takes a finite number, integer a safe integer, bool a
 * boolean, string a string of at most {@link MAX_TEXT} characters.
 */
export function checkValue(
  metric: { valueType?: ValueType; valueUnit?: string },
  value: unknown,
  where: string,
): void {
  const type = metric.valueType ?? "double";
  const found = describe(value);
  switch (type) {
    case "bool":
      if (typeof value !== "boolean") {
        throw new LocalApiError(
          "ParameterisNotABool",
          `Value of ${where} must be true or false, found ${found}`,
        );
      }
      return;
    case "string":
      if (typeof value !== "string") {
        throw new LocalApiError(
          "ParameterIsNotAString",
          `Value of ${where} must be a string, found ${found}`,
        );
      }
      if (value.length > MAX_TEXT) {
        throw new LocalApiError(
          "OutOfRange",
          `Value of ${where} is longer than ${MAX_TEXT} characters`,
        );
      }
      return;
    case "integer":
      if (typeof value !== "number") {
        throw new LocalApiError(
          "ParameterIsNotANumber",
          `Value of ${where} must be a number, found ${found}`,
        );
      }
      if (!Number.isInteger(value)) {
        throw new LocalApiError(
          "ParameterIsNotAnInteger",
          `Value of ${where} must be an integer, found ${found}`,
        );
      }
      if (!Number.isSafeInteger(value)) {
        throw new LocalApiError("OutOfRange", `Value of ${where} is beyond ±2^53, found ${found}`);
      }
      return;
    case "double":
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new LocalApiError(
          "ParameterIsNotANumber",
          `Value of ${where} must be a number, found ${found}`,
        );
      }
  }
}

function requireMetrics(body: Record<string, unknown>): unknown[] {
  const { metrics } = body;
  if (metrics === undefined) {
    throw new LocalApiError("MissingParameter", 'Missing parameter "metrics"');
  }
  if (!Array.isArray(metrics)) {
    throw new LocalApiError(
      "ParameterIsNotAnArray",
      `Parameter "metrics" must be an array, found ${describe(metrics)}`,
    );
  }
  if (metrics.length === 0 || metrics.length > MAX_METRICS) {
    throw new LocalApiError(
      "OutOfRange",
      `Parameter "metrics" must hold 1 to ${MAX_METRICS} items, found ${metrics.length}`,
    );
  }
  return metrics;
}

function itemObject(raw: unknown, i: number): Record<string, unknown> {
  let item = raw;
  if (typeof raw === "string") {
    try {
      item = JSON.parse(raw);
    } catch {
      throw new LocalApiError("InvalidJson", `Item metrics[${i}] is a string that is not JSON`);
    }
  }
  if (!isPlainObject(item)) {
    throw new LocalApiError(
      "JsonIsNotAObject",
      `Item metrics[${i}] must be a JSON object, found ${describe(item)}`,
    );
  }
  return item;
}

function requireText(body: Record<string, unknown>, key: string, at: string): string {
  const value = optionalText(body, key, at);
  if (value === undefined) {
    throw new LocalApiError("MissingParameter", `Missing parameter "${at}${key}"`);
  }
  if (value.length === 0) throw outOfRange(`${at}${key}`);
  return value;
}

function optionalText(body: Record<string, unknown>, key: string, at: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new LocalApiError(
      "ParameterIsNotAString",
      `Parameter "${at}${key}" must be a string, found ${describe(value)}`,
    );
  }
  if (value.length > MAX_TEXT) throw outOfRange(`${at}${key}`);
  return value;
}

function outOfRange(what: string): LocalApiError {
  return new LocalApiError("OutOfRange", `Parameter "${what}" must be 1 to ${MAX_TEXT} characters`);
}
