/**
 * The remote-support modules (PROTOCOLS.md §5, docs/support.md): session
 * management, access control, instant support and chat, as the TeamViewer
 * IoT Agent API offers them to apps on the device.
 *
 * ```
 * support        one_for_one
 * ├── chats      dynamic one_for_one: one chat room actor per chat (chat_room.ts)
 * └── service    binds the support service to the running tree; restores the rooms
 * ```
 *
 * Owns: the support service (sessions, access levels in SQLite, instant
 * support cases, the chats' store). Receives: local apps' requests through
 * the local API module `supportModule(service)`, the remote side's messages
 * through every cloud's `SupportChannel`, tunnel openings and
 * closings as the `TunnelObserver`, and access questions as the
 * `AccessCheck`. Sends: events to local apps (`/v1.0/<cid>/support/event/…`)
 * and requests to the remote side (`<prefix>/<id>/support/…`). Supervised
 * by: the agent's root supervisor.
 */
import { fromCallback } from "xstate";
import { child, supervisor, type SupervisorSpec } from "../runtime/spec.ts";
import type { SupportRuntime, SupportService } from "./service.ts";

export {
  type SupportRuntime,
  SupportService,
  type SupportServiceOptions,
  type SupportWatcher,
} from "./service.ts";
export { supportModule } from "./local_requests.ts";

/** The `support` subtree of `service`; `runtime` reaches the running tree. */
export function supportTree(
  service: SupportService,
  runtime: () => SupportRuntime,
): SupervisorSpec {
  const bind = fromCallback(() => service.bind(runtime()));
  return supervisor("support", { strategy: "one_for_one", intensity: 5, periodMs: 30_000 }, [
    supervisor("chats", {
      strategy: "one_for_one",
      dynamic: true,
      intensity: 10,
      periodMs: 30_000,
    }),
    child("service", bind, { shutdownMs: 1000 }),
  ]);
}
