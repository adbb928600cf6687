import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { fromCallback, fromPromise, setup, SimulatedClock } from "xstate";
import { ActorSystemError, child, createSystem, supervisor } from "../../actors/runtime/mod.ts";
import { nextEvent, obedient, record, restarted, settle, stubborn } from "../helpers/runtime.ts";

const instant = { minMs: 0, maxMs: 0 };

Deno.test("stop() stops children in reverse start order, depth first", async () => {
  const system = createSystem(
    supervisor("root", {}, [
      child("a", obedient),
      supervisor("mid", {}, [child("b", obedient), child("c", obedient)]),
      child("d", obedient),
    ]),
    { clock: new SimulatedClock() },
  );
  const events = record(system);
  await system.start();
  deepEqual(
    events.filter((e) => e.type === "started").map((e) => e.path),
    ["root", "root/a", "root/mid", "root/mid/b", "root/mid/c", "root/d"],
  );
  await system.stop();
  deepEqual(
    events.filter((e) => e.type === "stopped").map((e) => e.path),
    ["root/d", "root/mid/c", "root/mid/b", "root/mid", "root/a", "root"],
  );
  deepEqual(await system.exited, { reason: "stopped" });
});

Deno.test("a child that finishes on the stop event is stopped gracefully", async () => {
  const system = createSystem(supervisor("root", {}, [child("w", obedient)]), {
    clock: new SimulatedClock(),
  });
  await system.start();
  const actor = system.get("root/w")!;
  const stopped = nextEvent(system, (e) => e.type === "stopped" && e.path === "root/w");
  await system.stop();
  deepEqual(await stopped, { type: "stopped", path: "root/w", forced: false });
  equal(actor.getSnapshot().value, "done", "it reached its final state itself");
});

Deno.test("a child that ignores the stop event is forced after its shutdown budget", async () => {
  const clock = new SimulatedClock();
  const system = createSystem(
    supervisor("root", {}, [
      child("first", obedient),
      child("slow", stubborn, { shutdownMs: 3000 }),
    ]),
    { clock },
  );
  await system.start();
  const events = record(system);
  const slow = system.get("root/slow")!;
  let done = false;
  const stopping = system.stop().then(() => (done = true));
  await settle();
  equal(slow.getSnapshot().value, "draining");
  equal(done, false);
  clock.increment(2999);
  await settle();
  equal(done, false, "still inside the budget");
  ok(
    !events.some((e) => e.type === "stopped" && e.path === "root/first"),
    "reverse order: first waits",
  );
  clock.increment(1);
  await stopping;
  deepEqual(
    events.filter((e) => e.type === "stopped").map((e) =>
      e.type === "stopped" && [e.path, e.forced]
    ),
    [["root/slow", true], ["root/first", false], ["root", false]],
  );
  equal(slow.getSnapshot().status, "stopped");
});

