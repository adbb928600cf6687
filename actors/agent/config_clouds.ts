/**
 * The `[clouds.<name>]` tables, one zod object per cloud type. Adding a
 * cloud type is adding its object to `cloudSchemas`: the union, CLOUD_TYPES,
 * the error messages and the environment overrides all follow from it.
 */
import { z } from "zod";
import { flag, int, needsAll, optionalText, text, validAt } from "./config_fields.ts";
import { azureUnreachableFields } from "../azure/config.ts";

// Levels without wildcards, "$" (reserved for broker topics) or empty levels.
const TOPIC_PREFIX = /^(?!\$)[^+#/\0]+(?:\/[^+#/\0]+)*$/;
const URL_EXPECTED =
  'a URL like "mqtt://host:1883" (scheme mqtt, mqtts, ws or wss; no user or password in it)';
function isCloudUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  const scheme = url.protocol.slice(0, -1);
  if (!["mqtt", "mqtts", "ws", "wss"].includes(scheme)) return false;
  if (url.hostname === "" || url.username !== "" || url.password !== "") return false;
  // A path only means something to a WebSocket endpoint ("wss://host/mqtt").
  return scheme.startsWith("ws") || ((url.pathname === "" || url.pathname === "/") && !url.search);
}

/** Fields every MQTT-speaking cloud type shares; a new type spreads them into its own object. */
export const mqttConnectionFields = {
  url: text(URL_EXPECTED).refine(isCloudUrl, URL_EXPECTED),
  clientId: text().default(""),
  username: optionalText(),
  password: optionalText(),
  caFile: optionalText("a path to a PEM file"),
  certFile: optionalText("a path to a PEM file"),
  keyFile: optionalText("a path to a PEM file"),
  insecure: flag().default(false),
  cleanSession: flag().default(true),
  keepaliveSec: int(1, 65535).default(30),
  backoff: z.strictObject({
    minMs: int(0).default(1000),
    maxMs: int(0).default(60000),
    jitter: z.number().min(0).max(1).describe("a number from 0 to 1").default(0.2),
  }).refine((b) => b.maxMs >= b.minMs, {
    path: ["maxMs"],
    error: (issue) => `an integer >= minMs (${(issue.input as { minMs: number }).minMs})`,
    when: validAt("minMs", "maxMs"),
  }).prefault({}),
};

// A client certificate is useless without its key, and the reverse.
function tlsPairing<T extends z.ZodObject>(schema: T): T {
  return schema
    .refine((c) => !c.certFile || c.keyFile, {
      path: ["keyFile"],
      message: "a path to the key of certFile (certFile is set)",
      when: validAt("certFile", "keyFile"),
    })
    .refine((c) => !c.keyFile || c.certFile, {
      path: ["certFile"],
      message: "a path to the certificate for keyFile (keyFile is set)",
      when: validAt("certFile", "keyFile"),
    }) as unknown as T;
}

export const mqttCloud = tlsPairing(z.strictObject({
  type: z.literal("mqtt"),
  ...mqttConnectionFields,
  topicPrefix: text(
    'a topic prefix like "outpost" or "site/7" (no "+", "#", empty levels, ' +
      'leading "$" or leading/trailing "/")',
  ).regex(TOPIC_PREFIX).default("outpost"),
}));

