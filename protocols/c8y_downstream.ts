/**
 * What Cumulocity sends the device (PROTOCOLS.md §1), parsed and checked:
 * operations on `s/ds` (and the legacy `da600` on `s/dc/<X-ID>`), bootstrap
 * credentials (`70`), tokens (`71`) and errors on `s/e`. Pure; whatever
 * arrives is untrusted, so the parsers throw only {@link C8yMessageError}.
 */
import { encodeLine, templateIdOf } from "./smartrest.ts";

/** The operation fragment each operation Outpost runs is reported under (501/502/503). */
export const FRAGMENTS = {
  restart: "c8y_Restart",
  shell: "c8y_Command",
  configuration: "c8y_Configuration",
  logfile: "c8y_LogfileRequest",
  remoteAccess: "c8y_RemoteAccessConnect",
} as const;

/**
 * Every static operation template Cumulocity sends on `s/ds` (and the legacy
 * `da600`), with the fragment its operation is reported under: the platform
 * creates the operation PENDING before it sends the line, so a line the
 * agent leaves unanswered stays PENDING on the platform for good. Fragments
 * as Cumulocity's device agents report them (several templates share one).
 */
export const OPERATION_TEMPLATES: Readonly<Record<string, string>> = Object.freeze({
  "510": FRAGMENTS.restart,
  "511": FRAGMENTS.shell,
  "513": FRAGMENTS.configuration,
  "515": "c8y_Firmware",
  "516": "c8y_SoftwareList",
  "517": "c8y_MeasurementRequestOperation",
  "518": "c8y_Relay",
  "519": "c8y_RelayArray",
  "520": "c8y_UploadConfigFile",
  "521": "c8y_DownloadConfigFile",
  "522": FRAGMENTS.logfile,
  "523": "c8y_CommunicationMode",
  "524": "c8y_DownloadConfigFile",
  "525": "c8y_Firmware",
  "526": "c8y_UploadConfigFile",
  "527": "c8y_DeviceProfile",
  "528": "c8y_SoftwareUpdate",
  "529": "c8y_SoftwareUpdate",
  "530": FRAGMENTS.remoteAccess,
  "da600": FRAGMENTS.remoteAccess,
});

/** An operation for this device (or one of its children, named by `serial`). */
export type C8yOperation =
  | { kind: "restart"; serial: string }
  | { kind: "shell"; serial: string; command: string }
  | { kind: "configuration"; serial: string; text: string }
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
  | { kind: "remoteAccess"; serial: string; host: string; port: number; connectionKey: string }
  | C8yOtherOperation;

/**
 * An operation of a static template Outpost has no handler for (515 firmware, 528 software update, …): its fields are not
 * read, but it is still an operation that must be answered under `fragment`.
 */
export type C8yOtherOperation = {
  kind: "other";
  serial: string;
  templateId: string;
  fragment: string;
};

/**
 * A downstream line that is no static operation template (a reply such as
 * `106`, a custom template): there is no fragment to answer it under.
 * `fields` is the whole line.
 */
export type C8yUnknownMessage = { kind: "unknown"; templateId: string; fields: string[] };

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

// Fields error messages must not repeat, by template id: one-time keys and credentials.
const SECRET_FIELDS: Record<string, number> = { "530": 4, "da600": 4, "70": 3, "71": 1 };

/**
 * The operation fragment of downstream template `templateId`, when it is a
 * static operation template.
 *
 * @example
 * ```ts
 * fragmentOf("528"); // "c8y_SoftwareUpdate"
 * fragmentOf("106"); // undefined: a reply, not an operation
 * ```
 */
export function fragmentOf(templateId: string): string | undefined {
  return typeof templateId === "string" && Object.hasOwn(OPERATION_TEMPLATES, templateId)
    ? OPERATION_TEMPLATES[templateId]
    : undefined;
}

/**
 * The operation a downstream line (decoded by `decodeMessage`) asks for.
 * Fields past the documented ones are ignored, so newer platforms may add some.
 * Other static operation templates are `kind: "other"` with their fragment;
 * anything else (a reply such as `106`, a custom template) is `"unknown"`.
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
    case "513":
      // The text is whatever the operator typed; an empty one is still an answerable operation.
      return { kind: "configuration", serial: line.required(1, "serial"), text: line.optional(2) };
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
    default: {
      const fragment = fragmentOf(line.templateId);
      if (fragment === undefined) {
        return { kind: "unknown", templateId: line.templateId, fields: [...fields] };
      }
      return {
        kind: "other",
        serial: line.required(1, "serial"),
        templateId: line.templateId,
        fragment,
      };
    }
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

const LAYOUTS: Record<string, string> = {
  "510": "510,<serial>",
  "511": "511,<serial>,<command>",
  "513": "513,<serial>,<configuration>",
  "522": "522,<serial>,<log>,<from>,<to>,<search>,<maxLines>",
  "530": "530,<serial>,<host>,<port>,<connectionKey>",
  "da600": "da600,<serial>,<host>,<port>,<connectionKey>",
  "70": "70,<tenant>,<username>,<password>",
  "71": "71,<jwt>",
};

// Every operation line starts with the serial; Outpost reads no further of the others.
function layoutOf(templateId: string): string {
  return Object.hasOwn(LAYOUTS, templateId) ? LAYOUTS[templateId] : `${templateId},<serial>,…`;
}

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
        `expected template ${layoutOf(expected)}, found template ${
          JSON.stringify(templateIdOf(this.templateId))
        }`,
      );
    }
  }

  required(index: number, name: string): string {
    const value = this.#fields[index];
    if (value === undefined) {
      throw this.fail(`the ${name} is missing (expected ${layoutOf(this.templateId)})`);
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
