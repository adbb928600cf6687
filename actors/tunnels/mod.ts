/**
 * Remote-access tunnels: one supervised proxy actor per tunnel (TCP over
 * WebSocket), the allowlist, the access-check contract, and `DeviceProxy`
 * for apps that run a tunnel on their own.
 *
 * @example A tunnel under a cloud's `tunnels` supervisor
 * ```ts
 * const started = await openTunnel((spec) => system.startChild(tunnelsPath("c8y"), spec), {
 *   id: newTunnelId(),
 *   cloud: "c8y",
 *   url: `wss://example.cumulocity.com/service/remoteaccess/device/${key}`,
 *   headers: { Authorization: `Bearer ${jwt}` },
 *   target: { host: "127.0.0.1", port: 22 },
 *   allowlist: parseAllowlist(["127.0.0.1:22"]),
 *   bufferSize: 16384,
 *   dialTimeoutMs: 10_000,
 * });
 * ```
 * @module
 */
export { type Allowlist, formatTarget, parseAllowlist } from "./allowlist.ts";
export {
  newTunnelId,
  openTunnel,
  tunnelProxy,
  tunnelsPath,
  tunnelsSupervisor,
  type TunnelStart,
} from "./proxy_actor.ts";
export { TUNNEL_SUBPROTOCOL } from "./sides.ts";
export {
  type AccessCheck,
  type AccessDecision,
  allowAll,
  type TunnelObserver,
  type TunnelOptions,
  type TunnelRequest,
  type TunnelTarget,
} from "./types.ts";
export type { TunnelFailureKind, TunnelOutcome } from "../../machines/tunnel_proxy.ts";
export { type PipeMeter, pipeMeter } from "../../protocols/tunnel_pipe.ts";
