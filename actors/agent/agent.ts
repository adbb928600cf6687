/**
 * The Outpost agent: configuration in, a running supervision tree out.
 *
 * Owns: the state database and outbox, one link per cloud, the handler
 * registry, the control endpoint. Receives: records from sources and the
 * embedding app (`publish`, `event`), handlers (`onDesired`, `onCommand`),
 * custom actors (`startActor`). Sends: records to the outbox, which each
 * cloud's drain empties. Supervised by: nobody; it *is* the root, and
 * `exited` says when its tree gave up.
 */
import type { DatabaseSync } from "node:sqlite";
import { type ActorSystem, createSystem, type SystemExit } from "../runtime/system.ts";
import type { ActorTreeNode } from "../runtime/node.ts";
import type { Spec } from "../runtime/spec.ts";
import { getLogger } from "../runtime/logging.ts";
import { openDatabase } from "../store/database.ts";
import { lockStateDir, type StateLock, surveyStateDir } from "../store/state_dir.ts";
import { StoreHealth } from "../store/storage_fault.ts";
import { storeMonitor } from "../store/store_monitor.ts";
import { RepeatedErrors } from "../runtime/repeated_errors.ts";
import { DropReporter } from "./drop_reporter.ts";
import { reportLostDatabase } from "./lost_database.ts";
import { Outbox } from "../telemetry/outbox.ts";
import type { AccessCheck } from "../tunnels/types.ts";
import { supportModule, SupportService, supportTree } from "../support/mod.ts";
import { buildCloud, type CloudHandle, type CloudParts, warnUnservedHandlers } from "./clouds.ts";
import { controlCommands, serveControl } from "./control.ts";
import { type ControlPlane, controlPlane, controlSocketCommands } from "./control_plane.ts";
import { HandlerRegistry } from "../cloud/handlers.ts";
import { TelemetryRouter } from "./telemetry_router.ts";
import { agentTree } from "./tree.ts";
// Types only: the local API (and node-forge with it) loads when [localApi] is enabled.
import type { LocalApi, LocalApiModule } from "../local_api/mod.ts";
import { type Config, parseConfig } from "./config.ts";
import type { Agent, AgentOptions, AgentStatus } from "./agent_types.ts";
import denoJson from "../../deno.json" with { type: "json" };

export type { Agent, AgentOptions, AgentStatus } from "./agent_types.ts";

/** The agent's version, from deno.json. */
export const VERSION: string = denoJson.version;

const log = getLogger("agent");

/**
 * Creates an agent from a resolved configuration (`loadConfig` /
 * `parseConfig`); with none, the embedded default.
 */
export function createAgent(
  config: Config = parseConfig(undefined),
  options: AgentOptions = {},
): Agent {
  const handlers = new HandlerRegistry();
  let running: Running | undefined;
  let resolveExit!: (exit: SystemExit) => void;
  const exited = new Promise<SystemExit>((resolve) => (resolveExit = resolve));

  function live(): Running {
    if (!running) throw new Error("The agent is not running: call start() first");
    return running;
  }

  const agent: Agent = {
    config,
    exited,
    async start() {
      if (running) throw new Error("The agent is already running");
      running = await startRunning(config, handlers, options);
      running.system.exited.then(async (exit) => {
        if (exit.reason === "gave_up") await closeRunning(running!);
        resolveExit(exit);
      });
    },
    async stop() {
      if (!running) return;
      await running.system.stop();
      await closeRunning(running);
      const lost = running.outbox.lostAtClose;
      if (lost > 0) {
        throw new Error(
          `${lost} record(s) could not be stored before the agent stopped; see the log above`,
        );
      }
    },
    tree: () => live().system.tree(),
    status: () => statusOf(config, live()),
    publish: (stream, values) => live().router.publish(stream, values),
    event: (type, text, data) => live().router.event(type, text, data),
    onDesired: (handler) => handlers.onDesired(handler),
    onCommand: (name, handler) => handlers.onCommand(name, handler),
    startActor: (spec) => live().system.startChild("agent/apps", spec),
    cloud: <P>(name: string) =>
      running?.clouds.find((c) => c.name === name) as CloudHandle<P> | undefined,
    localApiModules: () => [live().supportModule],
    localApi() {
      const localApi = live().localApi;
      if (!localApi) throw new Error("The local API is not enabled: set [localApi] enabled = true");
      return localApi;
    },
    connected: () =>
      Promise.all(live().clouds.map((c) => firstConnect(c.link))).then(() => undefined),
  };
  return agent;
}

