/**
 * The proxy actor: one per remote-access tunnel, for every cloud that opens
 * tunnels (Cumulocity's `530`, the generic cloud's `tunnel.open`, the
 * `DeviceProxy` of embedding apps).
 *
 * ```
 * cloud:<name>
 * └── tunnels        dynamic one_for_one, maxChildren = remoteAccess.maxTunnels
 *     └── t-…        ← this actor, temporary: a tunnel that ends is never restarted
 * ```
 *
 * Owns: one WebSocket to the cloud's relay and one TCP connection to the
 * target, and the pipe between them. Receives: `outpost.stop` (close both
 * sides, WebSocket status 1001 "stopped"). Sends: `onOpen()` once both sides
 * are up, `onFail(reason, kind)` when it could not open, `onClose(code,
 * reason)` when an open tunnel ended. Supervised by: its cloud's `tunnels`
 * supervisor. The target must pass the allowlist and then the access check
 * before anything is dialed. Life cycle: machines/tunnel_proxy.ts; dialing
 * and letting go of both sides: sides.ts.
 */
import { fromCallback, fromPromise } from "xstate";
import { type TunnelFailureKind, tunnelProxyMachine } from "../../machines/tunnel_proxy.ts";
import { pipeMeter, pipeTunnel } from "../../protocols/tunnel_pipe.ts";
import { getLogger } from "../runtime/logging.ts";
import {
  type ActorLogic,
  child,
  type ChildSpec,
  supervisor,
  type SupervisorSpec,
} from "../runtime/spec.ts";
import { formatTarget } from "./allowlist.ts";
import {
  destroy,
  dialTarget,
  dialWebSocket,
  release,
  type Run,
  track,
  type Tunnel,
} from "./sides.ts";
import { allowAll, type TunnelObserver, type TunnelOptions } from "./types.ts";

const log = getLogger("tunnel");

// Every tunnel runs the same provided machine: `provide()` builds a whole new
// state-node tree, 22 KB of heap per idle tunnel when each tunnel had its
// own (BENCHMARKS.md, tunnels). A tunnel's own options are found from the
// actor's system (actors, actions) and, for the allowlist guard, which sees
// only context and event, from the target object in its context.
const runs = new WeakMap<object, Run>();
const targets = new WeakMap<object, Tunnel>();

function runOf(system: object): Run {
  const run = runs.get(system);
  if (!run) throw new Error("A tunnel actor was started without tunnelProxy()'s options");
  return run;
}

function notify(tunnel: Tunnel, event: keyof TunnelObserver): void {
  if (event === "closed" && !tunnel.opened) return;
  tunnel.opened = event === "opened";
  const { id, cloud, target, observer, meter } = tunnel.options;
  try {
    observer?.[event]({ id, cloud, target, meter });
  } catch (error) {
    log.error("Tunnel {id}: the tunnel observer failed on {event}: {error}", {
      id,
      event,
      error,
    });
  }
}

const sharedLogic = tunnelProxyMachine.provide({
  guards: {
    targetAllowed: (_, candidate) =>
      targets.get(candidate)?.options.allowlist.allows(candidate) ?? false,
  },
  actors: {
    checkAccess: fromPromise(async ({ input, system }) => {
      const { id, cloud, accessCheck } = runOf(system).tunnel.options;
      return await (accessCheck ?? allowAll)({ id, cloud, target: input });
    }),
    dialWebSocket: fromPromise(({ system, signal }) => {
      const run = runOf(system);
      return track(run, dialWebSocket(run, signal));
    }),
    dialTarget: fromPromise(({ system, signal }) => {
      const run = runOf(system);
      return track(run, dialTarget(run, signal));
    }),
    pipe: fromPromise(async ({ system, signal }) => {
      const run = runOf(system);
      const { options: { id, cloud, bufferSize, meter }, shown } = run.tunnel;
      const piping = pipeTunnel(run.ws!, run.tcp!, {
        bufferSize,
        upstream: run.tcpAhead,
        downstream: run.wsAhead,
        meter,
        signal,
      });
      run.pipe = piping;
      const result = await piping;
      log.info(
        "Tunnel {id} of {cloud} to {target} ended by the {initiator}: {code} {reason} " +
          "({bytesUp} bytes up, {bytesDown} bytes down)",
        { id, cloud, target: shown, ...result },
      );
      return { code: result.code, reason: result.reason };
    }),
    release: fromPromise(({ system, input }) => release(runOf(system), input)),
    hold: fromCallback(({ system }) => () => destroy(runOf(system))),
  },
  actions: {
    reportOpen: ({ system }) => {
      const tunnel = runOf(system).tunnel;
      const { id, cloud, onOpen } = tunnel.options;
      log.info("Tunnel {id} of {cloud} to {target} is open through {relay}", {
        id,
        cloud,
        target: tunnel.shown,
        relay: tunnel.relay,
      });
      notify(tunnel, "opened");
      onOpen?.();
    },
    reportFailed: ({ system }, { kind, reason }) => {
      const tunnel = runOf(system).tunnel;
      const { id, cloud, onFail } = tunnel.options;
      log.warn("Tunnel {id} of {cloud} to {target} failed: {reason}", {
        id,
        cloud,
        target: tunnel.shown,
        reason,
      });
      onFail?.(reason, kind);
    },
    reportClosed: ({ system }, { code, reason }) => {
      const tunnel = runOf(system).tunnel;
      notify(tunnel, "closed");
      tunnel.options.onClose?.(code, reason);
    },
  },
});

