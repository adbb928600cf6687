/**
 * IoT Hub and DPS topics over MQTT (PROTOCOLS.md §3): user names, the
 * device-to-cloud property bag, and the `$rid` / `$version` / `retry-after`
 * carried in response topics. Pure: strings in, strings and objects out.
 *
 * @module
 */

/** The IoT Hub MQTT API version Outpost speaks. */
export const HUB_API_VERSION = "2021-04-12";
/** The DPS MQTT API version Outpost speaks. */
export const DPS_API_VERSION = "2019-03-31";
/** The global DPS endpoint. */
export const DEFAULT_DPS_HOST = "global.azure-devices-provisioning.net";

/** Fixed topics and filters. */
export const AZURE_TOPICS = {
  dpsResponses: "$dps/registrations/res/#",
  twinResponses: "$iothub/twin/res/#",
  desiredPatches: "$iothub/twin/PATCH/properties/desired/#",
  methods: "$iothub/methods/POST/#",
} as const;

/** Reserved (system) keys of a device-to-cloud property bag. */
export const SYSTEM_PROPERTIES = {
  messageId: "$.mid",
  correlationId: "$.cid",
  contentType: "$.ct",
  contentEncoding: "$.ce",
  component: "$.sub",
} as const;

/** IoT Hub's user name: `<hub>/<deviceId>/?api-version=<v>[&model-id=<dtmi>]`. */
export function hubUsername(hub: string, deviceId: string, modelId?: string): string {
  // Raw, as the official SDKs send it: IoT Hub reads `dtmi:…;1` from the user name as is.
  const model = modelId ? `&model-id=${modelId}` : "";
  return `${hub}/${deviceId}/?api-version=${HUB_API_VERSION}${model}`;
}

/** DPS's user name: `<idScope>/registrations/<registrationId>/api-version=<v>`. */
export function dpsUsername(idScope: string, registrationId: string): string {
  return `${idScope}/registrations/${registrationId}/api-version=${DPS_API_VERSION}`;
}

/**
 * Encodes a property bag: URL-encoded `k=v` pairs joined by `&`, in the
 * order given. Keys must be non-empty.
 *
 * @example
 * ```ts
 * encodePropertyBag({ "$.ct": "application/json", alert: "a b" });
 * // "%24.ct=application%2Fjson&alert=a%20b"
 * ```
 */
