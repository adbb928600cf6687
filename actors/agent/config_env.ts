/**
 * Environment overrides for the configuration: `OUTPOST_<LEVEL>__<LEVEL>…`,
 * levels separated by a double underscore, each camelCase key written as
 * SCREAMING_SNAKE (`OUTPOST_CLOUDS__MAIN__KEEPALIVE_SEC` → clouds.main.keepaliveSec).
 * A list key takes a JSON list, as TOML writes one of strings or numbers
 * (`OUTPOST_CLOUDS__MAIN__URLS=["mqtt://a:1883","mqtt://b:1883"]`).
 *
 * This module knows how variable names address keys and how text becomes a
 * value; which keys exist and what type they hold it reads from the zod
 * schema. The helpers that read the schema and show a found value without
 * its secrets live here too, because config.ts's error messages use them.
 */
import { z } from "zod";
import { nameKey } from "../cloud/config_fields.ts";

/** One thing wrong with a configuration. */
export interface ConfigIssue {
  /** Dotted path of the key (`broker.port`), or the variable (`OUTPOST_BROKER__PORT`). */
  key: string;
  /** What the key should hold. */
  expected: string;
  /** What it held (secrets are described, never shown). */
  found: string;
}

// What the environment needs to know of one key of the schema. `excludes`:
// keys a table gives instead of this one (`url` or `urls`), which a value
// from the environment replaces.
type KeyShape =
  | { kind: "string" | "integer" | "number" | "boolean" | "list"; excludes?: string[] }
  | { kind: "table"; keys: Record<string, KeyShape> }
  // A table whose keys the user names (`[clouds.<name>]`), each entry of shape `entry`.
  | { kind: "names"; entry: KeyShape };

type Table = Record<string, unknown>;

const PREFIX = "OUTPOST_";

/** A TOML table (TOML dates are objects too, but not tables). */
export function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/**
 * `value[key]` when `value` is a table that owns `key` (never an inherited
 * property), or a list and `key` one of its indexes.
 */
export function childOf(value: unknown, key: PropertyKey): unknown {
  if (Array.isArray(value)) return typeof key === "number" ? value[key] : undefined;
  return isTable(value) && Object.hasOwn(value, key) ? value[key as string] : undefined;
}

/** The schema inside a default, optional or transform wrapper, or undefined. */
export function unwrapSchema(schema: z.ZodType): z.ZodType | undefined {
  if (
    schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodOptional
  ) return schema.unwrap() as z.ZodType;
  if (schema instanceof z.ZodPipe) return schema.in as z.ZodType;
  return undefined;
}

/**
 * The schema that decides the shape of `value`: wrappers stripped, and a
 * discriminated union resolved to the option `value` selects (else its first).
 */
export function schemaCore(schema: z.ZodType, value?: unknown): z.ZodType {
  for (let inner = unwrapSchema(schema); inner; inner = unwrapSchema(schema)) schema = inner;
  if (!(schema instanceof z.ZodDiscriminatedUnion)) return schema;
  const discriminator = schema.def.discriminator;
  const tag = childOf(value, discriminator);
  const options = schema.options as z.ZodObject[];
  return options.find((o) => (o.shape[discriminator] as z.ZodLiteral).values.has(tag as string)) ??
    options[0];
}

/** The schema of the key at `path` below `root`, choosing union options by the values in `raw`. */
export function schemaAt(
  root: z.ZodType,
  path: readonly PropertyKey[],
  raw: unknown,
): z.ZodType | undefined {
  let schema: z.ZodType | undefined = root;
  let value = raw;
  for (const key of path) {
    const here: z.ZodType = schemaCore(schema, value);
    if (here instanceof z.ZodObject) schema = here.shape[key as string] as z.ZodType | undefined;
    else if (here instanceof z.ZodRecord) schema = here.valueType as z.ZodType;
    else if (here instanceof z.ZodArray && typeof key === "number") {
      schema = here.element as z.ZodType;
    } else return undefined;
    if (!schema) return undefined;
    value = childOf(value, key);
  }
  return schema;
}

const SECRET = /(?:password|passphrase|secret|token|key)$/i;

function typeName(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date-time";
  if (isTable(value)) return "a table";
  return typeof value === "undefined" ? "nothing" : `a ${typeof value}`;
}

const SHOWN_LENGTH = 80;

function shortened(text: string): string {
  return text.length > SHOWN_LENGTH ? `${text.slice(0, SHOWN_LENGTH)}…` : text;
}

