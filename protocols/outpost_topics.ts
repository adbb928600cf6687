/**
 * Outpost's own topics and payloads (PROTOCOLS.md §0), spoken with any MQTT
 * broker that serves as a generic cloud, and with the embedded one:
 *
 * ```
 * <prefix>/<id>/status                          {"online":true,"ts":"…"}           retained
 * <prefix>/<id>/telemetry/<stream>              {"seq":1,"ts":"…","values":{…}}
 * <prefix>/<id>/events/<type>                   {"seq":2,"ts":"…","text":"…","data":{…}}
 * <prefix>/<id>/state/desired                   {"version":3,"state":{…}}          retained, cloud → device
 * <prefix>/<id>/state/reported                  {"version":3,"state":{…}}          retained
 * <prefix>/<id>/commands/<name>/<requestId>     any JSON                           cloud → device
 * <prefix>/<id>/responses/<name>/<requestId>    {"status":200,"body":…}
 * ```
 *
 * Pure: builders, encoders and decoders. What arrives from the cloud is
 * untrusted, so the decoders throw only {@link OutpostPayloadError}, whose
 * message says what was wrong; what the agent builds itself is checked with
 * ordinary `TypeError`/`RangeError`s, since a bad value there is a bug.
 */
import { describe, isPlainObject, quote } from "./describe_value.ts";

/** The topics of one device. */
export interface OutpostTopics {
  /** `<p>/<id>/status`: presence, retained; the last will says offline. */
  readonly status: string;
  /** `<p>/<id>/telemetry/<stream>`. */
  telemetry(stream: string): string;
  /** `<p>/<id>/events/<type>`. */
  events(type: string): string;
  /** `<p>/<id>/state/desired`: the cloud's wishes, retained. */
  readonly desired: string;
  /** `<p>/<id>/state/reported`: what the device applied, retained. */
  readonly reported: string;
  /** `<p>/<id>/commands/+/+`: the filter every command arrives on. */
  readonly commands: string;
  /** `<p>/<id>/commands/<name>/<requestId>`: one command (what a cloud publishes). */
  command(name: string, requestId: string): string;
  /** `<p>/<id>/responses/<name>/<requestId>`: the answer to one command. */
  response(name: string, requestId: string): string;
}

/** A desired-state document from the cloud. */
export type DesiredState = { version: number; state: Record<string, unknown> };

/** A payload from the cloud that cannot be used; answered with status 400. */
export class OutpostPayloadError extends Error {
  /** The HTTP-like status a command answers with. */
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = "OutpostPayloadError";
  }
}

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Why `stream` cannot name a telemetry stream or an event type, or undefined
 * when it can. Such a name is one topic level and travels to every cloud,
 * so it is kept to characters no cloud escapes or forbids.
 */
export function streamNameProblem(stream: string): string | undefined {
  if (typeof stream !== "string") return `must be a string, found ${describe(stream)}`;
  if (NAME_PATTERN.test(stream)) return undefined;
  return `must be 1 to 64 characters, each a letter, digit, ".", "_" or "-" ` +
    `(one topic level), found ${quote(stream)}`;
}

/**
 * The topics of device `deviceId` under `prefix`. The prefix may span
 * several levels (`"acme/outpost"`); the device id is exactly one.
 *
 * @example
 * ```ts
 * const topics = outpostTopics("pump-7");
 * topics.telemetry("system"); // "outpost/pump-7/telemetry/system"
 * ```
 */
