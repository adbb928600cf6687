/**
 * One DPS registration (PROTOCOLS.md §3), as a statechart:
 *
 * ```
 *  registering ──assigning──▶ waiting ──after retry-after──▶ polling ──assigning──▶ waiting …
 *     │  ▲                                                     │
 *     │  └──── backingOff ◀── throttled (≥ 429) / no reply ────┘
 *     ├──assigned──▶ assigned (final, output: hub + deviceId)
 *     └──failed (other 4xx, bad reply, too many attempts)──▶ failed (final, output: reason)
 * ```
 *
 * Effects are named actions that the binding (actors/azure/dps.ts)
 * provides: `sendRegister` publishes `iotdps-register` with a fresh `$rid`,
 * `sendPoll` publishes `iotdps-get-operationstatus` for `operationId`. The
 * binding parses replies with protocols/azure_dps.ts and sends them in as
 * `dps.reply`. Every wait is a named delay, so a SimulatedClock drives it.
 */
import { assign, setup } from "xstate";
import type { DpsOutcome } from "../protocols/azure_dps.ts";
import { backoffDelay } from "./backoff.ts";

/** Events of the registration machine. */
export type DpsEvent = { type: "dps.reply"; outcome: DpsOutcome } | { type: "outpost.stop" };

/** Limits of one registration. */
export interface DpsMachineInput {
  /** Throttled or unanswered requests tolerated before failing. Default 5. */
  maxAttempts?: number;
  /** Status polls tolerated while the service keeps answering "assigning". Default 60. */
  maxPolls?: number;
  /** First backoff after throttling; doubles each attempt. Default 2000 ms. */
  minBackoffMs?: number;
  /** Longest backoff. Default 60000 ms. */
  maxBackoffMs?: number;
  /** Poll interval when a 202 has no `retry-after`. Default 3000 ms. */
  pollMs?: number;
  /** How long a request may go unanswered. Default 30000 ms. */
  replyTimeoutMs?: number;
}

/** How a registration ended. */
export type DpsResult =
  | { kind: "assigned"; hub: string; deviceId: string }
  | { kind: "failed"; reason: string };

interface DpsContext {
  limits: Required<DpsMachineInput>;
  attempt: number;
  polls: number;
  operationId?: string;
  waitMs: number;
  result?: DpsResult;
}

/** The wait after throttled attempt number `attempt` (from 1): the backoff, or longer if DPS asks. */
function backoffMs(limits: Required<DpsMachineInput>, attempt: number, retryAfterSec?: number) {
  const curve = { minMs: limits.minBackoffMs, maxMs: limits.maxBackoffMs, jitter: 0 };
  return Math.max(backoffDelay(curve, attempt - 1, 0), (retryAfterSec ?? 0) * 1000);
}

const isOutcome = (kind: DpsOutcome["kind"]) => ({ event }: { event: DpsEvent }) =>
  event.type === "dps.reply" && event.outcome.kind === kind;

// What a reply does, in `registering` and `polling` alike.
const onReply = [
  { guard: "assigned", target: "assigned", actions: "recordAssigned" },
  { guard: "assigning", target: "waiting", actions: "recordOperation" },
  { guard: "throttledWithAttemptsLeft", target: "backingOff", actions: "backOff" },
  { guard: "throttled", target: "failed", actions: "recordThrottled" },
  { target: "failed", actions: "recordFailure" },
] as const;

// An unanswered request counts as one attempt, like a throttled one.
const onNoReply = [
  { guard: "attemptsLeft", target: "backingOff", actions: "backOff" },
  { target: "failed", actions: "recordSilence" },
] as const;

function outcomeOf<K extends DpsOutcome["kind"]>(event: DpsEvent, kind: K) {
  return event.type === "dps.reply" && event.outcome.kind === kind
    ? event.outcome as Extract<DpsOutcome, { kind: K }>
    : undefined;
}

