/**
 * `outpost fleet`'s configuration: one TOML file with a `[fleet]` table
 * beside the agent's own `[log]`, `[outbox]`, `[remoteAccess]` and
 * `[clouds.<name>]` tables, whose strings are templates (`{n}`, `{id}`;
 * template.ts). Validated once, here, in the agent's words
 * (`<source>: <key>: expected <what>, found <what>`): `[fleet]` by its own
 * schema, everything else by the agent's validation run as the first and
 * the last device, so that a cloud table means exactly what it means to
 * `outpost run`. Reference: docs/fleet.md.
 */
import { z } from "zod";
import { ConfigError, readConfigFile, readToml, resolveConfig } from "../agent/config.ts";
import type {
  CloudConfig,
  LogSection,
  OutboxSection,
  RemoteAccessSection,
} from "../agent/config_types.ts";
import { type ConfigIssue, describeFound, isTable } from "../agent/config_env.ts";
import { toConfigIssues } from "../agent/config_issues.ts";
import { connectorOf } from "../clouds.ts";
import { flag, int, text } from "../cloud/config_fields.ts";
import { streamNameProblem } from "../../protocols/outpost_topics.ts";
import { fleetFieldsSchema } from "./config_fields.ts";
import { DEFAULT_FIELDS, type FieldSpec } from "./payload.ts";
import {
  expandStrings,
  expandTemplate,
  placeholdersIn,
  stringsIn,
  templateProblem,
} from "./template.ts";

/** `[fleet]`, resolved. */
export interface FleetSection {
  /** How many devices run. */
  devices: number;
  /** The number `{n}` of the first device; the others follow. */
  firstDevice: number;
  /** The device id template (`{n}` only). */
  deviceId: string;
  /** Devices started per second. */
  rampPerSec: number;
  /** Seconds between two summary lines. */
  summaryEverySec: number;
  /** Directory of the fleet's database and per-device files. */
  stateDir: string;
  /**
   * Device n starts its broker list (`urls`) at broker n mod the list's
   * length, so a fleet spreads over a cluster's nodes; fail-over still
   * tries every broker in turn.
   */
  spreadBrokers: boolean;
  /** Seed of the payload generators; absent: a different run each time. */
  seed?: number;
  /** `[fleet.telemetry]`: what each device publishes. */
  telemetry: {
    /** Seconds between a device's records; 0: as fast as its outbox drains. */
    intervalSec: number;
    /** With `intervalSec = 0`: the records of a device waiting at once, topped up every 10 ms. */
    inFlight: number;
    stream: string;
    fields: Record<string, FieldSpec>;
  };
  /** `[fleet.churn]`: devices that drop off and come back. */
  churn: { percentPerMin: number; downSec: number };
}

/** A validated fleet file. */
export interface FleetConfig {
  /** Where it came from, for messages. */
  source: string;
  /** `[fleet]`. */
  fleet: FleetSection;
  /** `[log]` (default level `warning`: thousands of devices log thousands of lines). */
  log: LogSection;
  /** `[outbox]`: `maxRecords` is per device and cloud (default 10,000). */
  outbox: OutboxSection;
  /** `[remoteAccess]`, shared by every device. */
  remoteAccess: RemoteAccessSection;
  /** The `[clouds.<name>]` tables as written: templates, validated. */
  clouds: Record<string, Record<string, unknown>>;
  /** Things that are allowed but probably not meant (identical clouds for every device). */
  warnings: string[];
}

/** Values from the command line that override `[fleet]` keys. */
export interface FleetOverrides {
  /** `--devices`. */
  devices?: number | string;
  /** `--first`. */
  first?: number | string;
}

const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const ID_EXPECTED = "ids of 1 to 64 characters from A-Z a-z 0-9 . _ -";

