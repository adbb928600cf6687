/**
 * The control plane: what an operator on the device may see and do, the
 * same whichever way they ask. The control socket (`outpost tree|status|
 * clients|approve|reject`) and the web console (actors/console) are
 * two faces of this one object, so an approval in the console is the very
 * operation `outpost approve` runs.
 *
 * Owns: the per-cloud watch of link changes (since when, reconnects, last
 * error). Receives: calls from the control socket and the console. Sends:
 * operations to the running tree (`terminateChild`), the local API
 * (approve/reject/revoke) and the support service (access levels, answers
 * to access requests). Supervised by: nobody; the agent builds one per run
 * and its faces call it.
 */
import type { Access, Feature } from "../../protocols/support_api.ts";
import { ACCESS_LEVELS, FEATURES } from "../../protocols/support_api.ts";
import type { LocalApi, LocalApiClientRecord } from "../local_api/mod.ts";
import type { ActorTreeNode, SystemEvent } from "../runtime/node.ts";
import type { ActorSystem } from "../runtime/system.ts";
import type { SupportService, SupportWatcher } from "../support/mod.ts";
import type { Outbox } from "../telemetry/outbox.ts";
import type { CloudParts } from "./clouds.ts";
import type { CloudConfig } from "./config_types.ts";

/** Why an operation was refused; faces map `code` to their own (HTTP status, exit code). */
export class ControlPlaneError extends Error {
  /** `bad_request`: malformed input; `not_found`: no such thing; `unavailable`: the part is off. */
  readonly code: "bad_request" | "not_found" | "unavailable";

  /** Builds the error; `message` says what was wrong and with what input. */
  constructor(code: ControlPlaneError["code"], message: string) {
    super(message);
    this.name = "ControlPlaneError";
    this.code = code;
  }
}

/**
 * The part of `outpost status` (the agent's `AgentStatus`) the plane relies
 * on; declared here so the plane does not import the agent that builds it.
 */
export interface StatusSummary {
  /** Outpost's version. */
  version: string;
  /** `agent.deviceId`. */
  deviceId: string;
  /** Time since the tree started. */
  uptimeMs: number;
}

/** One cloud as the console shows it. */
export interface CloudView {
  /** The configured name. */
  name: string;
  /** `mqtt`, `c8y`, `aws` or `azure`. */
  type: CloudConfig["type"];
  /** The link is up now. */
  connected: boolean;
  /** The URL (no credentials) of the broker the link is connected to; null while down. */
  broker: string | null;
  /** ISO time of the last change of `connected` seen this run; null before the first. */
  since: string | null;
  /** Connects after the first one this run. */
  reconnects: number;
  /** The last connection error seen this run, with when it was seen. */
  lastError: { message: string; at: string } | null;
  /** Records waiting in its outbox. */
  queued: number;
  /** Records it acknowledged this run. */
  sent: number;
  /** Records lost to the outbox bound, across runs. */
  dropped: number;
}

/** One remote-access tunnel of any cloud. */
export interface TunnelView {
  /** The cloud that opened it. */
  cloud: string;
  /** Its actor id under `cloud:<name>/tunnels`. */
  id: string;
  /** Its proxy statechart's state (`dialing`, `open`, …). */
  state: string;
  /** `host:port` once open; null while it dials. */
  target: string | null;
  /** Bytes from the device to the cloud; null while it dials. */
  bytesUp: number | null;
  /** Bytes from the cloud to the device; null while it dials. */
  bytesDown: number | null;
  /** Milliseconds since its actor started. */
  ageMs: number | null;
}

/** Access control as the console shows it. */
export interface AccessView {
  /** Every feature's access level. */
  access: Record<Feature, Access>;
  /** Features whose access request waits for an answer now. */
  pending: Feature[];
}

