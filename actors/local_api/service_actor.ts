/**
 * A supervised actor around one asynchronous service (a server, a loaded
 * authority): it starts the service, runs until `outpost.stop`, then
 * closes it and finishes. A start that rejects is an error exit, so the
 * supervisor applies its policy; a forced stop still closes the service.
 * Each child of the `local-api` subtree is one of these.
 */
import { fromCallback, sendTo, setup } from "xstate";
import { getLogger } from "../runtime/logging.ts";
import type { ActorLogic } from "../runtime/spec.ts";

/** A started service: what closing it takes. */
export interface RunningService {
  close(): Promise<void>;
}

const log = getLogger("local-api");

type ServeEvent = { type: "ready" } | { type: "failed"; error: unknown } | { type: "closed" };

/**
 * Runs `start()` as an actor named `name` (for logs).
 *
 * @example
 * ```ts
 * child("api", serviceActor("api", () => startApiServer(options)));
 * ```
 */
export function serviceActor(name: string, start: () => Promise<RunningService>): ActorLogic {
  const serve = fromCallback<{ type: "close" }, void>(({ sendBack, receive }) => {
    const starting = start();
    let closing: Promise<void> | undefined;
    const close = () =>
      closing ??= starting.then((service) => service.close(), () => {}).catch((error) =>
        log.error("Closing {name} failed: {error}", { name, error })
      );
    starting.then(
      () => sendBack({ type: "ready" }),
      (error) => sendBack({ type: "failed", error }),
    );
    receive(() => void close().then(() => sendBack({ type: "closed" })));
    return () => void close();
  });

  return setup({
    types: { events: {} as ServeEvent | { type: "outpost.stop" } },
    actors: { serve },
    actions: {
      fail: (_, { error }: { error: unknown }) => {
        throw error;
      },
    },
  }).createMachine({
    id: name,
    invoke: { id: "serve", src: "serve" },
    initial: "starting",
    on: { "outpost.stop": ".stopping" },
    states: {
      starting: {
        on: {
          ready: "running",
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
