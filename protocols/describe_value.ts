/**
 * How codecs name a value they refused, in error messages: short, never a
 * whole payload, strings quoted and cut at 64 characters.
 */

/** A JSON object (not null, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `nothing`, `null`, `an array`, `an object`, a quoted string, or the value itself. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return quote(value);
  return String(value);
}

/** `text` as a JSON string, cut at 64 characters. */
export function quote(text: unknown): string {
  const s = String(text);
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);
}
