/**
 * `DeviceProxy`: the Python seed's `c8ydp.DeviceProxy` for embedding apps
 * that handle Cumulocity's `530` themselves. It runs the same proxy machine
 * as the agent's tunnels (its own root actor, outside any agent), with the
 * seed's parameters as an options object.
 */
import { type Actor, type AnyActorLogic, createActor } from "xstate";
import type { TunnelOutcome } from "../../machines/tunnel_proxy.ts";
import { parseAllowlist } from "../tunnels/allowlist.ts";
import { tunnelProxy } from "../tunnels/proxy_actor.ts";

/** The seed's parameters, by name. */
export interface DeviceProxyOptions {
  /** The TCP service to reach (the `530`'s host). */
  tcpHost: string;
  /** Its port (the `530`'s port). */
  tcpPort: number;
  /** Bytes read from the TCP side at a time. Default 16384, as the seed. */
  bufferSize?: number;
  /** The `530`'s connection key. */
  connectionKey: string;
  /** The platform, e.g. `https://example.cumulocity.com` (a bare host means https). */
  baseUrl: string;
  /** `<tenant>/<user>`, with `password`, for Basic auth. */
  tenantUser?: string;
  /** The password of `tenantUser`. */
  password?: string;
  /** A JWT for Bearer auth (device certificates), used when there is no `tenantUser`. */
  token?: string;
  /** Called once the WebSocket has closed, with its status and reason. */
  onClose?: (status: number, reason: string) => void;
  /** HTTP proxy: `http://host:port`, or the seed's host and port. */
  proxy?: string | { host: string; port: number };
  /** Time for both sides to open. Default 10000. */
  dialTimeoutMs?: number;
  /** WebSocket ping interval. Default: none. */
  pingIntervalMs?: number;
  /** PEM roots trusted for the platform in addition to the system's. */
  caCerts?: string[];
}

/**
 * One tunnel between a Cumulocity Cloud Remote Access session and a local
 * TCP service.
 *
 * @example
 * ```ts
 * const proxy = new DeviceProxy({
 *   tcpHost: "127.0.0.1", tcpPort: 22, connectionKey: key,
 *   baseUrl: "https://example.cumulocity.com", tenantUser: "t123/device", password,
 *   onClose: (status, reason) => console.log("closed", status, reason),
 * });
 * await proxy.connect(); // both sides are up: answer 503,c8y_RemoteAccessConnect
 * ```
 */
export class DeviceProxy {
  readonly #options: DeviceProxyOptions;
  readonly #url: string;
  readonly #authorization: string;
  #actor: Actor<AnyActorLogic> | undefined;
  #done: Promise<TunnelOutcome> | undefined;

  /** Checks the options; throws a TypeError naming what is missing or wrong. */
  constructor(options: DeviceProxyOptions) {
    if (!options.connectionKey) {
      throw new TypeError("DeviceProxy needs a connectionKey (the 530's last field)");
    }
    if (!Number.isInteger(options.tcpPort) || options.tcpPort < 1 || options.tcpPort > 65535) {
      throw new TypeError(`DeviceProxy: tcpPort must be 1-65535, got ${options.tcpPort}`);
    }
    this.#options = options;
    this.#url = relayUrl(options.baseUrl, options.connectionKey);
    if (options.tenantUser) {
      if (options.password === undefined) {
        throw new TypeError(`DeviceProxy: tenantUser "${options.tenantUser}" needs a password`);
      }
      this.#authorization = `Basic ${basic(`${options.tenantUser}:${options.password}`)}`;
    } else if (options.token) {
      this.#authorization = `Bearer ${options.token}`;
    } else {
      throw new TypeError("DeviceProxy needs credentials: tenantUser and password, or a token");
    }
  }

  /** Opens both sides; resolves once they are up, rejects with the reason it failed. */
  connect(): Promise<void> {
    if (this.#actor) return Promise.reject(new Error("DeviceProxy.connect() was already called"));
    const o = this.#options;
    const target = { host: o.tcpHost, port: o.tcpPort };
    const host = target.host.includes(":") && !target.host.startsWith("[")
      ? `[${target.host}]`
      : target.host;
    return new Promise<void>((resolve, reject) => {
      const logic = tunnelProxy({
        id: `device-proxy-${o.connectionKey.slice(0, 8)}`,
        cloud: "c8y",
        url: this.#url,
        headers: { Authorization: this.#authorization },
        target,
        // The seed dials what the 530 names; the caller chose the target, so it is the allowlist.
        allowlist: parseAllowlist([`${host}:${target.port}`]),
        bufferSize: o.bufferSize ?? 16384,
        dialTimeoutMs: o.dialTimeoutMs ?? 10_000,
        pingIntervalMs: o.pingIntervalMs,
        proxy: typeof o.proxy === "object" ? `http://${o.proxy.host}:${o.proxy.port}` : o.proxy,
        caCerts: o.caCerts,
        onOpen: () => resolve(),
        onFail: (reason) => reject(new Error(reason)),
        onClose: (code, reason) => {
          reject(new Error(`closed before it opened: ${reason}`));
          o.onClose?.(code, reason);
        },
      }) as AnyActorLogic;
      const actor = createActor(logic);
      this.#actor = actor;
      this.#done = new Promise((settle) => {
        actor.subscribe({
          complete: () => settle(actor.getSnapshot().output as TunnelOutcome),
          error: (error) => {
            reject(error);
            settle({ status: "failed", kind: "dial", reason: String(error) });
          },
        });
      });
      actor.start();
    });
  }

  /** Closes both sides (WebSocket status 1001) and resolves once they are closed. */
  async close(): Promise<void> {
    if (!this.#actor || !this.#done) return;
    this.#actor.send({ type: "outpost.stop" });
    await this.#done;
  }

  /** Resolves when the tunnel has ended, by either side or `close()`; undefined before `connect()`. */
  get closed(): Promise<TunnelOutcome> | undefined {
    return this.#done;
  }
}

/** `wss://<host>/service/remoteaccess/device/<key>` from the platform's base URL. */
function relayUrl(baseUrl: string, connectionKey: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(baseUrl) ? baseUrl : `https://${baseUrl}`;
  const base = new URL(withScheme);
  const scheme = { "https:": "wss:", "wss:": "wss:", "http:": "ws:", "ws:": "ws:" }[base.protocol];
  if (!scheme) {
    throw new TypeError(
      `DeviceProxy: baseUrl "${baseUrl}" must be an https://, http://, wss:// or ws:// URL`,
    );
  }
  return `${scheme}//${base.host}/service/remoteaccess/device/${encodeURIComponent(connectionKey)}`;
}

function basic(credentials: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(credentials)));
}
