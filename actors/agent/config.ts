/**
 * The agent's configuration: one TOML file, overridden by `OUTPOST_*`
 * environment variables, validated once here so that everything inside the
 * agent can trust its types. A run with no file works: every key has a
 * default, and with no cloud configured the agent talks to its own embedded
 * broker. Reference: docs/configuration.md.
 *
 * Errors are collected, not thrown one at a time, and read as
 * `<source>: <key>: expected <what>, found <what>`; a secret's value never
 * appears in them.
 */
import { z } from "zod";
import type { CloudConfig, Config } from "./config_types.ts";
import { c8yCloudSchema } from "../c8y/config.ts";
import { awsCloudSchema } from "../aws/config.ts";
import { azureCloudSchema } from "../azure/config.ts";
import { cloudTableSchema, connectorOf } from "../clouds.ts";
import { mqttCloudSchema } from "../generic/config.ts";
import { consoleSchema } from "../console/config.ts";
import {
  distinctNames,
  flag,
  int,
  oneOf,
  optionalText,
  portsListedOnce,
  text,
  validAt,
} from "../cloud/config_fields.ts";

export { mqttConnectionFields } from "../cloud/mqtt_config.ts";
import { parse as parseToml } from "smol-toml";
import { applyEnvOverrides, type ConfigIssue, isTable } from "./config_env.ts";

import { sharedClientIdIssues, toConfigIssues } from "./config_issues.ts";

export type { ConfigIssue } from "./config_env.ts";

// A file can hold hundreds of thousands of mistakes (a generated file gone
// wrong); past this many, a person needs the first ones and a count.
const SHOWN_ISSUES = 50;

function linesOf(source: string, issues: ConfigIssue[]): string {
  const lines = issues.slice(0, SHOWN_ISSUES).map((i) =>
    `${source}: ${i.key}: expected ${i.expected}, found ${i.found}`
  );
  const more = issues.length - SHOWN_ISSUES;
  if (more > 0) lines.push(`${source}: and ${more} more issues`);
  return lines.join("\n");
}

/**
 * A configuration that cannot be used; `message` holds one line per issue,
 * the first 50 of them and then a count.
 */
export class ConfigError extends Error {
  /** Every problem found, not just the first. */
  readonly issues: ConfigIssue[];
  /** The file path, or what `parseConfig` was told the text came from. */
  readonly source: string;

  /** Builds the error; its message has one line per issue, up to 50. */
  constructor(source: string, issues: ConfigIssue[]) {
    super(linesOf(source, issues));
    this.name = "ConfigError";
    this.source = source;
    this.issues = issues;
  }
}

const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const CLOUD_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const LOOPBACK_EXPECTED =
  "a loopback address (127.0.0.0/8, ::1, localhost) unless broker.allowRemote = true";

