/**
 * AWS telemetry: the agent's records in the seed's envelope on the Basic
 * Ingest topic, gated by the shadow's `event_publishing_enabled` and
 * `event_type_blacklist` (PROTOCOLS.md §2).
 *
 * A record the gate refuses is never stored for AWS: while publishing is
 * disabled nothing reaches the outbox (and so nothing is published when it
 * comes back on), and a blacklisted type is dropped. Both are counted.
 * Other clouds still get every record.
 *
 * A record is stored without its sender and stamped with the thing name and
 * the send time as it leaves, by the cloud's {@link AwsLink}.
 */
import { getLogger } from "../runtime/logging.ts";
import { MqttLink, type PublishOptions } from "../mqtt/link.ts";
import type { CloudEncoder, EncodedRecord } from "../cloud/encoder.ts";
import {
  encodeUnsentEnvelope,
  ingestTopic,
  parseTelemetrySettings,
  stampEnvelope,
  telemetryFilter,
  type TelemetrySettings,
  type TelemetryVerdict,
} from "../../protocols/aws_ingest.ts";
import type { ShadowReplica } from "./shadow_replica.ts";

/** The envelope fields that come from configuration. */
export interface EnvelopeDefaults {
  payloadVersion: string;
  assetType: string;
  senderType: string;
  /** Default: the thing name, set as the record leaves. */
  assetId?: string;
  /** The `eventSubtype` of telemetry records (events use "event"). */
  eventSubtype: string;
}

/** Counts of records the gate refused. */
export interface GateDrops {
  /** Refused while the shadow disabled publishing. */
  disabled: number;
  /** Refused because their type was blacklisted. */
  blacklisted: number;
}

const log = getLogger("aws");
const SETTING_KEYS = ["event_publishing_enabled", "event_type_blacklist"] as const;

/** What the shadow allows to be published, and what it refused so far. */
export class TelemetryGate {
  #settings: TelemetrySettings = { event_publishing_enabled: true, event_type_blacklist: [] };
  #verdict = telemetryFilter(this.#settings);
  #drops: GateDrops = { disabled: 0, blacklisted: 0 };

  /** A gate that lets everything through until the shadow says otherwise; `cloud` names it in logs. */
  constructor(private readonly cloud: string) {}

