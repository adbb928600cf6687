/**
 * AWS IoT Device Shadow over MQTT (PROTOCOLS.md §2): topics, the update
 * document, the responses, and the merge and delta rules the shadow service
 * applies, so a device can predict what AWS will store and send.
 *
 * ```
 * $aws/things/<thing>/shadow/update              {"state":{"reported":{…}},"clientToken":"…","version":3}
 * $aws/things/<thing>/shadow/update/accepted     {"state":{…},"metadata":{…},"version":4,"timestamp":…}
 * $aws/things/<thing>/shadow/update/rejected     {"code":409,"message":"Version conflict","clientToken":"…"}
 * $aws/things/<thing>/shadow/update/delta        {"state":{…},"metadata":{…},"version":4,"timestamp":…}
 * $aws/things/<thing>/shadow/name/<name>/…       the same for a named shadow
 * ```
 *
 * Pure: what arrives from AWS is untrusted, so `decodeResponse` (aws_shadow_response.ts) throws
 * only {@link ShadowError}; {@link encodeUpdate} throws it too, for a
 * document AWS would reject, so the caller can refuse it locally and say why.
 * Names the agent builds itself are checked with `TypeError`s.
 */
import { describe, quote } from "./describe_value.ts";

/** Most bytes of the state section (desired and reported, compact UTF-8 JSON). */
export const SHADOW_STATE_LIMIT = 8192;
/** Most bytes of a clientToken. */
export const CLIENT_TOKEN_LIMIT = 64;
/** Most levels of nesting inside the desired or the reported section. */
export const SHADOW_DEPTH_LIMIT = 6;

/** Why a shadow document was refused or could not be read. */
export type ShadowErrorCode = "too_large" | "token_too_long" | "too_deep" | "malformed" | "empty";

/** A shadow document that AWS would reject, or a response that cannot be read. */
export class ShadowError extends Error {
  /** What kind of problem it is. */
  readonly code: ShadowErrorCode;
  /** A problem of kind `code`, described by `message`. */
  constructor(code: ShadowErrorCode, message: string) {
    super(message);
    this.name = "ShadowError";
    this.code = code;
  }
}

/** The MQTT topics of one shadow. */
export interface ShadowTopics {
  readonly get: string;
  readonly getAccepted: string;
  readonly getRejected: string;
  readonly update: string;
  readonly updateAccepted: string;
  readonly updateRejected: string;
  readonly updateDelta: string;
  readonly updateDocuments: string;
  readonly delete: string;
  readonly deleteAccepted: string;
  readonly deleteRejected: string;
  /** Every response topic, to subscribe before publishing a request (AWS does not queue replies). */
  readonly subscriptions: readonly string[];
}

/** A JSON object as a shadow section holds it. */
export type ShadowState = Record<string, unknown>;

/** What {@link encodeUpdate} sends. */
export interface ShadowUpdate {
  reported?: ShadowState | null;
  desired?: ShadowState | null;
  clientToken: string;
  /** When given, AWS rejects the update with 409 unless it equals the stored version. */
  version?: number;
}

/** `get/accepted`, `update/accepted` or `delete/accepted` (whose state is `{}`). */

const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const SHADOW_NAME = /^[a-zA-Z0-9:_-]{1,64}$/;

/** Why `name` cannot be a thing name, or undefined when it can. */
export function thingNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return `must be a string, found ${describe(name)}`;
  if (THING_NAME.test(name)) return undefined;
  return `must be 1 to 128 characters, each a letter, digit, ":", "_" or "-", found ${quote(name)}`;
}

/** Why `name` cannot be a shadow name, or undefined when it can. */
export function shadowNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return `must be a string, found ${describe(name)}`;
  if (SHADOW_NAME.test(name)) return undefined;
  return `must be 1 to 64 characters, each a letter, digit, ":", "_" or "-", found ${quote(name)}`;
}

/**
 * The topics of the classic shadow of `thing`, or of its named shadow.
 *
 * @example
 * ```ts
 * shadowTopics("pump-7").update; // "$aws/things/pump-7/shadow/update"
 * shadowTopics("pump-7", "config").updateDelta; // "$aws/things/pump-7/shadow/name/config/update/delta"
 * ```
 */
