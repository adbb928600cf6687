/**
 * Per-device values from one fleet file: `{n}` is the device's number,
 * `{n:5}` the same zero-padded to 5 digits, `{id}` its device id (from
 * `fleet.deviceId`, which may use `{n}` only). `{{` and `}}` write a brace.
 * Any other `{word}` is an error, so a typo never reaches a broker as a
 * literal client id shared by every device. Pure.
 */

/** What a device's placeholders stand for. */
export interface DeviceVars {
  /** The device's number, from `fleet.firstDevice` on. */
  n: number;
  /** Its device id; absent while the id itself is expanded. */
  id?: string;
}

// `{{`, `}}`, or a placeholder `{name}` / `{name:width}`.
const TOKEN = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)(?::(\d{1,2}))?\}/g;

/** The placeholders `expandTemplate` knows. */
export const PLACEHOLDERS = ["n", "id"] as const;

/**
 * What is wrong with `template` when only `allowed` placeholders may
 * appear in it, in the configuration's words; undefined when nothing is.
 *
 * @example
 * ```ts
 * templateProblem("sim-{x}", ["n"]); // 'unknown placeholder "{x}" (known: {n})'
 * ```
 */
export function templateProblem(
  template: string,
  allowed: readonly string[] = PLACEHOLDERS,
): string | undefined {
  for (const match of template.matchAll(TOKEN)) {
    const [token, name, width] = match;
    if (name === undefined) continue;
    if (!allowed.includes(name)) {
      const known = allowed.map((a) => `{${a}}`).join(", ");
      return `unknown placeholder "${token}" (known: ${known}; write {{ and }} for a brace)`;
    }
    if (width !== undefined && name !== "n") {
      return `placeholder "${token}" has a width, which only {n} takes ("{n:5}")`;
    }
  }
  return undefined;
}

/** The placeholders `template` uses, by name. */
export function placeholdersIn(template: string): Set<string> {
  const names = new Set<string>();
  for (const [, name] of template.matchAll(TOKEN)) if (name !== undefined) names.add(name);
  return names;
}

/**
 * `template` with each placeholder replaced for one device. A placeholder
 * with no value (`{id}` while the id is being made) is left as written:
 * {@link templateProblem} is what refuses it.
 *
 * @example
 * ```ts
 * expandTemplate("sim-{n:4}", { n: 7 }); // "sim-0007"
 * ```
 */
export function expandTemplate(template: string, vars: DeviceVars): string {
  if (!template.includes("{") && !template.includes("}")) return template;
  return template.replace(TOKEN, (token, name: string | undefined, width: string | undefined) => {
    if (name === undefined) return token[0];
    if (name === "n") return width === undefined ? String(vars.n) : pad(vars.n, Number(width));
    if (name === "id" && vars.id !== undefined) return vars.id;
    return token;
  });
}

/** Every string inside `value` (tables and lists included) expanded for one device; a copy. */
export function expandStrings<T>(value: T, vars: DeviceVars): T {
  if (typeof value === "string") return expandTemplate(value, vars) as T;
  if (Array.isArray(value)) return value.map((item) => expandStrings(item, vars)) as T;
  if (isTable(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, expandStrings(item, vars)]),
    ) as T;
  }
  return value;
}

/**
 * Each string inside `value` with the path that leads to it, for
 * validation: `[["clouds", "hub", "clientId"], "fleet-{n}"]`.
 */
export function stringsIn(
  value: unknown,
  path: readonly PropertyKey[] = [],
): [PropertyKey[], string][] {
  if (typeof value === "string") return [[[...path], value]];
  if (Array.isArray(value)) return value.flatMap((item, i) => stringsIn(item, [...path, i]));
  if (isTable(value)) {
    return Object.entries(value).flatMap(([key, item]) => stringsIn(item, [...path, key]));
  }
  return [];
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}
