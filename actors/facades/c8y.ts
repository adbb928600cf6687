/**
 * `@outpost/outpost/c8y`: Cumulocity IoT for an app that embeds Outpost.
 * An agent with a `[clouds.<name>] type = "c8y"` table speaks SmartREST 2.0
 * and Cloud Remote Access (docs/c8y.md); `DeviceProxy` is one tunnel on its
 * own, as the seed's Python `c8ydp.DeviceProxy` offers it.
 *
 * @example
 * ```ts
 * import { DeviceProxy } from "./c8y.ts";
 *
 * const proxy = new DeviceProxy({
 *   tcpHost: "127.0.0.1",
 *   tcpPort: 22,
 *   connectionKey: "key-from-the-530-operation",
 *   baseUrl: "wss://tenant.cumulocity.com",
 *   tenantUser: "t123/device_pump-7",
 *   password: Deno.env.get("C8Y_PASSWORD")!,
 *   onClose: (status, reason) => console.log(status, reason),
 * });
 * await proxy.connect();
 * ```
 *
 * @module
 */
export { DeviceProxy, type DeviceProxyOptions } from "./device_proxy.ts";
export type { TunnelFailureKind, TunnelOutcome } from "../../machines/tunnel_proxy.ts";
export type {
  C8yBootstrap,
  C8yCloudConfig,
  C8yHardware,
  C8yRestart,
  C8yShell,
} from "../c8y/config.ts";
export { remoteAccessUrl } from "../c8y/remote_access.ts";
export { credentialsFile } from "../c8y/mod.ts";