// Cumulocity: the client id is d:<serial>, so a serial must not hold ":"; "/",
// "+" and "#" would break topics and X-IDs built from it.
const SERIAL = /^[^:/+#\s\0]{1,128}$/;
const SERIAL_EXPECTED = 'a serial of 1 to 128 characters without ":", "/", "+", "#" or spaces';
const XID = /^[^/+#\s\0]{1,128}$/;
const CREDENTIALS_EXPECTED =
  "credentials: tenant, user and password, or certFile and keyFile, or bootstrap.enabled = true";

function isRemoteAccessBase(value: string): boolean {
  try {
    const url = new URL(value);
    return ["ws:", "wss:", "http:", "https:"].includes(url.protocol) && url.hostname !== "" &&
      url.username === "" && url.password === "" && !url.search && !url.hash;
  } catch {
    return false;
  }
}

// The MQTT user name of Cumulocity is `<tenant>/<user>`: `tenant` and `user` replace `username`.
const { username: _username, ...c8yConnectionFields } = mqttConnectionFields;
const REMOTE_ACCESS_URL_EXPECTED =
  'a base URL like "wss://tenant.example.com" (scheme ws, wss, http or https)';

const c8yCloud = tlsPairing(
  z.strictObject({
    type: z.literal("c8y"),
    ...c8yConnectionFields,
    tenant: optionalText('a tenant id like "t12345"'),
    user: optionalText("a user name within the tenant"),
    serial: optionalText(SERIAL_EXPECTED).refine((v) => v === undefined || SERIAL.test(v), {
      message: SERIAL_EXPECTED,
    }),
    deviceName: optionalText("a device name"),
    deviceType: text("a managed object type").min(1).default("c8y_MQTTDevice"),
    hardware: z.strictObject({
      model: text("a hardware model").default("Outpost"),
      revision: text("a hardware revision").default(""),
    }).prefault({}),
    requiredIntervalMin: int(0, 525600).default(0),
    legacyTemplateXid: optionalText('a template X-ID like "remoteConnect"').refine(
      (v) => v === undefined || XID.test(v),
      { message: 'a template X-ID without "/", "+", "#" or spaces' },
    ),
    remoteAccessUrl: optionalText(REMOTE_ACCESS_URL_EXPECTED).refine(
      (v) => v === undefined || isRemoteAccessBase(v),
      { message: REMOTE_ACCESS_URL_EXPECTED },
    ),
    remoteAccess: flag().default(true),
    bootstrap: z.strictObject({
      enabled: flag().default(false),
      user: text("the bootstrap user name").min(1).default("management/devicebootstrap"),
      password: optionalText(),
      intervalSec: z.number().positive().describe("a number of seconds > 0").default(5),
    }).refine((b) => !b.enabled || b.password !== undefined, {
      path: ["password"],
      message: "the bootstrap password (bootstrap.enabled is true)",
      when: validAt("enabled", "password"),
    }).prefault({}),
    restart: z.strictObject({
      enabled: flag().default(false),
      command: z.array(text()).describe("a list of strings (program and arguments)").default([]),
      timeoutSec: z.number().positive().describe("a number of seconds > 0").default(300),
    }).refine((r) => !r.enabled || r.command.length > 0, {
      path: ["command"],
      message: 'a program and its arguments, like ["sudo", "reboot"] (restart.enabled is true)',
      when: validAt("enabled", "command"),
    }).prefault({}),
    shell: z.strictObject({
      enabled: flag().default(false),
      allow: z.array(text("a program name").min(1)).describe("a list of program names").default(
        [],
      ),
      timeoutSec: z.number().positive().describe("a number of seconds > 0").default(60),
    }).prefault({}),
  }).superRefine(
    needsAll(["tenant", "user"], {
      message: "a tenant id and a user (password is set)",
      applies: (c) => c.password !== undefined,
    }),
    { when: validAt("password", "tenant", "user") },
  ).refine((c) => c.password !== undefined || c.certFile !== undefined || c.bootstrap.enabled, {
    path: ["password"],
    message: CREDENTIALS_EXPECTED,
    when: validAt("password", "certFile", "bootstrap"),
  }).refine(
    (c) => !c.bootstrap.enabled || (c.password === undefined && c.certFile === undefined),
    {
      path: ["bootstrap", "enabled"],
      message: "false when password or certFile is set (bootstrap registers a device without them)",
      when: validAt("password", "certFile", "bootstrap"),
    },
  ),
);

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

const awsCloud = tlsPairing(
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
);

// Azure: the hub URL, client id and login all follow from DPS or `hub` and the device id.
const AZURE_KEY_EXPECTED = "a base64 key";
const base64Key = () =>
  optionalText(AZURE_KEY_EXPECTED).refine(
    (v) => v === undefined || (/^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0),
    { message: AZURE_KEY_EXPECTED },
  );
const AZURE_AUTH_EXPECTED = "exactly one of deviceKey, groupKey or certFile (with keyFile)";
// The keys are secrets: what was found is which of them are set.
function oneAzureLogin(
  cloud: { deviceKey?: string; groupKey?: string; certFile?: string },
  ctx: z.RefinementCtx,
) {
  const set = (["deviceKey", "groupKey", "certFile"] as const).filter((k) =>
    cloud[k] !== undefined
  );
  if (set.length === 1) return;
  ctx.addIssue({
    code: "custom",
    path: ["deviceKey"],
    message: AZURE_AUTH_EXPECTED,
    params: {
      found: set.length === 0 ? "none of them" : set.join(", ").replace(/, (\w+)$/, " and $1"),
    },
  });
}

const azureCloud = tlsPairing(
  z.strictObject({
    type: z.literal("azure"),
    idScope: optionalText('a DPS id scope like "0ne00012345"'),
    deviceId: optionalText('a device id of 1 to 128 characters without "/", "+" or "#"')
      .refine((v) => v === undefined || /^[A-Za-z0-9\-.:_]{1,128}$/.test(v), {
        message: "a device id of 1 to 128 characters from A-Z a-z 0-9 - . : _",
      }),
    deviceKey: base64Key(),
    groupKey: base64Key(),
    certFile: mqttConnectionFields.certFile,
    keyFile: mqttConnectionFields.keyFile,
    caFile: mqttConnectionFields.caFile,
    insecure: mqttConnectionFields.insecure,
    modelId: optionalText('a model id like "dtmi:com:example:Thermostat;1"'),
    hub: optionalText('an IoT Hub host name like "myhub.azure-devices.net"'),
    dpsHost: text("a host name (or host:port)").min(1).default(
      "global.azure-devices-provisioning.net",
    ),
    tokenTtlSec: int(60, 31_536_000).default(3600),
    dpsRetrySec: int(1, 86_400).default(300),
    ...azureUnreachableFields,
    keepaliveSec: int(1, 1177).default(30),
    backoff: mqttConnectionFields.backoff,
  }).superRefine(oneAzureLogin, { when: validAt("deviceKey", "groupKey", "certFile") }).refine(
    (c) => c.idScope !== undefined || c.hub !== undefined,
    {
      path: ["idScope"],
      message: "a DPS id scope, or a hub to connect to without DPS",
      when: validAt("idScope", "hub"),
    },
  ),
);

// Adding a cloud type is adding its object here: the union, CLOUD_TYPES, the
// error messages and the environment overrides all follow from this list.
const cloudSchemas = [mqttCloud, c8yCloud, awsCloud, azureCloud] as const;

/** The values `type` may take in a `[clouds.<name>]` table. */
export const CLOUD_TYPES: readonly string[] = cloudSchemas.map((s) => s.shape.type.value);

export const cloudSchema = z.discriminatedUnion("type", cloudSchemas);