const fleetSchema = z.strictObject({
  devices: int(1, 100_000).default(100),
  firstDevice: int(0).default(1),
  deviceId: text('a template like "sim-{n}"').default("sim-{n}"),
  rampPerSec: z.number().positive().describe("a number of devices per second > 0").default(100),
  summaryEverySec: z.number().positive().describe("a number of seconds > 0").default(5),
  stateDir: text("a directory path").min(1).default(".outpost-fleet"),
  spreadBrokers: flag().default(true),
  seed: int(0).optional(),
  telemetry: z.strictObject({
    intervalSec: z.number().refine((s) => s === 0 || s >= 0.01, {
      message: "a number of seconds >= 0.01, or 0 (as fast as the outbox drains)",
    }).describe("a number of seconds >= 0.01, or 0 (as fast as the outbox drains)").default(10),
    inFlight: int(1, 10_000).default(16),
    stream: text('a stream name like "system"').refine((s) => !streamNameProblem(s), {
      message: 'a stream name like "system" (one topic level: no "/", "+", "#")',
    }).default("system"),
    fields: fleetFieldsSchema.optional(),
  }).prefault({}),
  churn: z.strictObject({
    // Above 100, devices go down more than once a minute each: a flapping network.
    percentPerMin: z.number().min(0).describe("a percentage >= 0").default(0),
    downSec: z.number().positive().describe("a number of seconds > 0").default(30),
  }).prefault({}),
}).prefault({});

// Checks the clouds with when [fleet] itself cannot be used.
const FALLBACK = resolveFleet(fleetSchema.parse(undefined));

const fileSchema = z.strictObject({
  fleet: fleetSchema,
  log: z.unknown().optional(),
  outbox: z.unknown().optional(),
  remoteAccess: z.unknown().optional(),
  clouds: z.unknown().optional(),
});

/** The id of device number `n`. */
export function deviceIdOf(fleet: Pick<FleetSection, "deviceId">, n: number): string {
  return expandTemplate(fleet.deviceId, { n });
}

/** The directory of device `id`'s own files (credentials, certificates). */
export function deviceDir(stateDir: string, id: string): string {
  return `${stateDir.replace(/\/+$/, "")}/devices/${id}`;
}

/**
 * Device `n`'s clouds, resolved as the agent resolves its own: each table
 * expanded for the device, validated by its connector's schema, its
 * defaults filled from the device's id.
 */
export function deviceClouds(config: FleetConfig, n: number): Record<string, CloudConfig> {
  const id = deviceIdOf(config.fleet, n);
  const facts = { deviceId: id, stateDir: deviceDir(config.fleet.stateDir, id) };
  const clouds: Record<string, CloudConfig> = {};
  for (const [name, table] of Object.entries(config.clouds)) {
    const expanded = expandStrings(table, { n, id });
    if (config.fleet.spreadBrokers && Array.isArray(expanded.urls)) {
      expanded.urls = rotate(expanded.urls, n - config.fleet.firstDevice);
    }
    const connector = connectorOf(String(expanded.type));
    const parsed = connector.schema.parse(expanded);
    clouds[name] = (connector.resolve ? connector.resolve(parsed, facts) : parsed) as CloudConfig;
  }
  return clouds;
}

/**
 * Validates a fleet file's TOML `text` with the command line's overrides;
 * throws a {@link ConfigError} listing every issue.
 *
 * @example
 * ```ts
 * const config = parseFleetConfig('[clouds.hub]\ntype = "mqtt"\nurl = "mqtt://127.0.0.1:1883"', {
 *   source: "fleet.toml",
 *   overrides: { devices: 50 },
 * });
 * ```
 */
