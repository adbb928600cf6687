/**
 * Child and supervisor specifications: the tree as data, as in an OTP
 * application's top supervisor. `supervisor()` and `child()` only build and
 * validate plain objects; nothing runs until `createSystem(...).start()`.
 */
import { type RetryBackoff, withBackoffDefaults } from "../../machines/backoff.ts";

/** When a child is restarted: always, only after an error, or never. */
export type RestartType = "permanent" | "transient" | "temporary";

/** Which children a crash restarts. */
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one";

/**
 * Exponential backoff between restarts of one child: `minMs` before the
 * first restart, doubling with each consecutive one up to `maxMs`, minus up
 * to `jitter` of it (the curve of machines/backoff.ts).
 */
export interface Backoff extends RetryBackoff {
  /** A child that ran this long without exiting starts again at `minMs`. */
  resetMs: number;
}

/** What a restarted child resumes from instead of its initial state. */
export interface SnapshotStore {
  /** The last saved snapshot of the actor at `path`, if any. */
  load(path: string): unknown;
  /** Called with each new persisted snapshot while the actor is active. */
  save(path: string, snapshot: unknown): void;
}

/** What a logic factory is told about the child it is building logic for. */
export interface LogicContext {
  /** The child's id. */
  id: string;
  /** The child's path in the tree. */
  path: string;
  /** How many times this child has been restarted so far. */
  restarts: number;
}

/**
 * Any XState v5 actor logic: a machine, `fromPromise`, `fromCallback`,
 * `fromObservable`, `fromTransition`. Named structurally so the public API
 * does not depend on XState's internal type names.
 */
export interface ActorLogic {
  /** Computes the next snapshot from a snapshot and an event. */
  transition: (...args: never[]) => unknown;
  /** Computes the snapshot an actor starts in. */
  getInitialSnapshot: (...args: never[]) => unknown;
}

/** XState actor logic, or a function that builds it for each (re)start. */
export type LogicSource = ActorLogic | ((context: LogicContext) => ActorLogic);

/** Options of {@link child}. */
export interface ChildOptions {
  /** Passed to `createActor(logic, { input })` at every (re)start. */
  input?: unknown;
  /** Default `"permanent"`. */
  restart?: RestartType;
  /** Budget for a graceful stop before the actor is stopped by force. Default 5000. */
  shutdownMs?: number;
  /** Restart delays; missing fields take the defaults in {@link DEFAULT_BACKOFF}. */
  backoff?: Partial<Backoff>;
  /** Resume from the last persisted snapshot on restart. */
  persist?: SnapshotStore;
}

/** Options of {@link supervisor}. */
export interface SupervisorOptions {
  /** Default `"one_for_one"`. */
  strategy?: Strategy;
  /** Restarts tolerated within `periodMs` before giving up. Default 1 (OTP's). */
  intensity?: number;
  /** Length of the intensity window. Default 5000. */
  periodMs?: number;
  /** Children are added at run time with `startChild`; ended ones are forgotten. */
  dynamic?: boolean;
  /** Refuse `startChild` beyond this many children. */
  maxChildren?: number;
  /** How this supervisor is restarted by its own parent. Default `"permanent"`. */
  restart?: RestartType;
  /** Restart delays when its parent restarts it. */
  backoff?: Partial<Backoff>;
}

/** A worker: one XState actor under a supervisor. */
export interface ChildSpec {
  /** Marks a worker spec. */
  readonly kind: "worker";
  /** Unique among its siblings; no "/". */
  readonly id: string;
  /** What to run. */
  readonly logic: LogicSource;
  /** The actor's input at every start. */
  readonly input: unknown;
  /** When it is restarted. */
  readonly restart: RestartType;
  /** Budget for a graceful stop, in ms. */
  readonly shutdownMs: number;
  /** Delays between its restarts. */
  readonly backoff: Backoff;
  /** Where its snapshots are kept across restarts, if anywhere. */
  readonly persist?: SnapshotStore;
}

/** A supervisor with its ordered children. */
export interface SupervisorSpec {
  /** Marks a supervisor spec. */
  readonly kind: "supervisor";
  /** Unique among its siblings; no "/". */
  readonly id: string;
  /** Which children a crash restarts. */
  readonly strategy: Strategy;
  /** Restarts tolerated within `periodMs`. */
  readonly intensity: number;
  /** Length of the intensity window, in ms. */
  readonly periodMs: number;
  /** Whether children are added at run time. */
  readonly dynamic: boolean;
  /** Most children at once (Infinity when unbounded). */
  readonly maxChildren: number;
  /** How its own parent restarts it. */
  readonly restart: RestartType;
  /** Delays when its own parent restarts it. */
  readonly backoff: Backoff;
  /** Children started in this order when it starts. */
  readonly children: readonly Spec[];
}

/** Either kind of node in the tree. */
export type Spec = ChildSpec | SupervisorSpec;