export function encodePropertyBag(properties: Record<string, string>): string {
  return Object.entries(properties).map(([key, value]) => {
    if (key === "") throw new TypeError("A message property needs a non-empty name");
    return `${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
  }).join("&");
}

/**
 * Decodes a property bag (the part after the fixed prefix or after `?`).
 * A pair without `=` is a key with an empty value; a malformed escape is an error.
 */
export function parsePropertyBag(bag: string): Record<string, string> {
  const result: Record<string, string> = {};
  if (bag === "") return result;
  for (const pair of bag.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? "" : pair.slice(eq + 1);
    try {
      result[decodeURIComponent(rawKey)] = decodeURIComponent(rawValue);
    } catch {
      throw new TypeError(`Cannot decode the property "${pair}": bad %-escape`);
    }
  }
  return result;
}

/** The topic of a device-to-cloud message: `devices/<id>/messages/events/<bag>`. */
export function telemetryTopic(deviceId: string, properties: Record<string, string> = {}): string {
  return `devices/${deviceId}/messages/events/${encodePropertyBag(properties)}`;
}

/** The filter of cloud-to-device messages: `devices/<id>/messages/devicebound/#`. */
export function c2dFilter(deviceId: string): string {
  return `devices/${deviceId}/messages/devicebound/#`;
}

/** A cloud-to-device message's properties, read from its topic; undefined when not one. */
export function parseC2dTopic(
  deviceId: string,
  topic: string,
): Record<string, string> | undefined {
  const prefix = `devices/${deviceId}/messages/devicebound/`;
  if (!topic.startsWith(prefix)) return undefined;
  return parsePropertyBag(topic.slice(prefix.length));
}

/** A response from the service on `…/res/<status>/?<bag>`. */
export interface ServiceResponse {
  /** Which service answered. */
  service: "dps" | "twin";
  /** The HTTP-like status. */
  status: number;
  /** `$rid`, echoed from the request. */
  rid: string;
  /** `$version` (twin reported patches). */
  version?: number;
  /** `retry-after` in seconds (DPS). */
  retryAfterSec?: number;
  /** Every property of the topic. */
  properties: Record<string, string>;
}

const RESPONSE = /^\$(dps\/registrations|iothub\/twin)\/res\/(\d{3})\/\?(.*)$/s;

/**
 * Parses `$dps/registrations/res/<status>/?$rid=…` and
 * `$iothub/twin/res/<status>/?$rid=…&$version=…`; undefined for any other topic.
 *
 * @throws {TypeError} when a response topic has no `$rid` or a malformed number.
 */
export function parseResponseTopic(topic: string): ServiceResponse | undefined {
  const match = RESPONSE.exec(topic);
  if (!match) return undefined;
  const properties = parsePropertyBag(match[3]);
  const rid = properties.$rid;
  if (rid === undefined || rid === "") {
    throw new TypeError(`The response topic "${topic}" has no $rid`);
  }
  const response: ServiceResponse = {
    service: match[1] === "iothub/twin" ? "twin" : "dps",
    status: Number(match[2]),
    rid,
    properties,
  };
  if (properties.$version !== undefined) {
    response.version = nonNegative(properties.$version, "$version", topic);
  }
  if (properties["retry-after"] !== undefined) {
    response.retryAfterSec = nonNegative(properties["retry-after"], "retry-after", topic);
  }
  return response;
}

/** A desired-properties patch topic's `$version`; undefined when the topic is not one. */
export function parseDesiredTopic(topic: string): { version?: number } | undefined {
  const prefix = "$iothub/twin/PATCH/properties/desired/";
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  const properties = parsePropertyBag(rest.startsWith("?") ? rest.slice(1) : rest);
  return properties.$version === undefined
    ? {}
    : { version: nonNegative(properties.$version, "$version", topic) };
}

/** A direct-method request: `$iothub/methods/POST/<name>/?$rid=<rid>`. */
export interface MethodRequest {
  /** The full method name (`comp*cmd` for a component's command). */
  name: string;
  /** The component, when the name has one. */
  component?: string;
  /** The command within the component (or the full name). */
  command: string;
  rid: string;
}

const METHOD = /^\$iothub\/methods\/POST\/([^/]+)\/\?(.*)$/s;

/**
 * Parses a direct-method request topic; undefined for any other topic.
 *
 * @example
 * ```ts
 * parseMethodTopic("$iothub/methods/POST/thermostat*reboot/?$rid=1");
 * // { name: "thermostat*reboot", component: "thermostat", command: "reboot", rid: "1" }
 * ```
 */
export function parseMethodTopic(topic: string): MethodRequest | undefined {
  const match = METHOD.exec(topic);
  if (!match) return undefined;
  const rid = parsePropertyBag(match[2]).$rid;
  if (rid === undefined || rid === "") {
    throw new TypeError(`The method topic "${topic}" has no $rid`);
  }
  return { ...splitCommandName(match[1]), rid };
}

/** Splits `comp*cmd` into component and command; a name without `*` has no component. */
export function splitCommandName(
  name: string,
): { name: string; component?: string; command: string } {
  const star = name.indexOf("*");
  if (star <= 0 || star === name.length - 1) return { name, command: name };
  return { name, component: name.slice(0, star), command: name.slice(star + 1) };
}

/** Topic of a direct-method answer. */
export function methodResponseTopic(status: number, rid: string): string {
  return `$iothub/methods/res/${status}/?$rid=${encodeURIComponent(rid)}`;
}

/** Topic of a twin read. */
export function twinGetTopic(rid: string): string {
  return `$iothub/twin/GET/?$rid=${encodeURIComponent(rid)}`;
}

/** Topic of a reported-properties patch. */
export function twinReportTopic(rid: string): string {
  return `$iothub/twin/PATCH/properties/reported/?$rid=${encodeURIComponent(rid)}`;
}

/** Topic of a DPS registration request. */
export function dpsRegisterTopic(rid: string): string {
  return `$dps/registrations/PUT/iotdps-register/?$rid=${encodeURIComponent(rid)}`;
}

/** Topic of a DPS operation-status poll. */
export function dpsPollTopic(rid: string, operationId: string): string {
  return `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${
    encodeURIComponent(rid)
  }&operationId=${encodeURIComponent(operationId)}`;
}

function nonNegative(text: string, what: string, topic: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new TypeError(`The topic "${topic}" has a ${what} that is not a whole number: "${text}"`);
  }
  return value;
}
