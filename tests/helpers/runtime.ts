/**
 * Test boxes for the actor runtime: machines that crash or finish on
 * command, and a way to wait for a lifecycle event with a deadline instead
 * of sleeping.
 */
import { setup } from "xstate";
import type { ActorSystem, SystemEvent } from "../../actors/runtime/mod.ts";

/** Events the test machines understand. */
export type TestEvent = { type: "crash" } | { type: "finish" } | { type: "outpost.stop" };

/**
 * Idle until told: `crash` throws in an action, `finish` reaches a final
 * state, and the supervisor's stop event finishes it gracefully.
 */
export const obedient = setup({
  types: { events: {} as TestEvent },
  actions: {
    explode: () => {
      throw new Error("boom");
    },
  },
}).createMachine({
  id: "obedient",
  initial: "idle",
  states: {
    idle: { on: { crash: { actions: "explode" }, finish: "done", "outpost.stop": "done" } },
    done: { type: "final" },
  },
});

/** Accepts the stop event but never finishes: it must be stopped by force. */
export const stubborn = setup({ types: { events: {} as TestEvent } }).createMachine({
  id: "stubborn",
  initial: "idle",
  states: {
    idle: { on: { "outpost.stop": "draining" } },
    draining: {},
  },
});

/** Resolves with the first event matching `match`; rejects after `timeoutMs`. */
export function nextEvent(
  system: ActorSystem,
  match: (event: SystemEvent) => boolean,
  timeoutMs = 2000,
): Promise<SystemEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`No matching lifecycle event within ${timeoutMs} ms`));
    }, timeoutMs);
    const subscription = system.subscribe((event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      subscription.unsubscribe();
      resolve(event);
    });
  });
}

/** Waits until the worker at `path` has been started `restarts` times after its first start. */
export function restarted(system: ActorSystem, path: string, restarts = 1): Promise<SystemEvent> {
  return nextEvent(
    system,
    (e) => e.type === "started" && e.path === path && e.restarts === restarts,
  );
}

/** Records every lifecycle event of a system. */
export function record(system: ActorSystem): SystemEvent[] {
  const events: SystemEvent[] = [];
  system.subscribe((event) => events.push(event));
  return events;
}

/** Lets queued microtasks and promise continuations run (no timers involved). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
