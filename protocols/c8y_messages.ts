/**
 * Cumulocity's static SmartREST 2.0 templates as typed messages
 * (PROTOCOLS.md §1): the operations that arrive on `s/ds` (and the legacy
 * `da600` on `s/dc/<X-ID>`), the lines the agent publishes on `s/us`, the
 * bootstrap and token replies. Parsing what arrives lives in
 * c8y_downstream.ts (re-exported here); how Outpost's telemetry and events
 * become measurements, events and alarms lives in c8y_telemetry.ts.
 *
 * ```
 * cloud → device   510,<serial>                                  restart
 *                  511,<serial>,<command>                        shell
 *                  513,<serial>,<configuration>                  configuration
 *                  522,<serial>,<log>,<from>,<to>,<search>,<max> log file
 *                  530,<serial>,<host>,<port>,<connectionKey>    remote access
 *                  515…529,<serial>,…                            other operations
 * device → cloud   501,<fragment>  →  503,<fragment>[,…]  |  502,<fragment>[,<reason>]
 *                  504,<id>        →  506,<id>[,…]        |  505,<id>[,<reason>]
 *                  113,<configuration>                           c8y_Configuration of the device
 * ```
 *
 * JSON via MQTT (operations with any fragment, events with fragments) is
 * in c8y_json.ts.
 *
 * Pure. What the cloud sends is untrusted, so the parsers throw only
 * {@link C8yMessageError}; the encoders check the agent's own values with
 * `TypeError`/`RangeError`, since a bad value there is a bug. The encoders
 * keep the positional shape of the templates they build, as the Cumulocity
 * documents list them, rather than an options object.
 */
import { encodeLine, type SmartRestField } from "./smartrest.ts";

export {
  C8yMessageError,
  type C8yOperation,
  type C8yOtherOperation,
  type C8yUnknownMessage,
  fragmentOf,
  FRAGMENTS,
  OPERATION_TEMPLATES,
  parseBootstrapCredentials,
  parseDownstream,
  parseServerError,
  parseToken,
} from "./c8y_downstream.ts";

/** The MQTT topics of a Cumulocity device. */
export const C8Y_TOPICS = {
  up: "s/us",
  /** Where a child device's lines go (its operations' statuses too); `childId` as in its operations. */
  childUp: (childId: string): string => "s/us/" + childId,
  down: "s/ds",
  errors: "s/e",
  transientUp: "t/us",
  bootstrapUp: "s/ucr",
  bootstrapDown: "s/dcr",
  tokenRequest: "s/uat",
  tokenResponse: "s/dat",
  /** JSON via MQTT: every operation of the device and its children, as JSON (c8y_json.ts). */
  operations: "devicecontrol/notifications",
  /** JSON via MQTT: what the platform could not use of the device's JSON messages. */
  jsonErrors: "error",
  /** JSON via MQTT: creates an event (the body of `POST /event/events`). */
  createEvent: "event/events/create",
  /** The same, processed transiently: delivered to subscribers, never stored. */
  createTransientEvent: "t/event/events/create",
  /** Where a custom (legacy) response template with X-ID `xid` delivers its messages. */
  legacy: (xid: string): string => "s/dc/" + xid,
} as const;

/** The severity of an alarm, as templates 301..304 name it. */
export type C8yAlarmSeverity = "critical" | "major" | "minor" | "warning";

/** `100,<name>,<type>`: creates this device if it does not exist. */
export function createDevice(name: string, type = "c8y_MQTTDevice"): string {
  return encodeLine([100, name, type]);
}

/** `101,<childId>,<name>,<type>`: creates a child device of this one. */
export function childDevice(id: string, name: string, type = "c8y_MQTTChildDevice"): string {
  return encodeLine([101, given("child device id", id), name, type]);
}

/** `110,<serial>,<model>,<revision>`: the device's hardware. */
export function hardware(serial: string, model: string, revision: string): string {
  return encodeLine([110, serial, model, revision]);
}

/** `113,<configuration>`: the device's current configuration text (its `c8y_Configuration`). */
export function configuration(text: string): string {
  return encodeLine([113, text]);
}

/** `114,<op>,…`: the supported operations, replacing the whole list (none clears it). */
export function supportedOperations(ops: readonly string[]): string {
  return encodeLine([114, ...ops.map((op) => given("operation", op))]);
}

/** `117,<minutes>`: the interval after which the platform marks the device unavailable. */
export function requiredInterval(minutes: number): string {
  if (!Number.isSafeInteger(minutes)) {
    throw new RangeError(`A required interval must be a whole number of minutes, got ${minutes}`);
  }
  return encodeLine([117, minutes]);
}

/** `125`: a heartbeat that keeps the device available without data. */
export function heartbeat(): string {
  return "125";
}

/** `150,<protocol>,…`: the remote-access protocols the device offers. */
export function remoteAccessProtocols(
  list: readonly string[] = ["SSH", "VNC", "TELNET", "PASSTHROUGH"],
): string {
  return encodeLine([150, ...list]);
}