/**
 * The proxy statechart with real effects, as logic for
 * `child(id, tunnelProxy(options), { restart: "temporary" })`.
 *
 * @example
 * ```ts
 * await system.startChild("agent/cloud:c8y/tunnels", child("t-1", tunnelProxy({
 *   id: "t-1", cloud: "c8y", url, headers: { Authorization: `Bearer ${jwt}` },
 *   target: { host: "127.0.0.1", port: 22 }, allowlist: parseAllowlist(["127.0.0.1:22"]),
 *   bufferSize: 16384, dialTimeoutMs: 10_000,
 *   onOpen: () => publish("503,c8y_RemoteAccessConnect"),
 *   onFail: (reason) => publish(`502,c8y_RemoteAccessConnect,${reason}`),
 * }), { restart: "temporary" }));
 * ```
 */
export function tunnelProxy(options: TunnelOptions): ActorLogic {
  const keyPath = pathOf(options.url);
  const tunnel: Tunnel = {
    // Always metered: the observer (sessions, the web console) shows bytes each way.
    options: { ...options, meter: options.meter ?? pipeMeter() },
    shown: formatTarget(options.target),
    relay: relayHost(options.url),
    keyPath,
    redactedPath: keyPath.replace(/[^/]+$/, "…"),
    opened: false,
  };
  // The machine takes its target and timeout as input; this logic carries
  // them, so `child(id, tunnelProxy(options))` and `createActor(...)` need none.
  // Each start registers its system (a new one per start) and its own target
  // object, the keys under which the shared logic finds this tunnel.
  const logic: typeof sharedLogic = Object.create(sharedLogic);
  logic.getInitialSnapshot = (scope, input) => {
    const given = input ?? { target: options.target, dialTimeoutMs: options.dialTimeoutMs };
    const target = { ...given.target };
    targets.set(target, tunnel);
    runs.set(scope.system, { tunnel, dialing: new Set(), dead: false });
    return sharedLogic.getInitialSnapshot.call(logic, scope, { ...given, target });
  };
  return logic;
}

/** How asking for a tunnel turned out, once it is known. */
export type TunnelStart =
  | { status: "open"; id: string }
  | {
    status: "failed";
    /** `busy`: maxTunnels reached; `stopped`: stopped before it opened. */
    kind: TunnelFailureKind | "busy" | "stopped";
    reason: string;
  };

/**
 * Starts a tunnel with `startChild` (under a cloud's `tunnels` supervisor)
 * and resolves once it is open or could not open. The callbacks in
 * `options` are still called; `onClose` later tells when it ended.
 *
 * @example
 * ```ts
 * const started = await openTunnel(
 *   (spec) => system.startChild(tunnelsPath("c8y"), spec),
 *   { id: newTunnelId(), cloud: "c8y", url, headers, target, allowlist, bufferSize: 16384, dialTimeoutMs: 10_000 },
 * );
 * if (started.status === "failed") console.log(started.reason);
 * ```
 */
export function openTunnel(
  startChild: (spec: ChildSpec) => Promise<string>,
  options: TunnelOptions,
): Promise<TunnelStart> {
  return new Promise((resolve) => {
    const logic = tunnelProxy({
      ...options,
      onOpen() {
        resolve({ status: "open", id: options.id });
        options.onOpen?.();
      },
      onFail(reason, kind) {
        resolve({ status: "failed", kind, reason });
        options.onFail?.(reason, kind);
      },
      onClose(code, reason) {
        // Only matters when it never opened: a stop while authorizing or dialing.
        resolve({
          status: "failed",
          kind: "stopped",
          reason: `stopped before it opened: ${reason}`,
        });
        options.onClose?.(code, reason);
      },
    });
    startChild(child(options.id, logic, { restart: "temporary", shutdownMs: 5000 })).catch(
      (error: Error & { code?: string }) =>
        resolve({
          status: "failed",
          kind: error.code === "max_children" ? "busy" : "dial",
          reason: error.code === "max_children"
            ? "too many tunnels open: remoteAccess.maxTunnels reached"
            : `cannot start the tunnel: ${error.message}`,
        }),
    );
  });
}

/** A cloud's `tunnels` supervisor: dynamic, one_for_one, at most `maxTunnels` children. */
export function tunnelsSupervisor(maxTunnels: number): SupervisorSpec {
  // Tunnels are temporary and never restarted, so the intensity never trips.
  return supervisor("tunnels", { strategy: "one_for_one", dynamic: true, maxChildren: maxTunnels });
}

/** Where the `tunnels` supervisor of cloud `name` sits in the agent's tree. */
export function tunnelsPath(name: string): string {
  return `agent/cloud:${name}/tunnels`;
}

/** A fresh tunnel id (`t-` and 8 hex digits). */
export function newTunnelId(): string {
  return `t-${crypto.randomUUID().slice(0, 8)}`;
}

/** Scheme and host of the relay, for logs: the path holds the connection key. */
function relayHost(url: string): string {
  try {
    const { protocol, host } = new URL(url);
    return `${protocol}//${host}`;
  } catch {
    return "(invalid URL)";
  }
}

/** The URL's path, whose last segment is the connection key. */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
