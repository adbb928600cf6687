/**
 * The life of one cloud's outbox drain:
 *
 * ```
 *             link.up                 drain.empty
 *  waiting ───────────▶ draining ───────────────▶ idle
 *     ▲  ◀─────────────    │  ▲                    │
 *     │    drain.failed    │  └────────────────────┘
 *     │                    │     outbox.appended
 *     └──── link.down (from any state) ◀──┘
 *
 *  outpost.stop (from any state) ─▶ stopped (final)
 * ```
 *
 * Effects are provided by the binding (actors/telemetry/drain.ts):
 * `linkStatus` reports the link's state at once and on every change;
 * `drainPass` publishes the outbox from its oldest record and reports
 * `drain.empty` or `drain.failed`; `appendWatch` reports new records.
 * A failure while the link still looks up (a refused publish, or a drop the
 * link has not reported yet) is retried after `retryDelay`, not at once.
 */
import { assign, fromCallback, setup } from "xstate";

/** Everything the drain machine reacts to. */
export type OutboxDrainEvent =
  | { type: "link.up" }
  | { type: "link.down" }
  | { type: "outbox.appended" }
  | { type: "drain.empty" }
  | { type: "drain.failed"; error: unknown }
  | { type: "outpost.stop" };

// Placeholders: the binding provides the real actors with `.provide()`.
const unprovided = fromCallback<OutboxDrainEvent>(() => {
  throw new Error("outboxDrainMachine: provide linkStatus, drainPass and appendWatch");
});

/** One cloud's outbox drain, with its effects left to `.provide()`. */
export const outboxDrainMachine = setup({
  types: {
    context: {} as { connected: boolean },
    events: {} as OutboxDrainEvent,
  },
  actors: {
    linkStatus: unprovided,
    drainPass: unprovided,
    appendWatch: unprovided,
  },
  actions: {
    reportFailure: (_, _params: { error: unknown }) => {},
  },
  guards: {
    connected: ({ context }) => context.connected,
  },
  delays: {
    retryDelay: 1000,
  },
}).createMachine({
  id: "outboxDrain",
  context: { connected: false },
  invoke: { src: "linkStatus" },
  on: {
    "link.up": { actions: assign({ connected: true }) },
    "link.down": { target: ".waiting", actions: assign({ connected: false }) },
    "outpost.stop": ".stopped",
  },
  initial: "waiting",
  states: {
    waiting: {
      on: {
        "link.up": { target: "draining", actions: assign({ connected: true }) },
      },
      after: {
        retryDelay: { guard: "connected", target: "draining" },
      },
    },
    draining: {
      invoke: { src: "drainPass" },
      on: {
        "drain.empty": "idle",
        "drain.failed": {
          target: "waiting",
          actions: { type: "reportFailure", params: ({ event }) => ({ error: event.error }) },
        },
      },
    },
    idle: {
      invoke: { src: "appendWatch" },
      on: { "outbox.appended": "draining" },
    },
    stopped: { type: "final" },
  },
});