export function outpostTopics(deviceId: string, prefix = "outpost"): OutpostTopics {
  const idProblem = levelProblem(deviceId);
  if (idProblem) throw new TypeError(`Invalid Outpost device id ${quote(deviceId)}: ${idProblem}`);
  const prefixProblem = topicPrefixProblem(prefix);
  if (prefixProblem) {
    throw new TypeError(`Invalid Outpost topic prefix ${quote(prefix)}: ${prefixProblem}`);
  }
  const base = `${prefix}/${deviceId}`;
  return {
    status: `${base}/status`,
    telemetry: (stream) => `${base}/telemetry/${checkedName("telemetry stream", stream)}`,
    events: (type) => `${base}/events/${checkedName("event type", type)}`,
    desired: `${base}/state/desired`,
    reported: `${base}/state/reported`,
    commands: `${base}/commands/+/+`,
    command: (name, requestId) => `${base}/commands/${commandLevels(name, requestId)}`,
    response: (name, requestId) => `${base}/responses/${commandLevels(name, requestId)}`,
  };
}

/**
 * The command name and request id of a topic built by `topics.command`, or
 * undefined when `topic` is not one of this device's command topics.
 */
export function parseCommandTopic(
  topic: string,
  topics: OutpostTopics,
): { name: string; requestId: string } | undefined {
  const base = topics.commands.slice(0, -"+/+".length);
  if (!topic.startsWith(base)) return undefined;
  const rest = topic.slice(base.length).split("/");
  if (rest.length !== 2) return undefined;
  const [name, requestId] = rest;
  if (levelProblem(name) || levelProblem(requestId)) return undefined;
  return { name, requestId };
}

/** `{"online":…,"ts":"<ISO-8601>"}`, the retained presence message. */
export function encodePresence(online: boolean, ts: Date): string {
  return JSON.stringify({ online, ts: isoTime(ts) });
}

/** `{"seq":…,"ts":…,"values":{…}}`, one telemetry record. */
export function encodeTelemetry(
  seq: number,
  ts: Date,
  values: Record<string, unknown>,
): string {
  return JSON.stringify({ seq: checkedCount("seq", seq), ts: isoTime(ts), values });
}

/** `{"seq":…,"ts":…,"text":"…","data":{…}}`, one event; `data` defaults to `{}`. */
export function encodeEvent(
  seq: number,
  ts: Date,
  text: string,
  data?: Record<string, unknown>,
): string {
  return JSON.stringify({ seq: checkedCount("seq", seq), ts: isoTime(ts), text, data: data ?? {} });
}

/** `{"version":<last applied desired version>,"state":{…}}`, the retained reported state. */
export function encodeReported(version: number, state: Record<string, unknown>): string {
  return JSON.stringify({ version: checkedCount("version", version), state });
}

/** `{"status":…,"body":…}`, the answer to a command; a missing body is `null`. */
export function encodeResponse(status: number, body: unknown): string {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`A command response status must be an integer 100..599, got ${status}`);
  }
  return JSON.stringify({ status, body: body ?? null });
}

/**
 * Reads a desired-state document: an object with a non-negative integer
 * `version` and an object `state`; other fields are ignored.
 *
 * @throws {OutpostPayloadError} saying what is wrong with the payload.
 */
export function decodeDesired(payload: Uint8Array | string): DesiredState {
  const text = decodeText("desired state", payload);
  if (text.trim() === "") throw new OutpostPayloadError("desired state: the payload is empty");
  const doc = parseJson("desired state", text);
  if (!isPlainObject(doc)) {
    throw new OutpostPayloadError(
      `desired state: must be a JSON object with "version" and "state", found ${describe(doc)}`,
    );
  }
  const { version, state } = doc;
  if (!Number.isSafeInteger(version) || (version as number) < 0) {
    throw new OutpostPayloadError(
      `desired state: version must be a non-negative integer, found ${describe(version)}`,
    );
  }
  if (!isPlainObject(state)) {
    throw new OutpostPayloadError(
      `desired state: state must be an object, found ${describe(state)}`,
    );
  }
  return { version: version as number, state };
}

/**
 * Reads a command's input: any JSON value; an empty (or blank) payload is
 * `null`, so commands that take no input can be sent with no payload.
 *
 * @throws {OutpostPayloadError} when the payload is not UTF-8 JSON.
 */
