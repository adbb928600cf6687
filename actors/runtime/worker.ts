/**
 * A worker owns one XState actor as its own root (`createActor`), so that an
 * error never propagates into XState's parent/child handling: the worker
 * observes `error` and `complete` and reports the exit to its supervisor,
 * which decides what happens next.
 *
 * Receives: start / stop from its supervisor. Sends: exits to its
 * supervisor, lifecycle events to the system. Supervised by: its parent
 * supervisor.
 */
import { type AnyActorLogic, type AnyActorRef, createActor, type Subscription } from "xstate";
import type { ActorTreeNode, ExitListener, NodeStatus, Runtime, TreeNode } from "./node.ts";
import type { ChildSpec } from "./spec.ts";

/**
 * The event a supervisor sends first when it stops a machine that accepts
 * it; the machine may clean up and reach a final state within its
 * shutdown budget. Actors that do not accept it are stopped at once.
 */
export const STOP_EVENT = { type: "outpost.stop" } as const;

export class Worker implements TreeNode {
  status: NodeStatus = "stopped";
  restarts = 0;
  attempt = 0;
  startedAt = 0;
  incarnation = 0;
  actor: AnyActorRef | undefined;
  #subscription: Subscription | undefined;

  constructor(
    readonly spec: ChildSpec,
    readonly path: string,
    private readonly runtime: Runtime,
    private readonly onExit: ExitListener,
  ) {}

  start(): void {
    this.status = "running";
    this.startedAt = this.runtime.clock.now();
    this.incarnation++;
    let actor: AnyActorRef;
    try {
      actor = createActor(this.#logic(), {
        id: this.spec.id,
        input: this.spec.input,
        clock: this.runtime.clock,
        snapshot: this.spec.persist?.load(this.path) as never,
      });
    } catch (error) {
      this.actor = undefined;
      this.#exited("error", error);
      return;
    }
    guardObservers(actor);
    this.actor = actor;
    const persist = this.spec.persist;
    this.#subscription = actor.subscribe({
      next: persist
        ? (snapshot) => {
          if (snapshot.status === "active") persist.save(this.path, actor.getPersistedSnapshot());
        }
        : undefined,
      error: (error) => this.#exited("error", error),
      complete: () => this.#exited("normal"),
    });
    this.runtime.emit({
      type: "started",
      path: this.path,
      kind: "worker",
      restarts: this.restarts,
    });
    actor.start();
  }

  async stop(): Promise<void> {
    const actor = this.actor;
    if (this.status !== "running" || !actor) {
      if (this.status === "restarting") this.status = "stopped";
      return;
    }
    this.status = "stopping";
    const forced = !(await this.#stopGracefully(actor));
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    actor.stop();
    this.actor = undefined;
    this.status = "stopped";
    this.runtime.emit({ type: "stopped", path: this.path, forced });
  }

  markRestarting(): void {
    this.status = "restarting";
  }

  tree(): ActorTreeNode {
    const snapshot = this.actor?.getSnapshot();
    return {
      id: this.spec.id,
      path: this.path,
      kind: "worker",
      status: this.status,
      state: snapshot ? (snapshot.value ?? snapshot.status) : null,
      restarts: this.restarts,
      uptimeMs: this.status === "running" ? this.runtime.clock.now() - this.startedAt : null,
      children: [],
    };
  }

  #logic(): AnyActorLogic {
    const source = this.spec.logic;
    return typeof source === "function"
      ? source({ id: this.spec.id, path: this.path, restarts: this.restarts }) as AnyActorLogic
      : source as AnyActorLogic;
  }

  #exited(reason: "normal" | "error", error?: unknown): void {
    if (this.status !== "running") return;
    this.status = "stopped";
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    // Decide outside the actor's own call stack: the error may have been
    // raised inside another actor's `send`.
    const incarnation = this.incarnation;
    queueMicrotask(() => this.onExit(this, incarnation, reason, error));
  }

  /**
   * Sends {@link STOP_EVENT} to a machine that accepts it and waits for it to
   * finish within the budget. Resolves true when it finished by itself.
   */
  #stopGracefully(actor: AnyActorRef): Promise<boolean> {
    const snapshot = actor.getSnapshot();
    const accepts = typeof snapshot.can === "function" && snapshot.status === "active" &&
      snapshot.can(STOP_EVENT);
    if (!accepts || this.spec.shutdownMs === 0) return Promise.resolve(false);
    const { clock } = this.runtime;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (graceful: boolean) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        subscription.unsubscribe();
        resolve(graceful);
      };
      const timer = clock.setTimeout(() => finish(false), this.spec.shutdownMs);
      const subscription = actor.subscribe({
        complete: () => finish(true),
        error: () => finish(true),
      });
      actor.send(STOP_EVENT);
    });
  }
}

/**
 * XState reports an actor's error as an uncaught exception (thrown from a
 * timer) when any of its observers lacks an error callback, which would end
 * the process. Anyone may subscribe to a supervised actor through
 * `system.get(path)`, so every observer gets a no-op error callback: the
 * error itself is already handled by the supervisor.
 */
function guardObservers(actor: AnyActorRef): void {
  const subscribe = actor.subscribe.bind(actor);
  // deno-lint-ignore no-explicit-any
  actor.subscribe = ((next?: any, error?: any, complete?: any) => {
    const observer = typeof next === "function" || next === undefined
      ? { next, error, complete }
      : next;
    return subscribe({
      next: observer.next?.bind(observer),
      error: observer.error?.bind(observer) ?? ignore,
      complete: observer.complete?.bind(observer),
    });
  }) as AnyActorRef["subscribe"];
}

function ignore(): void {}
