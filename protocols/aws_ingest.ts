/**
 * AWS IoT Basic Ingest and the seed client's telemetry envelope
 * (PROTOCOLS.md §2).
 *
 * ```
 * $aws/rules/<rule>[/…]     {"payloadVersion":"1","assetType":"…",…,"payload":{…}}
 * ```
 *
 * Basic Ingest hands a publish straight to one rule of the rules engine:
 * nobody can subscribe to these topics, and a PUBACK means the rule got it.
 * The envelope keeps the seed's header fields at the top level, in the
 * seed's order, and the body under `payload`.
 *
 * A record waits in the outbox as an {@link UnsentEnvelope}: who sends it
 * (`senderId`, `connectionDeviceId`) and when (`senderTimestamp`) are only
 * known as it leaves, so {@link stampEnvelope} adds them then.
 *
 * Which events are published is decided by the shadow's desired
 * `event_publishing_enabled` and `event_type_blacklist`, read here from a
 * delta by {@link parseTelemetrySettings}.
 *
 * Pure. Values the agent builds are checked with `TypeError`s; settings
 * that arrive from the cloud fail with {@link TelemetrySettingsError}.
 */
import { describe, isPlainObject, quote } from "./describe_value.ts";

const RULE_NAME = /^[a-zA-Z0-9_]{1,128}$/;

/**
 * The Basic Ingest topic of rule `rule`, with optional further levels that
 * the rule can read through `topic()`.
 *
 * @example
 * ```ts
 * ingestTopic("iot_data_platform_telemetry_stg"); // "$aws/rules/iot_data_platform_telemetry_stg"
 * ingestTopic("telemetry", "pump-7/system"); // "$aws/rules/telemetry/pump-7/system"
 * ```
 */