export function shadowTopics(thing: string, shadowName?: string): ShadowTopics {
  const thingProblem = thingNameProblem(thing);
  if (thingProblem) throw new TypeError(`Invalid AWS thing name: ${thingProblem}`);
  if (shadowName !== undefined) {
    const nameProblem = shadowNameProblem(shadowName);
    if (nameProblem) throw new TypeError(`Invalid AWS shadow name: ${nameProblem}`);
  }
  const base = shadowName === undefined
    ? `$aws/things/${thing}/shadow`
    : `$aws/things/${thing}/shadow/name/${shadowName}`;
  const topics = {
    get: `${base}/get`,
    getAccepted: `${base}/get/accepted`,
    getRejected: `${base}/get/rejected`,
    update: `${base}/update`,
    updateAccepted: `${base}/update/accepted`,
    updateRejected: `${base}/update/rejected`,
    updateDelta: `${base}/update/delta`,
    updateDocuments: `${base}/update/documents`,
    delete: `${base}/delete`,
    deleteAccepted: `${base}/delete/accepted`,
    deleteRejected: `${base}/delete/rejected`,
  };
  // Everything but the three requests is a response.
  const subscriptions = Object.values(topics).filter((topic) =>
    !/\/(get|update|delete)$/.test(topic)
  );
  return { ...topics, subscriptions };
}

/**
 * The update document. `null` for a section deletes it; `null` for a key
 * deletes the key.
 *
 * Measures as AWS does: the state section `{"desired":…,"reported":…}` as
 * compact JSON (no whitespace, no metadata) in UTF-8 bytes, at most
 * {@link SHADOW_STATE_LIMIT}; nesting counts each object or array inside a
 * section as a level (`{"a":{"b":1}}` is 2), at most {@link SHADOW_DEPTH_LIMIT}.
 *
 * @example
 * ```ts
 * encodeUpdate({ reported: { on: true }, clientToken: "t-1" });
 * // '{"state":{"reported":{"on":true}},"clientToken":"t-1"}'
 * ```
 * @throws {ShadowError} "too_large", "too_deep", "token_too_long", or
 * "empty" when neither section is given.
 */
export function encodeUpdate(update: ShadowUpdate): string {
  const { reported, desired, clientToken, version } = update;
  if (typeof clientToken !== "string" || clientToken.length === 0) {
    throw new TypeError(
      `A shadow clientToken must be a non-empty string, got ${describe(clientToken)}`,
    );
  }
  const tokenBytes = utf8Length(clientToken);
  if (tokenBytes > CLIENT_TOKEN_LIMIT) {
    throw new ShadowError(
      "token_too_long",
      `Shadow clientToken ${
        quote(clientToken)
      } is ${tokenBytes} bytes, more than ${CLIENT_TOKEN_LIMIT}`,
    );
  }
  if (version !== undefined && (!Number.isSafeInteger(version) || version < 0)) {
    throw new TypeError(`A shadow version must be a non-negative integer, got ${version}`);
  }
  if (reported === undefined && desired === undefined) {
    throw new ShadowError("empty", "A shadow update needs a desired or a reported section");
  }
  const state: ShadowSections = {};
  if (desired !== undefined) state.desired = desired;
  if (reported !== undefined) state.reported = reported;
  checkShadowState(state);
  const doc: Record<string, unknown> = { state, clientToken };
  if (version !== undefined) doc.version = version;
  return JSON.stringify(doc);
}

/** The state section of a shadow document: its desired and reported sections. */
export interface ShadowSections {
  desired?: ShadowState | null;
  reported?: ShadowState | null;
}

/**
 * Checks a state section against AWS's limits, measured as
 * {@link encodeUpdate} describes: at most {@link SHADOW_STATE_LIMIT} bytes
 * and {@link SHADOW_DEPTH_LIMIT} levels. The device checks a document it
 * would hold before holding it, so a refusal changes nothing.
 *
 * @example
 * ```ts
 * checkShadowState({ desired: { fan: 2 }, reported: { fan: 1 } }); // fine
 * checkShadowState({ desired: { blob: "x".repeat(9000) } }); // throws ShadowError "too_large"
 * ```
 * @throws {ShadowError} "too_large" or "too_deep".
 */