function isTarget(value: string): boolean {
  const match = value.match(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/);
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535;
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost") return true;
  const v4 = h.match(/^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (v4) return v4.slice(1).every((octet) => Number(octet) <= 255);
  try {
    return new URL(`http://[${h.replace(/^\[|\]$/g, "")}]`).hostname === "[::1]";
  } catch {
    return false;
  }
}

const FEATURES = ["FileTransfer", "RemoteView", "RemoteControl", "ScreenRecording"] as const;
const ACCESS = ["Allowed", "AfterConfirmation", "Denied"] as const;
const ports = () => z.array(int(1, 65535)).describe("a list of TCP ports").default([]);

// The file's schema with `clouds` left open: each parse puts in the union of
// the cloud types registered at that moment (actors/clouds.ts).
const fileSections = {
  agent: z.strictObject({
    // parseConfig fills it from the hostname first when absent or "".
    deviceId: text("a device id of 1 to 64 characters from A-Z a-z 0-9 . _ -").regex(DEVICE_ID)
      .default("outpost"),
    stateDir: text("a directory path").min(1).default(".outpost"),
  }).prefault({}),
  log: z.strictObject({
    level: oneOf(["trace", "debug", "info", "warning", "error", "fatal"]).default("info"),
    format: oneOf(["text", "json"]).default("text"),
  }).prefault({}),
  control: z.strictObject({ socket: text("a socket path").default("") }).prefault({}),
  outbox: z.strictObject({
    maxRecords: int(1).default(100000),
    durability: oneOf(["process", "power"]).default("process"),
  }).prefault({}),
  telemetry: z.strictObject({
    system: z.strictObject({
      enabled: flag().default(true),
      intervalSec: z.number().positive().describe("a number of seconds > 0").default(5),
    }).prefault({}),
  }).prefault({}),
  remoteAccess: z.strictObject({
    allow: z.array(
      text('a "host:port" target like "127.0.0.1:22"').refine(isTarget, {
        message: 'a "host:port" target like "127.0.0.1:22" or "[::1]:5900"',
      }),
    ).describe('a list of "host:port" targets').default([]),
    maxTunnels: int(1, 1000).default(10),
    bufferSize: int(1024, 1048576).default(16384),
    // NAT boxes and load balancers cut a WebSocket that stays quiet; the
    // Cumulocity Python seed pings every 10 s for the same reason.
    pingIntervalSec: z.number().min(0).describe("a number of seconds >= 0 (0 = off)").default(10),
    dialTimeoutSec: z.number().positive().describe("a number of seconds > 0").default(10),
    proxy: optionalText('an HTTP proxy URL like "http://proxy:3128"').refine(
      (v) => v === undefined || /^http:\/\/[^/\s]+\/?$/.test(v),
      'an HTTP proxy URL like "http://proxy:3128"',
    ),
  }).prefault({}),
  support: z.strictObject({
    access: z.strictObject({
      FileTransfer: oneOf(ACCESS).default("Allowed"),
      RemoteView: oneOf(ACCESS).default("Allowed"),
      RemoteControl: oneOf(ACCESS).default("Allowed"),
      ScreenRecording: oneOf(ACCESS).default("Allowed"),
    }).prefault({}),
    ports: z.strictObject({
      FileTransfer: ports(),
      RemoteView: ports(),
      RemoteControl: ports(),
      ScreenRecording: ports(),
    }).superRefine(portsListedOnce).prefault({}),
    defaultFeature: oneOf(FEATURES).default("RemoteControl"),
    confirmationTimeoutSec: z.number().positive().describe("a number of seconds > 0").default(60),
    connectionRequestTimeoutSec: z.number().positive().describe("a number of seconds > 0")
      .default(60),
    sendTimeoutSec: z.number().positive().describe("a number of seconds > 0").default(30),
  }).prefault({}),
  broker: z.strictObject({
    enabled: flag().optional(),
    host: text("a host name or IP address").min(1).default("127.0.0.1"),
    port: int(0, 65535).default(1883),
    allowRemote: flag().default(false),
  }).refine((b) => b.allowRemote || isLoopback(b.host), {
    path: ["host"],
    message: LOOPBACK_EXPECTED,
    when: validAt("host", "allowRemote"),
  }).prefault({}),
  localApi: z.strictObject({
    enabled: flag().default(false),
    host: text("a loopback address (127.0.0.0/8, ::1, localhost)").refine(isLoopback, {
      message: "a loopback address (127.0.0.0/8, ::1, localhost): apps on this device only",
    }).default("127.0.0.1"),
    provisioningPort: int(0, 65535).default(18883),
    apiPort: int(0, 65535).default(18884),
    caCertPath: text("a file path").default(""),
    approval: oneOf(["auto", "operator"]).default("auto"),
  }).refine((l) => l.apiPort === 0 || l.apiPort !== l.provisioningPort, {
    path: ["apiPort"],
    message: "a port other than localApi.provisioningPort (or 0)",
    when: validAt("apiPort", "provisioningPort"),
  }).prefault({}),
  console: consoleSchema,
};

function cloudsSection<T extends z.ZodType>(table: T) {
  return z.record(
    z.string().regex(CLOUD_NAME).describe(
      "a cloud name of 1 to 32 characters from A-Z a-z 0-9 _ -",
    ),
    table,
  )
    // Only the names matter: checked even when an entry is invalid.
    .superRefine(distinctNames, { when: (payload) => isTable(payload.value) })
    .optional();
}

// The type of the file schema; its clouds are typed as the built-in union.
const typedFileSchema = z.strictObject({
  ...fileSections,
  clouds: cloudsSection(
    z.discriminatedUnion("type", [
      mqttCloudSchema,
      c8yCloudSchema,
      awsCloudSchema,
      azureCloudSchema,
    ]),
  ),
});

let fileSchemaCache: { table: z.ZodType; file: typeof typedFileSchema } | undefined;

/**
 * The configuration file as written, before derived defaults are filled,
 * with the cloud types registered now.
 */
export function configFileSchema(): typeof typedFileSchema {
  const table = cloudTableSchema();
  if (fileSchemaCache?.table !== table) {
    const file = z.strictObject({ ...fileSections, clouds: cloudsSection(table) });
    fileSchemaCache = { table, file: file as unknown as typeof typedFileSchema };
  }
  return fileSchemaCache.file;
}

type FileConfig = z.output<typeof typedFileSchema>;

// The URL of the embedded broker, as a client on this machine reaches it.
function localBrokerUrl(host: string, port: number): string {
  if (host === "0.0.0.0") return `mqtt://127.0.0.1:${port}`;
  if (host === "::") return `mqtt://[::1]:${port}`;
  return host.includes(":") ? `mqtt://[${host}]:${port}` : `mqtt://${host}:${port}`;
}

function resolveDefaults(file: FileConfig) {
  const { agent, broker } = file;
  const configured = Object.keys(file.clouds ?? {}).length > 0;
  const clouds = configured ? file.clouds! : {
    local: mqttCloudSchema.parse({ type: "mqtt", url: localBrokerUrl(broker.host, broker.port) }),
  };
  return {
    ...file,
    control: {
      socket: file.control.socket || `${agent.stateDir.replace(/\/+$/, "")}/control.sock`,
    },
    broker: { ...broker, enabled: broker.enabled ?? !configured },
    localApi: {
      ...file.localApi,
      caCertPath: file.localApi.caCertPath ||
        `${agent.stateDir.replace(/\/+$/, "")}/local-api/ca.crt`,
    },
    clouds: Object.fromEntries(
      Object.entries(clouds).map(([name, cloud]) => [name, cloudDefaults(cloud, agent)]),
    ),
  };
}

type FileCloud = NonNullable<FileConfig["clouds"]>[string];

// Each cloud type fills what depends on the agent (its connector's `resolve`).
function cloudDefaults(cloud: FileCloud, agent: { deviceId: string; stateDir: string }) {
  const connector = connectorOf(cloud.type);
  return (connector.resolve ? connector.resolve(cloud, agent) : cloud) as CloudConfig;
}

/** Validates a raw configuration and fills every derived default (registered cloud types). */
export function configSchema() {
  return configFileSchema().transform(resolveDefaults);
}

export type { CloudConfig, Config } from "./config_types.ts";
// The schema's output must be what the documented types promise.
const _schemaMatchesTypes: [z.output<ReturnType<typeof configSchema>>] extends [Config] ? true
  : false = true;

function sanitizedHostname(hostname?: string): string {
  if (hostname === undefined) {
    try {
      hostname = Deno.hostname();
    } catch {
      hostname = ""; // no --allow-sys: fall back to the generic id below
    }
  }
  return hostname.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64) || "outpost";
}

