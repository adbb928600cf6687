/**
 * Cumulocity's static SmartREST 2.0 templates as typed messages
 * (PROTOCOLS.md §1): the operations that arrive on `s/ds` (and the legacy
 * `da600` on `s/dc/<X-ID>`), the lines the agent publishes on `s/us`, the
 * bootstrap and token replies. How Outpost's telemetry and events become
 * measurements, events and alarms is in c8y_telemetry.ts.
 *
 * ```
 * cloud → device   510,<serial>                                  restart
 *                  511,<serial>,<command>                        shell
 *                  522,<serial>,<log>,<from>,<to>,<search>,<max> log file
 *                  530,<serial>,<host>,<port>,<connectionKey>    remote access
 * device → cloud   501,<fragment>  →  503,<fragment>[,…]  |  502,<fragment>[,<reason>]
 * ```
 *
 * Pure. What the cloud sends is untrusted, so the parsers throw only
 * {@link C8yMessageError}; the encoders check the agent's own values with
 * `TypeError`/`RangeError`, since a bad value there is a bug. The encoders
 * keep the positional shape of the templates they build, as the Cumulocity
 * documents list them, rather than an options object.
 */
import { encodeLine, type SmartRestField, templateIdOf } from "./smartrest.ts";

/** The MQTT topics of a Cumulocity device. */
export const C8Y_TOPICS = {
  up: "s/us",
  down: "s/ds",
  errors: "s/e",
  transientUp: "t/us",
  bootstrapUp: "s/ucr",
  bootstrapDown: "s/dcr",
  tokenRequest: "s/uat",
  tokenResponse: "s/dat",
  /** Where a custom (legacy) response template with X-ID `xid` delivers its messages. */
  legacy: (xid: string): string => "s/dc/" + xid,
} as const;

/** The operation fragment each supported operation is reported under (501/502/503). */
export const FRAGMENTS = {
  restart: "c8y_Restart",
  shell: "c8y_Command",
  logfile: "c8y_LogfileRequest",
  remoteAccess: "c8y_RemoteAccessConnect",
} as const;

/** An operation for this device (or one of its children, named by `serial`). */
export type C8yOperation =
  | { kind: "restart"; serial: string }
  | { kind: "shell"; serial: string; command: string }
  | {
    kind: "logfile";
    serial: string;
    log: string;
    from: Date;
    to: Date;
    search: string;
    /** Undefined when the platform left the field empty. */
    maxLines: number | undefined;
  }
  | { kind: "remoteAccess"; serial: string; host: string; port: number; connectionKey: string };

/** A downstream line of a template Outpost does not handle; `fields` is the whole line. */
export type C8yUnknownMessage = { kind: "unknown"; templateId: string; fields: string[] };

/** The severity of an alarm, as templates 301..304 name it. */
export type C8yAlarmSeverity = "critical" | "major" | "minor" | "warning";

/**
 * A downstream line that cannot be used. When its template is known,
 * `fragment` names the operation, so the caller can answer
 * `502,<fragment>,<message>`.
 */
export class C8yMessageError extends Error {
  /** The first field of the line, when there was one. */
  readonly templateId?: string;
  /** The operation fragment of that template, when Outpost knows it. */
  readonly fragment?: string;
  /** `options` names the template and fragment the line was meant to be. */
  constructor(message: string, options: { templateId?: string; fragment?: string } = {}) {
    super(message);
    this.name = "C8yMessageError";
    this.templateId = options.templateId;
    this.fragment = options.fragment;
  }
}

const TEMPLATE_FRAGMENTS: Record<string, string> = {
  "510": FRAGMENTS.restart,
  "511": FRAGMENTS.shell,
  "522": FRAGMENTS.logfile,
  "530": FRAGMENTS.remoteAccess,
  "da600": FRAGMENTS.remoteAccess,
};

// Fields error messages must not repeat, by template id: one-time keys and credentials.
const SECRET_FIELDS: Record<string, number> = { "530": 4, "da600": 4, "70": 3, "71": 1 };

/** The operation fragment of downstream template `templateId`, when Outpost knows it. */
export function fragmentOf(templateId: string): string | undefined {
  return Object.hasOwn(TEMPLATE_FRAGMENTS, templateId) ? TEMPLATE_FRAGMENTS[templateId] : undefined;
}

/**
 * The operation a downstream line (decoded by `decodeMessage`) asks for.
 * Fields past the documented ones are ignored, so newer platforms may add some.
 *
 * @example
 * ```ts
 * parseDownstream(["530", "dev-1", "127.0.0.1", "22", "k3y"]);
 * // { kind: "remoteAccess", serial: "dev-1", host: "127.0.0.1", port: 22, connectionKey: "k3y" }
 * ```
 * @throws {C8yMessageError} saying which field is wrong, with the fragment.
 */
