/**
 * `[clouds.<name>] type = "azure"`: the table's schema and its resolved
 * type (docs/configuration.md and docs/azure.md explain each key).
 */
import { z } from "zod";
import { int, optionalText, text, validAt } from "../cloud/config_fields.ts";
import { type ConnectionBackoff, mqttConnectionFields, tlsPairing } from "../cloud/mqtt_config.ts";

/**
 * When a hub that does not answer sends the device back to DPS: 10 failed
 * connects within 15 minutes. The window holds 10 attempts even at the
 * connection's longest default backoff (60 s) plus a 10 s CONNACK timeout
 * each, so a hub that stays away is always noticed, and the device still
 * finds its new hub within the quarter hour.
 */
export const UNREACHABLE_DEFAULTS = { connects: 10, windowMs: 900_000 } as const;

/**
 * When a hub that does not answer sends the cloud back to DPS:
 * `unreachableConnects` failed connects within `unreachableWindowSec`.
 *
 * @example
 * ```ts
 * const azureCloud = z.strictObject({ type: z.literal("azure"), ...azureUnreachableFields });
 * ```
 */
export const azureUnreachableFields = {
  unreachableConnects: int(1, 10_000).default(UNREACHABLE_DEFAULTS.connects),
  unreachableWindowSec: int(1, 604_800).default(UNREACHABLE_DEFAULTS.windowMs / 1000),
};

// Azure: the hub URL, client id and login all follow from DPS or `hub` and the device id,
// so there is no broker to name and no list to fail over between (docs/failover.md).
// The keys other clouds take for that are refused with the reason, not as unknown keys.
const NO_BROKER_URL =
  "no url or urls: an Azure cloud connects to the hub DPS assigns (idScope), or to hub";
const refused = (why: string) => z.never().optional().describe(why);
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

/** The schema of an Azure IoT cloud's table. */
export const azureCloudSchema = tlsPairing(
  z.strictObject({
    type: z.literal("azure"),
    url: refused(NO_BROKER_URL),
    urls: refused(NO_BROKER_URL),
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

/**
 * `[clouds.<name>]` with `type = "azure"`: Azure IoT Hub through DPS, with
 * IoT Central's conventions. One of `deviceKey`, `groupKey` (the device key
 * is derived from it) or `certFile` + `keyFile` (X.509); DPS results are
 * cached in `<stateDir>/azure-<name>.credentials.json` (mode 0600).
 */
export interface AzureCloudConfig {
  /** Selects this cloud type. */
  type: "azure";
  /** DPS id scope; without it, `hub` is required and DPS is never asked. */
  idScope?: string;
  /** The registration (device) id; defaults to `agent.deviceId`. */
  deviceId: string;
  /** The device's symmetric key, base64 (never logged). */
  deviceKey?: string;
  /** An enrollment group's symmetric key, base64 (never logged). */
  groupKey?: string;
  /** PEM client certificate (X.509 authentication, with `keyFile`). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** PEM file of a CA to trust for DPS and the hub (tests, gateways). */
  caFile?: string;
  /** Turns TLS verification off (logged as a warning). */
  insecure: boolean;
  /** Plug and Play model id, sent to DPS and in the hub user name. */
  modelId?: string;
  /** A known hub host name: connect without DPS (DPS still runs if it refuses and idScope is set). */
  hub?: string;
  /** DPS endpoint; `host:port` is accepted. */
  dpsHost: string;
  /** Lifetime of each SAS token; the connection is renewed at 80 % of it. */
  tokenTtlSec: number;
  /** Seconds before DPS is asked again after it refused the device. */
  dpsRetrySec: number;
  /** Connects the hub did not answer, within `unreachableWindowSec`, before DPS runs again. */
  unreachableConnects: number;
  /** The window of `unreachableConnects`, in seconds. */
  unreachableWindowSec: number;
  /** MQTT keep-alive (IoT Hub allows at most 1177). */
  keepaliveSec: number;
  /** Delays between connection attempts. */
  backoff: ConnectionBackoff;
}

/** A `[clouds.<name>] type = "azure"` table as validated, before the agent's defaults. */
export type AzureTable = z.output<typeof azureCloudSchema>;