  /** The settings in effect. */
  get settings(): TelemetrySettings {
    return structuredClone(this.#settings);
  }

  /** Records refused so far, by reason. */
  get drops(): GateDrops {
    return { ...this.#drops };
  }

  /** Decides for one event type and counts a refusal. */
  admit(eventType: string): boolean {
    const verdict: TelemetryVerdict = this.#verdict(eventType);
    if (verdict === "publish") return true;
    const count = ++this.#drops[verdict];
    // The first of each kind, then every thousandth: enough to see, never a flood.
    if (count === 1 || count % 1000 === 0) {
      log.info("Cloud {cloud}: {count} record(s) not published so far: {reason}", {
        cloud: this.cloud,
        count,
        reason: verdict === "disabled" ? "the shadow disables publishing" : "blacklisted type",
      });
    }
    return false;
  }

  /**
   * Makes `replica` drive the settings: takes those it already reported
   * (stored from an earlier run), and handles both desired keys, refusing
   * values of the wrong type.
   */
  follow(replica: ShadowReplica): void {
    const reported = replica.reported;
    try {
      const stored = Object.fromEntries(
        SETTING_KEYS.filter((key) => Object.hasOwn(reported, key)).map((
          key,
        ) => [key, reported[key]]),
      );
      this.#apply(parseTelemetrySettings(stored).settings);
    } catch (error) {
      log.warn("Cloud {cloud}: ignoring stored telemetry settings: {error}", {
        cloud: this.cloud,
        error: (error as Error).message,
      });
    }
    for (const key of SETTING_KEYS) {
      replica.handle(key, (value) => {
        const { settings } = parseTelemetrySettings({ [key]: value });
        this.#apply(settings);
        return this.#settings[key];
      });
    }
    // The device reports what is in effect, so a new shadow starts with it.
    const missing = SETTING_KEYS.filter((key) => !Object.hasOwn(reported, key));
    if (missing.length > 0) {
      replica.report(Object.fromEntries(missing.map((key) => [key, this.#settings[key]])));
    }
  }

  #apply(settings: Partial<TelemetrySettings>): void {
    this.#settings = { ...this.#settings, ...settings };
    this.#verdict = telemetryFilter(this.#settings);
  }
}

/** What the AWS encoder needs. */
export interface AwsEncoderOptions {
  /** The Basic Ingest rule; without one, AWS gets no telemetry. */
  rule?: string;
  envelope: EnvelopeDefaults;
  gate: TelemetryGate;
}

/**
 * Telemetry of stream S becomes an envelope with `eventType` S and the
 * configured `eventSubtype`, its values as `payload`; an event of type T
 * has `eventType` T, `eventSubtype` "event" and `{text, data}` as payload.
 * The envelope is stored unsent: {@link AwsLink} adds its sender.
 *
 * @example
 * ```ts
 * const encoder = awsEncoder("aws", { rule: "telemetry", envelope, gate });
 * encoder.telemetry(1, new Date(), "ODA", { amount: 670 })?.topic; // "$aws/rules/telemetry"
 * ```
 */
export function awsEncoder(name: string, options: AwsEncoderOptions): CloudEncoder {
  const topic = options.rule === undefined ? undefined : ingestTopic(options.rule);
  const { envelope, gate } = options;
  const record = (
    ts: Date,
    eventType: string,
    eventSubtype: string,
    payload: Record<string, unknown>,
  ): EncodedRecord | undefined => {
    if (topic === undefined || !gate.admit(eventType)) return undefined;
    return {
      topic,
      qos: 1,
      payload: encodeUnsentEnvelope({
        payloadVersion: envelope.payloadVersion,
        assetType: envelope.assetType,
        senderType: envelope.senderType,
        eventType,
        eventSubtype,
        assetTimestamp: ts,
        assetId: envelope.assetId,
        payload,
      }),
    };
  };
  return {
    name,
    telemetry: (_seq, ts, stream, values) => record(ts, stream, envelope.eventSubtype, values),
    event: (_seq, ts, type, text, data) => record(ts, type, "event", { text, data: data ?? {} }),
  };
}

/** What {@link AwsLink} needs to stamp envelopes. */
export interface AwsLinkOptions {
  /** The Basic Ingest rule; without one, nothing is published there to stamp. */
  rule?: string;
  /** The thing name: the provisioned one once known. */
  thingName: () => string;
  /** The send time. Default: now. */
  now?: () => Date;
}

/**
 * The AWS cloud's MQTT link: a publish to the Basic Ingest topic is stamped
 * with the thing name (`senderId`, `connectionDeviceId`, a defaulted
 * `assetId`) and `senderTimestamp` as it leaves. Stamped when stored, a
 * record made before fleet provisioning finished went out on the
 * provisioned thing's connection under the agent's device id, with the
 * storing time as its send time.
 *
 * @example
 * ```ts
 * const link = new AwsLink("aws", { rule: "telemetry", thingName: () => identity.thingName ?? "dev-1" });
 * ```
 */
export class AwsLink extends MqttLink {
  readonly #topic: string | undefined;
  readonly #thingName: () => string;
  readonly #now: () => Date;

  /** The link of cloud `name`. */
  constructor(name: string, options: AwsLinkOptions) {
    super(name);
    this.#topic = options.rule === undefined ? undefined : ingestTopic(options.rule);
    this.#thingName = options.thingName;
    this.#now = options.now ?? (() => new Date());
  }

  /** Publishes now; a Basic Ingest envelope gets its sender first. */
  override publish(
    topic: string,
    payload: string | Uint8Array,
    options?: PublishOptions,
  ): Promise<void> {
    return super.publish(topic, topic === this.#topic ? this.#stamp(payload) : payload, options);
  }

  #stamp(payload: string | Uint8Array): string | Uint8Array {
    const thing = this.#thingName();
    try {
      return stampEnvelope(payload, {
        senderId: thing,
        connectionDeviceId: thing,
        senderTimestamp: this.#now(),
      });
    } catch (error) {
      // A record that cannot be read must not hold up the ones stored after it.
      log.error("Cloud {cloud}: a stored record goes out as it was stored: {error}", {
        cloud: this.name,
        error: (error as Error).message,
      });
      return payload;
    }
  }
}
