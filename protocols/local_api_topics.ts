/**
 * The topics of the local API (PROTOCOLS.md §4): provisioning on the TLS
 * port, and the calls under `/v1.0/<clientId>` on the mutual-TLS port with
 * their success and error reply topics. Pure: topic in, route out.
 */

/** The provisioning request topic (payload: a CSR PEM). */
export const CREATE_CONNECTOR = "/createConnector";

/** The API version prefix of every call. */
export const API_PREFIX = "/v1.0";

/** A client id: 32 lowercase hex characters (the CN of the client's certificate). */
export const CLIENT_ID = /^[0-9a-f]{32}$/;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The hash that names a CSR's reply topics: SHA-256 of the CSR PEM bytes, in hex.
 *
 * @example
 * ```ts
 * certBackTopic(await csrHash(csrPem)); // "/certBack/3f9a…"
 * ```
 */
export async function csrHash(csrPem: string | Uint8Array): Promise<string> {
  const bytes = typeof csrPem === "string" ? new TextEncoder().encode(csrPem) : csrPem;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `/certBack/<sha256 hex of the CSR PEM>`: where the signed certificate is sent. */
export function certBackTopic(csrHash: string): string {
  if (!SHA256_HEX.test(csrHash)) {
    throw new TypeError(`Invalid CSR hash ${JSON.stringify(csrHash)}: expected 64 hex characters`);
  }
  return `/certBack/${csrHash}`;
}

/** `/certBack/<hash>/error`: where a refused CSR is answered. */
export function certBackErrorTopic(csrHash: string): string {
  return `${certBackTopic(csrHash)}/error`;
}

/** True for the two exact topics an app may subscribe to while provisioning. */
export function isCertBackTopic(topic: string): boolean {
  return /^\/certBack\/[0-9a-f]{64}(\/error)?$/.test(topic);
}

/** `/v1.0/<clientId><path>`. */
export function apiTopic(clientId: string, path: string): string {
  if (!CLIENT_ID.test(clientId)) {
    throw new TypeError(
      `Invalid client id ${JSON.stringify(clientId)}: expected 32 hex characters`,
    );
  }
  if (!path.startsWith("/")) {
    throw new TypeError(`Invalid local API path ${JSON.stringify(path)}: it must start with "/"`);
  }
  return `${API_PREFIX}/${clientId}${path}`;
}

/** Splits `/v1.0/<clientId>/…` into the client id and the path; undefined for any other topic. */
export function parseApiTopic(topic: string): { clientId: string; path: string } | undefined {
  const match = /^\/v1\.0\/([0-9a-f]{32})(\/.*)$/.exec(topic);
  return match ? { clientId: match[1], path: match[2] } : undefined;
}

/** What the API port does with an app's publish (see {@link publishVerdict}). */
export type PublishVerdict = "serve" | "drop" | "refuse";

/**
 * What the API port does with a publish on `topic` by client `clientId`:
 * `serve` one in its own namespace (`/v1.0/<clientId>` and below),
 * `refuse` one in another client's or the broker's (`$…`, e.g. aedes'
 * `$SYS/<id>/new/clients`, which closes connections) and `drop` one in
 * nobody's: acknowledged and forgotten. Dropping, not refusing,
 * because the SDK itself publishes `sensor_error()` to
 * `/v1.0/<cid>sensor<sid>/error` (no slash), and a refused QoS 1 publish is
 * re-sent by the app's MQTT library at every reconnect, cutting it off for good.
 *
 * @example
 * ```ts
 * publishVerdict(`/v1.0/${id}/ping`, id); // "serve"
 * publishVerdict(`/v1.0/${id}sensor${sid}/error`, id); // "drop"
 * ```
 */
export function publishVerdict(topic: string, clientId: string): PublishVerdict {
  if (topic.startsWith("$")) return "refuse";
  const owner = /^\/v1\.0\/([0-9a-f]{32})(?:\/|$)/.exec(topic)?.[1];
  if (owner === undefined) return "drop";
  return owner === clientId ? "serve" : "refuse";
}

/**
 * A topic with its ids (32 hex characters) replaced, cut at 120 characters:
 * what a dropped publish is logged as, once per client and shape.
 *
 * @example
 * ```ts
 * topicShape(`/v1.0/${id}sensor${sid}/error`); // "/v1.0/<id>sensor<id>/error"
 * ```
 */
export function topicShape(topic: string): string {
  return topic.replace(/[0-9a-fA-F]{32}/g, "<id>").slice(0, 120);
}

/**
 * True when `filter` (an MQTT topic filter, wildcards allowed) can only
 * match topics under `/v1.0/<clientId>`: the prefix levels are literal.
 */
export function filterWithinClient(filter: string, clientId: string): boolean {
  const prefix = `${API_PREFIX}/${clientId}`;
  return filter === prefix || filter.startsWith(`${prefix}/`);
}

/** The calls of the sensor/metric API and the built-in ones. */
export type LocalApiCall =
  | "ping"
  | "deprovision"
  | "listSensors"
  | "createSensor"
  | "updateSensor"
  | "deleteSensor"
  | "createMetrics"
  | "describeMetric"
  | "updateMetrics"
  | "deleteMetrics"
  | "pushValues";

/** A request path, understood. */
export interface LocalApiRoute {
  call: LocalApiCall;
  /** The sensor id level of the path, as written (not yet known to exist). */
  sensorId?: string;
  /** The metric id level of the path, as written. */
  metricId?: string;
  /** The success reply path. */
  ok: string;
  /** The error reply path. */
  error: string;
}

/**
 * The call a request path (after `/v1.0/<clientId>`) makes, with its reply
 * paths; undefined for a path that is no call (replies, live data, unknown).
 *
 * @example
 * ```ts
 * routeOf("/sensor/create"); // { call: "createSensor", ok: "/sensor/inbox", error: "/sensor/error/inbox" }
 * ```
 */
export function routeOf(path: string): LocalApiRoute | undefined {
  const levels = path.split("/").slice(1);
  if (!path.startsWith("/") || levels.some((level) => level === "")) return undefined;
  const [first, sid, third, mid, fifth] = levels;
  switch (levels.length) {
    case 1:
      if (first === "ping") return plain("ping", "/ping/info/inbox", "/ping/error/inbox");
      if (first === "delete") {
        return plain("deprovision", "/delete/info/inbox", "/delete/error/inbox");
      }
      if (first === "inventory") {
        return plain("listSensors", "/inventory/inbox", "/inventory/error/inbox");
      }
      return undefined;
    case 2:
      return first === "sensor" && sid === "create"
        ? plain("createSensor", "/sensor/inbox", "/sensor/error/inbox")
        : undefined;
  }
  if (first !== "sensor") return undefined;
  const s = `/sensor/${sid}`;
  if (levels.length === 3) {
    if (third === "update") {
      return {
        call: "updateSensor",
        sensorId: sid,
        ok: `${s}/update/info/inbox`,
        error: `${s}/update/error/inbox`,
      };
    }
    if (third === "delete") {
      return {
        call: "deleteSensor",
        sensorId: sid,
        ok: `${s}/delete/info/inbox`,
        error: `${s}/delete/error/inbox`,
      };
    }
    if (third === "metric") {
      return {
        call: "createMetrics",
        sensorId: sid,
        ok: `${s}/metric/inbox`,
        error: `${s}/metric/error/inbox`,
      };
    }
    return undefined;
  }
  if (third !== "metric") return undefined;
  if (levels.length === 4) {
    if (mid === "update") {
      return {
        call: "updateMetrics",
        sensorId: sid,
        ok: `${s}/metric/update/info/inbox`,
        error: `${s}/metric/update/error/inbox`,
      };
    }
    // The SDK's agent answers a metric delete on the sensor delete topics.
    if (mid === "delete") {
      return {
        call: "deleteMetrics",
        sensorId: sid,
        ok: `${s}/delete/info/inbox`,
        error: `${s}/delete/error/inbox`,
      };
    }
    if (mid === "pushValues") {
      return {
        call: "pushValues",
        sensorId: sid,
        ok: `${s}/info/inbox`,
        error: `${s}/error/inbox`,
      };
    }
    return undefined;
  }
  if (levels.length === 5 && fifth === "inventory") {
    return {
      call: "describeMetric",
      sensorId: sid,
      metricId: mid,
      ok: `${s}/metric/${mid}/inventory/inbox`,
      error: `${s}/inventory/error/inbox`,
    };
  }
  return undefined;
}

function plain(call: LocalApiCall, ok: string, error: string): LocalApiRoute {
  return { call, ok, error };
}

/** `/sensor/<sid>/livedata`: where pushed values are repeated for subscribers. */
export function liveDataPath(sensorId: string): string {
  return `/sensor/${sensorId}/livedata`;
}

/** `/v1.0/<clientId>/sensor/<sid>/metric/<mid>/inventory`: a metric's `link` in the inventory. */
export function metricLink(clientId: string, sensorId: string, metricId: string): string {
  return apiTopic(clientId, `/sensor/${sensorId}/metric/${metricId}/inventory`);
}
