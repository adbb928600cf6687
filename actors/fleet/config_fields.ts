/**
 * `[fleet.telemetry.fields]`: one table per field, `kind` choosing the
 * generator (payload.ts) and the keys that kind takes. One object schema
 * with every key and a rule per kind, rather than a union: the error then
 * names the key at fault ("a key of a walk field (start, step, min, max)")
 * instead of "none of the options matched".
 */
import { z } from "zod";
import { int, oneOf } from "../cloud/config_fields.ts";
import type { FieldSpec } from "./payload.ts";

const KINDS = ["walk", "sine", "random", "counter", "constant", "bytes"] as const;
type Kind = typeof KINDS[number];

/** The keys each kind takes besides `kind`. */
const KEYS: Record<Kind, readonly string[]> = {
  walk: ["start", "step", "min", "max"],
  sine: ["min", "max", "periodSec"],
  random: ["min", "max"],
  counter: ["start", "step"],
  constant: ["value"],
  bytes: ["size"],
};

const number = () => z.number().describe("a number");

const fieldTable = z.strictObject({
  kind: oneOf(KINDS),
  start: number().optional(),
  step: number().optional(),
  min: number().optional(),
  max: number().optional(),
  periodSec: z.number().positive().describe("a number of seconds > 0").optional(),
  value: z.union([z.string(), z.number(), z.boolean()]).describe(
    "a string, a number, or true or false",
  ).optional(),
  size: int(1, 1_048_576).optional(),
});

const fieldSchema = fieldTable.superRefine((field, ctx) => {
  const allowed = KEYS[field.kind];
  for (const key of Object.keys(field)) {
    if (key === "kind" || allowed.includes(key)) continue;
    ctx.addIssue({
      code: "custom",
      path: [key],
      message: `a key of a ${field.kind} field (${allowed.join(", ")})`,
      params: { found: `key ${JSON.stringify(key)}` },
    });
  }
  if (field.kind === "constant" && field.value === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["value"],
      message: "the value of a constant field (a string, a number, or true or false)",
    });
  }
  const { min, max } = field;
  if (min !== undefined && max !== undefined && max < min) {
    ctx.addIssue({ code: "custom", path: ["max"], message: `a number >= min (${min})` });
  }
}).transform(toSpec);

/** The schema of `[fleet.telemetry.fields]`: field name → generator. */
export const fleetFieldsSchema = z.record(
  z.string().min(1).describe("a field name"),
  fieldSchema,
);

// Defaults a reader would guess: a walk around 0 in steps of 1, a sine 0..100 over 10 minutes.
function toSpec(field: z.output<typeof fieldTable>): FieldSpec {
  const min = field.min ?? (field.kind === "walk" ? -Infinity : 0);
  const max = field.max ?? (field.kind === "walk" ? Infinity : 100);
  switch (field.kind) {
    case "walk":
      return { kind: "walk", start: field.start ?? 0, step: field.step ?? 1, min, max };
    case "sine":
      return { kind: "sine", min, max, periodSec: field.periodSec ?? 600 };
    case "random":
      return { kind: "random", min, max };
    case "counter":
      return { kind: "counter", start: field.start ?? 0, step: field.step ?? 1 };
    case "constant":
      return { kind: "constant", value: field.value! };
    case "bytes":
      return { kind: "bytes", size: field.size ?? 256 };
  }
}
