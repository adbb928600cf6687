/**
 * The life of one remote-access tunnel, whichever cloud asked for it:
 *
 * ```
 *  authorizing ──────────────► dialing ─────────────► open ──pipe ended──┐
 *  (allowlist, then           (WebSocket ∥ target,    (bytes both ways)   │
 *   access check)              within dialTimeout)                        ▼
 *      │ refused                  │ failed / timeout                   closing ──► closed (final)
 *      └──────────────────────────┴────────────────────────────────────►  │   (release everything)
 *                                                                         └──► failed (final)
 *  any state ──outpost.stop──► closing
 * ```
 *
 * Pure: checking access, dialing, piping and releasing are the actors
 * `checkAccess`, `dialWebSocket`, `dialTarget`, `pipe` and `release`, the
 * allowlist is the guard `targetAllowed`, and what the owner hears is the
 * actions `reportOpen`, `reportFailed`, `reportClosed`; actors/tunnels/
 * provides them. A refused target never reaches `dialing`.
 */
import { assign, fromCallback, fromPromise, setup } from "xstate";
/** Where the device dials: a TCP service on this device or its network. */
export interface TunnelTarget {
  /** Host name or IP address, as the cloud sent it. */
  host: string;
  /** TCP port, 1 to 65535. */
  port: number;
}

/** The answer of an access check. */
export type AccessDecision = { allowed: true } | { allowed: false; reason: string };

/** Why a tunnel failed, for the owner to choose a status (403 vs 502, …). */
export type TunnelFailureKind =
  /** The target is not on the allowlist. */
  | "not_allowed"
  /** The access check said no (or threw). */
  | "denied"
  /** Both sides were not up within the dial timeout. */
  | "timeout"
  /** The target refused the TCP connection. */
  | "refused"
  /** The cloud rejected the WebSocket's credentials. */
  | "unauthorized"
  /** Any other failure to open a side. */
  | "dial";

/** An error an effect throws to say which kind of failure it was. */
export class TunnelFailure extends Error {
  /** Builds a failure whose message is the reason the owner reports. */
  constructor(readonly kind: TunnelFailureKind, reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = "TunnelFailure";
  }
}

/** What the machine is started with. */
export interface TunnelProxyInput {
  target: TunnelTarget;
  /** Time for both sides to open. */
  dialTimeoutMs: number;
}

/** How the pipe ended (the `pipe` actor's output). */
export interface PipeEnd {
  code: number;
  reason: string;
}

/** What a tunnel ended with: the machine's output. */
export type TunnelOutcome =
  | { status: "closed"; code: number; reason: string }
  | { status: "failed"; kind: TunnelFailureKind; reason: string };

/** The machine's context. */
export interface TunnelProxyContext {
  target: TunnelTarget;
  dialTimeoutMs: number;
  websocketUp: boolean;
  targetUp: boolean;
  failure: { kind: TunnelFailureKind; reason: string } | undefined;
  ended: PipeEnd | undefined;
}

/** Code and reason of a tunnel stopped by its owner (or the agent shutting down). */
export const STOPPED: PipeEnd = { code: 1001, reason: "stopped" };

function failureOf(
  error: unknown,
  kind: TunnelFailureKind,
): { kind: TunnelFailureKind; reason: string } {
  if (error instanceof TunnelFailure) return { kind: error.kind, reason: error.message };
  return { kind, reason: error instanceof Error ? error.message : String(error) };
}

function showTarget({ host, port }: TunnelTarget): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The proxy statechart. Provide `targetAllowed` (the allowlist),
 * `checkAccess` (resolves an {@link AccessDecision}), `dialWebSocket` and
 * `dialTarget` (resolve once their side is up; throw a {@link TunnelFailure}
 * to name the kind), `pipe` (resolves with a {@link PipeEnd} when either
 * side ended), `release` (closes whatever is still open, the WebSocket with
 * the code and reason it is given), `hold` (a
 * callback actor whose cleanup closes everything at once if the actor is
 * stopped by force) and the three report actions.
 *
 * @example
 * ```ts
 * const logic = tunnelProxyMachine.provide({ guards: { targetAllowed: () => true }, actors: { … } });
 * createActor(logic, { input: { target: { host: "127.0.0.1", port: 22 }, dialTimeoutMs: 10_000 } }).start();
 * ```
 */