export function checkShadowState(state: ShadowSections): void {
  for (const section of ["desired", "reported"] as const) {
    const value = state[section];
    if (value === undefined) continue;
    if (value !== null && !isPlainObject(value)) {
      throw new TypeError(
        `The ${section} section must be an object or null, got ${describe(value)}`,
      );
    }
    const depth = depthOf(value);
    if (depth > SHADOW_DEPTH_LIMIT) {
      throw new ShadowError(
        "too_deep",
        `The ${section} section nests ${depth} levels, more than ${SHADOW_DEPTH_LIMIT}`,
      );
    }
  }
  const size = utf8Length(JSON.stringify(state));
  if (size > SHADOW_STATE_LIMIT) {
    throw new ShadowError(
      "too_large",
      `The shadow state is ${size} bytes, more than AWS's limit of ${SHADOW_STATE_LIMIT}`,
    );
  }
}

/**
 * The shadow after applying `patch` to `current`: nested objects merge,
 * `null` deletes a key, arrays and scalars replace whole. Returns a new
 * object; neither input is changed.
 *
 * @example
 * ```ts
 * mergeState({ a: { x: 1, y: 2 }, b: [1] }, { a: { y: null }, b: [2] }); // { a: { x: 1 }, b: [2] }
 * ```
 */
export function mergeState(current: ShadowState, patch: ShadowState): ShadowState {
  const merged: ShadowState = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else if (isPlainObject(value)) {
      const before = Object.hasOwn(merged, key) ? merged[key] : undefined;
      setKey(merged, key, mergeState(isPlainObject(before) ? before : {}, value));
    } else if (value !== undefined) setKey(merged, key, value);
  }
  return merged;
}

/**
 * What AWS sends as `update/delta`: each key of `desired` whose value
 * differs from `reported`, recursing into objects; arrays compare whole.
 * Empty when reported already matches.
 *
 * @example
 * ```ts
 * deltaOf({ a: { x: 1, y: 2 }, b: [1] }, { a: { x: 1 }, b: [1] }); // { a: { y: 2 } }
 * ```
 */
export function deltaOf(desired: ShadowState, reported: ShadowState): ShadowState {
  const delta: ShadowState = {};
  for (const [key, want] of Object.entries(desired)) {
    if (want === undefined) continue;
    const have = Object.hasOwn(reported, key) ? reported[key] : undefined;
    if (isPlainObject(want) && isPlainObject(have)) {
      const inner = deltaOf(want, have);
      if (Object.keys(inner).length > 0) setKey(delta, key, inner);
    } else if (!jsonEqual(want, have)) setKey(delta, key, want);
  }
  return delta;
}

/**
 * The patch that turns `from` into `to` when merged with {@link mergeState}:
 * keys whose value changed carry the new value, keys that are gone carry
 * `null`, nested objects are compared key by key. Empty when they are equal.
 * The device uses it to report exactly what the cloud's copy lacks.
 *
 * @example
 * ```ts
 * diffState({ a: 1, b: { x: 1, y: 2 } }, { b: { x: 1, y: 3 }, c: true }); // { a: null, b: { y: 3 }, c: true }
 * ```
 */
export function diffState(from: ShadowState, to: ShadowState): ShadowState {
  const patch: ShadowState = {};
  for (const key of Object.keys(from)) {
    if (from[key] !== undefined && (!Object.hasOwn(to, key) || to[key] === undefined)) {
      setKey(patch, key, null);
    }
  }
  for (const [key, want] of Object.entries(to)) {
    if (want === undefined) continue;
    const have = Object.hasOwn(from, key) ? from[key] : undefined;
    if (isPlainObject(want) && isPlainObject(have)) {
      const inner = diffState(have, want);
      if (Object.keys(inner).length > 0) setKey(patch, key, inner);
    } else if (!jsonEqual(want, have)) setKey(patch, key, want);
  }
  return patch;
}

/** A random clientToken (a UUID, 36 bytes) to correlate a request with its response. */
export function newClientToken(): string {
  return crypto.randomUUID();
}

/** Sets `key` as an own property, even "__proto__" (from JSON), which assignment would not. */
export function setKey(target: ShadowState, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function depthOf(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child));
  return 1 + deepest;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a).filter((key) => a[key] !== undefined);
    const otherKeys = Object.keys(b).filter((key) => b[key] !== undefined);
    return keys.length === otherKeys.length &&
      keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]));
  }
  return false;
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** A JSON object that is not a byte array; shared with aws_shadow_response.ts. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}
