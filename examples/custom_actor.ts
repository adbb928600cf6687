/**
 * An embedding app with its own actor: a sensor poller machine under a
 * supervisor with a restart policy. The program crashes it on purpose and
 * prints the supervision tree before and after, showing the restart.
 *
 * Run: deno run examples/custom_actor.ts
 */
import { assign, setup } from "xstate";
import { type ActorTreeNode, child, createSystem, supervisor } from "../mod.ts";

/** Reads a (pretend) sensor every 50 ms; the `fault` event makes a reading fail. */
const sensorPoller = setup({
  types: {
    context: {} as { readings: number },
    events: {} as { type: "fault" } | { type: "outpost.stop" },
  },
  actions: {
    read: assign({ readings: ({ context }) => context.readings + 1 }),
    failReading: () => {
      throw new Error("sensor returned garbage");
    },
  },
}).createMachine({
  id: "sensor-poller",
  context: { readings: 0 },
  initial: "polling",
  states: {
    polling: {
      after: { 50: { target: "polling", reenter: true, actions: "read" } },
      on: {
        fault: { actions: "failReading" },
        "outpost.stop": "done",
      },
    },
    done: { type: "final" },
  },
});

const system = createSystem(
  supervisor("app", { strategy: "one_for_one", intensity: 3, periodMs: 10_000 }, [
    child("sensor", sensorPoller, {
      restart: "permanent",
      backoff: { minMs: 10, maxMs: 1000 },
    }),
  ]),
);

system.subscribe((event) => {
  if (event.type === "exited" && event.reason === "error") {
    console.log(`! ${event.path} crashed: ${(event.error as Error).message}`);
  }
  if (event.type === "restarting") {
    console.log(`! ${event.path} restarts in ${event.delayMs} ms`);
  }
});

await system.start();
console.log("Tree before the crash:");
printTree(system.tree());

const restarted = new Promise<void>((resolve) => {
  const subscription = system.subscribe((event) => {
    if (event.type === "started" && event.path === "app/sensor" && event.restarts > 0) {
      subscription.unsubscribe();
      resolve();
    }
  });
});
system.get("app/sensor")?.send({ type: "fault" });
await restarted;

console.log("Tree after the crash:");
printTree(system.tree());
await system.stop();

function printTree(node: ActorTreeNode, depth = 0): void {
  const state = node.kind === "worker" ? ` state=${JSON.stringify(node.state)}` : "";
  console.log(
    `${
      "  ".repeat(depth)
    }${node.path} [${node.kind}] ${node.status}${state} restarts=${node.restarts}`,
  );
  for (const c of node.children) printTree(c, depth + 1);
}
