/**
 * The life of one MQTT connection, as every cloud sees it:
 *
 * ```
 *            ┌──────── reconnect ─────────┐
 *            ▼                            │
 *   ┌─► connecting ──done──► connected ───┤
 *   │        │                            │ lost
 *   │      error                          ▼
 *   └──── backoff ◄───────────────────────┘
 *   (after retryDelay, or at once on reconnect)
 *
 *   any state ──outpost.stop──► closing ──► closed (final)
 * ```
 *
 * Pure: dialing, watching and closing are the actors `connect`, `watch` and
 * `disconnect`, which `actors/mqtt/connection.ts` provides. A broker that is
 * down is a reason to wait, never a reason to fail, so no state here ends in
 * an error.
 */
import { assign, type EventObject, fromCallback, fromPromise, setup } from "xstate";
import { backoffDelay, type RetryBackoff, withBackoffDefaults } from "./backoff.ts";

export type { RetryBackoff } from "./backoff.ts";

/** The connection's backoff when its input names none: 1 s doubling to 60 s, less up to 20 %. */
export const DEFAULT_RETRY_BACKOFF: Readonly<RetryBackoff> = {
  minMs: 1000,
  maxMs: 60_000,
  jitter: 0.2,
};

/** What the machine is started with. */
export interface MqttConnectionInput {
  /** Missing fields take {@link DEFAULT_RETRY_BACKOFF}. */
  backoff?: Partial<RetryBackoff>;
  /** Source of jitter, a number in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** What the machine receives. */
export type MqttConnectionEvent =
  /** From `watch`: the live connection dropped. */
  | { type: "lost"; error?: unknown }
  /** From outside: close and dial again now (credentials were renewed, say). */
  | { type: "reconnect" }
  /** From the supervisor: close gracefully and finish. */
  | { type: "outpost.stop" };

/** The machine's context. */
export interface MqttConnectionContext {
  /** Failures since the last successful connect; 0 while connected. */
  attempt: number;
  /** Why the last attempt failed or the last connection dropped. */
  lastError: string | undefined;
  /** Resolved backoff settings from the input. */
  backoff: RetryBackoff;
  /** Jitter source from the input. */
  random: () => number;
}

/** Parameters of the `reportRetry` action: what a log line about a backoff needs. */
export interface RetryReport {
  attempt: number;
  error: string | undefined;
  /** The longest the wait can be (the delay before jitter). */
  withinMs: number;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error === undefined) return "the connection closed";
  return String(error);
}

function resolveBackoff(input: MqttConnectionInput | undefined): RetryBackoff {
  const backoff = withBackoffDefaults(DEFAULT_RETRY_BACKOFF, input?.backoff);
  const { minMs, maxMs, jitter } = backoff;
  if (!(minMs >= 0) || !(maxMs >= minMs) || !(jitter >= 0 && jitter <= 1)) {
    throw new TypeError(
      `Invalid MQTT reconnect backoff ${JSON.stringify(backoff)}: ` +
        "need 0 <= minMs <= maxMs and 0 <= jitter <= 1",
    );
  }
  return backoff;
}

/**
 * The MQTT connection statechart. Provide `connect` (a promise actor whose
 * input is the attempt number; it resolves once the broker's CONNACK arrived
 * and the link is attached), `watch` (a callback actor that sends `lost`
 * when the connection drops) and `disconnect` (a promise actor that closes
 * gracefully, without the will).
 *
 * @example
 * ```ts
 * const logic = mqttConnectionMachine.provide({
 *   actors: { connect: fromPromise(dial), watch: fromCallback(watchSocket), disconnect: fromPromise(close) },
 * });
 * createActor(logic, { input: { backoff: { minMs: 500 } } }).start();
 * ```
 */
export const mqttConnectionMachine = setup({
  types: {
    context: {} as MqttConnectionContext,
    events: {} as MqttConnectionEvent,
    input: {} as MqttConnectionInput | undefined,
  },
  actors: {
    connect: fromPromise<void, number>(() => {
      throw new Error("The MQTT connection machine needs a `connect` actor provided");
    }),
    watch: fromCallback<EventObject, void>(() => {
      throw new Error("The MQTT connection machine needs a `watch` actor provided");
    }),
    disconnect: fromPromise<void, void>(() => Promise.resolve()),
  },
  actions: {
    reportRetry: (_, _report: RetryReport) => {},
    reportCloseFailure: (_, _report: { error: string }) => {},
  },
  delays: {
    // `attempt` is 1 after the first failure, which waits `minMs`.
    retryDelay: ({ context }) =>
      backoffDelay(context.backoff, context.attempt - 1, context.random()),
  },
}).createMachine({
  id: "mqttConnection",
  context: ({ input }) => ({
    attempt: 0,
    lastError: undefined,
    backoff: resolveBackoff(input),
    random: input?.random ?? Math.random,
  }),
  initial: "connecting",
  on: { "outpost.stop": ".closing" },
  states: {
    connecting: {
      invoke: {
        src: "connect",
        input: ({ context }) => context.attempt,
        onDone: { target: "connected", actions: assign({ attempt: 0, lastError: undefined }) },
        onError: {
          target: "backoff",
          actions: assign({
            attempt: ({ context }) => context.attempt + 1,
            lastError: ({ event }) => describe(event.error),
          }),
        },
      },
    },
    connected: {
      invoke: { src: "watch" },
      on: {
        lost: {
          target: "backoff",
          actions: assign({
            attempt: ({ context }) => context.attempt + 1,
            lastError: ({ event }) => describe(event.error),
          }),
        },
        reconnect: "connecting",
      },
    },
    backoff: {
      entry: {
        type: "reportRetry",
        params: ({ context }) => ({
          attempt: context.attempt,
          error: context.lastError,
          withinMs: backoffDelay(context.backoff, context.attempt - 1, 0),
        }),
      },
      after: { retryDelay: "connecting" },
      on: { reconnect: "connecting" },
    },
    closing: {
      invoke: {
        src: "disconnect",
        onDone: "closed",
        onError: {
          target: "closed",
          actions: {
            type: "reportCloseFailure",
            params: ({ event }) => ({ error: describe(event.error) }),
          },
        },
      },
      // Stopping twice must not restart the graceful close.
      on: { "outpost.stop": {} },
    },
    closed: { type: "final" },
  },
});
