/**
 * The runtime on real timers: backoff delays, delayed transitions and
 * shutdown budgets leave no timer behind (the op sanitizer checks), and a
 * crash loop under a real clock ends in a clean give-up.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { assign, setup } from "xstate";
import { child, createSystem, supervisor } from "../../actors/runtime/mod.ts";
import { nextEvent, obedient, record, restarted, stubborn } from "../helpers/runtime.ts";

/** Ticks every 5 ms with a delayed transition and crashes on its third tick. */
const flaky = setup({
  types: { context: {} as { ticks: number } },
  actions: {
    tick: assign({ ticks: ({ context }) => context.ticks + 1 }),
    explode: () => {
      throw new Error("third tick");
    },
  },
  guards: { third: ({ context }) => context.ticks === 2 },
}).createMachine({
  context: { ticks: 0 },
  initial: "ticking",
  states: {
    ticking: {
      after: {
        5: [
          { guard: "third", actions: "explode" },
          { target: "ticking", reenter: true, actions: "tick" },
        ],
      },
    },
  },
});

Deno.test("a crashing ticker is restarted after its real backoff, until the intensity is spent", async () => {
  const system = createSystem(
    supervisor("root", { intensity: 2, periodMs: 10_000 }, [
      child("ticker", flaky, { backoff: { minMs: 10, maxMs: 40, jitter: 0 } }),
    ]),
  );
  const events = record(system);
  const started = performance.now();
  await system.start();
  const exit = await system.exited;
  const elapsed = performance.now() - started;
  equal(exit.reason, "gave_up");
  deepEqual(
    events.filter((e) => e.type === "restarting").map((e) => e.type === "restarting" && e.delayMs),
    [10, 20],
  );
  ok(elapsed >= 10 + 20, `restarts waited their backoff (took ${elapsed.toFixed(1)} ms)`);
});

Deno.test("stopping with real shutdown budgets forces only the stubborn child", async () => {
  const system = createSystem(
    supervisor("root", {}, [
      child("polite", obedient, { shutdownMs: 5000 }),
      child("stubborn", stubborn, { shutdownMs: 30 }),
    ]),
  );
  const events = record(system);
  await system.start();
  const back = restarted(system, "root/polite");
  system.get("root/polite")!.send({ type: "finish" });
  await back;
  await system.stop();
  deepEqual(
    events.filter((e) => e.type === "stopped").map((e) =>
      e.type === "stopped" && `${e.path}:${e.forced}`
    ),
    ["root/stubborn:true", "root/polite:false", "root:false"],
  );
});

Deno.test("a dynamic supervisor runs a thousand short-lived workers concurrently", async () => {
  const system = createSystem(supervisor("pool", { dynamic: true, maxChildren: 1000 }, []));
  await system.start();
  await Promise.all(
    Array.from(
      { length: 1000 },
      (_, i) => system.startChild("pool", child(`w-${i}`, obedient, { restart: "temporary" })),
    ),
  );
  equal(system.tree().children.length, 1000);
  const lastGone = nextEvent(system, (e) => e.type === "exited" && e.path === "pool/w-999");
  for (let i = 0; i < 1000; i++) system.get(`pool/w-${i}`)!.send({ type: "finish" });
  await lastGone;
  await system.stop();
  equal(system.tree().children.length, 0);
});