export function decodeCommandPayload(payload: Uint8Array | string): unknown {
  const text = decodeText("command payload", payload);
  if (text.trim() === "") return null;
  return parseJson("command payload", text);
}

function decodeText(what: string, payload: Uint8Array | string): string {
  if (typeof payload === "string") return payload;
  if (!(payload instanceof Uint8Array)) {
    throw new OutpostPayloadError(`${what}: expected bytes or text, found ${describe(payload)}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(payload);
  } catch {
    throw new OutpostPayloadError(`${what}: the payload is not valid UTF-8`);
  }
}

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new OutpostPayloadError(`${what}: invalid JSON: ${jsonProblem(text, error)}`);
  }
}

// V8 says where for most mistakes ("… in JSON at position 7 (line 1 column
// 8)") but not for an unexpected token or a truncated text, and it quotes the
// text itself, which can be huge; this always gives the position instead.
function jsonProblem(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/ at position \d+/.test(message)) return message;
  if (message.startsWith("Unexpected end of JSON input")) {
    return `Unexpected end of JSON input at position ${text.length}`;
  }
  const reason = message.replace(/, ".*is not valid JSON$/s, "");
  return `${reason} at position ${syntaxErrorPosition(text)}`;
}

// The longest prefix that can still grow into JSON ends just before the
// mistake; a prefix that cannot never becomes valid again, so bisect.
function syntaxErrorPosition(text: string): number {
  let viable = 0;
  let broken = text.length;
  while (broken - viable > 1) {
    const middle = Math.floor((viable + broken) / 2);
    if (canGrowIntoJson(text.slice(0, middle))) viable = middle;
    else broken = middle;
  }
  return broken - 1;
}

function canGrowIntoJson(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return true;
  } catch (error) {
    const message = (error as Error).message;
    if (message.startsWith("Unexpected end of JSON input")) return true;
    const at = / at position (\d+)/.exec(message);
    return at !== null && Number(at[1]) >= prefix.length;
  }
}

function levelProblem(level: unknown): string | undefined {
  if (typeof level !== "string") return `must be a string, found ${describe(level)}`;
  if (level.length === 0) return "cannot be empty";
  if (/[/+#\0]/.test(level)) return `cannot contain "/", "+", "#" or U+0000`;
  return undefined;
}

function topicPrefixProblem(prefix: unknown): string | undefined {
  if (typeof prefix !== "string") return `must be a string, found ${describe(prefix)}`;
  if (prefix.length === 0) return "cannot be empty";
  if (/[+#\0]/.test(prefix)) return `cannot contain "+", "#" or U+0000`;
  if (prefix.split("/").includes("")) {
    return `cannot have an empty level (a leading, trailing or doubled "/")`;
  }
  // Brokers keep "$…" topics (such as $SYS) for themselves (MQTT 3.1.1 §4.7.2).
  if (prefix.startsWith("$")) return `cannot start with "$", which brokers reserve`;
  return undefined;
}

function checkedName(what: string, name: string): string {
  const problem = streamNameProblem(name);
  if (problem) throw new TypeError(`Invalid ${what}: ${problem}`);
  return name;
}

function commandLevels(name: string, requestId: string): string {
  const nameProblem = levelProblem(name);
  if (nameProblem) throw new TypeError(`Invalid command name ${quote(name)}: ${nameProblem}`);
  const idProblem = levelProblem(requestId);
  if (idProblem) {
    throw new TypeError(`Invalid command request id ${quote(requestId)}: ${idProblem}`);
  }
  return `${name}/${requestId}`;
}

function checkedCount(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
  }
  return value;
}

function isoTime(ts: Date): string {
  if (!(ts instanceof Date) || Number.isNaN(ts.getTime())) {
    throw new RangeError(`A timestamp must be a valid Date, got ${String(ts)}`);
  }
  return ts.toISOString();
}
