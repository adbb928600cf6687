/**
 * A supervised actor around one asynchronous job that ends by itself (a
 * provisioning run, a registration): it starts the job with an
 * `AbortSignal`, and
 * - when the job resolves, finishes with its result as output (a normal
 *   exit), or, with `untilStop`, waits in `done` for `outpost.stop`;
 * - when the job rejects, fails, so that its supervisor applies its policy;
 * - on `outpost.stop`, aborts the signal, calls `onStop`, waits for the job
 *   to settle (within the child's shutdown budget) and finishes. A forced
 *   stop aborts the signal too.
 *
 * ```
 * running ──resolved──► done (final; with untilStop: waits for outpost.stop)
 *    ├──resolved, failedWhen──► failed (with untilStop: waits for outpost.stop)
 *    ├──rejected──► error exit
 *    └──outpost.stop──► stopping ──job settled──► stopped (final)
 * ```
 */
import { assign, fromCallback, sendTo, setup } from "xstate";
import type { ActorLogic } from "./spec.ts";

/** Options of {@link taskActor}. */
export interface TaskOptions {
  /**
   * Called once when `outpost.stop` arrives, whether the job still runs or
   * is done: release whoever waits for the job's result.
   */
  onStop?: () => void;
  /**
   * After the job resolves, stay in `done` until `outpost.stop` instead of
   * finishing: for a permanent child, which a normal exit would restart.
   * Default false.
   */
  untilStop?: boolean;
  /**
   * With `untilStop`: a result this returns true for is a final failure the
   * job has already reported (AWS refused provisioning); the actor waits in
   * `failed` instead of `done`, so `outpost tree` shows it.
   */
  failedWhen?: (output: unknown) => boolean;
}

type TaskEvent =
  | { type: "task.done"; output: unknown }
  | { type: "task.failed"; error: unknown }
  | { type: "task.settled" }
  | { type: "outpost.stop" };

/**
 * Runs `job` as an actor named `name`; `outpost.stop` aborts the signal it
 * is given.
 *
 * @example
 * ```ts
 * child("provisioning", taskActor("provisioning", (signal) => provision(options, signal)), {
 *   restart: "transient",
 * });
 * ```
 */
export function taskActor<T>(
  name: string,
  job: (signal: AbortSignal) => Promise<T>,
  options: TaskOptions = {},
): ActorLogic {
  const run = fromCallback<{ type: "abort" }, void>(({ sendBack, receive }) => {
    const controller = new AbortController();
    let running: Promise<T>;
    try {
      running = job(controller.signal);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (output) => sendBack({ type: "task.done", output }),
      (error) => sendBack({ type: "task.failed", error }),
    );
    receive(() => {
      controller.abort();
      const settled = () => sendBack({ type: "task.settled" });
      running.then(settled, settled);
    });
    return () => controller.abort();
  });

  return setup({
    types: {
      context: {} as { output: T | undefined },
      events: {} as TaskEvent,
    },
    actors: { run },
    actions: {
      stopped: () => options.onStop?.(),
      fail: (_, { error }: { error: unknown }) => {
        throw error;
      },
    },
  }).createMachine({
    id: name,
    context: { output: undefined },
    invoke: { id: "run", src: "run" },
    initial: "running",
    on: { "outpost.stop": ".stopping" },
    states: {
      running: {
        on: {
          "task.done": [{
            guard: ({ event }) =>
              options.untilStop === true && !!options.failedWhen?.(event.output),
            target: "failed",
            actions: assign({ output: ({ event }) => event.output as T }),
          }, {
            target: "done",
            actions: assign({ output: ({ event }) => event.output as T }),
          }],
          "task.failed": {
            actions: { type: "fail", params: ({ event }) => ({ error: event.error }) },
          },
        },
      },
      done: options.untilStop ? {} : { type: "final" },
      failed: {},
      stopping: {
        entry: [sendTo("run", { type: "abort" }), "stopped"],
        on: { "task.settled": "stopped", "outpost.stop": {} },
      },
      stopped: { type: "final" },
    },
    output: ({ context }) => context.output,
  });
}
