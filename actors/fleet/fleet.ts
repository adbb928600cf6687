/**
 * `outpost fleet`: many simulated devices in one process, each a real
 * agent subtree (device.ts) under one supervision tree (tree.ts).
 *
 * Owns: the fleet's state directory (locked, as the agent's), its one
 * database and outbox (a queue per device and cloud, a seq partition per
 * device), the tick wheel, the churn plan, the counters. Receives:
 * `start`, `stop`, `stats` from the command line (main.ts) or a test.
 * Sends: nothing itself; its devices publish. Supervised by: nobody; it is
 * the root, and `exited` says when its tree gave up.
 */
import type { DatabaseSync } from "node:sqlite";
import { fromCallback, fromPromise } from "xstate";
import { DropReporter } from "../agent/drop_reporter.ts";
import { delay } from "../runtime/clock.ts";
import { getLogger } from "../runtime/logging.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import { ActorSystemError } from "../runtime/supervisor.ts";
import { type ActorSystem, createSystem, type SystemExit } from "../runtime/system.ts";
import { openDatabase } from "../store/database.ts";
import { lockStateDir, type StateLock, surveyStateDir } from "../store/state_dir.ts";
import { StoreHealth } from "../store/storage_fault.ts";
import { storeMonitor } from "../store/store_monitor.ts";
import { Outbox } from "../telemetry/outbox.ts";
import { ChurnPlan } from "./churn.ts";
import { deviceIdOf, type FleetConfig } from "./config.ts";
import { buildDevice, type DeviceDeps, DEVICES_PATH, type SimDevice } from "./device.ts";
import { PayloadPlan, seededRandom } from "./payload.ts";
import { FleetCounters, type FleetStats } from "./summary.ts";
import { fleetTree } from "./tree.ts";
import { TickWheel } from "./wheel.ts";

/** A running (or ready to run) fleet. */
export interface Fleet {
  /** The validated configuration it runs with. */
  readonly config: FleetConfig;
  /** Opens the state and starts the tree; the ramp then starts the devices. */
  start(): Promise<void>;
  /** Stops every device (each disconnects), closes the state; resolves with the last figures. */
  stop(): Promise<FleetStats>;
  /** Resolves when the fleet has stopped, by `stop()` or because its tree gave up. */
  readonly exited: Promise<SystemExit>;
  /** The figures of the summary line. */
  stats(): FleetStats;
  /** The live supervision tree. */
  tree(): ActorTreeNode;
  /** The device with id `id`, once the ramp has built it. */
  device(id: string): SimDevice | undefined;
}

/** Options of {@link createFleet}. */
export interface FleetOptions {
  /** Randomness of payloads, first ticks and churn. Default: `fleet.seed` when set, else `Math.random`. */
  random?: () => number;
}

interface Opened {
  lock: StateLock;
  db: DatabaseSync;
  health: StoreHealth;
  outbox: Outbox;
  drops: DropReporter;
  startedAt: number;
  closed: boolean;
}

interface Running extends Opened {
  system: ActorSystem;
  wheel: TickWheel;
}

const log = getLogger("fleet");

/**
 * Creates a fleet from a validated configuration (`loadFleetConfig`).
 *
 * @example
 * ```ts
 * const fleet = createFleet(await loadFleetConfig("fleet.toml", { devices: 1000 }));
 * await fleet.start();
 * console.log(fleet.stats());
 * await fleet.stop();
 * ```
 */
