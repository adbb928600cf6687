/**
 * A supervisor starts its children in order, stops them in reverse order,
 * and applies its restart policy when one of them exits (see policy.ts).
 * Every change to its children (an exit, a restart, startChild,
 * terminateChild, stop) runs through one serial queue, so a crash that
 * arrives while siblings are still stopping waits its turn instead of
 * racing them.
 *
 * Receives: exits of its children; start / stop from its parent.
 * Sends: its own exit (after giving up) to its parent; lifecycle events to
 * the system. Supervised by: its parent, or the system for the root.
 */
import {
  type ActorTreeNode,
  childPath,
  type ExitListener,
  type NodeStatus,
  type Runtime,
  type SupervisedActor,
  toError,
  type TreeNode,
} from "./node.ts";
import {
  backoffDelay,
  type ExitReason,
  restartScope,
  RestartWindow,
  shouldRestart,
} from "./policy.ts";
import type { Spec, SupervisorSpec } from "./spec.ts";
import { Worker } from "./worker.ts";

/** Errors of the system's API, with a stable `code` for programs. */
export class ActorSystemError extends Error {
  /** Builds an error with a stable code and a message naming the input. */
  constructor(
    /** What went wrong, for programs. */
    readonly code:
      | "not_found"
      | "not_supervisor"
      | "not_dynamic"
      | "duplicate_id"
      | "max_children"
      | "not_running",
    message: string,
  ) {
    super(message);
    this.name = "ActorSystemError";
  }
}

/** The error a supervisor exits with when it restarted too often. */
export class RestartIntensityError extends Error {
  /** Builds the error for the supervisor at `path`; `cause` is the last child error. */
  constructor(
    /** The supervisor that gave up. */
    readonly path: string,
    /** Its intensity. */
    readonly intensity: number,
    /** Its intensity window, in ms. */
    readonly periodMs: number,
    options?: ErrorOptions,
  ) {
    super(
      `Supervisor "${path}" gave up: more than ${intensity} restart(s) within ${periodMs} ms`,
      options,
    );
    this.name = "RestartIntensityError";
  }
}

export class Supervisor implements TreeNode {
  status: NodeStatus = "stopped";
  restarts = 0;
  attempt = 0;
  startedAt = 0;
  incarnation = 0;
  /** Children by id; a Map keeps start order and finds a child in O(1). */
  children = new Map<string, TreeNode>();
  #window: RestartWindow;
  #queue: Promise<unknown> = Promise.resolve();
  #timers = new Set<unknown>();

  constructor(
    readonly spec: SupervisorSpec,
    readonly path: string,
    private readonly runtime: Runtime,
    private readonly onExit: ExitListener,
  ) {
    this.#window = new RestartWindow(spec.intensity, spec.periodMs);
  }

