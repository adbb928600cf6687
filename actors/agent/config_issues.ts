/**
 * Zod's issues in the configuration file's words: the dotted key (or the
 * environment variable it came from), what the key should hold (the
 * schema's own `describe()` text first), and the value found, secrets
 * described rather than shown.
 */
import { z } from "zod";
import { cloudTypes } from "../clouds.ts";
import { expectedInWords } from "../cloud/config_fields.ts";
import { brokerKey } from "../cloud/mqtt_config.ts";
import {
  childOf,
  type ConfigIssue,
  describeFound,
  schemaAt,
  schemaCore,
  unwrapSchema,
} from "./config_env.ts";

type Path = readonly PropertyKey[];

function childOfPath(value: unknown, path: Path): unknown {
  return path.reduce<unknown>(childOf, value);
}

function descriptionOf(schema: z.ZodType | undefined): string | undefined {
  for (let s = schema; s; s = unwrapSchema(s)) if (s.description) return s.description;
  return undefined;
}

// `clouds.main.url`; a name that is not a bare TOML key is quoted: `clouds."a.b"`.
function dotted(path: Path): string {
  const bare = (key: string) => /^[\w-]+$/.test(key) ? key : JSON.stringify(key);
  return path.map((key) => bare(String(key))).join(".");
}

type KeyOf = (path: Path) => string;

function unknownKeyIssues(
  issue: z.core.$ZodIssueUnrecognizedKeys,
  raw: unknown,
  keyOf: KeyOf,
  fileSchema: z.ZodType,
) {
  const schema = schemaCore(
    schemaAt(fileSchema, issue.path, raw) ?? z.never(),
    childOfPath(raw, issue.path),
  );
  // A key a table refuses with a reason (`z.never()`) is no key it knows.
  const known = schema instanceof z.ZodObject
    ? Object.entries(schema.shape)
      .filter(([, field]) => !(schemaCore(field as z.ZodType) instanceof z.ZodNever))
      .map(([key]) => key).join(", ")
    : "";
  return issue.keys.map((name) => ({
    key: keyOf([...issue.path, name]),
    expected: `no such key (known keys: ${known})`,
    found: `key ${JSON.stringify(name)}`,
  }));
}

function badNameIssue(
  issue: z.core.$ZodIssueInvalidKey,
  raw: unknown,
  keyOf: KeyOf,
  fileSchema: z.ZodType,
) {
  const schema = schemaCore(
    schemaAt(fileSchema, issue.path.slice(0, -1), raw) ?? z.never(),
  );
  const keyType = schema instanceof z.ZodRecord ? (schema.keyType as z.ZodType) : undefined;
  return {
    key: keyOf(issue.path),
    expected: keyType?.description ?? "a valid name",
    found: `key ${JSON.stringify(String(issue.path.at(-1)))}`,
  };
}

// The schema's own words first: zod's are about JavaScript, not the file.
function expectedOf(
  issue: z.core.$ZodIssue,
  raw: unknown,
  value: unknown,
  fileSchema: z.ZodType,
): string {
  if (issue.code === "invalid_union") {
    return `one of ${cloudTypes().map((t) => JSON.stringify(t)).join(", ")}`;
  }
  if (issue.code === "custom") return issue.message;
  const schema = schemaAt(fileSchema, issue.path, raw);
  const shape = schema && schemaCore(schema, value);
  const table = shape instanceof z.ZodObject || shape instanceof z.ZodRecord;
  return descriptionOf(schema) ?? (table ? "a table" : expectedInWords(issue));
}

// The variable that set `path`, or the list that holds it (`OUTPOST_…__URLS.1`).
function envKey(path: Path, origins: Map<string, string>): string | undefined {
  for (let end = path.length; end > 0; end--) {
    const name = origins.get(JSON.stringify(path.slice(0, end).map(String)));
    if (name !== undefined) return [name, ...path.slice(end).map(String)].join(".");
  }
  return undefined;
}

/** The file's words for one zod issue: key, what was expected, what was found. */
export function toConfigIssues(
  issue: z.core.$ZodIssue,
  raw: unknown,
  origins: Map<string, string>,
  fileSchema: z.ZodType,
): ConfigIssue[] {
  const keyOf = (path: Path) => envKey(path, origins) ?? (dotted(path) || "(top level)");
  if (issue.code === "unrecognized_keys") return unknownKeyIssues(issue, raw, keyOf, fileSchema);
  if (issue.code === "invalid_key") return [badNameIssue(issue, raw, keyOf, fileSchema)];
  const value = childOfPath(raw, issue.path);
  // A rule about more than the value at its path says itself what it found.
  const found = issue.code === "custom" && typeof issue.params?.found === "string"
    ? issue.params.found
    : describeFound(value, issue.path);
  return [{ key: keyOf(issue.path), expected: expectedOf(issue, raw, value, fileSchema), found }];
}

/**
 * Two clouds that reach the same broker with the same client id would take
 * each other's session over, again and again (MQTT allows one connection
 * per client id): one issue per later cloud, naming the earlier one.
 */
export function sharedClientIdIssues(clouds: Record<string, object>): ConfigIssue[] {
  const seen = new Map<string, string>();
  const issues: ConfigIssue[] = [];
  for (const [name, table] of Object.entries(clouds)) {
    // Azure's table has neither: its hub and device id come from DPS or `hub`.
    const cloud = table as { clientId?: unknown; urls?: unknown };
    if (typeof cloud.clientId !== "string" || !Array.isArray(cloud.urls)) continue;
    for (const url of cloud.urls as string[]) {
      const key = `${brokerKey(url)} ${cloud.clientId}`;
      const earlier = seen.get(key);
      if (earlier === undefined) {
        seen.set(key, name);
        continue;
      }
      if (earlier === name) continue;
      issues.push({
        key: `clouds.${name}.clientId`,
        expected: `a client id of its own: cloud ${earlier} already connects to ${url} as ` +
          `"${cloud.clientId}", and the broker would let each take over the other's session`,
        found: `"${cloud.clientId}"`,
      });
      break;
    }
  }
  return issues;
}