interface Running {
  lock: StateLock;
  db: DatabaseSync;
  outbox: Outbox;
  router: TelemetryRouter;
  clouds: CloudParts[];
  localApi?: LocalApi;
  system: ActorSystem;
  supportModule: LocalApiModule;
  drops: DropReporter;
  control?: { close(): Promise<void> };
  plane: ControlPlane;
  closed: boolean;
}

async function startRunning(
  config: Config,
  handlers: HandlerRegistry,
  options: AgentOptions,
): Promise<Running> {
  const { stateDir } = config.agent;
  // Before anything else, the network included: one agent per state directory.
  const lock = lockStateDir(stateDir);
  try {
    return await startLocked(config, handlers, options, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(
  config: Config,
  handlers: HandlerRegistry,
  options: AgentOptions,
  lock: StateLock,
): Promise<Running> {
  const { stateDir } = config.agent;
  const survey = surveyStateDir(stateDir);
  const health = new StoreHealth(survey.databaseFile);
  const db = openDatabase(stateDir, { durability: config.outbox.durability });
  let outbox: Outbox;
  try {
    outbox = new Outbox(db, {
      maxRecords: config.outbox.maxRecords,
      seqCeilingFile: `${stateDir}/outpost.seq`,
      health,
    });
  } catch (error) {
    db.close();
    throw new Error(`Cannot open the outbox in ${health.describe(error)}`, { cause: error });
  }
  const lostStore = reportLostDatabase(survey, outbox);
  // Sessions and sources call back into the router and the system, which
  // are built from them; the closures run only once everything exists.
  const reportEvent = (
    type: string,
    text: string,
    data: Record<string, unknown>,
  ): Promise<number> => router.event(type, text, data);
  const tree = (): ActorTreeNode => system.tree();
  const startChild = (path: string, spec: Spec): Promise<string> => system.startChild(path, spec);
  const support = new SupportService({
    db,
    config: config.support,
    deviceId: config.agent.deviceId,
  });
  const sendTo = (path: string, event: { type: string }) => system.get(path)?.send(event);
  const deps = {
    config,
    db,
    outbox,
    handlers,
    tree,
    reportEvent,
    accessCheck: chainAccessChecks(support.access.check, options.accessCheck),
    tunnelObserver: support.sessions,
    support: support.channel,
    startChild,
    sendTo,
  };
  const clouds: CloudParts[] = await Promise.all(
    Object.entries(config.clouds).map(([name, cloud]) => buildCloud(name, cloud, deps)),
  );
  options.onCloudsBuilt?.(clouds);
  warnUnservedHandlers(clouds, handlers);
  const router: TelemetryRouter = new TelemetryRouter(outbox, clouds.map((c) => c.encoder));
  const drops = new DropReporter((cloud, dropped, total) => {
    log.warn("Outbox of {cloud} is full: dropped {dropped} oldest record(s), {total} in all", {
      cloud,
      dropped,
      total,
    });
    return router.event(
      "outbox.dropped",
      `Outbox of ${cloud} was full: dropped ${dropped} oldest record(s)`,
      {
        cloud,
        dropped,
        total,
      },
    );
  });
  outbox.onDrop(({ cloud, dropped, total }) => drops.add(cloud, dropped, total));
  const storeErrors = new RepeatedErrors(log);
  const emit = (stream: string, values: Record<string, unknown>) => {
    router.publish(stream, values).catch((error) =>
      storeErrors.error("Cannot store a {stream} record", { stream }, error)
    );
  };
  if (lostStore) {
    router.event("store.recreated", lostStore.text, lostStore.data).catch((error) =>
      log.error("Cannot report the lost database: {error}", { error })
    );
  }
  const supportLocal = supportModule(support);
  const localApi = config.localApi.enabled
    ? new (await import("../local_api/mod.ts")).LocalApi({
      settings: config.localApi,
      stateDir: config.agent.stateDir,
      db,
      publish: (stream, values, ts) => router.publish(stream, values, ts),
      modules: [supportLocal, ...options.localApiModules ?? []],
    })
    : undefined;
  const plane = controlPlane({
    system: () => system,
    status: () => statusOf(config, running),
    clouds,
    config: config.clouds,
    outbox,
    support,
    localApi,
  });
  const web = config.console.enabled
    ? (await import("../console/mod.ts")).webConsole({
      settings: config.console,
      stateDir,
      deviceId: config.agent.deviceId,
      plane,
    })
    : undefined;
  const system: ActorSystem = createSystem(
    agentTree({
      console: web?.spec,
      config,
      store: storeMonitor(db, health),
      clouds: clouds.map((c) => c.spec),
      emit,
      apps: options.actors ?? [],
      localApi: localApi?.spec(),
      support: supportTree(support, () => ({
        startChild: (path, spec) => system.startChild(path, spec),
        terminateChild: (path, id) => system.terminateChild(path, id),
        has: (path) => system.get(path) !== undefined,
        sendTo(path, event) {
          const actor = system.get(path);
          actor?.send(event);
          return actor !== undefined;
        },
      })),
    }),
  );
  const running: Running = {
    lock,
    db,
    outbox,
    router,
    clouds,
    system,
    supportModule: supportLocal,
    localApi,
    drops,
    plane,
    closed: false,
  };
  await system.start();
  if (options.control !== false) {
    running.control = await serveControl(
      config.control.socket,
      controlCommands(controlSocketCommands(plane, {
        consoleLink: () => {
          if (!web) throw new Error("The console is not enabled: set [console] enabled = true");
          return web.link();
        },
      })),
    );
  }
  log.info("Outpost {version} started as {deviceId} with {clouds} cloud(s)", {
    version: VERSION,
    deviceId: config.agent.deviceId,
    clouds: clouds.length,
  });
  return running;
}

/** The device's access control first, then the embedding app's own check. */
function chainAccessChecks(device: AccessCheck, app: AccessCheck | undefined): AccessCheck {
  if (!app) return device;
  return async (request) => {
    const decision = await device(request);
    return decision.allowed ? await app(request) : decision;
  };
}

function statusOf(config: Config, running: Running): AgentStatus {
  return {
    version: VERSION,
    deviceId: config.agent.deviceId,
    uptimeMs: running.system.tree().uptimeMs ?? 0,
    clouds: running.clouds.map((c) => ({
      name: c.name,
      connected: c.link.connected,
      broker: c.link.broker ?? null,
      queued: running.outbox.size(c.name),
      dropped: running.outbox.dropped(c.name),
    })),
  };
}

async function closeRunning(running: Running): Promise<void> {
  if (running.closed) return;
  running.closed = true;
  try {
    await running.control?.close();
    running.plane.close();
    running.drops.close();
    // Never throws: a commit that fails here is counted in lostAtClose.
    running.outbox.close();
    if (running.outbox.lostAtClose > 0) {
      log.error("{lost} record(s) could not be stored before the agent stopped", {
        lost: running.outbox.lostAtClose,
      });
    }
    try {
      running.db.close();
    } catch (error) {
      // A failed disk may refuse the last checkpoint; the WAL holds what was committed.
      log.warning("Closing the state database failed: {error}", { error });
    }
  } finally {
    running.lock.release();
  }
}

function firstConnect(link: CloudParts["link"]): Promise<void> {
  if (link.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = link.onStatus((up) => {
      if (!up) return;
      stop();
      resolve();
    });
  });
}
