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

const HEADER_FIELDS = [
  "payloadVersion",
  "assetType",
  "senderType",
  "eventType",
  "eventSubtype",
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
  for (const field of HEADER_FIELDS) {
    const value = envelope[field];
    if (typeof value !== "string" || value.length === 0) {
      throw new TypeError(
        `The telemetry envelope's ${field} must be a non-empty string, got ${describe(value)}`,
      );
    }
  }
  if (envelope.senderEventUuid !== undefined && typeof envelope.senderEventUuid !== "string") {
    throw new TypeError(
      `The telemetry envelope's senderEventUuid must be a string, got ${
        describe(envelope.senderEventUuid)
      }`,
    );
  }
  if (!isPlainObject(envelope.payload)) {
    throw new TypeError(
      `The telemetry envelope's payload must be an object, got ${describe(envelope.payload)}`,
    );
  }
  return JSON.stringify({
    payloadVersion: envelope.payloadVersion,
    assetType: envelope.assetType,
    senderEventUuid: envelope.senderEventUuid ?? crypto.randomUUID(),
    senderType: envelope.senderType,
    eventType: envelope.eventType,
    eventSubtype: envelope.eventSubtype,
    assetTimestamp: seedTime("assetTimestamp", envelope.assetTimestamp),
    assetId: envelope.assetId,
    senderId: envelope.senderId,
    senderTimestamp: seedTime("senderTimestamp", envelope.senderTimestamp ?? now()),
    connectionDeviceId: envelope.connectionDeviceId,
    payload: envelope.payload,
  });
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
