/**
 * The actor system: the root supervisor plus the services every node uses
 * (clock, randomness for jitter, logger, lifecycle events) and the API to
 * look at and change the running tree by path.
 */
import { type Clock, realClock } from "./clock.ts";
import type {
  ActorTreeNode,
  Runtime,
  RuntimeLogger,
  SupervisedActor,
  SystemEvent,
} from "./node.ts";
import type { Spec, SupervisorSpec } from "./spec.ts";
import { getLogger } from "./logging.ts";
import { ActorSystemError, Supervisor } from "./supervisor.ts";

/** Options of {@link createSystem}. */
export interface SystemOptions {
  /** Time source for backoff, intensity windows, budgets and the actors' delays. */
  clock?: Clock;
  /** Source of jitter, a number in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Default: LogTape's `outpost.runtime` category. */
  logger?: RuntimeLogger;
}

/** How a system ended. */
export type SystemExit =
  | { reason: "stopped" }
  | { reason: "gave_up"; error: Error };

/** A running supervision tree. */
export interface ActorSystem {
  /** Starts the root supervisor and, in order, its children. */
  start(): Promise<void>;
  /** Stops everything in reverse start order, each child within its budget. */
  stop(): Promise<void>;
  /** Resolves once the system has stopped, by `stop()` or because the root gave up. */
  readonly exited: Promise<SystemExit>;
  /** A plain-data snapshot of the whole tree. */
  tree(): ActorTreeNode;
  /** The running XState actor of the worker at `path` (e.g. `"agent/tunnels/t-1"`). */
  get(path: string): SupervisedActor | undefined;
  /** Starts a child under the dynamic supervisor at `supervisorPath`; resolves with its path. */
  startChild(supervisorPath: string, spec: Spec): Promise<string>;
  /** Stops the child `id` of the supervisor at `supervisorPath`; it is not restarted. */
  terminateChild(supervisorPath: string, id: string): Promise<void>;
  /** Listens to lifecycle events; returns a subscription to end listening. */
  subscribe(listener: (event: SystemEvent) => void): { unsubscribe(): void };
}

/**
 * Creates a supervision tree from its root spec. Nothing runs until `start()`.
 *
 * @example
 * ```ts
 * const system = createSystem(
 *   supervisor("agent", {}, [child("ticker", tickerMachine)]),
 * );
 * await system.start();
 * console.log(system.tree());
 * await system.stop();
 * ```
 */
export function createSystem(rootSpec: SupervisorSpec, options: SystemOptions = {}): ActorSystem {
  if (rootSpec?.kind !== "supervisor") {
    throw new TypeError(
      "createSystem needs a supervisor spec as its root; wrap children in supervisor()",
    );
  }
  const listeners = new Set<(event: SystemEvent) => void>();
  const logger = options.logger ?? getLogger("runtime");
  const runtime: Runtime = {
    clock: options.clock ?? realClock,
    random: options.random ?? Math.random,
    logger,
    emit(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (error) {
          logger.error("A lifecycle listener threw: {error}", { error });
        }
      }
    },
  };

  let resolveExit!: (exit: SystemExit) => void;
  const exited = new Promise<SystemExit>((resolve) => (resolveExit = resolve));
  let state: "new" | "running" | "stopping" | "ended" = "new";

  const root = new Supervisor(
    rootSpec,
    rootSpec.id,
    runtime,
    (_node, _incarnation, _reason, error) => {
      if (state !== "running") return;
      state = "ended";
      logger.error("The root supervisor gave up; the system has stopped: {error}", { error });
      resolveExit({ reason: "gave_up", error: error as Error });
    },
  );

  function supervisorAt(path: string): Supervisor {
    if (state !== "running") {
      throw new ActorSystemError("not_running", `The system is not running (it is ${state})`);
    }
    const node = path === root.path ? root : root.find(segments(path));
    if (!node) throw new ActorSystemError("not_found", `No actor at "${path}"`);
    if (!(node instanceof Supervisor)) {
      throw new ActorSystemError("not_supervisor", `"${path}" is a worker, not a supervisor`);
    }
    return node;
  }

  function segments(path: string): string[] {
    const parts = path.split("/");
    return parts[0] === root.path ? parts.slice(1) : [];
  }

  return {
    exited,
    start() {
      if (state !== "new") {
        return Promise.reject(
          new ActorSystemError("not_running", `The system is already ${state}`),
        );
      }
      state = "running";
      root.start();
      return Promise.resolve();
    },
    async stop() {
      if (state !== "running") return;
      state = "stopping";
      await root.stop();
      state = "ended";
      resolveExit({ reason: "stopped" });
    },
    tree: () => root.tree(),
    get(path) {
      const parts = segments(path);
      return parts.length === 0 ? undefined : root.actorOf(parts);
    },
    startChild: async (supervisorPath, spec) => await supervisorAt(supervisorPath).startChild(spec),
    terminateChild: async (supervisorPath, id) =>
      await supervisorAt(supervisorPath).terminateChild(id),
    subscribe(listener) {
      listeners.add(listener);
      return { unsubscribe: () => void listeners.delete(listener) };
    },
  };
}
