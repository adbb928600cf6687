/**
 * One simulated device: an agent's subtree with an identity of its own.
 *
 * ```
 * device:<id>        one_for_one, dynamic (churn stops and restarts its clouds)
 * ├── telemetry      its generator: one entry in the fleet's tick wheel
 * └── cloud:<name>   per [clouds.<name>]: built by the cloud type's connector,
 *                    exactly as the agent builds it, drain last (actors/agent/clouds.ts)
 * ```
 *
 * Owns: its handlers (desired state applied and reported, `echo`; `ping`
 * is the generic cloud's own), its payload generator, its seq partition
 * (its id) and its outbox queues (`<cloud>/<id>`), its files under
 * `<stateDir>/devices/<id>/`. Receives: ticks from the wheel, commands and
 * desired state through its clouds. Sends: records to the shared outbox.
 * Supervised by: the fleet's `devices` supervisor (fleet.ts).
 */
import type { DatabaseSync } from "node:sqlite";
import { fromCallback } from "xstate";
import { assembleCloud, type CloudParts } from "../agent/clouds.ts";
import { TelemetryRouter } from "../agent/telemetry_router.ts";
import type { CloudContext } from "../cloud/connector.ts";
import type { CloudEncoder } from "../cloud/encoder.ts";
import { HandlerRegistry } from "../cloud/handlers.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import { type ActorLogic, child, supervisor, type SupervisorSpec } from "../runtime/spec.ts";
import type { ActorSystem } from "../runtime/system.ts";
import type { Outbox } from "../telemetry/outbox.ts";
import { allowAll } from "../tunnels/types.ts";
import { deviceClouds, deviceDir, deviceIdOf, type FleetConfig } from "./config.ts";
import type { DevicePayload, PayloadPlan } from "./payload.ts";
import type { FleetCounters } from "./summary.ts";
import type { TickWheel } from "./wheel.ts";

/** Where every device's supervisor runs. */
export const DEVICES_PATH = "fleet/devices";

/** A built device, started or not. */
export interface SimDevice {
  /** Its number `{n}`. */
  readonly n: number;
  /** Its device id. */
  readonly id: string;
  /** Its supervisor's path. */
  readonly path: string;
  /** Its subtree. */
  readonly spec: SupervisorSpec;
  /** Its clouds, as built by their connectors. */
  readonly clouds: readonly CloudParts[];
  /** Its records' way into the outbox, numbered from its own seq partition. */
  readonly router: TelemetryRouter;
  /** Its generator. */
  readonly payload: DevicePayload;
  /** Time between its records (0: as fast as its outbox drains); desired `intervalSec` changes it. */
  intervalMs: number;
  /** Records handed to the outbox in this run. */
  produced: number;
  /** Taken down by churn. */
  down: boolean;
  /** Set while its telemetry worker runs: moves its next tick to one interval from now. */
  retime?: () => void;
}

/** What every device shares. */
export interface DeviceDeps {
  config: FleetConfig;
  db: DatabaseSync;
  outbox: Outbox;
  wheel: TickWheel;
  payload: PayloadPlan;
  counters: FleetCounters;
  /** Spreads the devices' first ticks over an interval. */
  random: () => number;
  /** The running tree (tunnels start in it, the `tree` command reads it). */
  system: () => ActorSystem;
}

/** Builds device `n`: its clouds through their connectors, its handlers, its subtree. */
export async function buildDevice(n: number, deps: DeviceDeps): Promise<SimDevice> {
  const { config } = deps;
  const tables = deviceClouds(config, n);
  const id = deviceIdOf(config.fleet, n);
  const path = `${DEVICES_PATH}/device:${id}`;
  const encoders: CloudEncoder[] = [];
  const handlers = new HandlerRegistry();
  const clouds: CloudParts[] = [];
  // The clouds' contexts and the handlers hold the device; its subtree is added once they exist.
  const device: Omit<SimDevice, "spec"> = {
    n,
    id,
    path,
    clouds,
    router: new TelemetryRouter(deps.outbox, encoders, id),
    payload: deps.payload.device(n),
    intervalMs: config.fleet.telemetry.intervalSec * 1000,
    produced: 0,
    down: false,
  };
  serveHandlers(device, handlers);
  for (const [name, cloud] of Object.entries(tables)) {
    const built = await assembleCloud(cloud, cloudContext(device, name, handlers, deps), {
      outbox: deps.outbox,
      subtree: name,
    });
    encoders.push(built.encoder);
    clouds.push(built);
  }
  const spec = supervisor(`device:${id}`, {
    strategy: "one_for_one",
    dynamic: true,
    intensity: 5,
    periodMs: 30_000,
    restart: "transient",
    backoff: { minMs: 1000, maxMs: 30_000 },
  }, [
    child("telemetry", telemetryLogic(deps), { input: device, shutdownMs: 100 }),
    ...clouds.map((c) => c.spec),
  ]);
  return Object.assign(device, { spec });
}

