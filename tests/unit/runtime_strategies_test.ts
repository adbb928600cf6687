import { deepEqual, equal, notEqual, ok } from "node:assert/strict";
import { SimulatedClock } from "xstate";
import { child, createSystem, supervisor } from "../../actors/runtime/mod.ts";
import { obedient, record, restarted, settle } from "../helpers/runtime.ts";

const instant = { minMs: 0, maxMs: 0 };

function threeWorkers(strategy: "one_for_one" | "one_for_all" | "rest_for_one") {
  const clock = new SimulatedClock();
  const system = createSystem(
    supervisor("root", { strategy, intensity: 10 }, [
      child("a", obedient, { backoff: instant }),
      child("b", obedient, { backoff: instant }),
      child("c", obedient, { backoff: instant }),
    ]),
    { clock },
  );
  return { system, clock };
}

function restartsOf(system: ReturnType<typeof createSystem>): Record<string, number> {
  return Object.fromEntries(system.tree().children.map((c) => [c.id, c.restarts]));
}

Deno.test("one_for_one restarts only the crashed child", async () => {
  const { system } = threeWorkers("one_for_one");
  await system.start();
  const [a, b, c] = ["a", "b", "c"].map((id) => system.get(`root/${id}`));
  const back = restarted(system, "root/b");
  b!.send({ type: "crash" });
  await back;
  deepEqual(restartsOf(system), { a: 0, b: 1, c: 0 });
  equal(system.get("root/a"), a);
  equal(system.get("root/c"), c);
  notEqual(system.get("root/b"), b);
  equal(system.get("root/b")!.getSnapshot().status, "active");
  await system.stop();
});

Deno.test("one_for_all stops the other children and restarts all of them", async () => {
  const { system } = threeWorkers("one_for_all");
  await system.start();
  const before = ["a", "b", "c"].map((id) => system.get(`root/${id}`)!);
  const events = record(system);
  const back = restarted(system, "root/c");
  before[1].send({ type: "crash" });
  await back;
  deepEqual(restartsOf(system), { a: 1, b: 1, c: 1 });
  for (const [i, id] of ["a", "b", "c"].entries()) {
    notEqual(system.get(`root/${id}`), before[i]);
    equal(before[i].getSnapshot().status === "active", false);
  }
  // The others are stopped in reverse start order before anyone starts again.
  deepEqual(
    events.filter((e) => e.type === "stopped" || e.type === "started").map((e) =>
      `${e.type} ${e.path}`
    ),
    ["stopped root/c", "stopped root/a", "started root/a", "started root/b", "started root/c"],
  );
  await system.stop();
});

Deno.test("rest_for_one restarts the crashed child and the ones started after it", async () => {
  const { system } = threeWorkers("rest_for_one");
  await system.start();
  const a = system.get("root/a");
  const back = restarted(system, "root/c");
  system.get("root/b")!.send({ type: "crash" });
  await back;
  deepEqual(restartsOf(system), { a: 0, b: 1, c: 1 });
  equal(system.get("root/a"), a);
  await system.stop();
});

Deno.test("rest_for_one: a crash of the last child restarts only that child", async () => {
  const { system } = threeWorkers("rest_for_one");
  await system.start();
  const back = restarted(system, "root/c");
  system.get("root/c")!.send({ type: "crash" });
  await back;
  deepEqual(restartsOf(system), { a: 0, b: 0, c: 1 });
  await system.stop();
});

Deno.test("one_for_all drops temporary siblings instead of restarting them", async () => {
  const system = createSystem(
    supervisor("root", { strategy: "one_for_all", intensity: 10 }, [
      child("keeper", obedient, { backoff: instant }),
      child("once", obedient, { restart: "temporary" }),
    ]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  const back = restarted(system, "root/keeper");
  system.get("root/keeper")!.send({ type: "crash" });
  await back;
  await settle();
  deepEqual(system.tree().children.map((c) => c.id), ["keeper"]);
  await system.stop();
});

Deno.test("tree() shows kinds, statuses, XState state values and restart counts", async () => {
  const system = createSystem(
    supervisor("agent", {}, [
      child("worker", obedient, { backoff: instant }),
      supervisor("tunnels", { dynamic: true, strategy: "one_for_one" }, []),
    ]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  const back = restarted(system, "agent/worker");
  system.get("agent/worker")!.send({ type: "crash" });
  await back;
  const tree = system.tree();
  deepEqual(
    { ...tree, children: tree.children.map((c) => ({ ...c, uptimeMs: 0 })), uptimeMs: 0 },
    {
      id: "agent",
      path: "agent",
      kind: "supervisor",
      status: "running",
      state: null,
      restarts: 0,
      uptimeMs: 0,
      strategy: "one_for_one",
      children: [
        {
          id: "worker",
          path: "agent/worker",
          kind: "worker",
          status: "running",
          state: "idle",
          restarts: 1,
          uptimeMs: 0,
          children: [],
        },
        {
          id: "tunnels",
          path: "agent/tunnels",
          kind: "supervisor",
          status: "running",
          state: null,
          restarts: 0,
          uptimeMs: 0,
          strategy: "one_for_one",
          children: [],
        },
      ],
    },
  );
  await system.stop();
  equal(system.tree().status, "stopped");
  ok(system.tree().children.every((c) => c.status === "stopped"));
});

Deno.test("get() finds running workers by path and nothing else", async () => {
  const system = createSystem(
    supervisor("agent", {}, [supervisor("inner", {}, [child("w", obedient)])]),
  );
  await system.start();
  ok(system.get("agent/inner/w"));
  equal(system.get("agent/inner"), undefined);
  equal(system.get("agent"), undefined);
  equal(system.get("agent/nope"), undefined);
  equal(system.get("other/inner/w"), undefined);
  await system.stop();
  equal(system.get("agent/inner/w"), undefined);
});

Deno.test("a late exit from an earlier run is not mistaken for the next run's", async () => {
  const { system } = threeWorkers("one_for_all");
  await system.start();
  const events = record(system);
  // Both crash in the same tick; b's exit is handled after a's restart of all.
  const back = restarted(system, "root/c");
  system.get("root/a")!.send({ type: "crash" });
  system.get("root/b")!.send({ type: "crash" });
  await back;
  await settle();
  deepEqual(restartsOf(system), { a: 1, b: 1, c: 1 });
  equal(events.filter((e) => e.type === "exited").length, 1);
  await system.stop();
});