export function createFleet(config: FleetConfig, options: FleetOptions = {}): Fleet {
  const { fleet: settings } = config;
  const random = options.random ??
    (settings.seed === undefined ? Math.random : seededRandom(settings.seed));
  const counters = new FleetCounters();
  const devices = new Map<string, SimDevice>();
  const running = new Set<string>();
  const churn = settings.churn.percentPerMin > 0
    ? new ChurnPlan(settings.churn, random)
    : undefined;
  let state: Running | undefined;
  let stopping = false;
  let resolveExit!: (exit: SystemExit) => void;
  const exited = new Promise<SystemExit>((resolve) => (resolveExit = resolve));

  function live(): Running {
    if (!state) throw new Error("The fleet is not running: call start() first");
    return state;
  }

  async function startDevice(n: number, deps: DeviceDeps): Promise<void> {
    const id = deviceIdOf(settings, n);
    let device = devices.get(id);
    if (!device) {
      try {
        device = await buildDevice(n, deps);
      } catch (error) {
        counters.errors++;
        log.error("Device {id} cannot be built: {error}", { id, error });
        return;
      }
      devices.set(id, device);
      watchLinks(device);
    }
    // Running already (a ramp started again), or `devices` is restarting (the ramp will too).
    await live().system.startChild(DEVICES_PATH, device.spec).catch(ignoreGone);
  }

  // A connection lost while the device was not taken down by churn, nor the fleet stopping.
  function watchLinks(device: SimDevice): void {
    for (const cloud of device.clouds) {
      cloud.link.onStatus((up) => {
        if (!up && !device.down && !stopping && running.has(device.id)) counters.errors++;
      });
    }
  }

  function ramp(deps: DeviceDeps) {
    return fromPromise<void>(async ({ signal }) => {
      const { devices: count, firstDevice, rampPerSec } = settings;
      const begin = performance.now();
      for (let i = 0; i < count && !signal.aborted; i++) {
        const wait = (i * 1000) / rampPerSec - (performance.now() - begin);
        if (wait >= 1) await delay(wait, signal);
        if (signal.aborted) return;
        await startDevice(firstDevice + i, deps);
      }
      if (!signal.aborted) log.info("All {count} devices started", { count });
    });
  }

  function churnDriver(plan: ChurnPlan) {
    // Steps often enough that a device comes back close to its downSec.
    const stepMs = Math.max(50, Math.min(1000, settings.churn.downSec * 250));
    return fromCallback(() => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const step = () => {
        const up = [...devices.values()]
          .filter((d) => running.has(d.id) && !d.down && d.clouds.every((c) => c.link.connected))
          .map((d) => d.id);
        const { down, back } = plan.step(performance.now(), up);
        for (const id of down) void takeDown(devices.get(id)!);
        for (const id of back) void bringBack(devices.get(id)!);
        timer = setTimeout(step, stepMs);
      };
      step();
      return () => clearTimeout(timer);
    });
  }

  async function takeDown(device: SimDevice): Promise<void> {
    device.down = true;
    await disconnect(device);
  }

  async function disconnect(device: SimDevice): Promise<void> {
    for (const cloud of device.clouds) {
      await live().system.terminateChild(device.path, cloud.spec.id).catch(ignoreGone);
    }
  }

  async function bringBack(device: SimDevice): Promise<void> {
    for (const cloud of device.clouds) {
      await live().system.startChild(device.path, cloud.spec).catch(ignoreGone);
    }
    device.down = false;
  }

  function stats(): FleetStats {
    const { outbox, startedAt } = live();
    let connected = 0;
    let delivered = 0;
    let queued = 0;
    for (const device of devices.values()) {
      let up = running.has(device.id);
      for (const cloud of device.clouds) {
        up &&= cloud.link.connected;
        delivered += outbox.sent(cloud.name);
        queued += state!.closed ? 0 : outbox.size(cloud.name);
      }
      if (up) connected++;
    }
    return {
      devices: settings.devices,
      started: running.size,
      connected,
      down: [...devices.values()].filter((d) => d.down).length,
      produced: counters.produced,
      delivered,
      queued,
      dropped: counters.dropped,
      errors: counters.errors,
      restarts: counters.restarts,
      uptimeMs: performance.now() - startedAt,
    };
  }

  function close(current: Running): void {
    if (current.closed) return;
    current.closed = true;
    try {
      current.drops.close();
      current.outbox.close();
      if (current.outbox.lostAtClose > 0) {
        log.error("{lost} record(s) could not be stored before the fleet stopped", {
          lost: current.outbox.lostAtClose,
        });
      }
      try {
        current.db.close();
      } catch (error) {
        log.warning("Closing the fleet's database failed: {error}", { error });
      }
    } finally {
      current.lock.release();
    }
  }

  return {
    config,
    exited,
    async start() {
      if (state) throw new Error("The fleet is already running");
      const opened = open(config, counters, devices);
      const wheel = new TickWheel({
        resolutionMs: wheelResolution(settings.telemetry.intervalSec),
      });
      const deps: DeviceDeps = {
        config,
        db: opened.db,
        outbox: opened.outbox,
        wheel,
        payload: new PayloadPlan(settings.telemetry.fields, random),
        counters,
        random,
        system: () => system,
      };
      // The devices reach the system through `deps` only once it runs.
      const system: ActorSystem = createSystem(fleetTree({
        devices: settings.devices,
        store: storeMonitor(opened.db, opened.health),
        ramp: ramp(deps),
        churn: churn && churnDriver(churn),
      }));
      const current: Running = { ...opened, system, wheel };
      state = current;
      current.system.subscribe((event) => {
        const id = deviceOf(event.path);
        if (event.type === "restarting") counters.restarts++;
        if (event.type === "exited" && event.reason === "error") counters.errors++;
        if (id === undefined) {
          if (event.path === DEVICES_PATH && event.type !== "started") {
            // Every device stopped: none is running, none is down any more.
            running.clear();
            churn?.clear();
            for (const device of devices.values()) device.down = false;
          }
          return;
        }
        if (event.type === "started") running.add(id);
        else if (event.type !== "restarting") running.delete(id);
      });
      current.system.exited.then((exit) => {
        if (exit.reason === "gave_up") close(current);
        resolveExit(exit);
      });
      for (const warning of config.warnings) log.warning("{warning}", { warning });
      await current.system.start();
      log.info("Fleet started: {devices} device(s) from {first}, {rate} a second", {
        devices: settings.devices,
        first: deviceIdOf(settings, settings.firstDevice),
        rate: settings.rampPerSec,
      });
    },
    async stop() {
      const current = live();
      if (current.closed) return stats();
      stopping = true;
      const started = running.size;
      // No device produces, nothing starts or churns devices any more; then every device
      // disconnects at once, each within its budget: the tree stops its
      // children one after another, which for thousands of devices on a
      // broker that no longer answers would be thousands of budgets in a row.
      current.wheel.clear();
      for (const id of ["churn", "ramp"]) {
        await current.system.terminateChild("fleet", id).catch(ignoreGone);
      }
      await Promise.all([...devices.values()].map(disconnect));
      await current.system.stop();
      // `started` as it was: every device has stopped by now.
      const last = { ...stats(), started };
      close(current);
      return last;
    },
    stats,
    tree: () => live().system.tree(),
    device: (id) => devices.get(id),
  };
}