// A list as the file writes it, each item shown as describeFound shows a value.
function listFound(list: unknown[]): string {
  // Only as many items as can show: a list of 450k items must not become a 5 MB message.
  const items = list.slice(0, SHOWN_LENGTH / 2).map(describeValue);
  return shortened(`[${items.join(", ")}${items.length < list.length ? ", …" : ""}]`);
}

function describeValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return listFound(value);
  // A table's keys may hold secrets that its own key does not announce.
  if (typeof value !== "string") return typeName(value);
  // A password pasted into a URL is still a password.
  return JSON.stringify(shortened(value).replace(/(\/\/[^/?#@:]*):[^/?#@]*@/g, "$1:(hidden)@"));
}

/**
 * `value` as an error message shows it: JSON for strings and lists (shortened
 * when long), the type alone for a table or anything below a secret-sounding
 * key, and never a URL's password.
 */
export function describeFound(value: unknown, path: readonly PropertyKey[]): string {
  if (value === undefined) return "nothing";
  if (path.some((key) => SECRET.test(String(key)))) return `(${typeName(value)})`;
  return describeValue(value);
}

// `excludes` from the metadata of the schema or of any wrapper around it.
function excludesOf(schema: z.ZodType): string[] | undefined {
  for (let s: z.ZodType | undefined = schema; s; s = unwrapSchema(s)) {
    const excludes = (s.meta() as { excludes?: string[] } | undefined)?.excludes;
    if (excludes) return excludes;
  }
  return undefined;
}

function shapeOf(schema: z.ZodType): KeyShape {
  const excludes = excludesOf(schema);
  let s = schema;
  for (let inner = unwrapSchema(s); inner; inner = unwrapSchema(s)) s = inner;
  if (s instanceof z.ZodDiscriminatedUnion) {
    // Keys from every option: the schema then rejects those the entry's own type lacks.
    const keys: Record<string, KeyShape> = {};
    for (const option of s.options as z.ZodType[]) {
      const shape = shapeOf(option);
      if (shape.kind === "table") {
        for (const [k, v] of Object.entries(shape.keys)) keys[k] ??= v;
      }
    }
    return { kind: "table", keys };
  }
  if (s instanceof z.ZodObject) {
    const entries = Object.entries(s.shape).map(([k, v]) => [k, shapeOf(v as z.ZodType)]);
    return { kind: "table", keys: Object.fromEntries(entries) };
  }
  if (s instanceof z.ZodRecord) return { kind: "names", entry: shapeOf(s.valueType as z.ZodType) };
  if (s instanceof z.ZodArray) return { kind: "list", excludes };
  if (s instanceof z.ZodNumber) return { kind: s.isInt ? "integer" : "number" };
  if (s instanceof z.ZodBoolean) return { kind: "boolean" };
  return { kind: "string", excludes };
}

/** `keepaliveSec` → `KEEPALIVE_SEC`. */
export function screamingSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

const EXPECTED_TEXT = {
  integer: "an integer",
  number: "a number",
  boolean: "true or false",
  list: 'a JSON list, like ["a", "b"] or [1, 2]',
};

function parseValue(kind: string, text: string): { value: unknown } | undefined {
  const t = text.trim();
  if (kind === "string") return { value: text };
  if (kind === "list") {
    try {
      const value: unknown = JSON.parse(t);
      return Array.isArray(value) ? { value } : undefined;
    } catch {
      return undefined;
    }
  }
  if (kind === "boolean") {
    return /^(true|false)$/i.test(t) ? { value: t.toLowerCase() === "true" } : undefined;
  }
  if (kind === "integer") {
    const n = Number(t);
    return /^[+-]?\d+$/.test(t) && Number.isSafeInteger(n) ? { value: n } : undefined;
  }
  const n = Number(t);
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) && Number.isFinite(n)
    ? { value: n }
    : undefined;
}

type Resolved = { path: string[]; kind: string; excludes?: string[] } | { issue: ConfigIssue };

// Turns the levels of a variable's name into a path of keys, without touching `raw`.
function resolve(name: string, levels: string[], raw: Table, root: KeyShape): Resolved {
  let shape = root;
  let here: unknown = raw;
  const path: string[] = [];
  for (const level of levels) {
    const where = path.length === 0 ? "the top level" : path.join(".");
    if (level === "") {
      return {
        issue: { key: name, expected: 'levels separated by one "__"', found: "an empty level" },
      };
    }
    let key: string;
    if (shape.kind === "table") {
      const known = Object.keys(shape.keys);
      const match = known.find((k) => screamingSnake(k) === level.toUpperCase());
      if (match === undefined) {
        return {
          issue: {
            key: name,
            expected: `no such key in ${where} (known keys: ${
              known.map(screamingSnake).join(", ")
            })`,
            found: `key ${JSON.stringify(level)}`,
          },
        };
      }
      key = match;
      shape = shape.keys[key];
    } else if (shape.kind === "names") {
      // Variable names are upper case by habit; match the name as the file spells it.
      const existing = isTable(here)
        ? Object.keys(here).filter((k) => nameKey(k) === nameKey(level))
        : [];
      if (existing.length > 1) {
        return {
          issue: {
            key: name,
            expected: `one entry of ${where} named ${level.toLowerCase()} in any case`,
            found: `entries ${existing.map((k) => JSON.stringify(k)).join(", ")}`,
          },
        };
      }
      key = existing[0] ?? nameKey(level);
      shape = shape.entry;
    } else {
      return {
        issue: {
          key: name,
          expected: `no level below ${where}`,
          found: `key ${JSON.stringify(level)}`,
        },
      };
    }
    path.push(key);
    here = isTable(here) && Object.hasOwn(here, key) ? here[key] : undefined;
  }
  if (shape.kind === "table" || shape.kind === "names") {
    const example = shape.kind === "table" ? screamingSnake(Object.keys(shape.keys)[0]) : "<NAME>";
    return {
      issue: {
        key: name,
        expected: `a key below ${path.join(".")} (like ${name}__${example})`,
        found: "a whole table",
      },
    };
  }
  return { path, kind: shape.kind, excludes: shape.excludes };
}

/**
 * Writes every `OUTPOST_*` variable of `env` into `raw` (parsed TOML) at the
 * key it names, typed as the schema says. Returns the problems, and which
 * variable set each path (keyed by `JSON.stringify(path)`) so that later
 * errors can name the variable.
 *
 * A name with no double underscore is not an override (`OUTPOST_CONFIG` is
 * the CLI's), unless it looks like a misspelt one (`OUTPOST_LOG_LEVEL`).
 */
export function applyEnvOverrides(
  raw: Table,
  env: Record<string, string | undefined>,
  schema: z.ZodType,
): { issues: ConfigIssue[]; origins: Map<string, string> } {
  const shape = shapeOf(schema);
  const issues: ConfigIssue[] = [];
  const origins = new Map<string, string>();
  const sections = shape.kind === "table" ? Object.keys(shape.keys).map(screamingSnake) : [];
  for (const name of Object.keys(env).sort()) {
    const text = env[name];
    if (!name.startsWith(PREFIX) || text === undefined) continue;
    const rest = name.slice(PREFIX.length);
    if (!rest.includes("__")) {
      const section = sections.find((s) => rest === s || rest.startsWith(`${s}_`));
      if (section !== undefined) {
        const hint = rest === section
          ? `${name}__<KEY>`
          : `${PREFIX}${section}__${rest.slice(section.length + 1)}`;
        issues.push({
          key: name,
          expected: `levels separated by "__", like ${hint}`,
          found: `variable ${name}`,
        });
      }
      continue;
    }
    const resolved = resolve(name, rest.split("__"), raw, shape);
    if ("issue" in resolved) {
      issues.push(resolved.issue);
      continue;
    }
    const parsed = parseValue(resolved.kind, text);
    if (!parsed) {
      const expected = EXPECTED_TEXT[resolved.kind as keyof typeof EXPECTED_TEXT];
      issues.push({ key: name, expected, found: describeFound(text, resolved.path) });
      continue;
    }
    let table: unknown = raw;
    for (const key of resolved.path.slice(0, -1)) {
      if (!isTable(table)) break;
      if (!Object.hasOwn(table, key)) table[key] = {};
      table = table[key];
    }
    // When the file holds a non-table where a table belongs, the schema reports that.
    if (!isTable(table)) continue;
    table[resolved.path.at(-1)!] = parsed.value;
    origins.set(JSON.stringify(resolved.path), name);
    // The file's `url` gives way to OUTPOST_…__URLS, and the reverse; both from
    // the environment stay, and the schema says which to drop.
    for (const other of resolved.excludes ?? []) {
      const path = JSON.stringify([...resolved.path.slice(0, -1), other]);
      if (!origins.has(path)) delete table[other];
    }
  }
  return { issues, origins };
}
