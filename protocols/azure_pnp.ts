/**
 * IoT Central / Plug and Play conventions on the device twin (PROTOCOLS.md
 * §3): components (`"__t":"c"`), the writable-property acknowledgement
 * (`value`, `ac`, `av`, `ad`), and which desired properties still need one
 * at boot. Pure: JSON-shaped values in and out.
 *
 * @module
 */
import { isPlainObject } from "./describe_value.ts";

/** One writable property as the cloud desires it. */
export interface DesiredProperty {
  /** The component holding it, if any. */
  component?: string;
  /** The property's name. */
  name: string;
  /** The desired value. */
  value: unknown;
}

/** A writable-property acknowledgement. */
export interface WritableAck {
  component?: string;
  name: string;
  value: unknown;
  /** 200 done, 202 in progress, 203 set by device, 400 bad, 500 error. */
  ac: number;
  /** The desired `$version` it answers (0 with 203). */
  av: number;
  /** A description. */
  ad?: string;
}

/** The marker of a component in twin documents. */
export const COMPONENT_MARKER = "__t";

/** Whether `value` is a component object (`{"__t":"c", …}`). */
export function isComponent(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && (value as Record<string, unknown>)[COMPONENT_MARKER] === "c";
}

/**
 * The writable properties in a desired document or patch: `$version` and
 * `$metadata` are skipped; a component's properties are listed one by one.
 *
 * @example
 * ```ts
 * desiredProperties({ fan: 2, therm: { __t: "c", target: 21 }, $version: 4 });
 * // [{ name: "fan", value: 2 }, { component: "therm", name: "target", value: 21 }]
 * ```
 */
export function desiredProperties(desired: Record<string, unknown>): DesiredProperty[] {
  const list: DesiredProperty[] = [];
  for (const [name, value] of Object.entries(desired)) {
    if (name.startsWith("$")) continue;
    if (isComponent(value)) {
      for (const [inner, innerValue] of Object.entries(value)) {
        if (inner === COMPONENT_MARKER || inner.startsWith("$")) continue;
        list.push({ component: name, name: inner, value: innerValue });
      }
    } else {
      list.push({ name, value });
    }
  }
  return list;
}

/**
 * The reported patch that acknowledges one writable property; inside a
 * component it is wrapped as `{"<comp>":{"__t":"c","<name>":{…}}}`.
 *
 * @example
 * ```ts
 * writableAckPatch({ name: "fan", value: 2, ac: 200, av: 4, ad: "done" });
 * // { fan: { value: 2, ac: 200, av: 4, ad: "done" } }
 * ```
 */
export function writableAckPatch(ack: WritableAck): Record<string, unknown> {
  const body: Record<string, unknown> = { value: ack.value, ac: ack.ac, av: ack.av };
  if (ack.ad !== undefined) body.ad = ack.ad;
  if (ack.component === undefined) return { [ack.name]: body };
  return { [ack.component]: { [COMPONENT_MARKER]: "c", [ack.name]: body } };
}

/**
 * A reported patch for properties the device sets itself; `component`
 * wraps them with the marker.
 */
export function reportedPatch(
  properties: Record<string, unknown>,
  component?: string,
): Record<string, unknown> {
  if (component === undefined) return { ...properties };
  return { [component]: { [COMPONENT_MARKER]: "c", ...properties } };
}

/**
 * The desired properties that still need an acknowledgement at boot: those
 * with no reported ack, or an ack whose `av` is older than the desired
 * document's `$version`.
 */
export function pendingDesired(
  twin: { desired?: unknown; reported?: unknown },
): { version: number; properties: DesiredProperty[] } {
  const desired = isPlainObject(twin.desired) ? twin.desired as Record<string, unknown> : {};
  const reported = isPlainObject(twin.reported) ? twin.reported as Record<string, unknown> : {};
  const version = typeof desired.$version === "number" ? desired.$version : 0;
  const properties = desiredProperties(desired).filter((property) => {
    const holder = property.component === undefined ? reported : reported[property.component];
    const ack = isPlainObject(holder)
      ? (holder as Record<string, unknown>)[property.name]
      : undefined;
    if (!isPlainObject(ack)) return true;
    const av = (ack as Record<string, unknown>).av;
    return typeof av !== "number" || av < version;
  });
  return { version, properties };
}
