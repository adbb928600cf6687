/**
 * What a remote-access tunnel is asked to do and who may say no. Shared by
 * every cloud that opens tunnels (Cumulocity's `530`, the generic cloud's
 * `tunnel.open`) and by the access control of the support modules.
 */

import type {
  AccessDecision,
  TunnelFailureKind,
  TunnelTarget,
} from "../../machines/tunnel_proxy.ts";
import type { PipeMeter } from "../../protocols/tunnel_pipe.ts";
import type { Allowlist } from "./allowlist.ts";

export type { AccessDecision, TunnelTarget } from "../../machines/tunnel_proxy.ts";

/** A tunnel about to open, as an access check sees it. */
export interface TunnelRequest {
  /** The tunnel's id (also its actor id under the cloud's `tunnels`). */
  id: string;
  /** The configured name of the cloud that asked. */
  cloud: string;
  /** Where the tunnel would dial. */
  target: TunnelTarget;
  /** The pipe's live byte counters, once the tunnel is open (what an observer is given). */
  meter?: { readonly bytesUp: number; readonly bytesDown: number };
}

/**
 * Decides whether a tunnel may open. Runs after the allowlist allowed the
 * target and before anything is dialed; a rejection or a throw refuses.
 */
export type AccessCheck = (request: TunnelRequest) => AccessDecision | Promise<AccessDecision>;

/** The default access check: the allowlist alone decides. */
export const allowAll: AccessCheck = (): AccessDecision => ({ allowed: true });

/**
 * Hears when tunnels open and end, for every cloud: session management
 * counts each open tunnel as a session. Called from the proxy actor; a
 * throw is logged and ignored.
 */
export interface TunnelObserver {
  /** Both sides of the tunnel are up. */
  opened(tunnel: TunnelRequest): void;
  /** A tunnel that had opened has ended (closed by either side or stopped). */
  closed(tunnel: TunnelRequest): void;
}

/** What one tunnel needs: the options of `tunnelProxy` and `openTunnel` (proxy_actor.ts). */
export interface TunnelOptions {
  /** The tunnel's id (its actor id under `tunnels`). */
  id: string;
  /** The configured name of the cloud that asked. */
  cloud: string;
  /** The relay, e.g. `wss://<c8y-host>/service/remoteaccess/device/<connectionKey>`. */
  url: string;
  /** Request headers of the WebSocket, `Authorization` above all. */
  headers: Record<string, string>;
  /** The TCP service to reach. */
  target: TunnelTarget;
  /** Targets that may be dialed. */
  allowlist: Allowlist;
  /** Asked after the allowlist and before dialing. Default: allow. */
  accessCheck?: AccessCheck;
  /** Told when the tunnel opens and when an open tunnel ends (session management). */
  observer?: TunnelObserver;
  /** Bytes read from the target at a time; bound of what waits before both sides are up. */
  bufferSize: number;
  /** WebSocket ping interval; 0 or missing: none. */
  pingIntervalMs?: number;
  /** Time for both sides to open. */
  dialTimeoutMs: number;
  /** HTTP proxy for the WebSocket (`http://host:port`). */
  proxy?: string;
  /** PEM roots trusted for the relay in addition to the system's. */
  caCerts?: string[];
  /** Counters of the pipe, for tests and benchmarks. */
  meter?: PipeMeter;
  /** Both sides are up. */
  onOpen?: () => void;
  /** The tunnel could not open; `reason` is fit for a `502,<reason>`. */
  onFail?: (reason: string, kind: TunnelFailureKind) => void;
  /** An open tunnel ended (or one was stopped before it opened). */
  onClose?: (code: number, reason: string) => void;
}

/** `[remoteAccess]`: tunnels to TCP services (SSH, VNC, Telnet, …) on this device's side. */
export interface RemoteAccessSection {
  /** `host:port` targets a tunnel may reach; nothing else is ever dialed. Default: none. */
  allow: string[];
  /** Tunnels open at once, per cloud. */
  maxTunnels: number;
  /** Bytes read from either side at a time, and the bound of the buffer before both sides are up. */
  bufferSize: number;
  /** WebSocket ping interval, which keeps an idle tunnel open through NAT; 0 turns pings off. */
  pingIntervalSec: number;
  /** Time to open both sides before the tunnel fails. */
  dialTimeoutSec: number;
  /** HTTP proxy for the WebSocket (`http://host:port`). */
  proxy?: string;
}