export function ingestTopic(rule: string, suffix?: string): string {
  if (typeof rule !== "string" || !RULE_NAME.test(rule)) {
    throw new TypeError(
      `Invalid AWS rule name ${
        quote(rule)
      }: must be 1 to 128 characters, each a letter, digit or "_"`,
    );
  }
  const base = `$aws/rules/${rule}`;
  if (suffix === undefined) return base;
  if (typeof suffix !== "string" || suffix.length === 0) {
    throw new TypeError(`Invalid Basic Ingest topic suffix ${quote(suffix)}: cannot be empty`);
  }
  if (/[+#\0]/.test(suffix)) {
    throw new TypeError(
      `Invalid Basic Ingest topic suffix ${quote(suffix)}: cannot contain "+", "#" or U+0000`,
    );
  }
  if (suffix.split("/").includes("")) {
    throw new TypeError(
      `Invalid Basic Ingest topic suffix ${
        quote(suffix)
      }: cannot have an empty level (a leading, trailing or doubled "/")`,
    );
  }
  return `${base}/${suffix}`;
}

/** One telemetry event in the seed's envelope. */
export interface TelemetryEnvelope {
  payloadVersion: string;
  assetType: string;
  /** Generated (a random UUID) when not given. */
  senderEventUuid?: string;
  senderType: string;
  eventType: string;
  eventSubtype: string;
  /** When the asset observed the event. */
  assetTimestamp: Date;
  assetId: string;
  senderId: string;
  /** When the device sent it; now when not given. */
  senderTimestamp?: Date;
  connectionDeviceId: string;
  payload: Record<string, unknown>;
}

/** Who sends an envelope and when: known only as it leaves the device. */
export interface EnvelopeSender {
  senderId: string;
  connectionDeviceId: string;
  senderTimestamp: Date;
}

/** An envelope as it waits in the outbox, before it has a sender. */
export type UnsentEnvelope = Omit<TelemetryEnvelope, keyof EnvelopeSender | "assetId"> & {
  /** Default: the `senderId` it leaves with. */
  assetId?: string;
};

const UNSENT_HEADER_FIELDS = [
  "payloadVersion",
  "assetType",
  "senderType",
  "eventType",
  "eventSubtype",
] as const;
const HEADER_FIELDS = [
  ...UNSENT_HEADER_FIELDS,
  "assetId",
  "senderId",
  "connectionDeviceId",
] as const;

/**
 * The envelope as JSON, fields in the seed's order. Timestamps are written
 * as the seed's are, ISO-8601 with milliseconds and a numeric offset
 * (`2019-09-10T15:08:39.557+00:00`); Outpost always writes UTC.
 *
 * @example
 * ```ts
 * encodeEnvelope({
 *   payloadVersion: "1", assetType: "ID_Cutter", senderType: "outpost",
 *   eventType: "ODA", eventSubtype: "InkConsumptionSummary",
 *   assetTimestamp: new Date(), assetId: "CUT-1", senderId: "pump-7",
 *   connectionDeviceId: "pump-7", payload: { amount: 670 },
 * });
 * ```
 */
export function encodeEnvelope(
  envelope: TelemetryEnvelope,
  now: () => Date = () => new Date(),
): string {
  checkHeaders(envelope, HEADER_FIELDS);
  checkUuid(envelope.senderEventUuid);
  checkPayload(envelope.payload);
  return JSON.stringify(inSeedOrder({
    ...envelope,
    senderEventUuid: envelope.senderEventUuid ?? crypto.randomUUID(),
    assetTimestamp: seedTime("assetTimestamp", envelope.assetTimestamp),
    senderTimestamp: seedTime("senderTimestamp", envelope.senderTimestamp ?? now()),
  }));
}

/**
 * An envelope without its sender, as JSON for the outbox: the seed's
 * fields but `senderId`, `senderTimestamp` and `connectionDeviceId`, and
 * `assetId` when it defaults to the sender. `senderEventUuid` is fixed now,
 * so a record sent twice (at least once) can be told apart from two records.
 *
 * @example
 * ```ts
 * const unsent = encodeUnsentEnvelope({
 *   payloadVersion: "1", assetType: "ID_Cutter", senderType: "outpost",
 *   eventType: "ODA", eventSubtype: "InkConsumptionSummary",
 *   assetTimestamp: new Date(), payload: { amount: 670 },
 * });
 * stampEnvelope(unsent, { senderId: "pump-7", connectionDeviceId: "pump-7", senderTimestamp: new Date() });
 * ```
 */
export function encodeUnsentEnvelope(envelope: UnsentEnvelope): string {
  checkHeaders(envelope, UNSENT_HEADER_FIELDS);
  if (envelope.assetId !== undefined) checkHeaders(envelope, ["assetId"]);
  checkUuid(envelope.senderEventUuid);
  checkPayload(envelope.payload);
  return JSON.stringify(inSeedOrder({
    ...envelope,
    senderEventUuid: envelope.senderEventUuid ?? crypto.randomUUID(),
    assetTimestamp: seedTime("assetTimestamp", envelope.assetTimestamp),
  }));
}

/**
 * The envelope that leaves: `unsent` (from {@link encodeUnsentEnvelope})
 * with its sender and send time, in the seed's field order; `assetId`
 * becomes the `senderId` when it has none. A complete envelope is
 * accepted too and takes the new sender.
 *
 * @example
 * ```ts
 * stampEnvelope(unsent, { senderId: "pump-7", connectionDeviceId: "pump-7", senderTimestamp: new Date() });
 * ```
 * @throws {TypeError} when `unsent` is not an envelope, naming what is wrong.
 */
export function stampEnvelope(unsent: string | Uint8Array, sender: EnvelopeSender): string {
  const text = typeof unsent === "string" ? unsent : new TextDecoder().decode(unsent);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`Cannot read a stored telemetry envelope: ${(error as Error).message}`);
  }
  if (!isPlainObject(doc)) {
    throw new TypeError(`A stored telemetry envelope must be an object, got ${describe(doc)}`);
  }
  const envelope = inSeedOrder({
    ...doc,
    assetId: doc.assetId ?? sender.senderId,
    senderId: sender.senderId,
    senderTimestamp: seedTime("senderTimestamp", sender.senderTimestamp),
    connectionDeviceId: sender.connectionDeviceId,
  });
  checkHeaders(envelope, [...HEADER_FIELDS, "senderEventUuid", "assetTimestamp"]);
  checkPayload(envelope.payload);
  return JSON.stringify(envelope);
}

// The seed's field order; JSON.stringify leaves out fields still undefined.
function inSeedOrder(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    payloadVersion: fields.payloadVersion,
    assetType: fields.assetType,
    senderEventUuid: fields.senderEventUuid,
    senderType: fields.senderType,
    eventType: fields.eventType,
    eventSubtype: fields.eventSubtype,
    assetTimestamp: fields.assetTimestamp,
    assetId: fields.assetId,
    senderId: fields.senderId,
    senderTimestamp: fields.senderTimestamp,
    connectionDeviceId: fields.connectionDeviceId,
    payload: fields.payload,
  };
}