// Desired state: every key is applied as given and reported; `intervalSec`
// also changes how often this device publishes. Commands: `echo` answers
// its payload; `ping` and `tree` are the generic cloud's built-ins.
function serveHandlers(device: Omit<SimDevice, "spec">, handlers: HandlerRegistry): void {
  handlers.onDesired((desired) => {
    if (!("intervalSec" in desired)) return;
    const sec = desired.intervalSec;
    if (typeof sec !== "number" || !(sec === 0 || sec >= 0.01) || !Number.isFinite(sec)) {
      throw new Error(
        `intervalSec must be a number of seconds >= 0.01, or 0, got ${JSON.stringify(sec)}`,
      );
    }
    device.intervalMs = sec * 1000;
    device.retime?.();
  });
  handlers.onCommand("echo", (payload) => payload);
}

function cloudContext(
  device: Omit<SimDevice, "spec">,
  name: string,
  handlers: HandlerRegistry,
  deps: DeviceDeps,
): CloudContext {
  const cloudPath = `${device.path}/cloud:${name}`;
  const dir = deviceDir(deps.config.fleet.stateDir, device.id);
  return {
    // The connector keys its queue, files and rows by this name: the device's own.
    name: `${name}/${device.id}`,
    deviceId: device.id,
    stateFile(file) {
      const path = `${dir}/${file}`;
      Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
      return path;
    },
    db: deps.db,
    handlers,
    tree: () => findNode(deps.system().tree(), device.path) ?? deps.system().tree(),
    events: (type, text, data) => device.router.event(type, text, data),
    tunnels: {
      remoteAccess: deps.config.remoteAccess,
      accessCheck: allowAll,
      start: (spec) => deps.system().startChild(`${cloudPath}/tunnels`, spec),
    },
    send: (childId, event) => deps.system().get(`${cloudPath}/${childId}`)?.send(event),
  };
}

/**
 * The telemetry worker of every device: one logic, the device as its input.
 * With an interval, a record per tick; with none, every slot of the wheel
 * tops the device's records waiting in the outbox up to `inFlight` (as the
 * bare load generator keeps its publishes in flight).
 */
function telemetryLogic(deps: DeviceDeps): ActorLogic {
  let logic = telemetryLogics.get(deps);
  if (!logic) telemetryLogics.set(deps, logic = newTelemetryLogic(deps));
  return logic;
}

const telemetryLogics = new WeakMap<DeviceDeps, ActorLogic>();

function newTelemetryLogic(deps: DeviceDeps): ActorLogic {
  const { stream, inFlight } = deps.config.fleet.telemetry;
  const { wheel, counters, random, outbox } = deps;
  return fromCallback<{ type: string }, SimDevice>(({ input: device }) => {
    const publish = () => {
      device.produced++;
      device.router.publish(stream, device.payload.next(Date.now())).then(
        counters.stored,
        counters.storeFailed,
      );
    };
    const topUp = () => {
      let sent = Infinity;
      for (const cloud of device.clouds) sent = Math.min(sent, outbox.sent(cloud.name));
      const missing = Math.min(inFlight, inFlight - (device.produced - sent));
      for (let i = 0; i < missing; i++) publish();
    };
    const schedule = (first?: number) =>
      device.intervalMs > 0
        ? wheel.every(device.intervalMs, publish, first)
        : wheel.every(wheel.resolutionMs, topUp, first);
    let cancel = schedule(random() * (device.intervalMs || wheel.resolutionMs));
    device.retime = () => {
      cancel();
      cancel = schedule();
    };
    return () => {
      cancel();
      device.retime = undefined;
    };
  });
}

function findNode(node: ActorTreeNode, path: string): ActorTreeNode | undefined {
  if (node.path === path) return node;
  const next = node.children.find((c) => path === c.path || path.startsWith(`${c.path}/`));
  return next && findNode(next, path);
}