/** Restart delays used where a spec gives none: short, growing, capped at 30 s. */
export const DEFAULT_BACKOFF: Readonly<Backoff> = {
  minMs: 100,
  maxMs: 30_000,
  jitter: 0.2,
  resetMs: 30_000,
};

const STRATEGIES: readonly Strategy[] = ["one_for_one", "one_for_all", "rest_for_one"];
const RESTART_TYPES: readonly RestartType[] = ["permanent", "transient", "temporary"];

/**
 * Builds a supervisor spec.
 *
 * @example
 * ```ts
 * const tree = supervisor("agent", { strategy: "rest_for_one" }, [
 *   child("connection", connectionMachine),
 *   supervisor("tunnels", { dynamic: true, maxChildren: 10 }, []),
 * ]);
 * ```
 */
export function supervisor(
  id: string,
  options: SupervisorOptions = {},
  children: readonly Spec[] = [],
): SupervisorSpec {
  checkId(id);
  const strategy = options.strategy ?? "one_for_one";
  if (!STRATEGIES.includes(strategy)) {
    throw new TypeError(
      `Supervisor "${id}": strategy must be one of ${STRATEGIES.join(", ")}, got "${strategy}"`,
    );
  }
  const spec: SupervisorSpec = {
    kind: "supervisor",
    id,
    strategy,
    intensity: nonNegative(id, "intensity", options.intensity ?? 1),
    periodMs: nonNegative(id, "periodMs", options.periodMs ?? 5000),
    dynamic: options.dynamic ?? false,
    maxChildren: nonNegative(id, "maxChildren", options.maxChildren ?? Infinity),
    restart: restartType(id, options.restart),
    backoff: backoff(id, options.backoff),
    children: [...children],
  };
  const seen = new Set<string>();
  for (const c of spec.children) {
    if (seen.has(c.id)) {
      throw new TypeError(`Supervisor "${id}": duplicate child id "${c.id}"`);
    }
    seen.add(c.id);
  }
  return spec;
}

/**
 * Builds a worker spec around any XState v5 actor logic.
 *
 * @example
 * ```ts
 * const ticker = child("ticker", fromCallback(({ sendBack }) => {
 *   const t = setInterval(() => sendBack({ type: "tick" }), 1000);
 *   return () => clearInterval(t);
 * }), { restart: "transient", backoff: { minMs: 500 } });
 * ```
 */
export function child(id: string, logic: LogicSource, options: ChildOptions = {}): ChildSpec {
  checkId(id);
  if (logic === null || (typeof logic !== "object" && typeof logic !== "function")) {
    throw new TypeError(`Child "${id}": logic must be XState actor logic or a function`);
  }
  return {
    kind: "worker",
    id,
    logic,
    input: options.input,
    restart: restartType(id, options.restart),
    shutdownMs: nonNegative(id, "shutdownMs", options.shutdownMs ?? 5000),
    backoff: backoff(id, options.backoff),
    persist: options.persist,
  };
}

/** An in-memory {@link SnapshotStore}: snapshots survive restarts, not the process. */
export function memorySnapshotStore(): SnapshotStore & { readonly size: number } {
  const snapshots = new Map<string, unknown>();
  return {
    load: (path) => snapshots.get(path),
    save: (path, snapshot) => void snapshots.set(path, snapshot),
    get size() {
      return snapshots.size;
    },
  };
}

function checkId(id: string): void {
  if (typeof id !== "string" || id.length === 0 || id.includes("/")) {
    throw new TypeError(
      `Actor id must be a non-empty string without "/", got ${JSON.stringify(id)}`,
    );
  }
}

function nonNegative(id: string, key: string, value: number): number {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new TypeError(`"${id}": ${key} must be a number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function restartType(id: string, value: RestartType | undefined): RestartType {
  const restart = value ?? "permanent";
  if (!RESTART_TYPES.includes(restart)) {
    throw new TypeError(
      `"${id}": restart must be one of ${RESTART_TYPES.join(", ")}, got "${restart}"`,
    );
  }
  return restart;
}

function backoff(id: string, value: Partial<Backoff> | undefined): Backoff {
  const b = withBackoffDefaults(DEFAULT_BACKOFF, value);
  nonNegative(id, "backoff.minMs", b.minMs);
  nonNegative(id, "backoff.maxMs", b.maxMs);
  nonNegative(id, "backoff.resetMs", b.resetMs);
  if (b.jitter < 0 || b.jitter > 1 || Number.isNaN(b.jitter)) {
    throw new TypeError(`"${id}": backoff.jitter must be between 0 and 1, got ${b.jitter}`);
  }
  if (b.maxMs < b.minMs) {
    throw new TypeError(`"${id}": backoff.maxMs (${b.maxMs}) is below backoff.minMs (${b.minMs})`);
  }
  return b;
}
