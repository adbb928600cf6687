/**
 * The building blocks of the configuration schema: typed fields whose
 * `describe()` text is what an error message says was expected, the rules
 * that compare keys, and zod's issues put in the file's words for a field
 * that describes nothing.
 */
import { z } from "zod";

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.int().min(min).max(max).describe(
    max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
  );
export const text = (expected = "a string") => z.string().describe(expected);
export const flag = () => z.boolean().describe("true or false");
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values).describe(`one of ${values.map((v) => JSON.stringify(v)).join(", ")}`);
// An optional string where "" means "not set", as the example file writes it.
export const optionalText = (expected = "a string") =>
  text(expected).optional().transform((v) => (v === "" ? undefined : v));

/**
 * The form in which two names the user gives entries of a table
 * (`[clouds.<name>]`) count as the same: environment variables are upper
 * case by habit, so a variable reaches a name in any case, and names must
 * differ in more than case for each variable to reach one entry.
 */
export function nameKey(name: string): string {
  return name.toLowerCase();
}

// A tunnel stands for the feature whose list holds its port: a port listed
// twice would stand for two features, or say the same thing twice.
export function portsListedOnce(ports: Record<string, number[]>, ctx: z.RefinementCtx) {
  const owner = new Map<number, string>();
  for (const [feature, list] of Object.entries(ports)) {
    for (const [index, port] of list.entries()) {
      const first = owner.get(port);
      if (first === undefined) {
        owner.set(port, feature);
        continue;
      }
      ctx.addIssue({
        code: "custom",
        path: [feature, index],
        message: `a port not already in support.ports.${first}`,
      });
    }
  }
}

// `[clouds.main]` and `[clouds.Main]` are one cloud to the environment
// overrides, and in practice a copy by mistake: both would log in with the
// same client id and knock each other off.
export function distinctNames(table: Record<string, unknown>, ctx: z.RefinementCtx) {
  const first = new Map<string, string>();
  for (const name of Object.keys(table)) {
    const taken = first.get(nameKey(name));
    if (taken === undefined) {
      first.set(nameKey(name), name);
      continue;
    }
    ctx.addIssue({
      code: "custom",
      path: [name],
      message: `a cloud name that differs from ${JSON.stringify(taken)} in more than letter case`,
      params: { found: `key ${JSON.stringify(name)}` },
    });
  }
}

// A cross-field check runs only when the table and the fields it compares are
// valid themselves (an unknown key beside them does not matter).
export function validAt(...keys: string[]) {
  return (payload: { issues: readonly { code?: string; path?: readonly PropertyKey[] }[] }) =>
    !payload.issues.some((issue) =>
      issue.path?.length ? keys.includes(String(issue.path[0])) : issue.code !== "unrecognized_keys"
    );
}

/**
 * `rule` for `superRefine`: when `applies(value)`, every one of `keys` must be
 * set. Reported at the first one missing, so that the key named is the one at
 * fault and what was found there is nothing.
 */
export function needsAll<T extends object>(
  keys: readonly (keyof T & string)[],
  options: { message: string; applies: (value: T) => boolean },
) {
  return (value: T, ctx: z.RefinementCtx) => {
    if (!options.applies(value)) return;
    const missing = keys.find((key) => value[key] === undefined);
    if (missing !== undefined) {
      ctx.addIssue({ code: "custom", path: [missing], message: options.message });
    }
  };
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  array: "a list",
  object: "a table",
  date: "a date-time",
};

function boundInWords(
  issue: { origin: string; inclusive?: boolean },
  bound: "at least" | "at most",
  limit: number | bigint,
): string {
  if (issue.origin === "string") {
    return bound === "at least" && Number(limit) === 1
      ? "a non-empty string"
      : `a string of ${bound} ${limit} characters`;
  }
  if (issue.origin === "array") return `a list of ${bound} ${limit} items`;
  const relation = bound === "at least" ? ">" : "<";
  return `a number ${relation}${issue.inclusive ? "=" : ""} ${limit}`;
}

/**
 * What a zod issue says was expected, in the file's words, for a schema
 * without a `describe()` text: zod's own message speaks of JavaScript types
 * ("expected string, received number").
 */
export function expectedInWords(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return TYPE_WORDS[issue.expected] ?? `a ${issue.expected}`;
    case "invalid_value":
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "too_small":
      return boundInWords(issue, "at least", issue.minimum);
    case "too_big":
      return boundInWords(issue, "at most", issue.maximum);
    case "invalid_format":
      return issue.format === "regex" ? `a string matching ${issue.pattern}` : `a ${issue.format}`;
    case "not_multiple_of":
      return `a multiple of ${issue.divisor}`;
    default:
      return "a valid value";
  }
}
