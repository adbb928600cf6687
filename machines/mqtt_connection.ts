/**
 * The life of one MQTT connection, as every cloud sees it:
 *
 * ```
 *            ┌──────── reconnect ─────────┐
 *            ▼                            │
 *   ┌─► connecting ──done──► connected ───┘
 *   │     │    ▲                 │
 *   │   error  │ next broker:    │ lost
 *   │     ▼    │ round untried   │
 *   │    failed ◄────────────────┘
 *   │     │ the whole round failed
 *   │     ▼
 *   └── backoff  (after retryDelay, or at once on reconnect)
 *
 *   any state ──outpost.stop──► closing ──► closed (final)
 * ```
 *
 * Fail-over (docs/failover.md): the connection knows `brokers` brokers by
 * their index in the configured list. The first attempt dials broker 0;
 * while connected it stays where it is; a failed attempt or a lost
 * connection moves to the next broker (wrapping) at once, and only when a
 * whole round of the list has failed does it wait the backoff delay, which
 * grows with the rounds that failed and resets on a successful connect.
 * With one broker every failure is a whole round: a backoff after each.
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
  /** How many brokers the connection fails over between, in list order. Default 1. */
  brokers?: number;
  /** Source of jitter, a number in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** The input of the `connect` actor: which broker to dial, and why it is this one. */
export interface ConnectAttempt {
  /** Failed attempts and lost connections since the last successful connect. */
  attempt: number;
  /** The broker to dial: its index in the list, from 0. */
  broker: number;
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
  /** The broker connected to, being dialed, or dialed next (index in the list). */
  broker: number;
  /** How many brokers there are (from the input). */
  brokers: number;
  /** Why the last attempt failed or the last connection dropped. */
  lastError: string | undefined;
  /** Resolved backoff settings from the input. */
  backoff: RetryBackoff;
  /** Jitter source from the input. */
  random: () => number;
}

/** Parameters of the `reportFailover` action: a broker failed and the next one is dialed at once. */
export interface FailoverReport {
  /** Failures since the last successful connect. */
  attempt: number;
  error: string | undefined;
  /** The broker that failed. */
  failed: number;
  /** The broker dialed now. */
  broker: number;
}

/** Parameters of the `reportRetry` action: what a log line about a backoff needs. */
export interface RetryReport extends FailoverReport {
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

function resolveBrokers(input: MqttConnectionInput | undefined): number {
  const brokers = input?.brokers ?? 1;
  if (!Number.isSafeInteger(brokers) || brokers < 1) {
    throw new TypeError(`Invalid MQTT broker count ${brokers}: need an integer >= 1`);
  }
  return brokers;
}

// Whole rounds of the list that failed since the last successful connect,
// less one: the exponent of the backoff curve. In `backoff`, `attempt` is a
// multiple of `brokers`.
function roundsBefore(context: MqttConnectionContext): number {
  return Math.floor(context.attempt / context.brokers) - 1;
}

function failoverReport(context: MqttConnectionContext): FailoverReport {
  return {
    attempt: context.attempt,
    error: context.lastError,
    failed: (context.broker + context.brokers - 1) % context.brokers,
    broker: context.broker,
  };
}

/**
 * The MQTT connection statechart. Provide `connect` (a promise actor whose
 * input is a {@link ConnectAttempt}; it resolves once the broker's CONNACK
 * arrived and the link is attached), `watch` (a callback actor that sends
 * `lost` when the connection drops) and `disconnect` (a promise actor that
 * closes gracefully, without the will).
 *
 * @example
 * ```ts
 * const logic = mqttConnectionMachine.provide({
 *   actors: { connect: fromPromise(dial), watch: fromCallback(watchSocket), disconnect: fromPromise(close) },
 * });
 * createActor(logic, { input: { backoff: { minMs: 500 }, brokers: 2 } }).start();
 * ```
 */
export const mqttConnectionMachine = setup({
  types: {
    context: {} as MqttConnectionContext,
    events: {} as MqttConnectionEvent,
    input: {} as MqttConnectionInput | undefined,
  },
  actors: {
    connect: fromPromise<void, ConnectAttempt>(() => {
      throw new Error("The MQTT connection machine needs a `connect` actor provided");
    }),
    watch: fromCallback<EventObject, void>(() => {
      throw new Error("The MQTT connection machine needs a `watch` actor provided");
    }),
    disconnect: fromPromise<void, void>(() => Promise.resolve()),
  },
  actions: {
    reportFailover: (_, _report: FailoverReport) => {},
    reportRetry: (_, _report: RetryReport) => {},
    reportCloseFailure: (_, _report: { error: string }) => {},
    // A failed attempt (connect's error event) or a lost connection (`lost`),
    // both with their `error`: count it and move on to the next broker.
    noteFailure: assign({
      attempt: ({ context }) => context.attempt + 1,
      broker: ({ context }) => (context.broker + 1) % context.brokers,
      lastError: ({ event }) => describe((event as { error?: unknown }).error),
    }),
  },
  guards: {
    // Every broker of the list failed since the round began (with one broker: every failure).
    roundFailed: ({ context }) => context.attempt % context.brokers === 0,
  },
  delays: {
    // The first whole round that failed waits `minMs`.
    retryDelay: ({ context }) =>
      backoffDelay(context.backoff, roundsBefore(context), context.random()),
  },
}).createMachine({
  id: "mqttConnection",
  context: ({ input }) => ({
    attempt: 0,
    broker: 0,
    brokers: resolveBrokers(input),
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
        input: ({ context }) => ({ attempt: context.attempt, broker: context.broker }),
        onDone: { target: "connected", actions: assign({ attempt: 0, lastError: undefined }) },
        onError: { target: "failed", actions: "noteFailure" },
      },
    },
    connected: {
      invoke: { src: "watch" },
      on: {
        lost: { target: "failed", actions: "noteFailure" },
        reconnect: "connecting",
      },
    },
    // Decides at once: the next broker of this round, or a wait when the round is over.
    failed: {
      always: [
        { guard: "roundFailed", target: "backoff" },
        {
          target: "connecting",
          actions: { type: "reportFailover", params: ({ context }) => failoverReport(context) },
        },
      ],
    },
    backoff: {
      entry: {
        type: "reportRetry",
        params: ({ context }) => ({
          ...failoverReport(context),
          withinMs: backoffDelay(context.backoff, roundsBefore(context), 0),
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
