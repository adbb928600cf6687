/**
 * Cumulocity Cloud Remote Access, the device's side of a `530`: one
 * `temporary` proxy actor per tunnel under the cloud's dynamic `tunnels`
 * supervisor, which dials the platform's WebSocket
 * `<base>/service/remoteaccess/device/<connectionKey>` and the target at
 * the same time and pipes bytes between them.
 *
 * The operation's status follows the tunnel: `503` once both sides are up
 * ("tunnel up", not "session ended"), `502,<reason>` when it fails first
 * (target not on the allowlist, access refused, timeout, refused, auth
 * rejected) or when the supervisor already holds `maxTunnels` tunnels.
 */
import type { Spec } from "../runtime/spec.ts";
import type { RemoteAccessSection } from "../tunnels/types.ts";
import { newTunnelId, openTunnel as startTunnel } from "../tunnels/proxy_actor.ts";
import { parseAllowlist } from "../tunnels/allowlist.ts";
import type { AccessCheck, TunnelObserver } from "../tunnels/types.ts";
import type { OperationOutcome } from "./operations.ts";
import type { RemoteAccessRequest } from "./session.ts";

/** What opening a tunnel needs besides the request. */
export interface RemoteAccessOptions {
  cloud: string;
  /** Starts a proxy actor under this cloud's `tunnels` supervisor. */
  start: (spec: Spec) => Promise<string>;
  /** `wss://<host>` (or the configured `remoteAccessUrl`). */
  baseUrl: string;
  /** The `Authorization` header: `Basic …` or `Bearer <jwt>`. */
  authorization: () => Promise<string>;
  /** The shared `[remoteAccess]` settings. */
  settings: RemoteAccessSection;
  accessCheck: AccessCheck;
  /** Told when a tunnel opens and ends (session management). */
  tunnelObserver?: TunnelObserver;
  /** PEM CAs to verify the WebSocket's server with, instead of the system's. */
  caCerts?: string[];
}

/**
 * The base of the remote-access WebSocket for a cloud whose MQTT URL is
 * `mqttUrl`: the same host over `wss://` (port 443) for `mqtts://`, `ws://`
 * for plain `mqtt://`; a WebSocket MQTT URL's own host and port. A
 * configured base wins (`https://` becomes `wss://`, `http://` `ws://`).
 *
 * @example
 * ```ts
 * remoteAccessBase("mqtts://t1.example.com:8883"); // "wss://t1.example.com"
 * remoteAccessBase("mqtt://h:1883", "http://127.0.0.1:8080/"); // "ws://127.0.0.1:8080"
 * ```
 */
export function remoteAccessBase(mqttUrl: string, configured?: string): string {
  if (configured !== undefined) {
    const url = new URL(configured);
    const scheme = { "https:": "wss:", "http:": "ws:" }[url.protocol] ?? url.protocol;
    return `${scheme}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
  }
  const url = new URL(mqttUrl);
  switch (url.protocol) {
    case "wss:":
    case "ws:":
      return `${url.protocol}//${url.host}`;
    case "mqtt:":
      return `ws://${url.hostname.includes(":") ? url.host.replace(/:\d+$/, "") : url.hostname}`;
    default:
      return `wss://${url.hostname.includes(":") ? url.host.replace(/:\d+$/, "") : url.hostname}`;
  }
}

/**
 * The device's WebSocket URL for one connection key.
 *
 * @example
 * ```ts
 * remoteAccessUrl("wss://t1.example.com", "k3y"); // "wss://t1.example.com/service/remoteaccess/device/k3y"
 * ```
 */
export function remoteAccessUrl(base: string, connectionKey: string): string {
  return `${base}/service/remoteaccess/device/${encodeURIComponent(connectionKey)}`;
}

/**
 * Starts the tunnel of one `530` and resolves with its outcome: ok once
 * both sides are up, a failure with the reason otherwise. Never rejects.
 */
export async function openTunnel(
  request: RemoteAccessRequest,
  options: RemoteAccessOptions,
): Promise<OperationOutcome> {
  const { settings } = options;
  let authorization: string;
  try {
    authorization = await options.authorization();
  } catch (error) {
    return {
      ok: false,
      reason: `No credentials for the remote access WebSocket: ${
        error instanceof Error ? error.message : String(error)
      }`,
    };
  }
  const started = await startTunnel(options.start, {
    id: newTunnelId(),
    cloud: options.cloud,
    url: remoteAccessUrl(options.baseUrl, request.connectionKey),
    headers: { Authorization: authorization },
    target: { host: request.host, port: request.port },
    allowlist: parseAllowlist(settings.allow),
    accessCheck: options.accessCheck,
    observer: options.tunnelObserver,
    bufferSize: settings.bufferSize,
    pingIntervalMs: settings.pingIntervalSec * 1000,
    dialTimeoutMs: settings.dialTimeoutSec * 1000,
    proxy: settings.proxy,
    caCerts: options.caCerts,
  });
  return started.status === "open" ? { ok: true } : { ok: false, reason: started.reason };
}
