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

// A cross-field check runs only when the table and the fields it compares are
// valid themselves (an unknown key beside them does not matter).
export function validAt(...keys: string[]) {
  return (payload: { issues: readonly { code?: string; path?: readonly PropertyKey[] }[] }) =>
    !payload.issues.some((issue) =>
      issue.path?.length ? keys.includes(String(issue.path[0])) : issue.code !== "unrecognized_keys"
    );
}
