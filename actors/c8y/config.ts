/**
 * `[clouds.<name>] type = "c8y"`: the table's schema and its resolved type
 * (docs/configuration.md explains each key).
 */
import { z } from "zod";
import { flag, int, needsAll, optionalText, text, validAt } from "../cloud/config_fields.ts";
import {
  mqttConnectionFields,
  type MqttEndpointConfig,
  tlsPairing,
  urlOrUrls,
} from "../cloud/mqtt_config.ts";
import { isFragmentName } from "../../protocols/c8y_json.ts";
import { OPERATION_TEMPLATES } from "../../protocols/c8y_messages.ts";
import { SUPPORT_FRAGMENT } from "../../protocols/c8y_support.ts";

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

// A fragment a static template delivers on s/ds is the session's own; the
// support fragment is the support channel's.
const TAKEN_FRAGMENTS = new Set([...Object.values(OPERATION_TEMPLATES), SUPPORT_FRAGMENT]);
const FRAGMENT_EXPECTED =
  "an operation fragment: a letter, then letters, digits or _ (at most 128), not an operation property";
const COMMAND_EXPECTED = "a command name of 1 to 64 characters from A-Z a-z 0-9 . _ -";

// `operations.commands`: fragment → command name, both checked key by key.
function commandTable(table: Record<string, string>, ctx: z.RefinementCtx) {
  for (const [fragment, command] of Object.entries(table)) {
    if (!isFragmentName(fragment)) {
      ctx.addIssue({
        code: "custom",
        path: [fragment],
        message: FRAGMENT_EXPECTED,
        params: { found: `key ${JSON.stringify(fragment)}` },
      });
    } else if (TAKEN_FRAGMENTS.has(fragment)) {
      ctx.addIssue({
        code: "custom",
        path: [fragment],
        message: `a fragment other than ${fragment}, which the agent answers itself`,
        params: { found: `key ${JSON.stringify(fragment)}` },
      });
    } else if (!/^[A-Za-z0-9._-]{1,64}$/.test(command)) {
      ctx.addIssue({ code: "custom", path: [fragment], message: COMMAND_EXPECTED });
    }
  }
}

// The MQTT user name of Cumulocity is `<tenant>/<user>`: `tenant` and `user` replace `username`.
const { username: _username, ...c8yConnectionFields } = mqttConnectionFields;
const REMOTE_ACCESS_URL_EXPECTED =
  'a base URL like "wss://tenant.example.com" (scheme ws, wss, http or https)';

/** The schema of a Cumulocity cloud's table. */
export const c8yCloudSchema = urlOrUrls(tlsPairing(
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
    operations: z.strictObject({
      commands: z.record(z.string(), text(COMMAND_EXPECTED))
        .describe("a table of operation fragments and command names")
        .superRefine(commandTable)
        .default({}),
      support: flag().default(false),
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
));

/** `[clouds.<name>.hardware]` of a Cumulocity cloud: the `110` line. */
export interface C8yHardware {
  /** `c8y_Hardware.model`. */
  model: string;
  /** `c8y_Hardware.revision`; "" leaves it out. */
  revision: string;
}

/** `[clouds.<name>.bootstrap]`: Cumulocity device registration (`s/ucr` → `70,…`). */
export interface C8yBootstrap {
  /** Register when no credentials are configured or stored. */
  enabled: boolean;
  /** The bootstrap user, without tenant. */
  user: string;
  /** The bootstrap password (never logged); required when `enabled`. */
  password?: string;
  /** Seconds between two registration requests. */
  intervalSec: number;
}

/** `[clouds.<name>.restart]`: the `510` restart operation. */
export interface C8yRestart {
  /** Announce `c8y_Restart` and run `command` on a `510`. */
  enabled: boolean;
  /** The argv to run (no shell); exit 0 is success. */
  command: string[];
  /** Seconds before the command is killed and the operation failed. */
  timeoutSec: number;
}

/** `[clouds.<name>.shell]`: the `511` shell operation. */
export interface C8yShell {
  /** Announce `c8y_Command` and run allowlisted commands on a `511`. */
  enabled: boolean;
  /** Program names (argv[0], exactly as written) that may run. */
  allow: string[];
  /** Seconds before the command is killed and the operation failed. */
  timeoutSec: number;
}

/**
 * `[clouds.<name>]` with `type = "c8y"`: Cumulocity IoT over MQTT (SmartREST
 * 2.0). `url` is `mqtts://<tenant host>:8883` (or `wss://<host>/mqtt`); the
 * client id defaults to `d:<serial>`; `password` is that of `<tenant>/<user>`;
 * a `certFile` (CN = serial) selects certificate authentication; Cumulocity
 * requires `cleanSession = true`.
 */
export interface C8yCloudConfig extends MqttEndpointConfig {
  /** Selects this cloud type. */
  type: "c8y";
  /** Tenant id; the MQTT user name is `<tenant>/<user>`. */
  tenant?: string;
  /** Device user name within the tenant. */
  user?: string;
  /** The device's serial (external id); defaults to `agent.deviceId`. */
  serial: string;
  /** Name of the device's managed object; defaults to `Outpost <serial>`. */
  deviceName: string;
  /** Type of the device's managed object. */
  deviceType: string;
  /** The `110` hardware line. */
  hardware: C8yHardware;
  /** Minutes without a message before Cumulocity marks the device unavailable; 0: not sent. */
  requiredIntervalMin: number;
  /** X-ID of a legacy `remoteConnect` response template (platforms before 10.7). */
  legacyTemplateXid?: string;
  /** Base URL of the remote-access WebSocket when it is not the MQTT host (tests, proxies). */
  remoteAccessUrl?: string;
  /** Announce and serve `c8y_RemoteAccessConnect` (`[remoteAccess]` holds the allowlist). */
  remoteAccess: boolean;
  /** Device registration. */
  bootstrap: C8yBootstrap;
  /** The `510` restart operation. */
  restart: C8yRestart;
  /** The `511` shell operation. */
  shell: C8yShell;
  /**
   * `[clouds.<name>.operations]`: what JSON operations (`devicecontrol/notifications`)
   * reach besides the built-in ones (docs/c8y.md). Written out here rather than
   * named, so the agent's public list of configuration types need not change.
   */
  operations: {
    /** Operation fragment → the `agent.onCommand` name whose handler answers it (`506`/`505`). */
    commands: Record<string, string>;
    /** Carry the support modules' remote side: `outpost_Support` operations and events. */
    support: boolean;
  };
}

/** A `[clouds.<name>] type = "c8y"` table as validated, before the agent's defaults. */
export type C8yTable = z.output<typeof c8yCloudSchema>;
