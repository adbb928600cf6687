/**
 * `[clouds.<name>] type = "aws"`: the table's schema and its resolved type
 * (docs/configuration.md explains each key).
 */
import { z } from "zod";
import { flag, needsAll, optionalText, text, validAt } from "../cloud/config_fields.ts";
import {
  mqttConnectionFields,
  type MqttEndpointConfig,
  tlsPairing,
  urlOrUrls,
} from "../cloud/mqtt_config.ts";

// AWS IoT Core: the client id is the thing name, and the login is a certificate.
const { clientId: _clientId, username: _awsUsername, password: _password, ...awsConnectionFields } =
  mqttConnectionFields;
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const THING_EXPECTED = 'a thing name of 1 to 128 characters from A-Z a-z 0-9 ":" "_" "-"';
const SHADOW_NAME = /^[a-zA-Z0-9:_-]{1,64}$/;
const SHADOW_EXPECTED =
  '"classic" or a named shadow of 1 to 64 characters from A-Z a-z 0-9 ":" "_" "-"';
const RULE_EXPECTED = "a rule name of 1 to 128 characters from A-Z a-z 0-9 _";
const NON_EMPTY = "a non-empty string";
const TEMPLATE_EXPECTED = "a provisioning template name of 1 to 36 characters from A-Z a-z 0-9 _ -";
// AWS allows 7 slashes and 256 bytes in a topic; the deepest device topic,
// `<prefix>/<thing>/support/instant/<appId>/connection/answer`, spends 6
// slashes and up to 229 bytes besides the prefix (docs/aws.md).
const TOPIC_PREFIX = /^(?=.{1,24}$)[A-Za-z0-9_.:-]+(?:\/[A-Za-z0-9_.:-]+)?$/;
const PREFIX_EXPECTED =
  'one or two topic levels ("outpost", "acme/outpost") of A-Z a-z 0-9 _ . : -, ' +
  "at most 24 characters";

/** The schema of an AWS IoT Core cloud's table. */
export const awsCloudSchema = urlOrUrls(tlsPairing(
  z.strictObject({
    type: z.literal("aws"),
    ...awsConnectionFields,
    cleanSession: flag().default(false),
    thingName: optionalText(THING_EXPECTED).refine((v) => v === undefined || THING_NAME.test(v), {
      message: THING_EXPECTED,
    }),
    certStore: optionalText("a directory path"),
    ingestRule: optionalText(RULE_EXPECTED).refine(
      (v) => v === undefined || /^[a-zA-Z0-9_]{1,128}$/.test(v),
      { message: RULE_EXPECTED },
    ),
    envelope: z.strictObject({
      payloadVersion: text(NON_EMPTY).min(1).default("1"),
      assetType: text(NON_EMPTY).min(1).default("outpost"),
      senderType: text(NON_EMPTY).min(1).default("outpost"),
      assetId: optionalText("an asset id (default: the thing name)"),
      eventSubtype: text(NON_EMPTY).min(1).default("telemetry"),
    }).prefault({}),
    shadows: z.array(text(SHADOW_EXPECTED).regex(SHADOW_NAME)).describe(
      'a list of shadow names ("classic" is the unnamed shadow)',
    ).default(["classic"]),
    telemetryShadow: text(SHADOW_EXPECTED).regex(SHADOW_NAME).default("classic"),
    shadowTimeoutSec: z.number().positive().describe("a number of seconds > 0").default(10),
    topicPrefix: text(PREFIX_EXPECTED).regex(TOPIC_PREFIX).default("outpost"),
    commands: flag().default(false),
    support: flag().default(false),
    provisioning: z.strictObject({
      enabled: flag().default(false),
      claimCertFile: optionalText("a path to the claim certificate (PEM)"),
      claimKeyFile: optionalText("a path to the claim certificate's key (PEM)"),
      template: optionalText(TEMPLATE_EXPECTED).refine(
        (v) => v === undefined || /^[0-9A-Za-z_-]{1,36}$/.test(v),
        { message: TEMPLATE_EXPECTED },
      ),
      parameters: z.record(z.string(), text()).describe("a table of string parameters").default(
        {},
      ),
      clientId: optionalText("the MQTT client id of the claim session"),
    }).superRefine(
      needsAll(["template", "claimCertFile", "claimKeyFile"], {
        message: "claimCertFile, claimKeyFile and template (provisioning.enabled is true)",
        applies: (p) => p.enabled,
      }),
      { when: validAt("enabled", "claimCertFile", "claimKeyFile", "template") },
    ).prefault({}),
  }).refine((c) => !c.certFile || c.thingName !== undefined, {
    path: ["thingName"],
    message: "the thing name of certFile (certFile is set)",
    when: validAt("certFile", "thingName"),
  }).refine((c) => c.shadows.includes(c.telemetryShadow), {
    path: ["telemetryShadow"],
    message: "one of the names in shadows",
    when: validAt("shadows", "telemetryShadow"),
  }),
));