export function parseFleetConfig(
  text: string,
  options: { source?: string; overrides?: FleetOverrides } = {},
): FleetConfig {
  const source = options.source ?? "fleet";
  const raw = readToml(text, source);
  const origins = new Map<string, string>();
  const { devices, first } = options.overrides ?? {};
  if (devices !== undefined || first !== undefined) {
    const fleet = isTable(raw.fleet) ? raw.fleet : (raw.fleet = {});
    if (isTable(fleet)) {
      if (devices !== undefined) override(fleet, "devices", devices, "--devices", origins);
      if (first !== undefined) override(fleet, "firstDevice", first, "--first", origins);
    }
  }
  // Every issue at once: the clouds are checked even when [fleet] has mistakes.
  const parsed = fileSchema.safeParse(raw);
  const issues = parsed.success
    ? []
    : parsed.error.issues.flatMap((i) => toConfigIssues(i, raw, origins, fileSchema));
  const fleet = parsed.success ? resolveFleet(parsed.data.fleet) : undefined;
  const written = isTable(raw.fleet) ? raw.fleet.deviceId : undefined;
  if (fleet) issues.push(...deviceIdIssues(fleet, origins));
  else if (typeof written === "string") {
    issues.push(...deviceIdIssues({ ...FALLBACK, deviceId: written }, origins));
  }
  issues.push(...cloudTemplateIssues(raw.clouds));
  const usable = fleet && !issues.some((i) => i.key === "fleet.deviceId");
  const agent = agentSections(raw, usable ? fleet : FALLBACK, source, issues);
  if (issues.length > 0 || !agent || !fleet) throw new ConfigError(source, issues);
  const config: FleetConfig = {
    source,
    fleet,
    ...agent,
    clouds: raw.clouds as Record<string, Record<string, unknown>>,
    warnings: [],
  };
  config.warnings = sameLoginWarnings(config);
  return config;
}

/** Reads and validates the fleet file at `path`; throws a {@link ConfigError}. */
export async function loadFleetConfig(
  path: string,
  overrides: FleetOverrides = {},
): Promise<FleetConfig> {
  return parseFleetConfig(await readConfigFile(path), { source: path, overrides });
}

// A number from the command line is a number; anything else is shown as the text it was.
function override(
  fleet: Record<string, unknown>,
  key: string,
  value: number | string,
  flag: string,
  origins: Map<string, string>,
): void {
  fleet[key] = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  origins.set(JSON.stringify(["fleet", key]), flag);
}

function resolveFleet(fleet: z.output<typeof fleetSchema>): FleetSection {
  const { telemetry, seed, ...rest } = fleet;
  return {
    ...rest,
    ...(seed !== undefined && { seed }),
    telemetry: { ...telemetry, fields: telemetry.fields ?? structuredClone(DEFAULT_FIELDS) },
  };
}

function lastDevice(fleet: FleetSection): number {
  return fleet.firstDevice + fleet.devices - 1;
}

function deviceIdIssues(fleet: FleetSection, origins: Map<string, string>): ConfigIssue[] {
  const key = "fleet.deviceId";
  const found = JSON.stringify(fleet.deviceId);
  const problem = templateProblem(fleet.deviceId, ["n"]);
  if (problem) return [{ key, expected: `a template with {n} only: ${problem}`, found }];
  if (!placeholdersIn(fleet.deviceId).has("n")) {
    return [{ key, expected: "a template that uses {n}, so each device has its own id", found }];
  }
  for (const n of [fleet.firstDevice, lastDevice(fleet)]) {
    const id = deviceIdOf(fleet, n);
    if (DEVICE_ID.test(id)) continue;
    const by = origins.get(JSON.stringify(["fleet", "devices"])) ?? "fleet.devices";
    return [{
      key,
      expected: `a template that makes ${ID_EXPECTED}`,
      found: `${found}, which makes ${JSON.stringify(id)} for device ${n} (see ${by})`,
    }];
  }
  return [];
}

