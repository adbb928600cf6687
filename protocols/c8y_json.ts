/**
 * Cumulocity's JSON via MQTT, the part Outpost uses (PROTOCOLS.md §1,
 * docs/c8y.md): operations as the platform delivers them, with their id
 * and every fragment, and events the device creates with fragments of its
 * own. SmartREST's static templates carry neither an operation's id nor a
 * fragment they do not know.
 *
 * ```
 * cloud → device  devicecontrol/notifications
 *                 {"id":"4711","status":"PENDING","deviceId":"…","description":"…",
 *                  "externalSource":{"externalId":"<serial>","type":"c8y_Serial"},
 *                  "<fragment>":{…}, …}
 * device → cloud  event/events/create (t/event/events/create: transient, never stored)
 *                 {"type":"…","text":"…","time":"<ISO-8601>","<fragment>":{…}}
 * cloud → device  error   {"error":"…","message":"…","messageId":…}
 * ```
 *
 * The platform delivers every operation here, also those a static template
 * sends on `s/ds`; which copy to act on is the session's decision.
 *
 * Pure. What arrives is untrusted: the parser throws only
 * {@link C8yMessageError}, naming what is wrong.
 */
import { C8yMessageError } from "./c8y_downstream.ts";
import { describe, isPlainObject } from "./describe_value.ts";

/** The properties of an operation itself (REST API `Operation`); every other top-level key is a fragment. */
export const OPERATION_PROPERTIES: ReadonlySet<string> = new Set([
  "id",
  "self",
  "status",
  "creationTime",
  "deviceId",
  "deviceName",
  "agentId",
  "delivery",
  "externalSource",
  "description",
  "failureReason",
  "bulkOperationId",
]);

const FRAGMENT = /^[A-Za-z][A-Za-z0-9_]{0,127}$/;
const OPERATION_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Whether `name` can be an operation fragment Outpost announces and
 * answers: a letter, then up to 127 letters, digits or `_`, and none of the
 * operation's own properties.
 *
 * @example
 * ```ts
 * isFragmentName("c8y_MyOp"); // true
 * isFragmentName("status"); // false: a property of every operation
 * ```
 */
export function isFragmentName(name: string): boolean {
  return FRAGMENT.test(name) && !OPERATION_PROPERTIES.has(name);
}

/** An operation from `devicecontrol/notifications`. */
export interface C8yJsonOperation {
  /** Its id, for `504`/`505`/`506`. */
  id: string;
  /** `PENDING` for a new operation; undefined when the notification has none. */
  status: string | undefined;
  /** `externalSource.externalId`: the serial of the device it is for; undefined when absent. */
  serial: string | undefined;
  /** Every top-level key that is not a property of the operation itself, with its value. */
  fragments: Record<string, unknown>;
}

/**
 * Reads an operation notification.
 *
 * @example
 * ```ts
 * parseJsonOperation('{"id":"4711","status":"PENDING","c8y_MyOp":{"level":3}}');
 * // { id: "4711", status: "PENDING", serial: undefined, fragments: { c8y_MyOp: { level: 3 } } }
 * ```
 * @throws {C8yMessageError} for bytes that are not UTF-8 JSON, a value that
 * is no object, or an id that is missing or cannot stand in a SmartREST line.
 */
export function parseJsonOperation(payload: string | Uint8Array): C8yJsonOperation {
  const what = "Cannot read an operation from devicecontrol/notifications";
  let value: unknown;
  try {
    const text = typeof payload === "string"
      ? payload
      : new TextDecoder("utf-8", { fatal: true }).decode(payload);
    value = JSON.parse(text);
  } catch (error) {
    throw new C8yMessageError(`${what}: not UTF-8 JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(value)) {
    throw new C8yMessageError(`${what}: expected a JSON object, got ${describe(value)}`);
  }
  const id = typeof value.id === "number" ? String(value.id) : value.id;
  if (typeof id !== "string" || !OPERATION_ID.test(id)) {
    throw new C8yMessageError(
      `${what}: "id" must be 1 to 64 characters from A-Z a-z 0-9 _ -, got ${describe(value.id)}`,
    );
  }
  const source = value.externalSource;
  const serial = isPlainObject(source) && typeof source.externalId === "string"
    ? source.externalId
    : undefined;
  const fragments: Record<string, unknown> = {};
  for (const [key, fragment] of Object.entries(value)) {
    if (!OPERATION_PROPERTIES.has(key)) fragments[key] = fragment;
  }
  return {
    id,
    status: typeof value.status === "string" ? value.status : undefined,
    serial,
    fragments,
  };
}

/** An event the device creates through JSON via MQTT. */
export interface C8yJsonEvent {
  /** The event type. */
  type: string;
  /** Its text; the platform requires one, so an empty one is replaced by the type. */
  text: string;
  /** When it happened. */
  time: Date;
  /** Fragments it carries, by name. */
  fragments?: Record<string, unknown>;
}

/**
 * The body of an event for `event/events/create`.
 *
 * @example
 * ```ts
 * jsonEvent({ type: "outpost_Support", text: "chat", time: new Date(0), fragments: { outpost_Support: {} } });
 * // '{"type":"outpost_Support","text":"chat","time":"1970-01-01T00:00:00.000Z","outpost_Support":{}}'
 * ```
 * @throws {TypeError} for an empty type or a fragment named like a property of the event.
 */
export function jsonEvent(event: C8yJsonEvent): string {
  if (typeof event.type !== "string" || event.type === "") {
    throw new TypeError(`A Cumulocity event type must be a non-empty string, got ${event.type}`);
  }
  const body: Record<string, unknown> = {
    type: event.type,
    text: event.text === "" ? event.type : event.text,
    time: event.time.toISOString(),
  };
  for (const [name, value] of Object.entries(event.fragments ?? {})) {
    if (Object.hasOwn(body, name) || ["source", "id", "self"].includes(name)) {
      throw new TypeError(`An event fragment cannot be named ${JSON.stringify(name)}`);
    }
    body[name] = value;
  }
  return JSON.stringify(body);
}

/**
 * What an error notification on `error` says, as one line for a log
 * (`undefined/validationError: Following mandatory fields…`); text that is
 * not the documented JSON is shown as it is, cut to 200 characters.
 */
export function describeJsonError(payload: Uint8Array): string {
  const text = new TextDecoder().decode(payload);
  try {
    const value = JSON.parse(text);
    if (isPlainObject(value) && (value.error !== undefined || value.message !== undefined)) {
      return `${value.error ?? "error"}: ${value.message ?? ""}`.slice(0, 500);
    }
  } catch {
    // Not JSON: shown as it is.
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * The configuration text of a `c8y_Configuration` operation (`513`) as
 * Outpost reads it: one JSON object, the desired state of the embedding app.
 *
 * @example
 * ```ts
 * parseConfigurationText('{"interval": 30}'); // { interval: 30 }
 * ```
 * @throws {C8yMessageError} for text that is not JSON or not an object, saying so.
 */
export function parseConfigurationText(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new C8yMessageError(
      `The configuration must be a JSON object like {"interval":30}: ${
        text.trim() === "" ? "the text is empty" : (error as Error).message
      }`,
      { templateId: "513", fragment: "c8y_Configuration" },
    );
  }
  if (!isPlainObject(value)) {
    throw new C8yMessageError(
      `The configuration must be a JSON object like {"interval":30}, got ${describe(value)}`,
      { templateId: "513", fragment: "c8y_Configuration" },
    );
  }
  return value;
}