/** The registration statechart; provide `sendRegister` and `sendPoll`. */
export const dpsRegistrationMachine = setup({
  types: {
    context: {} as DpsContext,
    events: {} as DpsEvent,
    input: {} as DpsMachineInput,
    output: {} as DpsResult,
  },
  actions: {
    sendRegister: () => {},
    sendPoll: (_, _params: { operationId: string }) => {},
    recordAssigned: assign({
      result: ({ event }) => {
        const outcome = outcomeOf(event, "assigned")!;
        return { kind: "assigned", hub: outcome.hub, deviceId: outcome.deviceId };
      },
    }),
    recordOperation: assign(({ context, event }) => {
      const outcome = outcomeOf(event, "assigning")!;
      return {
        operationId: outcome.operationId,
        waitMs: outcome.retryAfterSec === undefined
          ? context.limits.pollMs
          : outcome.retryAfterSec * 1000,
      };
    }),
    backOff: assign(({ context, event }) => ({
      waitMs: backoffMs(
        context.limits,
        context.attempt,
        outcomeOf(event, "throttled")?.retryAfterSec,
      ),
      attempt: context.attempt + 1,
    })),
    recordThrottled: assign({
      result: ({ context, event }) => ({
        kind: "failed",
        reason: `DPS still throttles (status ${
          outcomeOf(event, "throttled")!.status
        }) after ${context.attempt} attempts`,
      }),
    }),
    recordFailure: assign({
      result: ({ event }) => ({
        kind: "failed",
        reason: outcomeOf(event, "failed")?.reason ?? "DPS sent an unexpected reply",
      }),
    }),
    recordSilence: assign({
      result: ({ context }) => ({
        kind: "failed",
        reason:
          `DPS did not answer within ${context.limits.replyTimeoutMs} ms, ${context.attempt} times`,
      }),
    }),
  },
  guards: {
    assigning: isOutcome("assigning"),
    assigned: isOutcome("assigned"),
    throttled: isOutcome("throttled"),
    throttledWithAttemptsLeft: ({ context, event }) =>
      isOutcome("throttled")({ event }) && context.attempt < context.limits.maxAttempts,
    attemptsLeft: ({ context }) => context.attempt < context.limits.maxAttempts,
    pollsLeft: ({ context }) => context.polls < context.limits.maxPolls,
    hasOperation: ({ context }) => context.operationId !== undefined,
  },
  delays: {
    wait: ({ context }) => context.waitMs,
    replyTimeout: ({ context }) => context.limits.replyTimeoutMs,
  },
}).createMachine({
  id: "azureDps",
  context: ({ input }) => ({
    limits: {
      maxAttempts: input?.maxAttempts ?? 5,
      maxPolls: input?.maxPolls ?? 60,
      minBackoffMs: input?.minBackoffMs ?? 2000,
      maxBackoffMs: input?.maxBackoffMs ?? 60_000,
      pollMs: input?.pollMs ?? 3000,
      replyTimeoutMs: input?.replyTimeoutMs ?? 30_000,
    },
    attempt: 1,
    polls: 0,
    waitMs: 0,
  }),
  initial: "registering",
  on: {
    "outpost.stop": {
      target: ".failed",
      actions: assign({ result: { kind: "failed", reason: "stopped before it was assigned" } }),
    },
  },
  states: {
    registering: {
      entry: "sendRegister",
      on: { "dps.reply": [...onReply] },
      after: { replyTimeout: [...onNoReply] },
    },
    polling: {
      entry: [
        assign({ polls: ({ context }) => context.polls + 1 }),
        { type: "sendPoll", params: ({ context }) => ({ operationId: context.operationId! }) },
      ],
      on: { "dps.reply": [...onReply] },
      after: { replyTimeout: [...onNoReply] },
    },
    waiting: {
      always: {
        guard: ({ context }) => context.polls >= context.limits.maxPolls,
        target: "failed",
        actions: assign({
          result: ({ context }) => ({
            kind: "failed",
            reason: `DPS was still assigning after ${context.polls} status polls`,
          }),
        }),
      },
      after: { wait: "polling" },
    },
    backingOff: {
      after: {
        wait: [{ guard: "hasOperation", target: "polling" }, { target: "registering" }],
      },
    },
    assigned: { type: "final" },
    failed: { type: "final" },
  },
  output: ({ context }) => context.result ?? { kind: "failed", reason: "no result" },
});