export const tunnelProxyMachine = setup({
  types: {
    context: {} as TunnelProxyContext,
    events: {} as { type: "outpost.stop" },
    input: {} as TunnelProxyInput,
    output: {} as TunnelOutcome,
  },
  guards: {
    targetAllowed: (_, _target: TunnelTarget) => false,
  },
  actors: {
    checkAccess: fromPromise<AccessDecision, TunnelTarget>(() => {
      throw new Error("The tunnel proxy machine needs a `checkAccess` actor provided");
    }),
    dialWebSocket: fromPromise<void, void>(() => {
      throw new Error("The tunnel proxy machine needs a `dialWebSocket` actor provided");
    }),
    dialTarget: fromPromise<void, TunnelTarget>(() => {
      throw new Error("The tunnel proxy machine needs a `dialTarget` actor provided");
    }),
    pipe: fromPromise<PipeEnd, void>(() => {
      throw new Error("The tunnel proxy machine needs a `pipe` actor provided");
    }),
    release: fromPromise<void, PipeEnd>(() => Promise.resolve()),
    hold: fromCallback(() => {}),
  },
  actions: {
    reportOpen: () => {},
    reportFailed: (_, _failure: { kind: TunnelFailureKind; reason: string }) => {},
    reportClosed: (_, _end: PipeEnd) => {},
  },
  delays: {
    dialTimeout: ({ context }) => context.dialTimeoutMs,
  },
}).createMachine({
  id: "tunnelProxy",
  context: ({ input }) => ({
    target: input.target,
    dialTimeoutMs: input.dialTimeoutMs,
    websocketUp: false,
    targetUp: false,
    failure: undefined,
    ended: undefined,
  }),
  invoke: { src: "hold" },
  initial: "authorizing",
  on: { "outpost.stop": ".closing" },
  output: ({ context }) =>
    context.failure
      ? { status: "failed", ...context.failure }
      : { status: "closed", ...(context.ended ?? STOPPED) },
  states: {
    authorizing: {
      initial: "allowlist",
      states: {
        allowlist: {
          always: [
            {
              guard: { type: "targetAllowed", params: ({ context }) => context.target },
              target: "access",
            },
            {
              target: "#tunnelProxy.closing",
              actions: assign({
                failure: ({ context }) => ({
                  kind: "not_allowed" as const,
                  reason: `target ${showTarget(context.target)} is not allowed`,
                }),
              }),
            },
          ],
        },
        access: {
          invoke: {
            src: "checkAccess",
            input: ({ context }) => context.target,
            onDone: [
              { guard: ({ event }) => event.output.allowed, target: "#tunnelProxy.dialing" },
              {
                target: "#tunnelProxy.closing",
                actions: assign({
                  failure: ({ event }) => ({
                    kind: "denied" as const,
                    reason: `access denied: ${
                      event.output.allowed ? "" : event.output.reason || "no reason given"
                    }`,
                  }),
                }),
              },
            ],
            onError: {
              target: "#tunnelProxy.closing",
              actions: assign({
                failure: ({ event }) => ({
                  kind: "denied" as const,
                  reason: `access denied: the access check failed: ${
                    failureOf(event.error, "denied").reason
                  }`,
                }),
              }),
            },
          },
        },
      },
    },
    dialing: {
      type: "parallel",
      after: {
        dialTimeout: {
          target: "closing",
          actions: assign({
            failure: ({ context }) => {
              const waiting = [
                ...(context.websocketUp ? [] : ["the WebSocket"]),
                ...(context.targetUp ? [] : [`target ${showTarget(context.target)}`]),
              ];
              return {
                kind: "timeout" as const,
                reason: `timeout: ${
                  waiting.join(" and ")
                } did not open within ${context.dialTimeoutMs} ms`,
              };
            },
          }),
        },
      },
      onDone: "open",
      states: {
        websocket: {
          initial: "connecting",
          states: {
            connecting: {
              invoke: {
                src: "dialWebSocket",
                onDone: { target: "up", actions: assign({ websocketUp: true }) },
                onError: {
                  target: "#tunnelProxy.closing",
                  actions: assign({ failure: ({ event }) => failureOf(event.error, "dial") }),
                },
              },
            },
            up: { type: "final" },
          },
        },
        target: {
          initial: "connecting",
          states: {
            connecting: {
              invoke: {
                src: "dialTarget",
                input: ({ context }) => context.target,
                onDone: { target: "up", actions: assign({ targetUp: true }) },
                onError: {
                  target: "#tunnelProxy.closing",
                  actions: assign({ failure: ({ event }) => failureOf(event.error, "dial") }),
                },
              },
            },
            up: { type: "final" },
          },
        },
      },
    },
    open: {
      entry: "reportOpen",
      invoke: {
        src: "pipe",
        onDone: { target: "closing", actions: assign({ ended: ({ event }) => event.output }) },
        // The tunnel was up and reported open: a pipe that breaks closes it, it does not fail it.
        onError: {
          target: "closing",
          actions: assign({
            ended: ({ event }) => ({ code: 1011, reason: failureOf(event.error, "dial").reason }),
          }),
        },
      },
    },
    closing: {
      // Stopping twice must not start the release again.
      on: { "outpost.stop": {} },
      invoke: {
        src: "release",
        // What a side that is still open is closed with.
        input: ({ context }) =>
          context.failure ? { code: 1011, reason: context.failure.reason } : STOPPED,
        onDone: [
          { guard: ({ context }) => context.failure !== undefined, target: "failed" },
          { target: "closed" },
        ],
        onError: [
          { guard: ({ context }) => context.failure !== undefined, target: "failed" },
          { target: "closed" },
        ],
      },
    },
    closed: {
      type: "final",
      entry: { type: "reportClosed", params: ({ context }) => context.ended ?? STOPPED },
    },
    failed: {
      type: "final",
      entry: { type: "reportFailed", params: ({ context }) => context.failure! },
    },
  },
});
