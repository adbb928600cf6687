/**
 * A question put to the device's user that must be answered in time: an
 * access confirmation (a remote party wants a feature set to
 * AfterConfirmation) or an instant-support connection request.
 *
 * ```
 *  asking ──accept──► accepted (final)
 *    │ ────reject──► rejected (final)
 *    └──after timeoutMs──► timedOut (final)
 *  asking ──cancel──► cancelled (final)    (the agent stops, the case closes)
 * ```
 *
 * The first answer wins: once final, later answers are ignored. Pure: the
 * question is put by the action `ask` (on entry), and the outcome is the
 * machine's output; actors/support/ provides `ask` and reads the output.
 */
import { assign, setup } from "xstate";

/** How a question was settled. */
export type ConfirmationOutcome = "accepted" | "rejected" | "timedOut" | "cancelled";

/** What the machine is started with. */
export interface ConfirmationInput {
  /** Time for an answer before the outcome is `timedOut`. */
  timeoutMs: number;
}

/** Answers and cancellation. */
export type ConfirmationEvent =
  | { type: "accept" }
  | { type: "reject" }
  | { type: "cancel" };

/**
 * The confirmation statechart. Provide `ask` to put the question to the
 * user; read `snapshot.output` once `snapshot.status === "done"`.
 *
 * @example
 * ```ts
 * const actor = createActor(confirmationMachine.provide({ actions: { ask: () => broadcast() } }), {
 *   input: { timeoutMs: 60_000 },
 * }).start();
 * actor.send({ type: "accept" });
 * actor.getSnapshot().output; // "accepted"
 * ```
 */
export const confirmationMachine = setup({
  types: {
    context: {} as { timeoutMs: number; outcome: ConfirmationOutcome | undefined },
    events: {} as ConfirmationEvent,
    input: {} as ConfirmationInput,
    output: {} as ConfirmationOutcome,
  },
  actions: {
    ask: () => {},
  },
  delays: {
    answerTimeout: ({ context }) => context.timeoutMs,
  },
}).createMachine({
  id: "confirmation",
  context: ({ input }) => ({ timeoutMs: input.timeoutMs, outcome: undefined }),
  initial: "asking",
  states: {
    asking: {
      entry: "ask",
      on: {
        accept: { target: "accepted", actions: assign({ outcome: "accepted" }) },
        reject: { target: "rejected", actions: assign({ outcome: "rejected" }) },
        cancel: { target: "cancelled", actions: assign({ outcome: "cancelled" }) },
      },
      after: { answerTimeout: { target: "timedOut", actions: assign({ outcome: "timedOut" }) } },
    },
    accepted: { type: "final" },
    rejected: { type: "final" },
    timedOut: { type: "final" },
    cancelled: { type: "final" },
  },
  output: ({ context }) => context.outcome ?? "cancelled",
});