/** What an operator may see and do. */
export interface ControlPlane {
  /** The live supervision tree. */
  tree(): ActorTreeNode;
  /** What `outpost status` shows. */
  status(): StatusSummary;
  /** Lifecycle events of the tree; returns a function that stops listening. */
  lifecycle(listener: (event: SystemEvent) => void): () => void;
  /** Each cloud's link and outbox. */
  clouds(): CloudView[];
  /** Open and opening tunnels, by cloud. */
  tunnels(): TunnelView[];
  /** Stops tunnel `id` of `cloud` (its far ends see the WebSocket close with 1001). */
  closeTunnel(cloud: string, id: string): Promise<void>;
  /** Access levels and pending access requests. */
  access(): AccessView;
  /** Stores `access` for `feature`; true when it changed. */
  setAccess(feature: string, access: string): boolean;
  /** Answers the pending access request for `feature`, as a local app's answer does. */
  answer(feature: string, accept: boolean): void;
  /** Hears support events and counts as someone who can answer; returns a removal. */
  watchSupport(watcher: SupportWatcher): () => void;
  /** The local API's clients; throws `unavailable` when `[localApi]` is off. */
  clients(): LocalApiClientRecord[];
  /** Approves a pending client; resolves with its record. */
  approve(clientId: string): Promise<LocalApiClientRecord | undefined>;
  /** Refuses a pending client or revokes an active one; resolves with its record. */
  reject(clientId: string): Promise<LocalApiClientRecord | undefined>;
  /** Revokes an active client; resolves with its record. */
  revoke(clientId: string): Promise<LocalApiClientRecord | undefined>;
  /** Stops watching the links (the agent stopped). */
  close(): void;
}

/** What the plane is built on: the parts of one run of the agent. */
export interface ControlPlaneParts {
  /** The running system (called only once it exists). */
  system: () => ActorSystem;
  /** `outpost status` (called only once the agent runs). */
  status: () => StatusSummary;
  /** The built clouds and their configuration. */
  clouds: readonly CloudParts[];
  /** `[clouds.<name>]` by name. */
  config: Record<string, CloudConfig>;
  outbox: Outbox;
  support: SupportService;
  /** When `[localApi]` is enabled. */
  localApi?: LocalApi;
  /** Default: the real time. */
  now?: () => number;
}

const CLIENT_ID = /^[0-9a-f]{32}$/;

/**
 * Builds the control plane of one run; it starts watching the clouds'
 * links at once, so build it before the tree starts.
 *
 * @example
 * ```ts
 * const plane = controlPlane({ system: () => system, status, clouds, config, outbox, support });
 * await serveControl(socket, controlCommands(controlSocketCommands(plane)));
 * ```
 */