function cloudTemplateIssues(clouds: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [path, value] of stringsIn(clouds, ["clouds"])) {
    const problem = templateProblem(value);
    if (!problem) continue;
    const found = describeFound(value, path);
    // A secret's placeholder is part of the secret: the problem is not quoted either.
    const hidden = found !== describeFound(value, []);
    issues.push({
      key: dotted(path),
      expected: `placeholders {n}, {n:<width>} or {id} only${hidden ? "" : ` (${problem})`}`,
      found,
    });
  }
  if (!isTable(clouds)) return issues;
  for (const [name, table] of Object.entries(clouds)) {
    const clientId = isTable(table) ? table.clientId : undefined;
    if (typeof clientId !== "string" || clientId === "") continue;
    const uses = placeholdersIn(clientId);
    if (uses.has("n") || uses.has("id")) continue;
    issues.push({
      key: dotted(["clouds", name, "clientId"]),
      expected: 'a client id that uses {n} or {id} ("sim-{n}"): devices sharing one ' +
        "knock each other off the broker",
      found: JSON.stringify(clientId),
    });
  }
  return issues;
}

/**
 * `[log]`, `[outbox]`, `[remoteAccess]` and the clouds through the agent's
 * own validation, as the first and as the last device; issues go to `issues`.
 */
function agentSections(
  raw: Record<string, unknown>,
  fleet: FleetSection,
  source: string,
  issues: ConfigIssue[],
): Pick<FleetConfig, "log" | "outbox" | "remoteAccess"> | undefined {
  if (raw.clouds === undefined || (isTable(raw.clouds) && Object.keys(raw.clouds).length === 0)) {
    issues.push({
      key: "clouds",
      expected: "at least one [clouds.<name>] table: the cloud the devices connect to",
      found: "none",
    });
    return undefined;
  }
  const seen = new Set(issues.map((i) => i.key));
  let sections: Pick<FleetConfig, "log" | "outbox" | "remoteAccess"> | undefined;
  for (const n of new Set([fleet.firstDevice, lastDevice(fleet)])) {
    const id = deviceIdOf(fleet, n);
    try {
      const config = resolveConfig(agentView(raw, n, id, fleet.stateDir), { source, env: {} });
      sections ??= { log: config.log, outbox: config.outbox, remoteAccess: config.remoteAccess };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const issue of error.issues) {
        if (seen.has(issue.key)) continue;
        seen.add(issue.key);
        issues.push(issue);
      }
    }
  }
  return sections;
}

// The fleet file as the agent would read it for device `n`, with the fleet's defaults.
function agentView(
  raw: Record<string, unknown>,
  n: number,
  id: string,
  stateDir: string,
): Record<string, unknown> {
  const log = isTable(raw.log) ? { level: "warning", ...raw.log } : raw.log ?? { level: "warning" };
  const outbox = isTable(raw.outbox)
    ? { maxRecords: 10_000, ...raw.outbox }
    : raw.outbox ?? { maxRecords: 10_000 };
  return {
    agent: { deviceId: id, stateDir: deviceDir(stateDir, id) },
    log,
    outbox,
    ...(raw.remoteAccess !== undefined && { remoteAccess: raw.remoteAccess }),
    telemetry: { system: { enabled: false } },
    clouds: expandStrings(raw.clouds, { n, id }),
  };
}

// Two devices whose resolved tables are the same log in as one, unless the
// cloud tells them apart otherwise (AWS fleet provisioning gives each a certificate).
function sameLoginWarnings(config: FleetConfig): string[] {
  const { firstDevice, devices } = config.fleet;
  if (devices < 2) return [];
  const a = deviceClouds(config, firstDevice);
  const b = deviceClouds(config, firstDevice + 1);
  return Object.keys(a).filter((name) => JSON.stringify(a[name]) === JSON.stringify(b[name]))
    .map((name) =>
      `[clouds.${name}] is the same for every device: unless the cloud tells them apart ` +
      "by other means, use {n} or {id} in the keys that name the device"
    );
}

function rotate<T>(list: readonly T[], by: number): T[] {
  const at = ((by % list.length) + list.length) % list.length;
  return [...list.slice(at), ...list.slice(0, at)];
}

// `clouds.hub.clientId`; a name that is not a bare TOML key is quoted.
function dotted(path: readonly PropertyKey[]): string {
  return path.map((key) => /^[\w-]+$/.test(String(key)) ? String(key) : JSON.stringify(key))
    .join(".");
}
