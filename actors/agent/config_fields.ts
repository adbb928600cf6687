/**
 * The building blocks of the configuration schema: typed fields whose
 * `describe()` text is what an error message says was expected.
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

// A cross-field check runs only when the table and the fields it compares are
// valid themselves (an unknown key beside them does not matter).
export function validAt(...keys: string[]) {
  return (payload: { issues: readonly { code?: string; path?: readonly PropertyKey[] }[] }) =>
    !payload.issues.some((issue) =>
      issue.path?.length ? keys.includes(String(issue.path[0])) : issue.code !== "unrecognized_keys"
    );
}
