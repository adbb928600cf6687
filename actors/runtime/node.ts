/**
 * What every node of the running tree (worker or supervisor) shares: its
 * status, its place, the runtime services it uses, and the plain-data view
 * that `tree()` returns.
 */
import type { Clock } from "./clock.ts";
import type { ExitReason } from "./policy.ts";
import type { Spec } from "./spec.ts";

/** What an observer of a supervised actor may implement. */
export interface ActorObserver {
  /** Each new snapshot. */
  // deno-lint-ignore no-explicit-any
  next?: (snapshot: any) => void;
  /** The actor failed (its supervisor handles the failure). */
  error?: (error: unknown) => void;
  /** The actor finished or was stopped. */
  complete?: () => void;
}

/**
 * A running worker's XState actor, as `ActorSystem.get()` returns it. It is
 * XState's `ActorRef` (cast to `AnyActorRef` for its full type); this names
 * the parts an embedding app normally uses.
 */
export interface SupervisedActor {
  /** The worker's id. */
  readonly id: string;
  /** Delivers an event to the actor. */
  send(event: { type: string; [key: string]: unknown }): void;
  /** The current snapshot (`value`, `context`, `status`, … for machines). */
  // deno-lint-ignore no-explicit-any
  getSnapshot(): any;
  /** Observes snapshots; a missing `error` callback is supplied by the runtime. */
  // deno-lint-ignore no-explicit-any
  subscribe(observer: ActorObserver | ((snapshot: any) => void)): { unsubscribe(): void };
}

/** Where a node is in its life. */
export type NodeStatus =
  | "running" // started and not ended
  | "restarting" // ended; waiting out its backoff before starting again
  | "stopping" // asked to stop; within its shutdown budget
  | "stopped" // stopped by its supervisor or the system
  | "exited" // ended normally and is not restarted (a transient child)
  | "failed"; // a supervisor that gave up

/** The plain-data view of one node, as `ActorSystem.tree()` returns it. */
export interface ActorTreeNode {
  /** The id given in its spec. */
  id: string;
  /** Ids from the root down, joined with "/". */
  path: string;
  /** A supervisor, or a worker holding one XState actor. */
  kind: "supervisor" | "worker";
  /** Where it is in its life. */
  status: NodeStatus;
  /** The XState state value of a worker (its snapshot status for non-machines); null for supervisors. */
  state: unknown;
  /** Times its supervisor restarted it. */
  restarts: number;
  /** Milliseconds since the node last started, or null when it is not running. */
  uptimeMs: number | null;
  /** A supervisor's strategy. */
  strategy?: string;
  /** Children in start order; empty for workers. */
  children: ActorTreeNode[];
}

/** A lifecycle event, as `ActorSystem.subscribe()` delivers it. */
export type SystemEvent =
  | { type: "started"; path: string; kind: "supervisor" | "worker"; restarts: number }
  | { type: "exited"; path: string; reason: ExitReason; error?: unknown }
  | { type: "restarting"; path: string; delayMs: number; attempt: number }
  | { type: "stopped"; path: string; forced: boolean }
  | { type: "gave_up"; path: string; restarts: number; periodMs: number; error?: unknown };

/** Minimal structured logger; a LogTape `Logger` satisfies it. */
export interface RuntimeLogger {
  /** Detail for someone tracing a problem. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** Normal operation worth a line. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Something failed and was handled (a crash that is restarted). */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Something failed and was not recovered (a supervisor gave up). */
  error(message: string, properties?: Record<string, unknown>): void;
}

/** Services every node uses, owned by the system. */
export interface Runtime {
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: RuntimeLogger;
  emit(event: SystemEvent): void;
}

/** How a node tells its supervisor it ended by itself. */
export type ExitListener = (
  node: TreeNode,
  incarnation: number,
  reason: ExitReason,
  error?: unknown,
) => void;

/** One running node under a supervisor. */
export interface TreeNode {
  readonly spec: Spec;
  readonly path: string;
  readonly status: NodeStatus;
  /** Times restarted by its supervisor. */
  restarts: number;
  /** Consecutive restarts since the last quiet period (drives the backoff). */
  attempt: number;
  /** `clock.now()` at the last start. */
  readonly startedAt: number;
  /** Counts starts, so an exit reported late is not mistaken for the next run's. */
  readonly incarnation: number;
  /** Starts (or restarts, from scratch) synchronously; failures arrive as exits. */
  start(): void;
  /** Stops within the shutdown budget; resolves when stopped. */
  stop(): Promise<void>;
  /** Marks a node that ended as waiting for its restart. */
  markRestarting(): void;
  tree(): ActorTreeNode;
}

/** Path of a child under `parent`. */
export function childPath(parent: string, id: string): string {
  return parent === "" ? id : `${parent}/${id}`;
}

/** Turns anything thrown into an Error, keeping Errors as they are. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
