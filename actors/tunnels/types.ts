/**
 * What a remote-access tunnel is asked to do and who may say no. Shared by
 * every cloud that opens tunnels (Cumulocity's `530`, the generic cloud's
 * `tunnel.open`) and by the access control of the support modules.
 */
import type { PipeMeter } from "../../protocols/tunnel_pipe.ts";

/** Where the device dials: a TCP service on this device or its network. */
export interface TunnelTarget {
  /** Host name or IP address, as the cloud sent it. */
  host: string;
  /** TCP port, 1 to 65535. */
  port: number;
}

/** A tunnel about to open, as an access check sees it. */
export interface TunnelRequest {
  /** The tunnel's id (also its actor id under the cloud's `tunnels`). */
  id: string;
  /** The configured name of the cloud that asked. */
  cloud: string;
  /** Where the tunnel would dial. */
  target: TunnelTarget;
  /** The pipe's live byte counters, once the tunnel is open (what an observer is given). */
  meter?: Readonly<PipeMeter>;
}

/** The answer of an access check. */
export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

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