export function parseDownstream(fields: readonly string[]): C8yOperation | C8yUnknownMessage {
  const line = new DownstreamLine(fields);
  switch (line.templateId) {
    case "510":
      return { kind: "restart", serial: line.required(1, "serial") };
    case "511":
      return {
        kind: "shell",
        serial: line.required(1, "serial"),
        command: line.required(2, "command"),
      };
    case "522":
      return {
        kind: "logfile",
        serial: line.required(1, "serial"),
        log: line.required(2, "log file name"),
        from: line.date(3, "start date"),
        to: line.date(4, "end date"),
        search: line.optional(5),
        maxLines: line.count(6, "maximum lines"),
      };
    case "530":
    case "da600":
      return {
        kind: "remoteAccess",
        serial: line.required(1, "serial"),
        host: line.required(2, "host"),
        port: line.port(3),
        connectionKey: line.required(4, "connection key"),
      };
    default:
      return { kind: "unknown", templateId: line.templateId, fields: [...fields] };
  }
}

/**
 * The device credentials of a bootstrap reply `70,<tenant>,<username>,<password>` (on `s/dcr`).
 *
 * @throws {C8yMessageError} when the line is not such a reply; the message never holds the password.
 */
export function parseBootstrapCredentials(
  fields: readonly string[],
): { tenant: string; username: string; password: string } {
  const line = new DownstreamLine(fields, "70");
  return {
    tenant: line.required(1, "tenant"),
    username: line.required(2, "username"),
    password: line.required(3, "password"),
  };
}

/**
 * The JWT of a token reply `71,<jwt>` (on `s/dat`).
 *
 * @throws {C8yMessageError} when the line is not such a reply; the message never holds the token.
 */
export function parseToken(fields: readonly string[]): string {
  return new DownstreamLine(fields, "71").required(1, "token");
}

/**
 * An error line from `s/e`, `<code>,<template or message id>,<text>`
 * (`41,100,Device already existing`); missing fields are empty.
 */
export function parseServerError(
  fields: readonly string[],
): { code: string; templateId: string; message: string } {
  return { code: fields[0] ?? "", templateId: fields[1] ?? "", message: fields.slice(2).join(",") };
}

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

const LAYOUTS: Record<string, string> = {
  "510": "510,<serial>",
  "511": "511,<serial>,<command>",
  "522": "522,<serial>,<log>,<from>,<to>,<search>,<maxLines>",
  "530": "530,<serial>,<host>,<port>,<connectionKey>",
  "da600": "da600,<serial>,<host>,<port>,<connectionKey>",
  "70": "70,<tenant>,<username>,<password>",
  "71": "71,<jwt>",
};

// One downstream line being read; every problem becomes a C8yMessageError
// that quotes the line (without its secret field) and names the fragment.
class DownstreamLine {
  readonly templateId: string;
  readonly #fields: readonly string[];
  readonly #secret: number | undefined;

  constructor(fields: readonly string[], expected?: string) {
    if (!Array.isArray(fields) || fields.length === 0) {
      throw new C8yMessageError("Cannot parse a SmartREST line: it has no fields");
    }
    const kind = fields.find((field) => typeof field !== "string");
    if (kind !== undefined) {
      throw new C8yMessageError(
        `Cannot parse a SmartREST line: every field must be text, found ${typeof kind}`,
      );
    }
    this.#fields = fields;
    this.templateId = fields[0];
    // A reply of the wrong template may still hold the secret where it was expected.
    const secretOf = expected ?? this.templateId;
    this.#secret = Object.hasOwn(SECRET_FIELDS, secretOf) ? SECRET_FIELDS[secretOf] : undefined;
    if (expected !== undefined && this.templateId !== expected) {
      throw this.fail(
        `expected template ${LAYOUTS[expected]}, found template ${
          JSON.stringify(templateIdOf(this.templateId))
        }`,
      );
    }
  }

  required(index: number, name: string): string {
    const value = this.#fields[index];
    if (value === undefined) {
      throw this.fail(`the ${name} is missing (expected ${LAYOUTS[this.templateId]})`);
    }
    if (value.trim() === "") throw this.fail(`the ${name} is empty`);
    return value;
  }

  optional(index: number): string {
    return this.#fields[index] ?? "";
  }

  date(index: number, name: string): Date {
    const value = this.required(index, name);
    const time = new Date(value);
    if (Number.isNaN(time.getTime())) {
      throw this.fail(`the ${name} ${JSON.stringify(value)} is not an ISO-8601 time`);
    }
    return time;
  }

  count(index: number, name: string): number | undefined {
    const value = this.optional(index);
    if (value === "") return undefined;
    if (!/^[0-9]{1,15}$/.test(value)) {
      throw this.fail(`the ${name} ${JSON.stringify(value)} is not a whole number`);
    }
    return Number(value);
  }

  port(index: number): number {
    const value = this.required(index, "port");
    if (!/^[0-9]+$/.test(value)) throw this.fail(`port ${JSON.stringify(value)} is not a number`);
    const port = Number(value);
    if (port < 1 || port > 65535) throw this.fail(`port ${value} is out of range 1..65535`);
    return port;
  }

  fail(problem: string): C8yMessageError {
    const shown = this.#fields.map((field, i) =>
      i === this.#secret && field !== "" ? "<redacted>" : field
    );
    const line = encodeLine(shown);
    return new C8yMessageError(
      `Cannot parse SmartREST line ${
        JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line)
      }: ${problem}`,
      { templateId: this.templateId, fragment: fragmentOf(this.templateId) },
    );
  }
}

// Mandatory fields of the agent's own lines: an empty one is a bug, and the
// platform would only answer it on s/e, far from its cause.
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