  start(): void {
    this.status = "running";
    this.startedAt = this.runtime.clock.now();
    this.incarnation++;
    this.#window = new RestartWindow(this.spec.intensity, this.spec.periodMs);
    this.children = new Map(this.spec.children.map((spec) => [spec.id, this.#node(spec)]));
    this.runtime.emit({
      type: "started",
      path: this.path,
      kind: "supervisor",
      restarts: this.restarts,
    });
    for (const node of this.children.values()) node.start();
  }

  stop(): Promise<void> {
    return this.#serial(async () => {
      if (this.status !== "running" && this.status !== "restarting") return;
      this.status = "stopping";
      await this.#stopAll();
      this.status = "stopped";
      this.runtime.emit({ type: "stopped", path: this.path, forced: false });
    });
  }

  markRestarting(): void {
    this.status = "restarting";
  }

  /** Starts a new child at run time; resolves with its path. */
  startChild(spec: Spec): Promise<string> {
    return this.#serial(() => {
      if (!this.spec.dynamic) {
        throw new ActorSystemError("not_dynamic", `Supervisor "${this.path}" is not dynamic`);
      }
      if (this.status !== "running") {
        throw new ActorSystemError("not_running", `Supervisor "${this.path}" is ${this.status}`);
      }
      if (this.children.has(spec.id)) {
        throw new ActorSystemError(
          "duplicate_id",
          `Cannot start "${spec.id}" under "${this.path}": a child with that id exists`,
        );
      }
      if (this.children.size >= this.spec.maxChildren) {
        throw new ActorSystemError(
          "max_children",
          `Cannot start "${spec.id}" under "${this.path}": maxChildren ${this.spec.maxChildren} reached`,
        );
      }
      const node = this.#node(spec);
      this.children.set(spec.id, node);
      node.start();
      return node.path;
    });
  }

  /** Stops a child within its budget; it is not restarted. */
  terminateChild(id: string): Promise<void> {
    return this.#serial(async () => {
      const node = this.children.get(id);
      if (!node) {
        throw new ActorSystemError("not_found", `Supervisor "${this.path}" has no child "${id}"`);
      }
      await node.stop();
      if (this.spec.dynamic) this.#remove(node);
    });
  }

  /** The running XState actor of the worker at `segments` below this supervisor. */
  find(segments: readonly string[]): TreeNode | undefined {
    const [head, ...rest] = segments;
    const node = this.children.get(head);
    if (!node || rest.length === 0) return node;
    return node instanceof Supervisor ? node.find(rest) : undefined;
  }

  actorOf(segments: readonly string[]): SupervisedActor | undefined {
    const node = this.find(segments);
    return node instanceof Worker && node.status === "running" ? node.actor : undefined;
  }

  tree(): ActorTreeNode {
    return {
      id: this.spec.id,
      path: this.path,
      kind: "supervisor",
      status: this.status,
      state: null,
      restarts: this.restarts,
      uptimeMs: this.status === "running" ? this.runtime.clock.now() - this.startedAt : null,
      strategy: this.spec.strategy,
      children: Array.from(this.children.values(), (c) => c.tree()),
    };
  }

  #node(spec: Spec): TreeNode {
    const path = childPath(this.path, spec.id);
    const onExit: ExitListener = (node, incarnation, reason, error) => {
      this.#serial(() => {
        if (node.incarnation !== incarnation) return;
        return this.#handleExit(node, reason, error);
      }).catch((err) =>
        this.runtime.logger.error("Supervisor {path} failed to handle an exit: {error}", {
          path: this.path,
          error: err,
        })
      );
    };
    return spec.kind === "worker"
      ? new Worker(spec, path, this.runtime, onExit)
      : new Supervisor(spec, path, this.runtime, onExit);
  }

  async #handleExit(node: TreeNode, reason: ExitReason, error?: unknown): Promise<void> {
    if (this.status !== "running" || !this.#owns(node)) return;
    const { runtime } = this;
    runtime.emit({ type: "exited", path: node.path, reason, error });
    if (reason === "error") {
      runtime.logger.warn("{path} exited with an error: {error}", { path: node.path, error });
    } else {
      runtime.logger.debug("{path} exited normally", { path: node.path });
    }

    if (!shouldRestart(node.spec.restart, reason)) {
      if (node.spec.restart === "temporary" || this.spec.dynamic) this.#remove(node);
      else (node as Worker | Supervisor).status = "exited";
      return;
    }

    const now = runtime.clock.now();
    if (!this.#window.record(now)) {
      await this.#giveUp(error);
      return;
    }

    if (now - node.startedAt >= node.spec.backoff.resetMs) node.attempt = 0;
    const delayMs = backoffDelay(node.spec.backoff, node.attempt, runtime.random());
    node.attempt++;

    const scope = this.#scope(node);
    const siblings = scope.filter((n) => n !== node);
    for (const sibling of siblings.reverse()) await sibling.stop();
    const restarting = scope.filter((n) => n === node || n.spec.restart !== "temporary");
    for (const n of scope) if (!restarting.includes(n)) this.#remove(n);

    for (const n of restarting) {
      n.markRestarting();
      runtime.emit({ type: "restarting", path: n.path, delayMs, attempt: node.attempt });
    }
    if (delayMs === 0) {
      this.#restart(restarting);
      return;
    }
    const timer = runtime.clock.setTimeout(() => {
      this.#timers.delete(timer);
      this.#serial(() => this.#restart(restarting)).catch((err) =>
        runtime.logger.error("Supervisor {path} failed to restart: {error}", {
          path: this.path,
          error: err,
        })
      );
    }, delayMs);
    this.#timers.add(timer);
  }

  #restart(nodes: TreeNode[]): void {
    if (this.status !== "running") return;
    for (const n of nodes) {
      if (n.status !== "restarting" || !this.#owns(n)) continue;
      n.restarts++;
      n.start();
    }
  }

  async #giveUp(error: unknown): Promise<void> {
    const { intensity, periodMs } = this.spec;
    this.status = "stopping";
    await this.#stopAll();
    this.status = "failed";
    const reason = new RestartIntensityError(this.path, intensity, periodMs, {
      cause: error === undefined ? undefined : toError(error),
    });
    this.runtime.logger.error("{message}", { message: reason.message, path: this.path, error });
    this.runtime.emit({
      type: "gave_up",
      path: this.path,
      restarts: this.#window.count - 1,
      periodMs,
      error,
    });
    const incarnation = this.incarnation;
    queueMicrotask(() => this.onExit(this, incarnation, "error", reason));
  }

  async #stopAll(): Promise<void> {
    for (const timer of this.#timers) this.runtime.clock.clearTimeout(timer);
    this.#timers.clear();
    for (const node of [...this.children.values()].reverse()) await node.stop();
  }

  #remove(node: TreeNode): void {
    if (this.#owns(node)) this.children.delete(node.spec.id);
  }

  #owns(node: TreeNode): boolean {
    return this.children.get(node.spec.id) === node;
  }

  /** The children a restart of `node` takes along, in start order. */
  #scope(node: TreeNode): TreeNode[] {
    if (this.spec.strategy === "one_for_one") return [node];
    const all = [...this.children.values()];
    return restartScope(this.spec.strategy, all.indexOf(node), all.length).map((i) => all[i]);
  }

  /** Runs `op` after every earlier operation on this supervisor has finished. */
  #serial<T>(op: () => T | Promise<T>): Promise<T> {
    const result = this.#queue.then(op);
    this.#queue = result.catch(() => undefined);
    return result;
  }
}