/** Parses TOML `text`, or throws a {@link ConfigError} naming the line, without quoting the file. */
export function readToml(text: string, source: string): Record<string, unknown> {
  try {
    return parseToml(text);
  } catch (error) {
    const e = error as { line?: number; column?: number; message?: string };
    // Only smol-toml's first line: the code block after it quotes the file, secrets included.
    const reason = String(e.message ?? error).split("\n")[0].replace(
      /^Invalid TOML document: /,
      "",
    );
    const key = e.line === undefined ? "(file)" : `line ${e.line}, column ${e.column}`;
    throw new ConfigError(source, [{ key, expected: "valid TOML", found: reason }]);
  }
}

/**
 * Validates TOML `text` (undefined: no file) with `env` overrides applied,
 * and returns the resolved configuration, or throws a {@link ConfigError}
 * listing every issue. Pure unless `hostname` is omitted and needed.
 */
export function parseConfig(
  text: string | undefined,
  options: { env?: Record<string, string | undefined>; source?: string; hostname?: string } = {},
): Config {
  const source = options.source ?? "config";
  const raw = text === undefined ? {} : readToml(text, source);
  return resolveConfig(raw, { ...options, source });
}

/**
 * Validates a configuration given as an object (the TOML file's tables as
 * plain objects; `raw` is changed) with `env` overrides applied, and
 * returns it resolved, or throws a {@link ConfigError} listing every issue.
 * Facades such as `AwsDevice` build their configuration with it.
 *
 * @example
 * ```ts
 * const config = resolveConfig({
 *   agent: { deviceId: "pump-7" },
 *   clouds: { hub: { type: "mqtt", url: "mqtt://127.0.0.1:1883" } },
 * });
 * ```
 */
export function resolveConfig(
  raw: Record<string, unknown>,
  options: { env?: Record<string, string | undefined>; source?: string; hostname?: string } = {},
): Config {
  const source = options.source ?? "config";
  const { issues, origins } = applyEnvOverrides(raw, options.env ?? {}, configFileSchema());
  const agent = raw.agent ?? (raw.agent = {});
  if (isTable(agent) && (agent.deviceId === undefined || agent.deviceId === "")) {
    agent.deviceId = sanitizedHostname(options.hostname);
  }
  const result = configSchema().safeParse(raw);
  // No push(...spread): one unknown-keys issue can hold more keys than a call takes arguments.
  const fileSchema = configFileSchema();
  const all = result.success ? issues : issues.concat(
    result.error.issues.flatMap((i) => toConfigIssues(i, raw, origins, fileSchema)),
  );
  if (all.length > 0 || !result.success) throw new ConfigError(source, all);
  const shared = sharedClientIdIssues(result.data.clouds);
  if (shared.length > 0) throw new ConfigError(source, shared);
  return result.data;
}

/**
 * Reads the TOML file at `path` (undefined: no file) and validates it with
 * `env` overrides (default: this process's environment).
 */
export async function loadConfig(
  path: string | undefined,
  options: { env?: Record<string, string | undefined>; hostname?: string } = {},
): Promise<Config> {
  const env = options.env ?? Deno.env.toObject();
  if (path === undefined) return parseConfig(undefined, { env, hostname: options.hostname });
  const text = await readConfigFile(path);
  return parseConfig(text, { env, source: path, hostname: options.hostname });
}

/** The text of the configuration file at `path`; a {@link ConfigError} naming it if unreadable. */
export async function readConfigFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const found = error instanceof Deno.errors.NotFound
      ? `no such file: ${path}`
      : `unreadable file ${path} (${(error as Error).message})`;
    throw new ConfigError(path, [{ key: "(file)", expected: "a readable TOML file", found }]);
  }
}
