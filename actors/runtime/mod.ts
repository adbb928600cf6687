/**
 * The Outpost actor runtime: OTP-style supervision for XState v5 actors.
 *
 * ```
 * createSystem(supervisor("agent", {...}, [          root supervisor
 *   child("store", storeMachine),                     worker: one XState actor
 *   supervisor("tunnels", { dynamic: true }, []),     children added at run time
 * ]))
 * ```
 *
 * Workers are XState actors, each created as its own root so the runtime
 * sees every error and completion; supervisors apply the restart policy.
 */
export { type Clock, realClock } from "./clock.ts";
export {
  configureLogging,
  type LogFormat,
  type LoggingOptions,
  type LogLevel,
  redact,
  redactText,
  resetLogging,
} from "./logging.ts";
export type {
  ActorObserver,
  ActorTreeNode,
  NodeStatus,
  RuntimeLogger,
  SupervisedActor,
  SystemEvent,
} from "./node.ts";
export { type ExitReason } from "./policy.ts";
export {
  type ActorLogic,
  type Backoff,
  child,
  type ChildOptions,
  type ChildSpec,
  DEFAULT_BACKOFF,
  type LogicContext,
  type LogicSource,
  memorySnapshotStore,
  type RestartType,
  type SnapshotStore,
  type Spec,
  type Strategy,
  supervisor,
  type SupervisorOptions,
  type SupervisorSpec,
} from "./spec.ts";
export type { RetryBackoff } from "../../machines/backoff.ts";
export { ActorSystemError, RestartIntensityError } from "./supervisor.ts";
export { type ActorSystem, createSystem, type SystemExit, type SystemOptions } from "./system.ts";
export { STOP_EVENT } from "./worker.ts";
