/**
 * A supervised actor around one asynchronous service (a server, a loaded
 * authority, the embedded broker): it starts the service, runs until
 * `outpost.stop`, then closes it and finishes. A start that rejects is an
 * error exit, so the supervisor applies its policy; a forced stop still
 * closes the service.
 *
 * ```
 * starting ──ready──► running ──outpost.stop──► stopping ──closed──► stopped (final)
 *    └──failed──► error exit
 * ```
 */
import { assign, fromCallback, sendTo, setup } from "xstate";
import { getLogger } from "./logging.ts";
import type { ActorLogic } from "./spec.ts";

/** A started service: what closing it takes, and the port it listens on, if any. */
export interface RunningService {
  close(): Promise<void>;
  /** Shown in the actor's context (`outpost tree`). */
  port?: number;
}

const log = getLogger("runtime");

type ServeEvent =
  | { type: "ready"; port: number | undefined }
  | { type: "failed"; error: unknown }
  | { type: "closed" };

/**
 * Runs `start()` as an actor named `name` (for logs); `onReady` sees the
 * started service (to log where it listens).
 *
 * @example
 * ```ts
 * child("api", serviceActor("api", () => startApiServer(options)));
 * ```
 */
export function serviceActor<S extends RunningService>(
  name: string,
  start: () => Promise<S>,
  onReady?: (service: S) => void,
): ActorLogic {
  const serve = fromCallback<{ type: "close" }, void>(({ sendBack, receive }) => {
    const starting = start();
    let closing: Promise<void> | undefined;
    const close = () =>
      closing ??= starting.then((service) => service.close(), () => {}).catch((error) =>
        log.error("Closing {name} failed: {error}", { name, error })
      );
    starting.then(
      (service) => {
        onReady?.(service);
        sendBack({ type: "ready", port: service.port });
      },
      (error) => sendBack({ type: "failed", error }),
    );
    receive(() => void close().then(() => sendBack({ type: "closed" })));
    return () => void close();
  });

  return setup({
    types: {
      context: {} as { port: number | undefined },
      events: {} as ServeEvent | { type: "outpost.stop" },
    },
    actors: { serve },
    actions: {
      fail: (_, { error }: { error: unknown }) => {
        throw error;
      },
    },
  }).createMachine({
    id: name,
    context: { port: undefined },
    invoke: { id: "serve", src: "serve" },
    initial: "starting",
    on: { "outpost.stop": ".stopping" },
    states: {
      starting: {
        on: {
          ready: { target: "running", actions: assign({ port: ({ event }) => event.port }) },
          failed: { actions: { type: "fail", params: ({ event }) => ({ error: event.error }) } },
        },
      },
      running: {},
      stopping: {
        entry: sendTo("serve", { type: "close" }),
        on: { closed: "stopped", "outpost.stop": {} },
      },
      stopped: { type: "final" },
    },
  });
}