export function controlPlane(parts: ControlPlaneParts): ControlPlane {
  const now = parts.now ?? Date.now;
  const watches = new Map(parts.clouds.map((cloud) => [cloud.name, new LinkWatch(cloud, now)]));

  function lastErrorOf(name: string): string | undefined {
    const context = parts.system().get(`agent/cloud:${name}/connection`)?.getSnapshot()?.context;
    const error = context?.lastError;
    return typeof error === "string" ? error : undefined;
  }

  function localApi(): LocalApi {
    if (!parts.localApi) {
      throw new ControlPlaneError(
        "unavailable",
        "The local API is not enabled: set [localApi] enabled = true",
      );
    }
    return parts.localApi;
  }

  function clientIdOf(clientId: string): string {
    if (!CLIENT_ID.test(clientId)) {
      throw new ControlPlaneError(
        "bad_request",
        `Expected a client id of 32 hex characters, got ${JSON.stringify(clientId)}`,
      );
    }
    return clientId;
  }

  async function decide(clientId: string, decision: "approve" | "reject" | "revoke") {
    const api = localApi();
    const id = clientIdOf(clientId);
    try {
      if (decision === "approve") await api.approve(id);
      else if (decision === "reject") await api.reject(id);
      // The local API's reject revokes an active client; revoke is that case alone.
      else if (api.clients().find((c) => c.clientId === id)?.state !== "active") {
        throw new Error(`No active client ${JSON.stringify(id)} to revoke`);
      } else await api.reject(id);
    } catch (error) {
      // "is not waiting for approval", "no active client": unknown, or in the wrong state.
      const known = api.clients().some((c) => c.clientId === id);
      throw new ControlPlaneError(known ? "bad_request" : "not_found", (error as Error).message);
    }
    return api.clients().find((c) => c.clientId === id);
  }

  function featureOf(feature: string): Feature {
    if (!(FEATURES as readonly string[]).includes(feature)) {
      throw new ControlPlaneError(
        "bad_request",
        `Unknown feature ${JSON.stringify(feature)}; features: ${FEATURES.join(", ")}`,
      );
    }
    return feature as Feature;
  }

  return {
    tree: () => parts.system().tree(),
    status: () => parts.status(),
    lifecycle(listener) {
      const subscription = parts.system().subscribe(listener);
      return () => subscription.unsubscribe();
    },
    clouds: () =>
      parts.clouds.map((cloud) => {
        const watch = watches.get(cloud.name)!;
        watch.noteError(lastErrorOf(cloud.name));
        return {
          name: cloud.name,
          type: parts.config[cloud.name]?.type ?? "mqtt",
          connected: cloud.link.connected,
          broker: cloud.link.broker ?? null,
          since: watch.since,
          reconnects: watch.reconnects,
          lastError: watch.lastError,
          queued: parts.outbox.size(cloud.name),
          sent: parts.outbox.sent(cloud.name),
          dropped: parts.outbox.dropped(cloud.name),
        };
      }),
    tunnels() {
      const views: TunnelView[] = [];
      const sessions = parts.support.sessions;
      const started = new Map(sessions.list().map((s) => [`${s.cloud}/${s.tunnel}`, s]));
      for (const node of parts.system().tree().children) {
        if (!node.id.startsWith("cloud:")) continue;
        const cloud = node.id.slice("cloud:".length);
        const tunnels = node.children.find((c) => c.id === "tunnels");
        for (const tunnel of tunnels?.children ?? []) {
          const session = started.get(`${cloud}/${tunnel.id}`);
          const traffic = sessions.traffic(cloud, tunnel.id);
          views.push({
            cloud,
            id: tunnel.id,
            state: typeof tunnel.state === "string" ? tunnel.state : JSON.stringify(tunnel.state),
            target: session?.target ?? null,
            bytesUp: traffic?.bytesUp ?? null,
            bytesDown: traffic?.bytesDown ?? null,
            ageMs: tunnel.uptimeMs,
          });
        }
      }
      return views;
    },
    async closeTunnel(cloud, id) {
      if (!this.tunnels().some((t) => t.cloud === cloud && t.id === id)) {
        throw new ControlPlaneError("not_found", `No tunnel ${id} of cloud ${cloud} is open`);
      }
      await parts.system().terminateChild(`agent/cloud:${cloud}/tunnels`, id);
    },
    access() {
      const { access } = parts.support;
      return { access: access.all(), pending: FEATURES.filter((f) => access.pending(f)) };
    },
    setAccess(feature, access) {
      if (!(ACCESS_LEVELS as readonly string[]).includes(access)) {
        throw new ControlPlaneError(
          "bad_request",
          `Unknown access ${JSON.stringify(access)}; one of ${ACCESS_LEVELS.join(", ")}`,
        );
      }
      return parts.support.access.set(featureOf(feature), access as Access);
    },
    answer(feature, accept) {
      const known = featureOf(feature);
      if (!parts.support.access.answer(known, accept)) {
        throw new ControlPlaneError("not_found", `No access request for ${known} is waiting`);
      }
    },
    watchSupport: (watcher) => parts.support.watch(watcher),
    clients: () => localApi().clients(),
    approve: (clientId) => decide(clientId, "approve"),
    reject: (clientId) => decide(clientId, "reject"),
    revoke: (clientId) => decide(clientId, "revoke"),
    close() {
      for (const watch of watches.values()) watch.close();
    },
  };
}

/**
 * The control socket's commands over `plane`: `tree`, `status`, `clients`,
 * `approve <id>`, `reject <id>`, and whatever `more` adds.
 *
 * @example
 * ```ts
 * await serveControl(socket, controlCommands(controlSocketCommands(plane)));
 * ```
 */
export function controlSocketCommands(
  plane: ControlPlane,
  more: Record<string, (args: string[]) => unknown> = {},
): Record<string, (args: string[]) => unknown> {
  const clientId = (args: string[]) => {
    if (args.length !== 1 || !CLIENT_ID.test(args[0])) {
      throw new Error(`Expected one client id of 32 hex characters, got ${JSON.stringify(args)}`);
    }
    return args[0];
  };
  return {
    tree: () => plane.tree(),
    status: () => plane.status(),
    clients: () => plane.clients(),
    approve: (args) => plane.approve(clientId(args)),
    reject: (args) => plane.reject(clientId(args)),
    ...more,
  };
}

/** Since when a link is up or down, how often it came back, and its last error. */
class LinkWatch {
  since: string | null = null;
  reconnects = 0;
  lastError: { message: string; at: string } | null = null;
  #connects = 0;
  #stop: () => void;

  constructor(cloud: CloudParts, private readonly now: () => number) {
    if (cloud.link.connected) this.#changed(true);
    this.#stop = cloud.link.onStatus((up) => this.#changed(up));
  }

  noteError(message: string | undefined): void {
    if (message === undefined || message === this.lastError?.message) return;
    this.lastError = { message, at: new Date(this.now()).toISOString() };
  }

  close(): void {
    this.#stop();
  }

  #changed(up: boolean): void {
    this.since = new Date(this.now()).toISOString();
    if (up && ++this.#connects > 1) this.reconnects++;
  }
}
