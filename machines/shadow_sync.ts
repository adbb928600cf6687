/**
 * The life of one AWS IoT Device Shadow as the device keeps it in sync
 * (PROTOCOLS.md §2). Pure: publishing, applying and persisting are named
 * actions that actors/aws/shadow.ts provides; the link, the responses and
 * the device's own reports arrive as events.
 *
 * ```
 *            link.up                 get.accepted
 *  offline ──────────► fetching ───────────────────────────► synced ◄─┐
 *     ▲                 │   │ get.rejected 404                 │      │
 *     │ link.down       │   └──────────────► creating ─────────┘      │ update.accepted
 *     │ (from any)      │ timeout / other rejection   │ rejected      │
 *     │                 ▼                             ▼               │
 *     └──────────── waiting (retryMs) ──► fetching ◄── update.rejected 409 (at once),
 *                        ▲                                  429 / 5xx (via waiting)
 *                        └──────────────────────────────────┘
 * ```
 *
 * Every (re)connect starts with `get`: deltas published while the device
 * was offline arrive only through a persistent session, so Outpost never
 * relies on them. A delta older than the version already seen is dropped.
 */
import { assign, fromCallback, setup } from "xstate";

/** The shadow as `get/accepted` returns it. */
export interface FetchedShadow {
  desired: Record<string, unknown>;
  reported: Record<string, unknown>;
  /** What AWS computed as the difference, when it sent one. */
  delta?: Record<string, unknown>;
  version: number;
}

/** Events the shadow sync machine takes. */
export type ShadowSyncEvent =
  | { type: "link.up" }
  | { type: "link.down" }
  | { type: "get.accepted"; shadow: FetchedShadow }
  | { type: "get.rejected"; code: number; message: string }
  | { type: "update.accepted"; version: number; reported?: Record<string, unknown> }
  | { type: "update.rejected"; code: number; message: string }
  | { type: "delta"; state: Record<string, unknown>; version: number }
  | { type: "outpost.stop" };

/** Timing, in milliseconds. */
export interface ShadowSyncInput {
  /** How long a `get` may go unanswered. */
  requestTimeoutMs: number;
  /** Wait before fetching again after a failure. */
  retryMs: number;
}

/** The sync statechart; provide every action from the actor. */
export const shadowSyncMachine = setup({
  types: {
    // The version of the newest desired state applied: a delta at or below it is old news.
    context: {} as ShadowSyncInput & { appliedVersion: number },
    events: {} as ShadowSyncEvent,
    input: {} as ShadowSyncInput,
  },
  actors: {
    /** Runs for the machine's whole life: link status, responses and deltas come back as events. */
    shadowLink: fromCallback<ShadowSyncEvent>(() => {}),
  },
  actions: {
    /** Publishes `get` (the response topics are already subscribed). */
    requestGet: () => {},
    /** Publishes an update that creates the shadow with the current reported state. */
    createShadow: () => {},
    /** Takes a fetched document: applies its delta, reports what differs. */
    reconcile: (_, _params: { shadow: FetchedShadow }) => {},
    /** Applies one delta through the handlers and reports the result. */
    applyDelta: (_, _params: { state: Record<string, unknown>; version: number }) => {},
    /** Records what an accepted update says the cloud holds now. */
    confirmUpdate: (_, _params: { version: number; reported?: Record<string, unknown> }) => {},
    /** Logs a rejection the machine recovers from. */
    reportRejection: (_, _params: { request: string; code: number; message: string }) => {},
    /** The device's reports can go out now; before this they wait. */
    synced: () => {},
    /** Reports stop: the link is down or the shadow is being fetched again. */
    unsynced: () => {},
  },
  guards: {
    notFound: (_, params: { code: number }) => params.code === 404,
    conflict: (_, params: { code: number }) => params.code === 409,
    /** Too many requests or a server error: fetch again after a pause; a 400 would only repeat. */
    throttled: (_, params: { code: number }) => params.code >= 429,
    fresh: ({ context }, params: { version: number }) => params.version > context.appliedVersion,
  },
  delays: {
    requestTimeout: ({ context }) => context.requestTimeoutMs,
    retry: ({ context }) => context.retryMs,
  },
}).createMachine({
  id: "shadowSync",
  context: ({ input }) => ({
    requestTimeoutMs: input?.requestTimeoutMs ?? 10_000,
    retryMs: input?.retryMs ?? 5000,
    appliedVersion: 0,
  }),
  initial: "offline",
  invoke: { src: "shadowLink" },
  on: {
    "link.down": { target: ".offline", actions: "unsynced" },
    "outpost.stop": { target: ".stopped", actions: "unsynced" },
  },
  states: {
    offline: {
      on: { "link.up": "fetching" },
    },
    fetching: {
      entry: "requestGet",
      on: {
        "get.accepted": {
          target: "synced",
          actions: [
            assign({ appliedVersion: ({ event }) => event.shadow.version }),
            { type: "reconcile", params: ({ event }) => ({ shadow: event.shadow }) },
          ],
        },
        "get.rejected": [
          { guard: { type: "notFound", params: ({ event }) => event }, target: "creating" },
          {
            target: "waiting",
            actions: {
              type: "reportRejection",
              params: ({ event }) => ({ request: "get", ...event }),
            },
          },
        ],
      },
      after: { requestTimeout: "waiting" },
    },
    creating: {
      entry: "createShadow",
      on: {
        "update.accepted": {
          target: "synced",
          actions: { type: "confirmUpdate", params: ({ event }) => event },
        },
        "update.rejected": {
          target: "waiting",
          actions: {
            type: "reportRejection",
            params: ({ event }) => ({ request: "create", ...event }),
          },
        },
      },
      after: { requestTimeout: "waiting" },
    },
    synced: {
      entry: "synced",
      on: {
        delta: {
          guard: { type: "fresh", params: ({ event }) => event },
          actions: [
            assign({ appliedVersion: ({ event }) => event.version }),
            { type: "applyDelta", params: ({ event }) => event },
          ],
        },
        "update.accepted": { actions: { type: "confirmUpdate", params: ({ event }) => event } },
        "update.rejected": [
          {
            // Someone changed the shadow since the version the report was based on.
            guard: { type: "conflict", params: ({ event }) => event },
            target: "fetching",
            actions: [
              "unsynced",
              {
                type: "reportRejection",
                params: ({ event }) => ({ request: "update", ...event }),
              },
            ],
          },
          {
            guard: { type: "throttled", params: ({ event }) => event },
            target: "waiting",
            actions: [
              "unsynced",
              {
                type: "reportRejection",
                params: ({ event }) => ({ request: "update", ...event }),
              },
            ],
          },
          {
            actions: {
              type: "reportRejection",
              params: ({ event }) => ({ request: "update", ...event }),
            },
          },
        ],
      },
    },
    waiting: {
      after: { retry: "fetching" },
    },
    stopped: { type: "final" },
  },
});