function checkUuid(uuid: unknown): void {
  if (uuid !== undefined && typeof uuid !== "string") {
    throw new TypeError(
      `The telemetry envelope's senderEventUuid must be a string, got ${describe(uuid)}`,
    );
  }
}

function checkHeaders<T extends object>(envelope: T, fields: readonly string[]): void {
  for (const field of fields) {
    const value = (envelope as Record<string, unknown>)[field];
    if (typeof value !== "string" || value.length === 0) {
      throw new TypeError(
        `The telemetry envelope's ${field} must be a non-empty string, got ${describe(value)}`,
      );
    }
  }
}

function checkPayload(payload: unknown): void {
  if (!isPlainObject(payload)) {
    throw new TypeError(
      `The telemetry envelope's payload must be an object, got ${describe(payload)}`,
    );
  }
}

/** The shadow keys that decide what telemetry is published. */
export interface TelemetrySettings {
  /** False: nothing is published. */
  event_publishing_enabled: boolean;
  /** Event types that are never published. */
  event_type_blacklist: string[];
}

/** What becomes of one event under the current settings. */
export type TelemetryVerdict = "publish" | "disabled" | "blacklisted";

/**
 * Decides per event type: nothing is published while publishing is
 * disabled, and blacklisted types never are.
 *
 * @example
 * ```ts
 * const verdict = telemetryFilter({ event_publishing_enabled: true, event_type_blacklist: ["debug"] });
 * verdict("debug"); // "blacklisted"
 * ```
 */
export function telemetryFilter(
  settings: TelemetrySettings,
): (eventType: string) => TelemetryVerdict {
  const enabled = settings.event_publishing_enabled;
  const blacklist = new Set(settings.event_type_blacklist);
  return (eventType) => {
    if (!enabled) return "disabled";
    return blacklist.has(eventType) ? "blacklisted" : "publish";
  };
}

/** Telemetry settings in a shadow delta with the wrong types; `problems` lists each. */
export class TelemetrySettingsError extends Error {
  /** One sentence per wrong key. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid telemetry settings in the shadow delta: ${problems.join("; ")}`);
    this.name = "TelemetrySettingsError";
    this.problems = problems;
  }
}

/** The telemetry settings a delta changes, and the keys of it that are not telemetry settings. */
export interface ParsedTelemetrySettings {
  /** Only the keys the delta carries; a delta holds just what changed. */
  settings: Partial<TelemetrySettings>;
  /** Keys of the delta that are not telemetry settings (left to other handlers). */
  unknownKeys: string[];
}

/**
 * Reads `event_publishing_enabled` (boolean) and `event_type_blacklist`
 * (array of strings) from the `state` of a shadow delta.
 *
 * @example
 * ```ts
 * parseTelemetrySettings({ event_publishing_enabled: false, fan: 3 });
 * // { settings: { event_publishing_enabled: false }, unknownKeys: ["fan"] }
 * ```
 * @throws {TelemetrySettingsError} listing every key with the wrong type.
 */
export function parseTelemetrySettings(delta: unknown): ParsedTelemetrySettings {
  if (!isPlainObject(delta)) {
    throw new TelemetrySettingsError([
      `the delta state must be an object, found ${describe(delta)}`,
    ]);
  }
  const problems: string[] = [];
  const settings: Partial<TelemetrySettings> = {};
  const unknownKeys: string[] = [];
  for (const [key, value] of Object.entries(delta)) {
    if (key === "event_publishing_enabled") {
      if (typeof value === "boolean") settings.event_publishing_enabled = value;
      else {problems.push(
          `event_publishing_enabled must be true or false, found ${describe(value)}`,
        );}
    } else if (key === "event_type_blacklist") {
      if (!Array.isArray(value)) {
        problems.push(`event_type_blacklist must be an array of strings, found ${describe(value)}`);
      } else {
        const wrong = value.findIndex((item) => typeof item !== "string");
        if (wrong === -1) settings.event_type_blacklist = [...value];
        else {problems.push(
            `event_type_blacklist[${wrong}] must be a string, found ${describe(value[wrong])}`,
          );}
      }
    } else unknownKeys.push(key);
  }
  if (problems.length > 0) throw new TelemetrySettingsError(problems);
  return { settings, unknownKeys };
}

function seedTime(field: string, ts: Date): string {
  if (!(ts instanceof Date) || Number.isNaN(ts.getTime())) {
    throw new TypeError(
      `The telemetry envelope's ${field} must be a valid Date, got ${String(ts)}`,
    );
  }
  return ts.toISOString().replace(/Z$/, "+00:00");
}