function open(
  config: FleetConfig,
  counters: FleetCounters,
  devices: Map<string, SimDevice>,
): Opened {
  const { stateDir } = config.fleet;
  const lock = lockStateDir(stateDir);
  try {
    const survey = surveyStateDir(stateDir);
    const health = new StoreHealth(survey.databaseFile);
    const db = openDatabase(stateDir, { durability: config.outbox.durability });
    const outbox = new Outbox(db, { maxRecords: config.outbox.maxRecords, health });
    const drops = new DropReporter((queue, dropped, total) => {
      const device = devices.get(queue.slice(queue.indexOf("/") + 1));
      return device
        ? device.router.event(
          "outbox.dropped",
          `Outbox of ${queue} was full: dropped ${dropped} oldest record(s)`,
          { cloud: queue, dropped, total },
        )
        : Promise.resolve();
    });
    outbox.onDrop(({ cloud, dropped, total }) => {
      counters.dropped += dropped;
      drops.add(cloud, dropped, total);
    });
    return { lock, db, health, outbox, drops, startedAt: performance.now(), closed: false };
  } catch (error) {
    lock.release();
    throw error;
  }
}

// `fleet/devices/device:<id>` → `<id>`; undefined for any other path.
function deviceOf(path: string): string | undefined {
  const prefix = `${DEVICES_PATH}/device:`;
  if (!path.startsWith(prefix) || path.indexOf("/", prefix.length) >= 0) return undefined;
  return path.slice(prefix.length);
}

// A tenth of the interval, between 10 and 100 ms: ticks land within 10 % of their time.
// No interval (as fast as the outbox drains): 10 ms between two top-ups.
function wheelResolution(intervalSec: number): number {
  return Math.min(100, Math.max(10, Math.round(intervalSec * 100)));
}

// The device or its supervisor went away meanwhile (a restart, the fleet stopping).
function ignoreGone(error: unknown): void {
  if (error instanceof ActorSystemError) return;
  throw error;
}