/** `[clouds.<name>.envelope]` of an AWS cloud: the seed's telemetry envelope header. */
export interface AwsEnvelope {
  /** `payloadVersion`. */
  payloadVersion: string;
  /** `assetType`. */
  assetType: string;
  /** `senderType`. */
  senderType: string;
  /** `assetId`; defaults to the thing name. */
  assetId?: string;
  /** `eventSubtype` of telemetry records (`eventType` is the stream; events use "event"). */
  eventSubtype: string;
}

/** `[clouds.<name>.provisioning]` of an AWS cloud: fleet provisioning by CSR. */
export interface AwsProvisioning {
  /** Provision when the certificate store holds no identity. */
  enabled: boolean;
  /** The claim certificate (PEM file). */
  claimCertFile?: string;
  /** Its private key (PEM file). */
  claimKeyFile?: string;
  /** The fleet provisioning template. */
  template?: string;
  /** Template parameters, e.g. `{ SerialNumber = "pump-7" }`. */
  parameters: Record<string, string>;
  /** Client id of the claim session; defaults to `agent.deviceId`. */
  clientId?: string;
}

/**
 * `[clouds.<name>]` with `type = "aws"`: AWS IoT Core over MQTT with mutual
 * TLS. `url` is `mqtts://<endpoint>:8883`, or `:443` (ALPN `x-amzn-mqtt-ca`
 * is then sent). The client id is the thing name. The identity comes from
 * `certFile` + `keyFile` + `thingName`, or from the certificate store, which
 * fleet provisioning fills when it is empty.
 */
export interface AwsCloudConfig extends Omit<MqttEndpointConfig, "clientId" | "password"> {
  /** Selects this cloud type. */
  type: "aws";
  /** The thing name (required with `certFile`; otherwise read from the store). */
  thingName?: string;
  /** The seed-compatible certificate store; default `<stateDir>/aws-<name>`. */
  certStore?: string;
  /** Basic Ingest rule telemetry goes to (`$aws/rules/<rule>`); none: no telemetry to AWS. */
  ingestRule?: string;
  /** Telemetry envelope header fields. */
  envelope: AwsEnvelope;
  /** Shadows kept in sync: "classic" and/or named shadows. */
  shadows: string[];
  /** The shadow whose `event_publishing_enabled` / `event_type_blacklist` gate telemetry. */
  telemetryShadow: string;
  /** Seconds a shadow request may go unanswered. */
  shadowTimeoutSec: number;
  /** Command and support topics are `<topicPrefix>/<thing>/…`. */
  topicPrefix: string;
  /**
   * Serve `agent.onCommand` on `<topicPrefix>/<thing>/commands/+/+`. Off by
   * default: AWS closes the connection of a device whose IoT policy does
   * not allow a topic it subscribes to.
   */
  commands: boolean;
  /** Carry the support modules' remote side on `<topicPrefix>/<thing>/support/…`. Off by default, as `commands`. */
  support: boolean;
  /** Fleet provisioning. */
  provisioning: AwsProvisioning;
}

/** A `[clouds.<name>] type = "aws"` table as validated, before the agent's defaults. */
export type AwsTable = z.output<typeof awsCloudSchema>;