Deno.test("actors that do not accept the stop event are stopped at once", async () => {
  let cleanedUp = false;
  const system = createSystem(
    supervisor("root", {}, [
      child("cb", fromCallback(() => () => (cleanedUp = true))),
      child("pending", fromPromise(() => new Promise<never>(() => {}))),
    ]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  await system.stop();
  equal(cleanedUp, true);
});

Deno.test("startChild and terminateChild manage a dynamic supervisor's children", async () => {
  const system = createSystem(
    supervisor("agent", {}, [supervisor("tunnels", { dynamic: true, maxChildren: 2 }, [])]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  equal(
    await system.startChild("agent/tunnels", child("t-1", obedient, { restart: "temporary" })),
    "agent/tunnels/t-1",
  );
  await system.startChild("agent/tunnels", child("t-2", obedient, { restart: "temporary" }));
  deepEqual(system.tree().children[0].children.map((c) => c.id), ["t-1", "t-2"]);
  ok(system.get("agent/tunnels/t-1"));

  await rejects(
    system.startChild("agent/tunnels", child("t-3", obedient)),
    (e: ActorSystemError) =>
      e.code === "max_children" &&
      e.message === 'Cannot start "t-3" under "agent/tunnels": maxChildren 2 reached',
  );
  await system.terminateChild("agent/tunnels", "t-1");
  equal(system.get("agent/tunnels/t-1"), undefined);
  deepEqual(system.tree().children[0].children.map((c) => c.id), ["t-2"]);

  await system.startChild("agent/tunnels", child("t-3", obedient, { restart: "temporary" }));
  await rejects(
    system.startChild("agent/tunnels", child("t-2", obedient)),
    (e: ActorSystemError) => e.code === "duplicate_id",
  );
  // A temporary child that ends is forgotten, freeing its slot.
  const exited = nextEvent(system, (e) => e.type === "exited" && e.path === "agent/tunnels/t-2");
  system.get("agent/tunnels/t-2")!.send({ type: "finish" });
  await exited;
  await settle();
  deepEqual(system.tree().children[0].children.map((c) => c.id), ["t-3"]);
  await system.stop();
});

Deno.test("the dynamic API refuses what it cannot do, with clear errors", async () => {
  const system = createSystem(
    supervisor("agent", {}, [child("w", obedient), supervisor("static", {}, [])]),
    { clock: new SimulatedClock() },
  );
  await rejects(
    system.startChild("agent/static", child("x", obedient)),
    { name: "ActorSystemError", message: "The system is not running (it is new)" },
  );
  await system.start();
  await rejects(
    system.startChild("agent/static", child("x", obedient)),
    (e: ActorSystemError) => e.code === "not_dynamic",
  );
  await rejects(
    system.startChild("agent/nope", child("x", obedient)),
    (e: ActorSystemError) => e.code === "not_found",
  );
  await rejects(
    system.startChild("agent/w", child("x", obedient)),
    (e: ActorSystemError) => e.code === "not_supervisor",
  );
  await rejects(
    system.terminateChild("agent", "ghost"),
    (e: ActorSystemError) => e.code === "not_found",
  );
  await rejects(system.start(), (e: ActorSystemError) => e.code === "not_running");
  await system.stop();
});

Deno.test("specs refuse duplicate ids and bad options when they are built", () => {
  throws(
    () => supervisor("root", {}, [child("a", obedient), child("a", obedient)]),
    { message: 'Supervisor "root": duplicate child id "a"' },
  );
  throws(() => child("a/b", obedient), /without "\/"/);
  throws(() => supervisor("s", { strategy: "one_for_some" as never }), /strategy must be one of/);
  throws(() => child("a", obedient, { restart: "sometimes" as never }), /restart must be one of/);
  throws(
    () => child("a", obedient, { backoff: { minMs: 10, maxMs: 5 } }),
    /maxMs \(5\) is below backoff.minMs/,
  );
  throws(() => child("a", obedient, { backoff: { jitter: 2 } }), /jitter must be between 0 and 1/);
  throws(() => supervisor("s", { intensity: -1 }), /intensity must be a number >= 0/);
  throws(() => createSystem(child("a", obedient) as never), /supervisor spec as its root/);
});

Deno.test("errors from every kind of logic are caught and handled by the restart policy", async (t) => {
  const machineWithFailingInvoke = setup({
    actors: { job: fromPromise(() => Promise.reject(new Error("invoked promise rejected"))) },
  }).createMachine({ invoke: { src: "job" } });
  const cases = {
    "an action": { logic: obedient, poke: true, message: "boom" },
    "an invoked promise": {
      logic: machineWithFailingInvoke,
      poke: false,
      message: "invoked promise rejected",
    },
    "a promise actor": {
      logic: fromPromise(() => Promise.reject(new Error("rejected"))),
      poke: false,
      message: "rejected",
    },
    "a callback actor": {
      logic: fromCallback(() => {
        throw new Error("callback threw");
      }),
      poke: false,
      message: "callback threw",
    },
    "a logic factory": {
      logic: () => {
        throw new Error("factory threw");
      },
      poke: false,
      message: "factory threw",
    },
  };
  for (const [where, { logic, poke, message }] of Object.entries(cases)) {
    await t.step(`an error in ${where}`, async () => {
      const system = createSystem(
        supervisor("root", { intensity: 1, periodMs: 1000 }, [
          child("w", logic, { backoff: instant }),
        ]),
        { clock: new SimulatedClock() },
      );
      const events = record(system);
      const firstExit = nextEvent(system, (e) => e.type === "exited");
      await system.start();
      const back = poke ? restarted(system, "root/w") : undefined;
      if (poke) system.get("root/w")!.send({ type: "crash" });
      const exit = await firstExit;
      ok(exit.type === "exited" && exit.reason === "error");
      equal((exit as { error: Error }).error.message, message);
      // Policy applies: restarted once, then a second failure exceeds intensity 1.
      if (!poke) {
        const end = await system.exited;
        equal(end.reason, "gave_up");
        deepEqual(
          events.filter((e) => e.type === "exited" || e.type === "restarting").map((e) => e.type),
          [
            "exited",
            "restarting",
            "exited",
          ],
        );
      } else {
        await back;
        await system.stop();
      }
    });
  }
});

Deno.test("observers without an error callback cannot turn a crash into an uncaught error", async () => {
  const system = createSystem(
    supervisor("root", { intensity: 5 }, [child("w", obedient, { backoff: instant })]),
    {
      clock: new SimulatedClock(),
    },
  );
  await system.start();
  const seen: unknown[] = [];
  system.get("root/w")!.subscribe((snapshot) => seen.push(snapshot.value));
  const back = restarted(system, "root/w");
  system.get("root/w")!.send({ type: "crash" });
  await back;
  await system.stop();
  // XState would have scheduled a timer that throws; the ops sanitizer fails the test if it did.
});

Deno.test("a logic factory gets the child's identity and builds fresh logic for every start", async () => {
  const calls: string[] = [];
  const system = createSystem(
    supervisor("root", { intensity: 5 }, [
      child("w", ({ path, restarts }) => {
        calls.push(`${path}#${restarts}`);
        return obedient;
      }, { backoff: instant }),
    ]),
    { clock: new SimulatedClock() },
  );
  await system.start();
  const back = restarted(system, "root/w");
  system.get("root/w")!.send({ type: "crash" });
  await back;
  deepEqual(calls, ["root/w#0", "root/w#1"]);
  await system.stop();
});

Deno.test("a throwing lifecycle listener does not disturb the system", async () => {
  const errors: unknown[] = [];
  const logger = {
    debug() {},
    info() {},
    warn() {},
    error: (_m: string, p?: Record<string, unknown>) => errors.push(p?.error),
  };
  const system = createSystem(supervisor("root", {}, [child("w", obedient)]), {
    clock: new SimulatedClock(),
    logger,
  });
  system.subscribe(() => {
    throw new Error("listener bug");
  });
  await system.start();
  equal(system.tree().children[0].status, "running");
  await system.stop();
  ok(errors.some((e) => (e as Error).message === "listener bug"));
});
