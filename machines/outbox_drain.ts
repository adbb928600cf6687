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
 * `drainPass` publishes the outbox's records with an id above its input
 * `after` and reports `drain.empty` or `drain.failed`; `appendWatch`
 * reports new records.
 *
 * `resumeAfter`: a pass that ended empty had every record up to `through`
 * acknowledged, so the next pass starts after it instead of reading the
 * acknowledged records again (their deletes are batched, outbox.ts). A
 * failed pass leaves it alone: the next one starts again from there, at the
 * oldest record that may be unacknowledged.
 * A failure while the link still looks up (a refused publish, or a drop the
 * link has not reported yet) is retried after `retryDelay`, not at once.
 */
import { assign, fromCallback, setup } from "xstate";

/** Everything the drain machine reacts to. */
export type OutboxDrainEvent =
  | { type: "link.up" }
  | { type: "link.down" }
  | { type: "outbox.appended" }
  | { type: "drain.empty"; through: number }
  | { type: "drain.failed"; error: unknown }
  | { type: "outpost.stop" };

/** What a drain pass starts from. */
export interface DrainPassInput {
  /** Records with an id up to this one are acknowledged. */
  after: number;
}

// Placeholders: the binding provides the real actors with `.provide()`.
const unprovided = fromCallback<OutboxDrainEvent>(() => {
  throw new Error("outboxDrainMachine: provide linkStatus, drainPass and appendWatch");
});
const unprovidedPass = fromCallback<OutboxDrainEvent, DrainPassInput>(() => {
  throw new Error("outboxDrainMachine: provide linkStatus, drainPass and appendWatch");
});

/** One cloud's outbox drain, with its effects left to `.provide()`. */
export const outboxDrainMachine = setup({
  types: {
    context: {} as { connected: boolean; resumeAfter: number },
    events: {} as OutboxDrainEvent,
  },
  actors: {
    linkStatus: unprovided,
    drainPass: unprovidedPass,
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
  context: { connected: false, resumeAfter: 0 },
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
      invoke: { src: "drainPass", input: ({ context }) => ({ after: context.resumeAfter }) },
      on: {
        "drain.empty": {
          target: "idle",
          actions: assign({ resumeAfter: ({ event }) => event.through }),
        },
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
