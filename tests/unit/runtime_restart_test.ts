import { deepEqual, equal, ok } from "node:assert/strict";
import { SimulatedClock } from "xstate";
import {
  child,
  type ChildOptions,
  createSystem,
  RestartIntensityError,
  supervisor,
  type SystemEvent,
} from "../../actors/runtime/mod.ts";
import { nextEvent, obedient, record, restarted, settle } from "../helpers/runtime.ts";

const instant = { minMs: 0, maxMs: 0 };

async function exitOnce(restart: ChildOptions["restart"], how: "crash" | "finish") {
  const system = createSystem(
    supervisor("root", { intensity: 5 }, [child("w", obedient, { restart, backoff: instant })]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  const events = record(system);
  const exited = nextEvent(system, (e) => e.type === "exited");
  system.get("root/w")!.send({ type: how });
  const exit = await exited;
  await settle();
  const node = system.tree().children.find((c) => c.id === "w");
  await system.stop();
  return { exit, node, restarted: events.some((e) => e.type === "started") };
}

for (
  const [restart, how, expected] of [
    ["permanent", "finish", true],
    ["permanent", "crash", true],
    ["transient", "finish", false],
    ["transient", "crash", true],
    ["temporary", "finish", false],
    ["temporary", "crash", false],
  ] as const
) {
  Deno.test(
    `a ${restart} child is ${expected ? "" : "not "}restarted after ${
      how === "crash" ? "an error" : "a normal exit"
    }`,
    async () => {
      const result = await exitOnce(restart, how);
      deepEqual(
        { type: result.exit.type, reason: (result.exit as { reason: string }).reason },
        { type: "exited", reason: how === "crash" ? "error" : "normal" },
      );
      equal(result.restarted, expected);
      if (expected) equal(result.node?.restarts, 1);
      else if (restart === "temporary") {
        equal(result.node, undefined, "temporary children are forgotten");
      } else equal(result.node?.status, "exited");
    },
  );
}

Deno.test("more than `intensity` restarts within `periodMs` makes the supervisor give up", async () => {
  const clock = new SimulatedClock();
  const system = createSystem(
    supervisor("root", {}, [
      supervisor("inner", { intensity: 2, periodMs: 1000, restart: "temporary" }, [
        child("w", obedient, { backoff: instant }),
        child("sibling", obedient),
      ]),
      child("bystander", obedient),
    ]),
    { clock },
  );
  await system.start();
  const events = record(system);
  for (const n of [1, 2]) {
    const back = restarted(system, "root/inner/w", n);
    clock.increment(100);
    system.get("root/inner/w")!.send({ type: "crash" });
    await back;
  }
  const gaveUp = nextEvent(system, (e) => e.type === "gave_up");
  system.get("root/inner/w")!.send({ type: "crash" });
  const event = await gaveUp as Extract<SystemEvent, { type: "gave_up" }>;
  deepEqual({ path: event.path, restarts: event.restarts, periodMs: event.periodMs }, {
    path: "root/inner",
    restarts: 2,
    periodMs: 1000,
  });
  ok(events.some((e) => e.type === "stopped" && e.path === "root/inner/sibling"));
  await settle();
  // The parent saw its (temporary) child fail with the intensity error and forgot it.
  const exit = events.find((e) => e.type === "exited" && e.path === "root/inner");
  ok(exit && exit.type === "exited" && exit.error instanceof RestartIntensityError);
  deepEqual(system.tree().children.map((c) => c.id), ["bystander"]);
  await system.stop();
});

Deno.test("restarts spread wider than `periodMs` never exhaust the intensity", async () => {
  const clock = new SimulatedClock();
  const system = createSystem(
    supervisor("root", { intensity: 1, periodMs: 1000 }, [
      child("w", obedient, { backoff: instant }),
    ]),
    { clock },
  );
  await system.start();
  for (const n of [1, 2, 3, 4]) {
    clock.increment(1000);
    const back = restarted(system, "root/w", n);
    system.get("root/w")!.send({ type: "crash" });
    await back;
  }
  equal(system.tree().status, "running");
  await system.stop();
});

Deno.test("a supervisor that gives up is restarted by its parent (escalation)", async () => {
  const system = createSystem(
    supervisor("root", { intensity: 5 }, [
      supervisor("inner", { intensity: 0, backoff: instant }, [child("w", obedient)]),
    ]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  const back = nextEvent(
    system,
    (e) => e.type === "started" && e.path === "root/inner" && e.restarts === 1,
  );
  system.get("root/inner/w")!.send({ type: "crash" });
  await back;
  const inner = system.tree().children[0];
  equal(inner.restarts, 1);
  equal(inner.status, "running");
  equal(inner.children[0].restarts, 0, "the worker is fresh: its supervisor started anew");
  equal(system.get("root/inner/w")!.getSnapshot().value, "idle");
  await system.stop();
});

Deno.test("when the root gives up, the system stops and reports why", async () => {
  const system = createSystem(
    supervisor("root", { intensity: 0 }, [child("a", obedient), child("b", obedient)]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  const events = record(system);
  system.get("root/b")!.send({ type: "crash" });
  const exit = await system.exited;
  equal(exit.reason, "gave_up");
  ok(exit.reason === "gave_up" && exit.error instanceof RestartIntensityError);
  equal(
    (exit as { error: Error }).error.message,
    'Supervisor "root" gave up: more than 0 restart(s) within 5000 ms',
  );
  equal(((exit as { error: Error }).error.cause as Error).message, "boom");
  equal(system.tree().status, "failed");
  ok(events.some((e) => e.type === "stopped" && e.path === "root/a"));
  await system.stop(); // harmless after the end
});

Deno.test("a restarted child resumes from its persisted snapshot when the spec asks", async () => {
  const { setup, assign } = await import("xstate");
  const counter = setup({
    types: { context: {} as { n: number }, events: {} as { type: "inc" } | { type: "crash" } },
    actions: {
      explode: () => {
        throw new Error("boom");
      },
    },
  }).createMachine({
    context: { n: 0 },
    initial: "counting",
    states: {
      counting: {
        on: {
          inc: { actions: assign({ n: ({ context }) => context.n + 1 }) },
          crash: { actions: "explode" },
        },
      },
    },
  });
  const { memorySnapshotStore } = await import("../../actors/runtime/mod.ts");
  const store = memorySnapshotStore();
  const system = createSystem(
    supervisor("root", { intensity: 5 }, [
      child("kept", counter, { persist: store, backoff: instant }),
      child("fresh", counter, { backoff: instant }),
    ]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  for (const id of ["kept", "fresh"]) {
    const actor = system.get(`root/${id}`)!;
    actor.send({ type: "inc" });
    actor.send({ type: "inc" });
    const back = restarted(system, `root/${id}`);
    actor.send({ type: "crash" });
    await back;
  }
  equal(system.get("root/kept")!.getSnapshot().context.n, 2);
  equal(system.get("root/fresh")!.getSnapshot().context.n, 0);
  await system.stop();
});
