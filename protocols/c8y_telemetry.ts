/**
 * How Outpost's telemetry records and events become Cumulocity lines
 * (PROTOCOLS.md §1): numeric values as `200`/`201` measurements, events as
 * `400`, events carrying a severity as alarms `301`–`304` (`306` clears).
 * Pure.
 */
import { encodeLine, SMARTREST_PAYLOAD_LIMIT, SmartRestError, utf8Length } from "./smartrest.ts";
import {
  alarm,
  type C8yAlarmSeverity,
  clearAlarm,
  event,
  given,
  isAlarmSeverity,
  iso,
  measurement,
} from "./c8y_messages.ts";

/**
 * The numeric values of a telemetry record as measurement series: finite
 * numbers as they are, booleans as 1/0. Everything else (text, null,
 * objects, arrays, NaN, an empty key) cannot be a Cumulocity series and is
 * named in `skipped`, for a caller that wants to say so.
 */
export function numericSeries(
  values: Record<string, unknown>,
): { series: [name: string, value: number][]; skipped: string[] } {
  const series: [string, number][] = [];
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (name !== "" && typeof value === "number" && Number.isFinite(value)) {
      series.push([name, value]);
    } else if (name !== "" && typeof value === "boolean") series.push([name, value ? 1 : 0]);
    else skipped.push(name);
  }
  return { series, skipped };
}

/**
 * An Outpost telemetry record as Cumulocity measurements. Every numeric
 * value (see {@link numericSeries}) is a series named by its key in the
 * fragment `<stream>`. One series is a `200` line (its measurement type is
 * then the fragment, as the platform defaults it); several are one `201`
 * line of type `outpost_<stream>`, split into several `201` lines only when
 * one would pass `options.limit` bytes. Non-numeric values are skipped
 * silently here; `numericSeries` names them. No numeric value, no line.
 *
 * @example
 * ```ts
 * telemetryToLines("system", { cpu: 12.5, up: true, host: "a" }, new Date(0));
 * // ["201,outpost_system,1970-01-01T00:00:00.000Z,system,cpu,12.5,,system,up,1"]
 * ```
 * @throws {SmartRestError} when a single series alone passes the limit.
 */
export function telemetryToLines(
  stream: string,
  values: Record<string, unknown>,
  ts: Date,
  options: { limit?: number } = {},
): string[] {
  given("telemetry stream", stream);
  const limit = options.limit ?? SMARTREST_PAYLOAD_LIMIT;
  const { series } = numericSeries(values);
  if (series.length === 0) return [];
  if (series.length === 1) return [measurement(stream, series[0][0], series[0][1], undefined, ts)];
  const header = encodeLine([201, `outpost_${stream}`, iso(ts)]);
  const headerBytes = utf8Length(header);
  const lines: string[] = [];
  let line = "";
  let size = 0;
  for (const [name, value] of series) {
    const group = encodeLine([stream, name, value]);
    const bytes = utf8Length(group);
    if (headerBytes + 1 + bytes > limit) {
      throw new SmartRestError(
        `SmartREST line of template "201" for series ${JSON.stringify(name)} of stream ${
          JSON.stringify(stream)
        } is ${headerBytes + 1 + bytes} bytes, more than the payload limit of ${limit} bytes`,
      );
    }
    // After the first group, the previous group's empty unit field comes first.
    if (line !== "" && size + 2 + bytes <= limit) {
      line += ",," + group;
      size += 2 + bytes;
    } else {
      if (line !== "") lines.push(line);
      line = `${header},${group}`;
      size = headerBytes + 1 + bytes;
    }
  }
  lines.push(line);
  return lines;
}

/** An Outpost event as `400,<type>,<text>,<time>`. */
export function eventToLine(type: string, text: string, ts: Date): string {
  return event(type, text, ts);
}

/**
 * An Outpost event record as the line Cumulocity expects. Alarms travel as
 * events whose `data.severity` is `critical`, `major`, `minor` or `warning`
 * (any case): they become `301`..`304,<type>,<text>,<time>`, with
 * `data.text` (when a string) in place of the event's text, so raising the
 * same type again updates the one active alarm. A severity of `cleared`
 * (or `clear`) becomes `306,<type>`. Any other record, including one with an
 * unknown severity, stays a plain `400` event rather than being dropped.
 */
export function eventRecordToLine(
  record: { type: string; text: string; ts: Date; data?: Record<string, unknown> },
): string {
  const { type, text, ts, data } = record;
  const severity = typeof data?.severity === "string" ? data.severity.toLowerCase() : undefined;
  const alarmText = typeof data?.text === "string" ? data.text : text;
  if (severity !== undefined && isAlarmSeverity(severity)) {
    return alarm(severity as C8yAlarmSeverity, type, alarmText === "" ? undefined : alarmText, ts);
  }
  if (severity === "cleared" || severity === "clear") return clearAlarm(type);
  return eventToLine(type, text, ts);
}