/** `200,<fragment>,<series>,<value>[,<unit>[,<time>]]`: one measurement. */
export function measurement(
  fragment: string,
  series: string,
  value: number,
  unit?: string,
  time?: Date,
): string {
  return encodeLine(
    withoutTrailing([
      200,
      given("fragment", fragment),
      given("series", series),
      value,
      unit,
      iso(time),
    ]),
  );
}

/** One series of a `201` measurement. */
export interface C8ySeries {
  /** The fragment, such as `c8y_Temperature`. */
  fragment: string;
  /** The series within the fragment, such as `T`. */
  series: string;
  /** A finite number. */
  value: number;
  /** The unit, such as `C`; left empty when not given. */
  unit?: string;
}

/** `201,<type>,[<time>],<fragment>,<series>,<value>,[<unit>],…`: one measurement of several series. */
export function measurements(
  type: string,
  time: Date | undefined,
  series: readonly C8ySeries[],
): string {
  if (series.length === 0) throw new RangeError(`Measurement "${type}" needs at least one series`);
  const fields: SmartRestField[] = [201, given("measurement type", type), iso(time)];
  for (const s of series) {
    fields.push(given("fragment", s.fragment), given("series", s.series), s.value, s.unit);
  }
  return encodeLine(withoutTrailing(fields));
}

const ALARM_TEMPLATES: Record<C8yAlarmSeverity, number> = {
  critical: 301,
  major: 302,
  minor: 303,
  warning: 304,
};

/** Whether `value` names an alarm severity (`critical`, `major`, `minor`, `warning`). */
export function isAlarmSeverity(value: string): value is C8yAlarmSeverity {
  return Object.hasOwn(ALARM_TEMPLATES, value);
}

/** `30x,<type>[,<text>[,<time>]]`: raises an alarm (301 critical … 304 warning). */
export function alarm(
  severity: C8yAlarmSeverity,
  type: string,
  text?: string,
  time?: Date,
): string {
  const template = Object.hasOwn(ALARM_TEMPLATES, severity) ? ALARM_TEMPLATES[severity] : undefined;
  if (template === undefined) {
    throw new RangeError(
      `An alarm severity must be critical, major, minor or warning, got ${
        JSON.stringify(severity)
      }`,
    );
  }
  return encodeLine(withoutTrailing([template, given("alarm type", type), text, iso(time)]));
}

/** `306,<type>`: clears the active alarm of that type. */
export function clearAlarm(type: string): string {
  return encodeLine([306, given("alarm type", type)]);
}

/**
 * `400,<type>,<text>[,<time>]`: an event. The platform requires a text, so
 * an empty one is replaced by the type.
 */
export function event(type: string, text: string, time?: Date): string {
  given("event type", type);
  return encodeLine(withoutTrailing([400, type, text === "" ? type : text, iso(time)]));
}

/** `500`: asks the platform to send the pending operations again. */
export function pendingOperations(): string {
  return "500";
}

/** `501,<fragment>`: the oldest pending operation of that fragment is executing. */
export function operationExecuting(fragment: string): string {
  return encodeLine([501, given("fragment", fragment)]);
}

/** `502,<fragment>[,<reason>]`: the oldest executing operation of that fragment failed. */
export function operationFailed(fragment: string, reason?: string): string {
  return encodeLine(withoutTrailing([502, given("fragment", fragment), reason]));
}

/** `503,<fragment>[,<param>…]`: the oldest executing operation of that fragment succeeded. */
export function operationSuccessful(fragment: string, ...params: string[]): string {
  return encodeLine([503, given("fragment", fragment), ...params]);
}

/** `504,<operationId>`: that operation is executing. */
export function operationExecutingById(id: string): string {
  return encodeLine([504, given("operation id", id)]);
}

/** `505,<operationId>[,<reason>]`: that operation failed. */
export function operationFailedById(id: string, reason?: string): string {
  return encodeLine(withoutTrailing([505, given("operation id", id), reason]));
}

/** `506,<operationId>[,<param>…]`: that operation succeeded. */
export function operationSuccessfulById(id: string, ...params: string[]): string {
  return encodeLine([506, given("operation id", id), ...params]);
}

/** Checks a mandatory field of the agent's own lines: an empty one is a bug. */
export function given(what: string, value: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(
      `A Cumulocity ${what} must be a non-empty string, got ${
        typeof value === "string" ? '""' : String(value)
      }`,
    );
  }
  return value;
}

/** A SmartREST time field: ISO-8601, or empty when not given. */
export function iso(time: Date | undefined): string | undefined {
  if (time === undefined) return undefined;
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
    throw new RangeError(`A Cumulocity time must be a valid Date, got ${String(time)}`);
  }
  return time.toISOString();
}

// Optional trailing fields may be left out ("100,," and "100" are the same
// message), which keeps lines short and readable.
function withoutTrailing(fields: SmartRestField[]): SmartRestField[] {
  let end = fields.length;
  while (end > 1 && (fields[end - 1] === undefined || fields[end - 1] === "")) end--;
  return fields.slice(0, end);
}
